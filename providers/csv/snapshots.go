package csv

import (
	"io/fs"
	"time"

	"github.com/procurebot/procurebot"
)

// Required columns of gpu/offers.csv.
var offerCols = []string{"time_utc", "provider", "gpu", "gpu_count", "usd_per_hour", "usd_per_gpu_hour", "spot", "region", "instance"}

const (
	oTime = iota
	oProvider
	oGPU
	oCount
	oPerHour
	oPerGPUHour
	oSpot
	oRegion
	oInstance
)

// Required columns of inference/models.csv.
var modelCols = []string{"time_utc", "provider", "model", "usd_per_mtok_in", "usd_per_mtok_out", "context_length"}

const (
	mTime = iota
	mProvider
	mModel
	mIn
	mOut
	mContext
)

// Chunk sizes of the row arrays, in rows: the first is small for small files,
// then they double up to the limit (2 MB of offers).
const (
	firstChunk = 256
	chunkLimit = 16384
)

// snapClock follows the time column of a snapshot file: rows with the same
// time form one snapshot, and times must not decrease.
type snapClock struct {
	prevText []byte    // the previous row's time as written
	cur      time.Time // the current snapshot's time
	started  bool
}

// step reads the time of t's current row from column j and reports whether
// it starts a new snapshot.
func (c *snapClock) step(t *table, j int) (bool, error) {
	s := t.field(j)
	if c.started && string(c.prevText) == s {
		return false, nil
	}
	tm, msg := parseTime(s)
	if msg != "" {
		return false, t.errf(j, "%s", msg)
	}
	c.prevText = append(c.prevText[:0], s...)
	if c.started {
		if tm.Before(c.cur) {
			return false, t.errf(j, "%s is before the previous row's %s (rows must be in non-decreasing time order)",
				s, c.cur.Format(time.RFC3339Nano))
		}
		if tm.Equal(c.cur) {
			return false, nil
		}
	}
	c.cur, c.started = tm, true
	return true, nil
}

// loadOffers reads gpu/offers.csv into snapshots.
func (l *loader) loadOffers(fsys fs.FS, file string) ([]procurebot.Snapshot, error) {
	t, err := openTable(fsys, file, offerCols, false)
	if err != nil {
		return nil, err
	}
	defer t.close()
	return readSnapshots(t, oTime, l.offer, func(at time.Time, g []procurebot.Offer) procurebot.Snapshot {
		return procurebot.Snapshot{Time: at, Offers: g}
	})
}

// readSnapshots reads the rows of t, one read call per row after its time
// column, grouping rows of the same time into one snapshot (times must not
// decrease).
func readSnapshots[R, S any](t *table, timeCol int, read func(*table, *R) error, snapshot func(time.Time, []R) S) ([]S, error) {
	var (
		snaps []S
		clock snapClock
		cur   time.Time
		rows  = newChunks[R](firstChunk, chunkLimit)
	)
	for {
		ok, err := t.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		isNew, err := clock.step(t, timeCol)
		if err != nil {
			return nil, err
		}
		if isNew {
			if g := rows.group(); len(g) > 0 {
				snaps = append(snaps, snapshot(cur, g))
			}
			cur = clock.cur
		}
		if err := read(t, rows.add()); err != nil { // in place: no copy, no escape
			return nil, err
		}
	}
	if g := rows.group(); len(g) > 0 {
		snaps = append(snaps, snapshot(cur, g))
	}
	return snaps, nil
}

// offer reads the current row of gpu/offers.csv (all but its time) into o.
func (l *loader) offer(t *table, o *procurebot.Offer) error {
	var err error
	if o.Provider, err = l.text(t, oProvider, &l.lastProvider); err != nil {
		return err
	}
	if o.GPU, err = l.text(t, oGPU, &l.lastGPU); err != nil {
		return err
	}
	if s := t.field(oCount); s != "" {
		n, ok := parseCount(s)
		if !ok || n == 0 {
			return t.errf(oCount, "%s is not a positive integer (or empty for unknown)", quote(s))
		}
		o.GPUCount = n
	}
	if t.field(oPerGPUHour) != "" {
		if o.USDPerGPUHour, err = l.amount(t, oPerGPUHour, false, true); err != nil {
			return err
		}
		o.HasPerGPU = true
	}
	priceText := t.field(oPerHour)
	if priceText != "" || !o.HasPerGPU {
		if priceText == "" {
			return t.errf(oPerHour, "empty, and so is usd_per_gpu_hour (one of them must be set)")
		}
		if o.USDPerHour, err = l.amount(t, oPerHour, false, true); err != nil {
			return err
		}
	} else {
		o.USDPerHour = procurebot.Zero
	}
	var ok bool
	if o.Spot, ok = parseSpot(t.field(oSpot)); !ok {
		return t.errf(oSpot, "%s, want true, false or empty", quote(t.field(oSpot)))
	}
	if o.Region, err = l.optText(t, oRegion); err != nil {
		return err
	}
	if o.Instance, err = l.optText(t, oInstance); err != nil {
		return err
	}
	o.PerGPU = l.perGPUPrice(o, priceText)
	return nil
}

// loadModels reads inference/models.csv into token snapshots; errAbsent when
// the file does not exist.
func (l *loader) loadModels(fsys fs.FS, file string) ([]procurebot.TokenSnapshot, error) {
	t, err := openTable(fsys, file, modelCols, true)
	if err != nil {
		return nil, err
	}
	defer t.close()
	return readSnapshots(t, mTime, l.tokenPrice, func(at time.Time, g []procurebot.TokenPrice) procurebot.TokenSnapshot {
		return procurebot.TokenSnapshot{Time: at, Prices: g}
	})
}

// tokenPrice reads the current row of inference/models.csv (all but its
// time) into p.
func (l *loader) tokenPrice(t *table, p *procurebot.TokenPrice) error {
	var err error
	if p.Provider, err = l.text(t, mProvider, &l.lastProvider); err != nil {
		return err
	}
	if p.Model, err = l.text(t, mModel, &l.lastModel); err != nil {
		return err
	}
	if p.USDPerMTokIn, err = l.amount(t, mIn, false, true); err != nil {
		return err
	}
	if p.USDPerMTokOut, err = l.amount(t, mOut, false, true); err != nil {
		return err
	}
	if s := t.field(mContext); s != "" {
		n, ok := parseCount(s)
		if !ok {
			return t.errf(mContext, "%s is not a non-negative integer (or empty for unknown)", quote(s))
		}
		p.ContextLength = n
	}
	return nil
}

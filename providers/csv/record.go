package csv

import (
	"bytes"
	stdcsv "encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/procurebot/procurebot"
)

// The columns the recorder writes to new files: those of DESIGN §5 first,
// then what a live quote adds (§5 readers ignore unknown columns). Rows
// appended to an existing file follow that file's header instead, leaving
// empty any column the quote does not have.
var (
	recOfferCols = append(append([]string(nil), offerCols...),
		"venue", "billing_unit", "billed_raw", "billed_denom", "spot_kind", "cloud", "term_start", "term_end", "available", "ref")
	recModelCols = append(append([]string(nil), modelCols...), "venue", "upstream", "quantization", "raw_in", "raw_out")
	recPowerCols = []string{"time_utc", "market", "usd_per_mwh", "orig_price", "orig_currency", "published_utc", "venue"}
)

const (
	journalFile = ".record-journal"
	lockFile    = ".record-lock"
)

// Recorder appends live quotes to a data directory in the format of DESIGN
// §5, so that operators build their own history and backtest on it.
//
// It never writes a duplicate or torn row, across crashes: every append is
// first written as a journal (the files it touches, their sizes before, the
// bytes to add) that is fsynced and renamed into place; then the rows are
// appended and fsynced; then the journal is removed. OpenRecorder finds a
// journal left by a crash and replays it exactly — truncate each file to
// its size before, append the bytes — so an append happens once, whole, or
// not at all. GPU and token snapshots are appended only when newer than the
// newest in the file, and an hour of a power market only when later than
// every hour of that market in any power/*.csv file, so a restart that
// polls the same data again adds nothing.
type Recorder struct {
	dir       string
	lock      *os.File
	lastGPU   time.Time
	lastTok   time.Time
	lastPower map[string]time.Time
	headers   map[string][]string // relative file → its header
}

// Batch is what one poll recorded.
type Batch struct {
	// At is the snapshot time of the GPU and token rows (the poll time,
	// truncated to the second).
	At     time.Time
	GPU    []procurebot.Quote
	Tokens []procurebot.TokenQuote
	// Power are hourly prices (procurebot.HourlyPower).
	Power []procurebot.PowerQuote
}

// Written counts the rows an Append wrote and the power hours it skipped
// as already recorded.
type Written struct {
	Offers, Models, PowerHours, PowerSkipped int
}

// Recovered says what OpenRecorder found left by a crash.
type Recovered struct {
	// Replayed lists the files whose interrupted append was completed.
	Replayed []string
}

type journal struct {
	Entries []journalEntry `json:"entries"`
}

type journalEntry struct {
	File string `json:"file"` // relative to the data directory
	Size int64  `json:"size"` // before the append; -1: the file did not exist
	Data []byte `json:"data"`
}

// OpenRecorder opens dir for recording, creating it if needed, taking an
// exclusive lock (a second recorder on the same directory is refused), and
// finishing any append a crash interrupted.
func OpenRecorder(dir string) (*Recorder, Recovered, error) {
	var rec Recovered
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, rec, procurebot.Invalidf("--data-dir %s: %v", dir, err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, rec, procurebot.Invalidf("--data-dir %s: %v", dir, err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		return nil, rec, procurebot.Errorf(procurebot.ECONFLICT, "--data-dir %s: another recorder holds %s", dir, lockFile)
	}
	r := &Recorder{dir: dir, lock: lf, lastPower: map[string]time.Time{}, headers: map[string][]string{}}
	if rec.Replayed, err = r.recover(); err != nil {
		r.Close()
		return nil, rec, err
	}
	if err := r.scan(); err != nil {
		r.Close()
		return nil, rec, err
	}
	return r, rec, nil
}

// Close releases the directory.
func (r *Recorder) Close() error {
	if r.lock == nil {
		return nil
	}
	err := r.lock.Close()
	r.lock = nil
	return err
}

// recover replays a journal a crash left behind.
func (r *Recorder) recover() ([]string, error) {
	path := filepath.Join(r.dir, journalFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		os.Remove(path + ".tmp") // a journal never renamed: its append never began
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var j journal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, procurebot.Invalidf("%s: corrupt journal (it is written whole and renamed, so this is not a crash): %v", path, err)
	}
	var files []string
	for _, e := range j.Entries {
		if err := r.apply(e); err != nil {
			return nil, err
		}
		files = append(files, e.File)
	}
	if err := os.Remove(path); err != nil {
		return nil, err
	}
	return files, syncDir(r.dir)
}

// apply truncates e.File to e.Size and appends e.Data, durably.
func (r *Recorder) apply(e journalEntry) error {
	path := filepath.Join(r.dir, e.File)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	size := max(e.Size, 0)
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("%s: %w", e.File, err)
	}
	if _, err := f.WriteAt(e.Data, size); err != nil {
		return fmt.Errorf("%s: %w", e.File, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", e.File, err)
	}
	if e.Size < 0 {
		return syncDir(filepath.Dir(path))
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// scan learns the newest snapshot times and power hours already recorded,
// and the headers of existing files.
func (r *Recorder) scan() error {
	var err error
	if r.lastGPU, err = r.scanSnapshots(OffersFile); err != nil {
		return err
	}
	if r.lastTok, err = r.scanSnapshots(ModelsFile); err != nil {
		return err
	}
	files, _ := filepath.Glob(filepath.Join(r.dir, PowerDir, "*.csv"))
	sort.Strings(files)
	for _, path := range files {
		rel, _ := filepath.Rel(r.dir, path)
		err := r.eachRow(rel, func(h map[string]int, row []string, line int) error {
			ti, mi := h["time_utc"], h["market"]
			t, err := time.Parse(time.RFC3339, row[ti])
			if err != nil {
				return procurebot.Invalidf("%s:%d: column time_utc: %q is not an RFC 3339 time", rel, line, row[ti])
			}
			if t.After(r.lastPower[row[mi]]) {
				r.lastPower[row[mi]] = t.UTC()
			}
			return nil
		}, "time_utc", "market")
		if err != nil {
			return err
		}
	}
	return nil
}

// scanSnapshots returns the newest time_utc of a snapshot file (zero when
// the file does not exist).
func (r *Recorder) scanSnapshots(rel string) (time.Time, error) {
	var last time.Time
	err := r.eachRow(rel, func(h map[string]int, row []string, line int) error {
		t, err := time.Parse(time.RFC3339, row[h["time_utc"]])
		if err != nil {
			return procurebot.Invalidf("%s:%d: column time_utc: %q is not an RFC 3339 time", rel, line, row[h["time_utc"]])
		}
		if t.After(last) {
			last = t.UTC()
		}
		return nil
	}, "time_utc")
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, nil
	}
	return last, err
}

// eachRow streams the rows of a CSV file, remembering its header. A last
// line without its newline is a torn row no recorder wrote (ours are
// journalled): it is an error naming the file and line, not a silent skip.
func (r *Recorder) eachRow(rel string, fn func(h map[string]int, row []string, line int) error, need ...string) error {
	path := filepath.Join(r.dir, rel)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		tail := make([]byte, 1)
		if _, err := f.ReadAt(tail, st.Size()-1); err == nil && tail[0] != '\n' {
			return procurebot.Invalidf("%s: the last line has no newline (a torn row written by something other than procurebot record); fix or remove it", rel)
		}
	}
	cr := stdcsv.NewReader(f)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return procurebot.Invalidf("%s:1: %v", rel, err)
	}
	h := map[string]int{}
	cols := make([]string, len(header))
	for i, c := range header {
		c = strings.TrimSpace(strings.TrimPrefix(c, "\ufeff"))
		cols[i] = c
		h[c] = i
	}
	for _, c := range need {
		if _, ok := h[c]; !ok {
			return procurebot.Invalidf("%s:1: no column %s", rel, c)
		}
	}
	r.headers[rel] = cols
	for line := 2; ; line++ {
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return procurebot.Invalidf("%s: %v", rel, err)
		}
		if err := fn(h, row, line); err != nil {
			return err
		}
	}
}

// LastGPU is the time of the newest GPU snapshot recorded (zero if none).
func (r *Recorder) LastGPU() time.Time { return r.lastGPU }

// LastPower is the newest hour recorded for each market.
func (r *Recorder) LastPower() map[string]time.Time {
	out := make(map[string]time.Time, len(r.lastPower))
	for k, v := range r.lastPower {
		out[k] = v
	}
	return out
}

// Append records a batch durably (see Recorder). GPU and token rows are
// written only when b.At is after the newest snapshot of their file; power
// hours only when after the newest hour of their market.
func (r *Recorder) Append(b Batch) (Written, error) {
	var w Written
	at := b.At.UTC().Truncate(time.Second)
	var entries []journalEntry
	add := func(rel string, defCols []string, rows []map[string]string) error {
		if len(rows) == 0 {
			return nil
		}
		e, err := r.entry(rel, defCols, rows)
		if err != nil {
			return err
		}
		entries = append(entries, e)
		return nil
	}
	if len(b.GPU) > 0 && at.After(r.lastGPU) {
		rows := make([]map[string]string, 0, len(b.GPU))
		for _, q := range b.GPU {
			rows = append(rows, offerRow(at, q))
		}
		if err := add(OffersFile, recOfferCols, rows); err != nil {
			return w, err
		}
		w.Offers = len(rows)
	}
	if len(b.Tokens) > 0 && at.After(r.lastTok) {
		rows := make([]map[string]string, 0, len(b.Tokens))
		for _, q := range b.Tokens {
			rows = append(rows, modelRow(at, q))
		}
		if err := add(ModelsFile, recModelCols, rows); err != nil {
			return w, err
		}
		w.Models = len(rows)
	}
	byMarket := map[string][]procurebot.PowerQuote{}
	for _, p := range b.Power {
		if p.Resolution != time.Hour || !p.Start.Equal(p.Start.Truncate(time.Hour)) {
			return w, procurebot.Invalidf("record: power %s at %s is not an hourly price (average intervals with HourlyPower)", p.Market, p.Start)
		}
		if !p.Start.After(r.lastPower[p.Market]) {
			w.PowerSkipped++
			continue
		}
		byMarket[p.Market] = append(byMarket[p.Market], p)
	}
	newPower := map[string]time.Time{}
	for _, m := range sortedMarkets(byMarket) {
		ps := byMarket[m]
		sort.Slice(ps, func(i, j int) bool { return ps[i].Start.Before(ps[j].Start) })
		rows := make([]map[string]string, 0, len(ps))
		for i, p := range ps {
			if i > 0 && p.Start.Equal(ps[i-1].Start) {
				return w, procurebot.Invalidf("record: power %s hour %s twice in one batch", m, p.Start.Format(time.RFC3339))
			}
			rows = append(rows, powerRecord(p))
		}
		if err := add(PowerFile(m), recPowerCols, rows); err != nil {
			return w, err
		}
		w.PowerHours += len(rows)
		newPower[m] = ps[len(ps)-1].Start
	}
	if len(entries) == 0 {
		return w, nil
	}
	if err := r.commit(entries); err != nil {
		return Written{}, err
	}
	if w.Offers > 0 {
		r.lastGPU = at
	}
	if w.Models > 0 {
		r.lastTok = at
	}
	for m, t := range newPower {
		r.lastPower[m] = t
	}
	return w, nil
}

// PowerFile is the file a market's recorded hours go to:
// power/<market in lower case>.csv.
func PowerFile(market string) string {
	return PowerDir + "/" + strings.ToLower(market) + ".csv"
}

func sortedMarkets(m map[string][]procurebot.PowerQuote) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// entry renders rows for rel in its header's column order (writing the
// header first when the file is new).
func (r *Recorder) entry(rel string, defCols []string, rows []map[string]string) (journalEntry, error) {
	path := filepath.Join(r.dir, rel)
	e := journalEntry{File: rel, Size: -1}
	cols := r.headers[rel]
	var buf bytes.Buffer
	cw := stdcsv.NewWriter(&buf)
	st, err := os.Stat(path)
	switch {
	case err == nil && st.Size() > 0:
		e.Size = st.Size()
		if cols == nil {
			return e, procurebot.Invalidf("%s: exists but its header could not be read", rel)
		}
	case err == nil || errors.Is(err, fs.ErrNotExist):
		if err == nil {
			e.Size = 0
		}
		cols = defCols
		cw.Write(cols)
	default:
		return e, err
	}
	rec := make([]string, len(cols))
	for _, row := range rows {
		for i, c := range cols {
			rec[i] = row[c]
		}
		cw.Write(rec)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return e, err
	}
	e.Data = buf.Bytes()
	r.headers[rel] = cols
	return e, nil
}

// commit makes entries durable as a journal, applies them, and removes the
// journal.
func (r *Recorder) commit(entries []journalEntry) error {
	b, err := json.Marshal(journal{Entries: entries})
	if err != nil {
		return err
	}
	path := filepath.Join(r.dir, journalFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if err := syncDir(r.dir); err != nil {
		return err
	}
	if hook := testHookAfterJournal; hook != nil {
		hook()
	}
	for _, e := range entries {
		if err := r.apply(e); err != nil {
			return err
		}
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	return syncDir(r.dir)
}

// testHookAfterJournal, when set by a test, runs between the journal and
// the append (where a crash is most interesting).
var testHookAfterJournal func()

func spotText(s procurebot.Spot) string {
	switch s {
	case procurebot.SpotTrue:
		return "true"
	case procurebot.SpotFalse:
		return "false"
	}
	return ""
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func offerRow(at time.Time, q procurebot.Quote) map[string]string {
	spot := spotText(q.Spot)
	if q.SpotKind != procurebot.SpotNone {
		spot = "true"
	}
	count := ""
	if q.GPUCount > 0 {
		count = strconv.Itoa(q.GPUCount)
	}
	perHour := ""
	if q.USDPerHour.Sign() > 0 {
		perHour = q.USDPerHour.String()
	}
	avail := ""
	if q.Available >= 0 {
		avail = strconv.Itoa(q.Available)
	}
	return map[string]string{
		"time_utc": timeText(at), "provider": q.Provider, "gpu": q.GPU, "gpu_count": count,
		"usd_per_hour": perHour, "usd_per_gpu_hour": q.PerGPU.String(), "spot": spot,
		"region": q.Region, "instance": q.Instance,
		"venue": q.Venue, "billing_unit": string(q.Billing.Unit), "billed_raw": q.Billing.Raw, "billed_denom": q.Billing.Denom,
		"spot_kind": string(q.SpotKind), "cloud": q.Cloud, "term_start": timeText(q.Term.Start), "term_end": timeText(q.Term.End),
		"available": avail, "ref": q.Ref,
	}
}

func modelRow(at time.Time, q procurebot.TokenQuote) map[string]string {
	ctx := ""
	if q.ContextLength > 0 {
		ctx = strconv.Itoa(q.ContextLength)
	}
	return map[string]string{
		"time_utc": timeText(at), "provider": q.Provider, "model": q.Model,
		"usd_per_mtok_in": q.USDPerMTokIn.String(), "usd_per_mtok_out": q.USDPerMTokOut.String(), "context_length": ctx,
		"venue": q.Venue, "upstream": q.Upstream, "quantization": q.Quantization, "raw_in": q.RawIn, "raw_out": q.RawOut,
	}
}

func powerRecord(p procurebot.PowerQuote) map[string]string {
	return map[string]string{
		"time_utc": timeText(p.Start), "market": p.Market, "usd_per_mwh": p.USDPerMWh.String(),
		"orig_price": p.Orig.String(), "orig_currency": p.Currency, "published_utc": timeText(p.Published), "venue": p.Venue,
	}
}

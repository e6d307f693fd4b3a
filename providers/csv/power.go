package csv

import (
	"cmp"
	"io/fs"
	"slices"
	"time"

	"github.com/procurebot/procurebot"
	"github.com/shopspring/decimal"
)

// Required columns of power/*.csv.
var powerCols = []string{"time_utc", "market", "usd_per_mwh"}

const (
	pTime = iota
	pMarket
	pPrice
)

// maxSpanHours bounds a market's series, first to last hour, so that a
// stray date cannot make the loader allocate gigabytes.
const maxSpanHours = 100 * 366 * 24

// powerRow is one recorded hour: its Unix hour, price and place.
type powerRow struct {
	hour  int64
	price decimal.Decimal
	file  int32 // index in the files
	line  int32
}

// loadPower reads every power file and merges them per market.
func (l *loader) loadPower(fsys fs.FS, files []string) (map[string]*procurebot.PowerSeries, error) {
	rows := make(map[string][]powerRow)
	for fi, file := range files {
		if err := l.readPower(fsys, file, int32(fi), rows); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(rows))
	for m := range rows {
		names = append(names, m)
	}
	slices.Sort(names)
	out := make(map[string]*procurebot.PowerSeries, len(rows))
	for _, m := range names {
		s, err := buildSeries(m, rows[m], files)
		if err != nil {
			return nil, err
		}
		out[m] = s
	}
	return out, nil
}

func (l *loader) readPower(fsys fs.FS, file string, fi int32, rows map[string][]powerRow) error {
	t, err := openTable(fsys, file, powerCols, false)
	if err != nil {
		return err
	}
	defer t.close()
	var market0 last
	for {
		ok, err := t.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		tm, msg := parseTime(t.field(pTime))
		if msg != "" {
			return t.errf(pTime, "%s", msg)
		}
		sec := tm.Unix()
		if sec%3600 != 0 || tm.Nanosecond() != 0 {
			return t.errf(pTime, "%s is not on the hour (power rows are hourly, time_utc the start of the hour)", quote(t.field(pTime)))
		}
		market, err := l.text(t, pMarket, &market0)
		if err != nil {
			return err
		}
		price, err := l.amount(t, pPrice, true, false)
		if err != nil {
			return err
		}
		rows[market] = append(rows[market], powerRow{hour: sec / 3600, price: price, file: fi, line: int32(t.line(pTime))})
	}
}

func comparePowerRows(a, b powerRow) int {
	if c := cmp.Compare(a.hour, b.hour); c != 0 {
		return c
	}
	if c := cmp.Compare(a.file, b.file); c != 0 {
		return c
	}
	return cmp.Compare(a.line, b.line)
}

// buildSeries sorts a market's rows by hour, rejects a repeated hour and
// lays the prices out hour by hour.
func buildSeries(market string, rows []powerRow, files []string) (*procurebot.PowerSeries, error) {
	if !slices.IsSortedFunc(rows, comparePowerRows) {
		slices.SortFunc(rows, comparePowerRows)
	}
	for i := 1; i < len(rows); i++ {
		if rows[i].hour == rows[i-1].hour {
			a, b := rows[i-1], rows[i]
			return nil, rowErr(files[b.file], int(b.line), powerCols[pTime],
				"market %s hour %s recorded twice: also at %s:%d",
				market, hourTime(b.hour).Format(time.RFC3339), files[a.file], a.line)
		}
	}
	first, last := rows[0], rows[len(rows)-1]
	span := last.hour - first.hour + 1
	if span > maxSpanHours {
		return nil, rowErr(files[last.file], int(last.line), powerCols[pTime],
			"market %s spans %s to %s, more than %d years (first hour at %s:%d)",
			market, hourTime(first.hour).Format(time.RFC3339), hourTime(last.hour).Format(time.RFC3339),
			maxSpanHours/(366*24), files[first.file], first.line)
	}
	s := &procurebot.PowerSeries{
		Market:  market,
		Start:   hourTime(first.hour),
		Prices:  make([]procurebot.Money, span),
		Present: make([]bool, span),
	}
	for _, r := range rows {
		i := r.hour - first.hour
		s.Prices[i] = r.price
		s.Present[i] = true
	}
	return s, nil
}

func hourTime(h int64) time.Time { return time.Unix(h*3600, 0).UTC() }

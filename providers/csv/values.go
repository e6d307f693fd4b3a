package csv

import (
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/procurebot/procurebot"
	"github.com/shopspring/decimal"
)

// loader holds the interned strings and decimals of one kind of file (the
// power files, the offers or the models; each kind is read by its own
// goroutine with its own loader). It is dropped when loading ends.
type loader struct {
	strs   map[string]string
	decs   map[string]decimal.Decimal
	perGPU map[perGPUKey]decimal.Decimal

	lastProvider, lastGPU, lastModel last
}

type perGPUKey struct {
	price string // usd_per_hour as written
	count int
}

func newLoader() *loader {
	return &loader{
		strs:   make(map[string]string, 64),
		decs:   make(map[string]decimal.Decimal, 1024),
		perGPU: make(map[perGPUKey]decimal.Decimal, 64),
	}
}

// str interns s. It reports false when s is not valid UTF-8.
func (l *loader) str(s string) (string, bool) {
	if v, ok := l.strs[s]; ok {
		return v, true
	}
	if !utf8.ValidString(s) {
		return "", false
	}
	v := strings.Clone(s)
	l.strs[v] = v
	return v, true
}

// last remembers a column's value in the previous row: sorted files repeat
// values row after row, and a string comparison is cheaper than a map look-up.
type last struct{ text, val string }

// text interns the required text value of column j of t's current row: it
// must not be blank.
func (l *loader) text(t *table, j int, c *last) (string, error) {
	s := t.field(j)
	if s == c.text && s != "" {
		return c.val, nil
	}
	if strings.TrimSpace(s) == "" {
		return "", t.errf(j, "empty")
	}
	v, ok := l.str(s)
	if !ok {
		return "", t.errf(j, "invalid UTF-8 %s", quote(s))
	}
	*c = last{s, v}
	return v, nil
}

// optText interns the optional text value of column j (empty allowed).
func (l *loader) optText(t *table, j int) (string, error) {
	s := t.field(j)
	if s == "" {
		return "", nil
	}
	v, ok := l.str(s)
	if !ok {
		return "", t.errf(j, "invalid UTF-8 %s", quote(s))
	}
	return v, nil
}

// dec parses and interns the decimal s.
func (l *loader) dec(s string) (decimal.Decimal, bool) {
	if d, ok := l.decs[s]; ok {
		return d, true
	}
	d, ok := parseDecimal(s)
	if !ok {
		return decimal.Decimal{}, false
	}
	l.decs[strings.Clone(s)] = d
	return d, true
}

// amount parses the decimal of column j of t's current row, which must be
// set, and non-negative unless negOK. Unless intern is set, the value is
// parsed afresh: interning a column of mostly distinct values costs more
// than it saves.
func (l *loader) amount(t *table, j int, negOK, intern bool) (decimal.Decimal, error) {
	s := t.field(j)
	if s == "" {
		return decimal.Decimal{}, t.errf(j, "empty, want a decimal")
	}
	var d decimal.Decimal
	var ok bool
	if intern {
		d, ok = l.dec(s)
	} else {
		d, ok = parseDecimal(s)
	}
	if !ok {
		return decimal.Decimal{}, t.errf(j, "invalid decimal %s", quote(s))
	}
	if !negOK && d.Sign() < 0 {
		return decimal.Decimal{}, t.errf(j, "negative price %s", s)
	}
	return d, nil
}

// perGPUPrice returns o.PerGPUPrice(), computing each (usd_per_hour,
// gpu_count) division once. priceText is usd_per_hour as written.
func (l *loader) perGPUPrice(o *procurebot.Offer, priceText string) decimal.Decimal {
	if o.HasPerGPU || o.GPUCount <= 0 {
		return o.PerGPUPrice()
	}
	k := perGPUKey{priceText, o.GPUCount}
	if d, ok := l.perGPU[k]; ok {
		return d
	}
	d := o.PerGPUPrice()
	k.price = strings.Clone(priceText)
	l.perGPU[k] = d
	return d
}

// parseDecimal parses a plain decimal: an optional minus sign, one or more
// digits, optionally a point and one or more digits.
func parseDecimal(s string) (decimal.Decimal, bool) {
	i := 0
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg = true
		i = 1
	}
	var m uint64
	digits, frac := 0, -1 // frac: digits after the point, -1 before it
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits < 18 {
				m = m*10 + uint64(c-'0')
			}
			digits++
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0 && digits > 0:
			frac = 0
		default:
			return decimal.Decimal{}, false
		}
	}
	if digits == 0 || frac == 0 {
		return decimal.Decimal{}, false
	}
	if frac < 0 {
		frac = 0
	}
	if digits > 18 {
		// Too long for an int64 mantissa: the validated text is a decimal
		// that NewFromString reads exactly.
		d, err := decimal.NewFromString(s)
		return d, err == nil
	}
	v := int64(m)
	if neg {
		v = -v
	}
	return decimal.New(v, int32(-frac)), true
}

// parseCount parses a non-negative decimal integer that fits an int32.
func parseCount(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
		if n > math.MaxInt32 {
			return 0, false
		}
	}
	return n, true
}

const timeHint = "want RFC 3339 UTC, e.g. 2024-01-01T00:00:00Z"

// parseTime parses an RFC 3339 time with a zero offset and returns it in UTC.
// The layout YYYY-MM-DDTHH:MM:SSZ is read without time.Parse.
func parseTime(s string) (time.Time, string) {
	if t, ok := parseTimeFast(s); ok {
		return t, ""
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, "invalid time " + quote(s) + " (" + timeHint + ")"
	}
	if _, off := t.Zone(); off != 0 {
		return time.Time{}, "time " + quote(s) + " is not UTC (" + timeHint + ")"
	}
	return t.UTC(), ""
}

// parseTimeFast parses exactly YYYY-MM-DDTHH:MM:SSZ with every field in
// range; anything else reports false.
func parseTimeFast(s string) (time.Time, bool) {
	if len(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' {
		return time.Time{}, false
	}
	num := func(a, b int) int {
		n := 0
		for i := a; i < b; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec := num(11, 13), num(14, 16), num(17, 19)
	if year < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseSpot reads the spot column: true, false or empty, in any case.
func parseSpot(s string) (procurebot.Spot, bool) {
	switch {
	case s == "":
		return procurebot.SpotUnknown, true
	case strings.EqualFold(s, "true"):
		return procurebot.SpotTrue, true
	case strings.EqualFold(s, "false"):
		return procurebot.SpotFalse, true
	}
	return procurebot.SpotUnknown, false
}

// chunks stores groups of Ts (the rows of a snapshot) contiguously in large
// shared arrays: a group is a full slice expression of one chunk, so its
// rows cost no more than their own size and appending to a group never
// writes into the next.
type chunks[T any] struct {
	buf   []T
	start int // index in buf of the current group's first row
	size  int // next chunk's capacity
	limit int // largest chunk capacity
}

func newChunks[T any](first, limit int) *chunks[T] {
	return &chunks[T]{size: first, limit: limit}
}

// add returns a pointer to a new zero row at the end of the current group.
func (c *chunks[T]) add() *T {
	if len(c.buf) == cap(c.buf) {
		n := len(c.buf) - c.start // rows of the current group, moved along
		size := max(c.size, 2*n)
		nb := make([]T, n, size)
		copy(nb, c.buf[c.start:])
		clear(c.buf[c.start:]) // the old chunk's tail is dead
		c.buf, c.start = nb, 0
		c.size = min(2*c.size, c.limit)
	}
	c.buf = c.buf[:len(c.buf)+1]
	return &c.buf[len(c.buf)-1]
}

// group ends the current group and returns it.
func (c *chunks[T]) group() []T {
	g := c.buf[c.start:len(c.buf):len(c.buf)]
	c.start = len(c.buf)
	return g
}

package feed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return nil
}
func (c *clock) advance(d time.Duration) { c.Sleep(context.Background(), d) }

var t0 = time.Date(2026, 10, 12, 17, 0, 0, 0, time.UTC)

// gpuVenue answers with the next book of its script (or an error).
type gpuVenue struct {
	name   string
	maxAge time.Duration
	clock  *clock
	books  [][]string // per poll: per-GPU prices of H100 quotes; nil = error
	n      int
}

func (v *gpuVenue) Name() string          { return v.name }
func (v *gpuVenue) MaxAge() time.Duration { return v.maxAge }
func (v *gpuVenue) GPUQuotes(ctx context.Context) ([]procurebot.Quote, error) {
	b := v.books[min(v.n, len(v.books)-1)]
	v.n++
	if b == nil {
		return nil, errors.New("venue down")
	}
	var out []procurebot.Quote
	for i, p := range b {
		out = append(out, quote(v.name, "H100", p, v.clock.Now(), i))
	}
	return out, nil
}

func quote(venue, gpu, perGPU string, at time.Time, i int) procurebot.Quote {
	p := decimal.RequireFromString(perGPU)
	return procurebot.Quote{
		Offer: procurebot.Offer{Provider: venue, GPU: gpu, GPUCount: 1, USDPerHour: p, PerGPU: p, Spot: procurebot.SpotFalse},
		Venue: venue, FetchedAt: at, Available: -1, Ref: fmt.Sprint(i),
		Billing: procurebot.Billing{Unit: procurebot.BillUSDPerGPUHour, Raw: perGPU, Denom: "USD", Amount: p, ToUSDPerGPUHour: decimal.NewFromInt(1)},
	}
}

func prices(qs []procurebot.Quote) string {
	var s []string
	for _, q := range qs {
		s = append(s, q.Venue+":"+q.PerGPU.String())
	}
	return strings.Join(s, " ")
}

func TestOutlierQuarantined(t *testing.T) {
	c := &clock{t: t0}
	var logs bytes.Buffer
	a := &gpuVenue{name: "a", maxAge: time.Hour, clock: c, books: [][]string{{"2.10", "2.30", "2.50"}}}
	b := &gpuVenue{name: "b", maxAge: time.Hour, clock: c, books: [][]string{{"2.00", "0.01", "2.40", "45.00"}}}
	f, err := New(c, Options{Logger: zerolog.New(&logs)}, a, b)
	if err != nil {
		t.Fatal(err)
	}
	errs := f.Poll(context.Background())
	if errs["a"] != nil || errs["b"] != nil {
		t.Fatal(errs)
	}
	// Provider medians 2.30 (a) and 2.20 (b): the reference is 2.25; 0.01
	// is 0.004× and 45 is 20×.
	if got, want := prices(f.GPU()), "b:2 a:2.1 a:2.3 b:2.4 a:2.5"; got != want {
		t.Errorf("usable %q, want %q", got, want)
	}
	q := f.Quarantined()
	if len(q) != 2 || q[0].Venue != "b" || !q[0].Price.Equal(decimal.RequireFromString("0.01")) || !q[0].Median.Equal(decimal.RequireFromString("2.25")) {
		t.Errorf("quarantined %+v", q)
	}
	for _, w := range []string{`"message":"quote quarantined"`, `"venue":"b"`, `"price":"45"`} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %s:\n%s", w, logs.String())
		}
	}
	st := f.Status()
	if st[1].Venue != "b" || st[1].Quarantined != 2 || st[1].Quotes != 2 {
		t.Errorf("status %+v", st[1])
	}
}

func TestGuardNeedsSamplesAndRemembers(t *testing.T) {
	g, err := NewGuard(GuardConfig{MinSamples: 5})
	if err != nil {
		t.Fatal(err)
	}
	// Two quotes cannot be judged: both pass, however far apart.
	keep, _ := g.GPU([]procurebot.Quote{quote("a", "B200", "5", t0, 0), quote("a", "B200", "100", t0, 1)})
	if len(keep) != 2 {
		t.Fatalf("kept %d of 2 unjudgeable quotes", len(keep))
	}
	// Seeded with history, a lone absurd quote is caught on its own.
	g.Seed("gpu:H100", "x", decimal.RequireFromString("2"), decimal.RequireFromString("2.2"), decimal.RequireFromString("2.4"), decimal.RequireFromString("2.5"), decimal.RequireFromString("2.1"))
	keep, q := g.GPU([]procurebot.Quote{quote("a", "H100", "0.30", t0, 0)})
	if len(keep) != 0 || len(q) != 1 || !strings.Contains(q[0].Reason, "0.14×") {
		t.Fatalf("kept %v quarantined %+v", keep, q)
	}
	// At the bounds exactly (0.2× and 5× of 2.2) a price passes.
	keep, _ = g.GPU([]procurebot.Quote{quote("a", "H100", "0.44", t0, 0), quote("a", "H100", "11", t0, 1)})
	if len(keep) != 2 {
		t.Errorf("bounds: kept %s", prices(keep))
	}
}

func TestGuardPowerBand(t *testing.T) {
	g, err := NewGuard(GuardConfig{})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(p string) procurebot.PowerQuote {
		return procurebot.PowerQuote{Market: "ERCOT_HB_NORTH", Start: t0, Resolution: time.Hour, USDPerMWh: decimal.RequireFromString(p), Published: t0, Venue: "ercot", FetchedAt: t0}
	}
	keep, q := g.Power([]procurebot.PowerQuote{mk("-250"), mk("4999.99"), mk("-1500"), mk("99999")})
	if len(keep) != 2 || len(q) != 2 {
		t.Fatalf("kept %d quarantined %v", len(keep), q)
	}
}

func TestGuardConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  GuardConfig
		want string
	}{
		{GuardConfig{Low: 1.5}, "feed.guard.low"},
		{GuardConfig{High: 0.5}, "feed.guard.high"},
		{GuardConfig{Window: -1}, "feed.guard.window"},
	} {
		if _, err := NewGuard(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) || procurebot.ErrorCode(err) != procurebot.EINVALID {
			t.Errorf("%+v: %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
}

func TestStalenessWatchdog(t *testing.T) {
	c := &clock{t: t0}
	// a answers, then fails: its book stays usable until it is older than
	// 10 minutes, then is never used.
	a := &gpuVenue{name: "a", maxAge: 10 * time.Minute, clock: c, books: [][]string{{"2.0", "2.1"}, nil}}
	b := &gpuVenue{name: "b", maxAge: time.Hour, clock: c, books: [][]string{{"2.2", "2.3", "2.4"}}}
	f, err := New(c, Options{}, a, b)
	if err != nil {
		t.Fatal(err)
	}
	f.Poll(context.Background())
	if len(f.GPU()) != 5 {
		t.Fatalf("fresh: %s", prices(f.GPU()))
	}
	c.advance(5 * time.Minute)
	errs := f.Poll(context.Background())
	if errs["a"] == nil {
		t.Fatal("a should have failed")
	}
	if got := prices(f.GPU()); got != "a:2 a:2.1 b:2.2 b:2.3 b:2.4" {
		t.Errorf("a failed 5 min after its book: still usable, got %q", got)
	}
	c.advance(6 * time.Minute) // a's book is 11 min old
	if got := prices(f.GPU()); got != "b:2.2 b:2.3 b:2.4" {
		t.Errorf("stale a still used: %q", got)
	}
	st := f.Status()
	if !st[0].Stale || st[0].Age != 11*time.Minute || st[0].Errors != 1 || !strings.Contains(st[0].LastError, "venue down") {
		t.Errorf("status a %+v", st[0])
	}
	if st[1].Stale {
		t.Errorf("b stale after 6 min with max age 1h")
	}
}

// A venue that never answered is stale, and an invalid quote rejects the
// venue's whole book (never a partial book).
func TestInvalidBookRejected(t *testing.T) {
	c := &clock{t: t0}
	bad := &badVenue{c: c}
	f, err := New(c, Options{}, bad)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Status()[0].Stale {
		t.Error("never polled venue not stale")
	}
	errs := f.Poll(context.Background())
	if errs["bad"] == nil || !strings.Contains(errs["bad"].Error(), "gpu_count") {
		t.Fatalf("errs %v", errs)
	}
	if len(f.GPU()) != 0 {
		t.Errorf("partial book used: %s", prices(f.GPU()))
	}
}

type badVenue struct{ c *clock }

func (b *badVenue) Name() string          { return "bad" }
func (b *badVenue) MaxAge() time.Duration { return time.Hour }
func (b *badVenue) GPUQuotes(ctx context.Context) ([]procurebot.Quote, error) {
	good := quote("bad", "H100", "2", b.c.Now(), 0)
	broken := quote("bad", "H100", "2", b.c.Now(), 1)
	broken.GPUCount = 0
	return []procurebot.Quote{good, broken}, nil
}

// powerVenue publishes tomorrow's day-ahead prices today at 12:00.
type powerVenue struct{ c *clock }

func (p *powerVenue) Name() string          { return "dayahead" }
func (p *powerVenue) MaxAge() time.Duration { return 2 * time.Hour }
func (p *powerVenue) PowerQuotes(ctx context.Context, from, to time.Time) ([]procurebot.PowerQuote, error) {
	var out []procurebot.PowerQuote
	day := t0.Truncate(24 * time.Hour)
	for d := day; d.Before(day.Add(48 * time.Hour)); d = d.Add(time.Hour) {
		if d.Before(from) || !d.Before(to) {
			continue
		}
		pub := d.Truncate(24 * time.Hour).Add(-12 * time.Hour)
		out = append(out, procurebot.PowerQuote{Market: "M", Start: d, Resolution: time.Hour, USDPerMWh: decimal.NewFromInt(int64(d.Hour())),
			Published: pub, Venue: "dayahead", FetchedAt: p.c.Now()})
	}
	return out, nil
}

func TestPowerVisibility(t *testing.T) {
	c := &clock{t: t0.Truncate(24 * time.Hour).Add(11 * time.Hour)} // 11:00, before publication of tomorrow
	f, err := New(c, Options{}, &powerVenue{c: c})
	if err != nil {
		t.Fatal(err)
	}
	f.Poll(context.Background())
	if n, all := len(f.Power()), len(f.AllPower()); n != 24 || all != 48 {
		t.Fatalf("at 11:00: %d visible (want today's 24), %d held (want 48)", n, all)
	}
	c.advance(time.Hour) // 12:00: tomorrow published
	if n := len(f.Power()); n != 48 {
		t.Errorf("at 12:00: %d visible, want 48", n)
	}
	c.advance(3 * time.Hour) // stale
	if n := len(f.Power()); n != 0 {
		t.Errorf("stale venue: %d visible, want 0", n)
	}
}

func TestDuplicateVenue(t *testing.T) {
	c := &clock{t: t0}
	_, err := New(c, Options{}, &gpuVenue{name: "a"}, &gpuVenue{name: "a"})
	if err == nil || !strings.Contains(err.Error(), "providers.a") {
		t.Fatalf("err %v", err)
	}
}

// BenchmarkGuard10k judges 10k GPU quotes of 4 classes: the normalisation
// and guard cost of one poll of a large book.
func BenchmarkGuard10k(b *testing.B) {
	qs := make([]procurebot.Quote, 10000)
	classes := []string{"H100", "H200", "A100", "MI300X"}
	for i := range qs {
		qs[i] = quote("v", classes[i%4], fmt.Sprintf("%d.%02d", 1+i%3, i%100), t0, i)
	}
	b.ReportAllocs()
	for b.Loop() {
		g, _ := NewGuard(GuardConfig{})
		g.GPU(qs)
	}
}

// One provider listing many odd-shaped offers gets one vote: it cannot move
// the reference and push the others out.
func TestGuardOneVotePerProvider(t *testing.T) {
	g, err := NewGuard(GuardConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var offers []procurebot.Offer
	for _, p := range []struct{ prov, price string }{{"runpod", "2.49"}, {"lambdalabs", "2.99"}, {"vastai", "2.2"}, {"aws", "3.9"}} {
		offers = append(offers, procurebot.Offer{Provider: p.prov, GPU: "H100", PerGPU: decimal.RequireFromString(p.price)})
	}
	// A provider listing many multi-GPU instance rows of unknown shape
	// seeds its cheapest.
	for i := 0; i < 100; i++ {
		offers = append(offers, procurebot.Offer{Provider: "gcp", GPU: "H100", PerGPU: decimal.NewFromInt(int64(30 + i))})
	}
	offers = append(offers, procurebot.Offer{Provider: "gcp", GPU: "H100", PerGPU: decimal.RequireFromString("3.5")})
	g.SeedOffers(offers)
	// A venue that starts sending cents as dollars is caught at once.
	keep, q := g.GPU([]procurebot.Quote{quote("runpod", "H100", "249", t0, 0), quote("vastai", "H100", "2.35", t0, 1)})
	// Provider references 2.49, 2.99, 2.2, 3.9, 3.5: the median is 2.99.
	if len(keep) != 1 || keep[0].Venue != "vastai" || len(q) != 1 || !q[0].Median.Equal(decimal.RequireFromString("2.99")) {
		t.Fatalf("kept %s, quarantined %+v", prices(keep), q)
	}
}

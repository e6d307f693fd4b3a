package coingecko

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
	"github.com/procurebot/procurebot/providers/venuehttp/venuetest"
)

const testKey = "CG-secret-demo-key-42"

var t0 = time.Date(2026, 10, 12, 17, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error { return nil }

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// server replays testdata/file with status at /api/v3/simple/price and
// records every request it sees.
type server struct {
	url   string
	calls atomic.Int32
	mu    sync.Mutex
	reqs  []*http.Request
}

func (s *server) last() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[len(s.reqs)-1]
}

func replay(t *testing.T, file string, status int) *server {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	s := &server{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Clone(context.Background()))
		s.mu.Unlock()
		if r.URL.Path != "/api/v3/simple/price" {
			t.Errorf("path %s", r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/api/v3"
	return s
}

type fixture struct {
	src *Source
	srv *server
	clk *clock
	log *venuetest.SyncBuffer
}

func setup(t *testing.T, file string, status int, mod func(*Config)) fixture {
	t.Helper()
	srv := replay(t, file, status)
	clk := &clock{now: t0}
	log, logs := venuetest.Logger()
	cfg := Config{Config: venuehttp.Config{BaseURL: srv.url, MaxAttempts: 1, RatePerSecond: 1000}, APIKey: venuehttp.Credential{Value: testKey}}
	if mod != nil {
		mod(&cfg)
	}
	src, err := New(cfg, venuehttp.Env{Clock: clk, Logger: log, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { venuetest.NoSecret(t, logs.String(), testKey) })
	return fixture{src, srv, clk, logs}
}

func TestUSDPrice(t *testing.T) {
	f := setup(t, "simple_price.json", 200, nil)
	p, asOf, err := f.src.USDPrice(context.Background(), AKT)
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != "0.6312" {
		t.Errorf("AKT %s, want 0.6312 exactly", p)
	}
	// last_updated_at 1791824340 is 16:59:00Z, a minute before the fetch.
	if want := t0.Add(-time.Minute); !asOf.Equal(want) {
		t.Errorf("as of %s, want %s", asOf, want)
	}
	r := f.srv.last()
	if got := r.Header.Get("x-cg-demo-api-key"); got != testKey {
		t.Errorf("x-cg-demo-api-key %q", got)
	}
	if got := r.Header.Get("x-cg-pro-api-key"); got != "" {
		t.Errorf("pro header sent on the demo plan: %q", got)
	}
	q := r.URL.Query()
	for k, want := range map[string]string{"ids": "akash-network,usd-coin", "vs_currencies": "usd", "include_last_updated_at": "true", "precision": "full"} {
		if got := q.Get(k); got != want {
			t.Errorf("query %s=%q, want %q", k, got, want)
		}
	}
	venuetest.NoSecret(t, r.URL.String(), testKey)
	// usd-coin came in the same call and is served from the cache.
	u, _, err := f.src.USDPrice(context.Background(), USDC)
	if err != nil || u.String() != "0.99981234" {
		t.Errorf("USDC %s %v", u, err)
	}
	if n := f.srv.calls.Load(); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

func TestCacheTTL(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ttl   time.Duration
		after time.Duration
		calls int32
	}{
		{"within default ttl", 0, 4*time.Minute + 59*time.Second, 1},
		{"at default ttl", 0, 5 * time.Minute, 2},
		{"configured ttl", 30 * time.Second, 31 * time.Second, 2},
		{"configured ttl within", 30 * time.Second, 29 * time.Second, 1},
		{"clock moved back", 0, -time.Second, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, "simple_price.json", 200, func(c *Config) { c.TTL = tc.ttl })
			if _, _, err := f.src.USDPrice(context.Background(), AKT); err != nil {
				t.Fatal(err)
			}
			f.clk.set(t0.Add(tc.after))
			if _, _, err := f.src.USDPrice(context.Background(), AKT); err != nil {
				t.Fatal(err)
			}
			if n := f.srv.calls.Load(); n != tc.calls {
				t.Errorf("%d calls, want %d", n, tc.calls)
			}
		})
	}
}

func TestAsOfNotAfterFetch(t *testing.T) {
	// A last_updated_at ahead of the local clock (skew) counts as the fetch
	// time, never the future.
	f := setup(t, "simple_price.json", 200, nil)
	f.clk.set(t0.Add(-10 * time.Minute))
	_, asOf, err := f.src.USDPrice(context.Background(), AKT)
	if err != nil || !asOf.Equal(t0.Add(-10*time.Minute)) {
		t.Errorf("as of %s %v, want the fetch time", asOf, err)
	}
}

func TestManyIDs(t *testing.T) {
	f := setup(t, "simple_price_many.json", 200, func(c *Config) {
		c.IDs = []string{"bitcoin", "ethereum", AKT, USDC, "cosmos", "osmosis", "render-token", "shiba-inu", "stale-coin", "delisted-coin"}
	})
	for _, tc := range []struct {
		id, price string
		asOf      time.Time
	}{
		{"bitcoin", "67187.3358936566", time.Unix(1791824391, 0)},
		{"shiba-inu", "0.000012411", time.Unix(1791824395, 0)},
		{"render-token", "3.27", time.Unix(1791824302, 0)},
		{"stale-coin", "0.0412", time.Unix(1791810000, 0)},
	} {
		p, asOf, err := f.src.USDPrice(context.Background(), tc.id)
		if err != nil {
			t.Fatalf("%s: %v", tc.id, err)
		}
		if !p.Equal(decimal.RequireFromString(tc.price)) {
			t.Errorf("%s: %s, want %s", tc.id, p, tc.price)
		}
		if !asOf.Equal(tc.asOf) {
			t.Errorf("%s: as of %s, want %s", tc.id, asOf, tc.asOf.UTC())
		}
	}
	// A coin with no USD price ({}) is an error naming it, and refetches.
	_, _, err := f.src.USDPrice(context.Background(), "delisted-coin")
	if err == nil || !strings.Contains(err.Error(), `"delisted-coin"`) || !strings.Contains(err.Error(), "delisted-coin.usd") {
		t.Errorf("err %v", err)
	}
	if n := f.srv.calls.Load(); n != 2 {
		t.Errorf("%d calls, want 2 (one batch, one retry for the missing id)", n)
	}
}

func TestUnknownID(t *testing.T) {
	f := setup(t, "empty.json", 200, nil)
	_, _, err := f.src.USDPrice(context.Background(), "no-such-coin")
	venuetest.CheckError(t, err, procurebot.EINVALID, []string{"coingecko", "GET", "simple/price", "no-such-coin", "not a CoinGecko id"})
	// The unknown id is added to the configured ones in the call.
	if got := f.srv.last().URL.Query().Get("ids"); got != "akash-network,usd-coin,no-such-coin" {
		t.Errorf("ids %q", got)
	}
	for _, id := range []string{"", "a,b"} {
		if _, _, err := f.src.USDPrice(context.Background(), id); err == nil {
			t.Errorf("id %q: no error", id)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		file   string
		status int
		code   string
		want   []string
	}{
		{"error_429.json", 429, procurebot.EUNAVAILABLE, []string{"coingecko", "GET", "simple/price", "HTTP 429", "exceeded the Rate Limit"}},
		{"error_401.json", 401, procurebot.EINVALID, []string{"coingecko", "HTTP 401", "10011"}},
		{"malformed.json", 200, procurebot.EINVALID, []string{"coingecko", "simple/price", "akash-network.usd", `"n/a"`}},
		{"negative.json", 200, procurebot.EINVALID, []string{"coingecko", "akash-network.usd", "-0.6312", "not a positive price"}},
		{"status_in_200.json", 200, procurebot.EINVALID, []string{"coingecko", "status.error_code", "10005", "access"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f := setup(t, tc.file, tc.status, nil)
			_, _, err := f.src.USDPrice(context.Background(), AKT)
			venuetest.CheckError(t, err, tc.code, tc.want, testKey)
			if !strings.Contains(f.log.String(), "simple/price") {
				t.Errorf("no request logged: %q", f.log.String())
			}
		})
	}
}

func TestAuth(t *testing.T) {
	t.Run("keyless demo", func(t *testing.T) {
		f := setup(t, "simple_price.json", 200, func(c *Config) { c.APIKey = venuehttp.Credential{} })
		if _, _, err := f.src.USDPrice(context.Background(), AKT); err != nil {
			t.Fatal(err)
		}
		if h := f.srv.last().Header; h.Get("x-cg-demo-api-key") != "" || h.Get("x-cg-pro-api-key") != "" {
			t.Errorf("key header sent without a key: %v", h)
		}
	})
	t.Run("pro", func(t *testing.T) {
		f := setup(t, "simple_price.json", 200, func(c *Config) { c.Plan = "pro" })
		if _, _, err := f.src.USDPrice(context.Background(), AKT); err != nil {
			t.Fatal(err)
		}
		h := f.srv.last().Header
		if h.Get("x-cg-pro-api-key") != testKey || h.Get("x-cg-demo-api-key") != "" {
			t.Errorf("headers %v", h)
		}
	})
	t.Run("env key", func(t *testing.T) {
		srv := replay(t, "simple_price.json", 200)
		s, err := New(Config{Config: venuehttp.Config{BaseURL: srv.url}}, venuehttp.Env{Getenv: func(k string) string {
			if k == "COINGECKO_API_KEY" {
				return "env-key-7"
			}
			return ""
		}})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.USDPrice(context.Background(), AKT); err != nil {
			t.Fatal(err)
		}
		if got := srv.last().Header.Get("x-cg-demo-api-key"); got != "env-key-7" {
			t.Errorf("header %q", got)
		}
	})
	t.Run("pro needs a key", func(t *testing.T) {
		_, err := New(Config{Plan: "pro"}, venuehttp.Env{Getenv: func(string) string { return "" }})
		if err == nil || !strings.Contains(err.Error(), "COINGECKO_API_KEY") || !strings.Contains(err.Error(), "providers.coingecko.api_key") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("pro inferred from base_url", func(t *testing.T) {
		s, err := New(Config{Config: venuehttp.Config{BaseURL: ProBaseURL}}, venuehttp.Env{Getenv: func(string) string { return "" }})
		if err == nil || !strings.Contains(err.Error(), "COINGECKO_API_KEY") {
			t.Errorf("pro root without a key: %v %v", s, err)
		}
	})
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Plan: "enterprise"}, "providers.coingecko.plan"},
		{Config{TTL: -time.Second}, "providers.coingecko.ttl"},
		{Config{TTL: 20 * time.Minute}, "providers.coingecko.max_age"},
		{Config{Config: venuehttp.Config{MaxAge: time.Minute}}, "providers.coingecko.max_age"},
		{Config{IDs: []string{"akash-network", ""}}, "providers.coingecko.ids[1]"},
		{Config{IDs: []string{"a,b"}}, "providers.coingecko.ids[0]"},
		{Config{Config: venuehttp.Config{Timeout: -1}}, "providers.coingecko.timeout"},
	} {
		_, err := New(tc.cfg, venuehttp.Env{Getenv: func(string) string { return "" }})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %s", tc.cfg, err, tc.want)
		}
	}
	s, err := New(Config{}, venuehttp.Env{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "coingecko" || s.MaxAge() != 15*time.Minute || s.TTL() != DefaultTTL {
		t.Errorf("name %s max age %s ttl %s", s.Name(), s.MaxAge(), s.TTL())
	}
}

func TestConcurrentMissesShareOneCall(t *testing.T) {
	f := setup(t, "simple_price.json", 200, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := AKT
			if i%2 == 1 {
				id = USDC
			}
			if _, _, err := f.src.USDPrice(context.Background(), id); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := f.srv.calls.Load(); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

func TestCancelledWhileWaiting(t *testing.T) {
	f := setup(t, "simple_price.json", 200, nil)
	f.src.lock <- struct{}{} // another caller holds the fetch
	t.Cleanup(func() { <-f.src.lock })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := f.src.USDPrice(ctx, AKT)
	if err == nil || procurebot.ErrorCode(err) != procurebot.EUNAVAILABLE || !strings.Contains(err.Error(), "akash-network") {
		t.Errorf("err %v", err)
	}
	if n := f.srv.calls.Load(); n != 0 {
		t.Errorf("%d calls", n)
	}
}

func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("{")
	for i := 0; i < 500; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `"coin-%d":{"usd":%d.%06d,"last_updated_at":%d}`, i, i+1, i*7919%1000000, 1791824000+i)
	}
	sb.WriteString("}")
	body := []byte(sb.String())
	c, err := venuehttp.New("coingecko", DefaultBaseURL, venuehttp.Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	req := request([]string{"coin-0"})
	b.ReportAllocs()
	for b.Loop() {
		ps, err := parse(c, req, body, t0)
		if err != nil || len(ps) != 500 {
			b.Fatal(len(ps), err)
		}
	}
}

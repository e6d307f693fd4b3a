package akash_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/akash"
	"github.com/procurebot/procurebot/providers/coingecko"
	"github.com/procurebot/procurebot/providers/feed"
	"github.com/procurebot/procurebot/providers/venuehttp"
	"github.com/procurebot/procurebot/providers/venuehttp/venuetest"
)

var (
	_ akash.USDPricer = (*coingecko.Source)(nil)
	_ feed.GPUSource  = (*akash.Source)(nil)
	_ feed.Source     = (*coingecko.Source)(nil)
)

type clock struct{ now atomic.Pointer[time.Time] }

func (c *clock) Now() time.Time                                   { return *c.now.Load() }
func (c *clock) Sleep(ctx context.Context, d time.Duration) error { return nil }

func file(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The live wiring: uakt bids converted at CoinGecko's AKT price, cached
// across polls, refused once CoinGecko's price is older than
// max_token_price_age.
func TestBidsPricedByCoinGecko(t *testing.T) {
	const key = "CG-wiring-secret-9"
	prices := file(t, filepath.Join("..", "coingecko", "testdata", "simple_price.json"))
	page := file(t, filepath.Join("testdata", "bids_page2.json"))
	var cgCalls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cg/simple/price":
			cgCalls.Add(1)
			if r.Header.Get("x-cg-demo-api-key") != key {
				t.Errorf("coingecko key header %q", r.Header.Get("x-cg-demo-api-key"))
			}
			w.Write(prices)
		case "/rest/akash/market/v1beta5/bids/list":
			w.Write(page)
		default:
			t.Errorf("unexpected %s", r.URL)
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(srv.Close)

	clk := &clock{}
	now := time.Date(2026, 10, 12, 17, 0, 0, 0, time.UTC)
	clk.now.Store(&now)
	log, logs := venuetest.Logger()
	env := venuehttp.Env{Clock: clk, Logger: log, Getenv: func(k string) string {
		if k == "COINGECKO_API_KEY" {
			return key
		}
		return ""
	}}
	cg, err := coingecko.New(coingecko.Config{Config: venuehttp.Config{BaseURL: srv.URL + "/cg", MaxAttempts: 1, RatePerSecond: 1000}}, env)
	if err != nil {
		t.Fatal(err)
	}
	ak, err := akash.New(akash.Config{
		Config: venuehttp.Config{MaxAttempts: 1, RatePerSecond: 1000}, SkipConsole: true,
		LCDURL: srv.URL + "/rest", Owner: "akash13265twfqejnma6cc93rw5dxk4cldyz2zyy8cdm", DSeq: "24018822",
		MaxTokenPriceAge: 10 * time.Minute,
	}, env, cg)
	if err != nil {
		t.Fatal(err)
	}

	poll := func(at time.Time) ([]procurebot.Quote, error) {
		clk.now.Store(&at)
		return ak.GPUQuotes(context.Background())
	}
	qs, err := poll(now)
	if err != nil {
		t.Fatal(err)
	}
	var h200 procurebot.Quote
	for _, q := range qs {
		if q.GPU == "H200" {
			h200 = q
		}
	}
	// 9800.5 uakt/block for 2 GPUs at CoinGecko's 0.6312: 1.80 per GPU-hour.
	want := decimal.RequireFromString("1.803520583090379008746355685131195335")
	if h200.PerGPU.Sub(want).Abs().GreaterThan(decimal.New(1, -12)) || h200.Billing.Denom != "uakt" {
		t.Errorf("H200 %+v", h200)
	}
	// Within the cache TTL: no second CoinGecko call.
	if _, err := poll(now.Add(4 * time.Minute)); err != nil || cgCalls.Load() != 1 {
		t.Errorf("second poll: %v, %d coingecko calls", err, cgCalls.Load())
	}
	// The fixture's price is as of 16:59:00; at 17:10:01 (refetched, still
	// 16:59:00) it is 11 min old, over the 10 min bound.
	_, err = poll(now.Add(10*time.Minute + time.Second))
	if err == nil || !strings.Contains(err.Error(), "stale") || procurebot.ErrorCode(err) != procurebot.EUNAVAILABLE {
		t.Errorf("stale price: %v", err)
	}
	if cgCalls.Load() != 2 {
		t.Errorf("%d coingecko calls, want 2", cgCalls.Load())
	}
	venuetest.NoSecret(t, logs.String(), key)
	if err != nil {
		venuetest.NoSecret(t, err.Error(), key)
	}
	if !strings.Contains(logs.String(), "simple/price") {
		t.Errorf("no coingecko call logged")
	}
}

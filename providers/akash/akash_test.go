package akash

import (
	"context"
	"encoding/json"
	"errors"
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

const (
	owner    = "akash13265twfqejnma6cc93rw5dxk4cldyz2zyy8cdm"
	dseq     = "24018822"
	nextKey  = "FAKhY2FzaDEzMjY1dHdmcWVqbm1hNmNjOTNydzVkeGs0Y2xkeXoyenl5OGNkbQ=="
	provider = "akash1q7spv2cw06yszgfp4f9ed59lkka6ytn8g4tkjf"
)

var (
	fetched = time.Date(2026, 10, 12, 17, 0, 0, 0, time.UTC)
	aktUSD  = decimal.RequireFromString("0.6312")
)

// fakePricer is the AKT/USD feed.
type fakePricer struct {
	price decimal.Decimal
	asOf  time.Time
	err   error
	calls atomic.Int32
	mu    sync.Mutex
	ids   []string
}

func (p *fakePricer) USDPrice(ctx context.Context, id string) (decimal.Decimal, time.Time, error) {
	p.calls.Add(1)
	p.mu.Lock()
	p.ids = append(p.ids, id)
	p.mu.Unlock()
	return p.price, p.asOf, p.err
}

func freshAKT() *fakePricer { return &fakePricer{price: aktUSD, asOf: fetched.Add(-time.Minute)} }

// venue serves the console's /v1/gpu-prices and the chain REST bid list
// from testdata; bids maps a pagination.key ("" for the first page) to a
// file. It records every request.
type venue struct {
	url     string
	console string
	cStatus int
	bids    map[string]string
	bStatus int
	path    string // the bid list path expected
	mu      sync.Mutex
	reqs    []*http.Request
}

func (v *venue) requests(prefix string) []*http.Request {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []*http.Request
	for _, r := range v.reqs {
		if strings.HasPrefix(r.URL.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}

func read(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (v *venue) start(t *testing.T) *venue {
	t.Helper()
	if v.cStatus == 0 {
		v.cStatus = 200
	}
	if v.bStatus == 0 {
		v.bStatus = 200
	}
	if v.path == "" {
		v.path = "/rest/akash/market/v1beta5/bids/list"
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		v.reqs = append(v.reqs, r.Clone(context.Background()))
		v.mu.Unlock()
		if r.Header.Get("Authorization") != "" {
			t.Errorf("credentials sent to a public API: %v", r.Header)
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/console/v1/gpu-prices" && v.console != "":
			w.WriteHeader(v.cStatus)
			w.Write(read(t, v.console))
		case r.URL.Path == v.path && v.bids != nil:
			file, ok := v.bids[r.URL.Query().Get("pagination.key")]
			if !ok {
				t.Errorf("unexpected pagination.key %q", r.URL.Query().Get("pagination.key"))
				w.WriteHeader(400)
				return
			}
			w.WriteHeader(v.bStatus)
			w.Write(read(t, file))
		default:
			t.Errorf("unexpected request %s", r.URL)
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(srv.Close)
	v.url = srv.URL
	return v
}

// source builds the adapter against v; bids turn on when v serves them.
func source(t *testing.T, v *venue, p USDPricer, mod func(*Config)) (*Source, *venuetest.SyncBuffer) {
	t.Helper()
	cfg := Config{Config: venuehttp.Config{BaseURL: v.url + "/console", MaxAttempts: 1, RatePerSecond: 1000}}
	if v.console == "" {
		cfg.SkipConsole = true
	}
	if v.bids != nil {
		cfg.LCDURL, cfg.Owner, cfg.DSeq = v.url+"/rest", owner, dseq
	}
	if mod != nil {
		mod(&cfg)
	}
	log, logs := venuetest.Logger()
	s, err := New(cfg, venuehttp.Env{Clock: venuetest.Clock{T: fetched}, Logger: log}, p)
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

func find(t *testing.T, qs []procurebot.Quote, ref string) procurebot.Quote {
	t.Helper()
	for _, q := range qs {
		if q.Ref == ref {
			return q
		}
	}
	t.Fatalf("no quote %s in %v", ref, qs)
	return procurebot.Quote{}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestConsole(t *testing.T) {
	v := (&venue{console: "gpu_prices.json"}).start(t)
	s, log := source(t, v, nil, nil)
	qs, err := s.GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// 16 models: b200 has no price (no bids), gtx1080ti and p100 map to no
	// GPU class; 13 quotes, sorted by the median.
	want := []struct{ gpu, med string }{
		{"T4", "0.05"}, {"V100", "0.17"}, {"RTX3090", "0.19"}, {"RTX4090", "0.31"}, {"A40", "0.41"},
		{"A6000", "0.44"}, {"L40S", "0.73"}, {"A100", "0.84"}, {"A100", "1.04"}, {"A100", "1.19"},
		{"H100", "1.52"}, {"H100", "1.75"}, {"H200", "2.4"},
	}
	if len(qs) != len(want) {
		t.Fatalf("%d quotes, want %d: %v", len(qs), len(want), qs)
	}
	for i, q := range qs {
		if err := q.Validate(); err != nil {
			t.Error(err)
		}
		if q.GPU != want[i].gpu || !q.PerGPU.Equal(dec(want[i].med)) {
			t.Errorf("quote %d: %s %s, want %s %s", i, q.GPU, q.PerGPU, want[i].gpu, want[i].med)
		}
		if q.Venue != "akash" || q.Provider != "akash" || q.Cloud != "console" || q.GPUCount != 1 {
			t.Errorf("quote %d: %+v", i, q)
		}
	}
	for _, m := range []string{"nvidia/gtx1080ti/11Gi/PCIe", "nvidia/p100/16Gi/PCIe"} {
		if !strings.Contains(log.String(), m) {
			t.Errorf("skipped model %s not logged: %s", m, log)
		}
	}
	if r := v.requests("/console/v1/gpu-prices"); len(r) != 1 || r[0].URL.RawQuery != "" {
		t.Errorf("console requests %v", r)
	}
}

// Worked example: the H100 SXM5 median of 1.75 is 1.75 USD per GPU-hour,
// billed per GPU-hour, so a 1.50 cap is 1.50 in the venue's unit.
func TestConsoleConversion(t *testing.T) {
	v := (&venue{console: "gpu_prices.json"}).start(t)
	s, _ := source(t, v, nil, nil)
	qs, err := s.GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	q := find(t, qs, "nvidia/h100/80Gi/SXM5")
	if q.GPU != "H100" || q.GPUCount != 1 || !q.USDPerHour.Equal(dec("1.75")) || !q.PerGPU.Equal(dec("1.75")) || !q.HasPerGPU {
		t.Errorf("quote %+v", q)
	}
	b := q.Billing
	if b.Unit != procurebot.BillUSDPerGPUHour || b.Raw != "1.75" || b.Denom != "USD" || !b.Amount.Equal(dec("1.75")) || !b.ToUSDPerGPUHour.Equal(dec("1")) {
		t.Errorf("billing %+v", b)
	}
	if q.Available != 73 || q.Instance != "nvidia/h100/80Gi/SXM5" || !q.FetchedAt.Equal(fetched) || q.Spot != procurebot.SpotFalse || q.SpotKind != procurebot.SpotNone || !q.Term.IsZero() {
		t.Errorf("quote %+v", q)
	}
	cap, err := q.BilledCap(dec("1.50"))
	if err != nil || !cap.Equal(dec("1.5")) {
		t.Errorf("cap %s %v", cap, err)
	}
	if s.Name() != "akash" || s.MaxAge() != 15*time.Minute {
		t.Errorf("name %s max age %s", s.Name(), s.MaxAge())
	}
}

func TestConsoleStatistic(t *testing.T) {
	for _, tc := range []struct{ stat, want string }{
		{"", "1.75"}, {"med", "1.75"}, {"min", "1.28"}, {"avg", "1.83"}, {"weighted_average", "1.79"},
	} {
		t.Run(tc.stat, func(t *testing.T) {
			v := (&venue{console: "gpu_prices.json"}).start(t)
			s, _ := source(t, v, nil, func(c *Config) { c.Price = tc.stat })
			qs, err := s.GPUQuotes(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			q := find(t, qs, "nvidia/h100/80Gi/SXM5")
			if !q.PerGPU.Equal(dec(tc.want)) || q.Billing.Raw != tc.want {
				t.Errorf("%s: per GPU %s raw %s, want %s", tc.stat, q.PerGPU, q.Billing.Raw, tc.want)
			}
		})
	}
}

func TestConsoleEmpty(t *testing.T) {
	v := (&venue{console: "gpu_prices_empty.json"}).start(t)
	s, _ := source(t, v, nil, nil)
	qs, err := s.GPUQuotes(context.Background())
	if err != nil || len(qs) != 0 {
		t.Fatalf("%v %v", qs, err)
	}
}

func TestConsoleErrors(t *testing.T) {
	for _, tc := range []struct {
		file   string
		status int
		code   string
		want   []string
	}{
		{"error_500.json", 500, procurebot.EUNAVAILABLE, []string{"akash", "GET", "/console/v1/gpu-prices", "HTTP 500", "internal_server_error"}},
		{"gpu_prices_malformed.json", 200, procurebot.EINVALID, []string{"akash", "v1/gpu-prices", "price.med", `"cheap"`}},
		{"bids_empty.json", 200, procurebot.EINVALID, []string{"akash", "v1/gpu-prices", "field models", "missing"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			v := (&venue{console: tc.file, cStatus: tc.status}).start(t)
			s, _ := source(t, v, nil, nil)
			qs, err := s.GPUQuotes(context.Background())
			venuetest.CheckError(t, err, tc.code, tc.want)
			if qs != nil {
				t.Errorf("partial book %v", qs)
			}
		})
	}
}

// bidWant is one expected bid quote: per-GPU price exact to 1e-12 against
// the unrounded arithmetic (Python decimal, 60 digits).
type bidWant struct {
	ref, gpu, denom, raw string
	gpus                 int
	perGPU, cents        string
}

var pagedBids = []bidWant{
	// 5145.3 uakt/block × 3600/6.174 blocks/h ÷ 1e6 × 0.6312 USD/AKT.
	{owner + "/" + dseq + "/1/1/" + provider + "/3", "H100", "uakt", "5145.300000000000000000", 1, "1.893710413994169096209912536443148688", "1.89"},
	// 2572.45 uact/block × 583.0904 ÷ 1e6 × 1 USD/ACT.
	{owner + "/" + dseq + "/1/1/akash1g7az2pus6atgeufgttlcnl0wzlzwd0lrsy6d7s/5", "A100", "uact", "2572.450000000000000000", 1, "1.499970845481049562682215743440233236", "1.50"},
	// 23324 µUSDC/block for 8 × H100: 13.60 USD/h, 1.70 per GPU-hour.
	{owner + "/" + dseq + "/1/1/akash15tl6v6gd0nte0syyxnv57zmmspgju4c3xfmdhk/7", "H100", DenomUSDC, "23324.000000000000000000", 8, "1.7", "1.70"},
	// 4300 uact/block for 2 GPUs × count 2 = 4 RTX 4090.
	{owner + "/" + dseq + "/1/1/akash1aaul837r7en7hpk9wv2svg8u78fdq0t2j2e82z/9", "RTX4090", "uact", "4300.000000000000000000", 4, "0.626822157434402332361516034985422740", "0.63"},
	// 9800.5 uakt/block for 1 GPU × count 2 = 2 H200.
	{owner + "/" + dseq + "/1/1/akash1y2ka3u7w0qcdyzm6ed4ps9ljf0yzg8anqj4e0j/11", "H200", "uakt", "9800.500000000000000000", 2, "1.803520583090379008746355685131195335", "1.80"},
}

func checkBid(t *testing.T, q procurebot.Quote, w bidWant) {
	t.Helper()
	if err := q.Validate(); err != nil {
		t.Error(err)
	}
	if q.GPU != w.gpu || q.GPUCount != w.gpus || q.Billing.Denom != w.denom || q.Billing.Raw != w.raw || q.Billing.Unit != procurebot.BillDenomPerBlock {
		t.Errorf("%s: %+v", w.ref, q)
	}
	if d := q.PerGPU.Sub(dec(w.perGPU)).Abs(); d.GreaterThan(dec("1e-12")) {
		t.Errorf("%s: per GPU %s, want %s (off by %s)", w.ref, q.PerGPU, w.perGPU, d)
	}
	if got := q.PerGPU.StringFixed(2); got != w.cents {
		t.Errorf("%s: per GPU %s to the cent, want %s", w.ref, got, w.cents)
	}
	if !q.PerGPU.Equal(q.Billing.Amount.Mul(q.Billing.ToUSDPerGPUHour)) {
		t.Errorf("%s: per GPU %s is not amount × factor exactly", w.ref, q.PerGPU)
	}
	if !q.USDPerHour.Equal(q.PerGPU.Mul(decimal.NewFromInt(int64(w.gpus)))) {
		t.Errorf("%s: per hour %s", w.ref, q.USDPerHour)
	}
	if q.Provider != "akash" || q.Venue != "akash" || !strings.HasPrefix(q.Cloud, "akash1") || !strings.Contains(w.ref, q.Cloud) || q.Available != 1 || !q.FetchedAt.Equal(fetched) {
		t.Errorf("%s: %+v", w.ref, q)
	}
}

func TestBidsTwoPages(t *testing.T) {
	v := (&venue{bids: map[string]string{"": "bids_page1.json", nextKey: "bids_page2.json"}}).start(t)
	p := freshAKT()
	s, _ := source(t, v, p, nil)
	qs, err := s.GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != len(pagedBids) {
		t.Fatalf("%d quotes, want %d: %v", len(qs), len(pagedBids), qs)
	}
	for _, w := range pagedBids {
		checkBid(t, find(t, qs, w.ref), w)
	}
	for i := 1; i < len(qs); i++ {
		if qs[i].PerGPU.LessThan(qs[i-1].PerGPU) {
			t.Errorf("not sorted at %d: %s < %s", i, qs[i].PerGPU, qs[i-1].PerGPU)
		}
	}
	reqs := v.requests("/rest/")
	if len(reqs) != 2 {
		t.Fatalf("%d bid requests, want 2", len(reqs))
	}
	for i, r := range reqs {
		q := r.URL.Query()
		if q.Get("filters.owner") != owner || q.Get("filters.dseq") != dseq || q.Get("filters.state") != "open" || q.Get("pagination.limit") != "100" {
			t.Errorf("request %d query %v", i, q)
		}
	}
	if got := reqs[0].URL.Query().Get("pagination.key"); got != "" {
		t.Errorf("first page sent pagination.key %q", got)
	}
	if got := reqs[1].URL.Query().Get("pagination.key"); got != nextKey {
		t.Errorf("second page pagination.key %q, want %q", got, nextKey)
	}
	// Two uakt bids, one price lookup, of AKT.
	if n := p.calls.Load(); n != 1 || p.ids[0] != AKTPriceID {
		t.Errorf("pricer called %d times for %v", n, p.ids)
	}
}

// Worked example of the package comment: 1.3788 uakt/block at AKT 0.6312
// USD is 0.00050746 USD per GPU-hour; 23324 µUSDC/block for 8 GPUs is 1.70.
func TestFactor(t *testing.T) {
	bt := dec(DefaultBlockTime)
	for _, tc := range []struct {
		amount, token string
		gpus          int
		factor        string
		perGPU        string
	}{
		{"1.3788", "0.6312", 1, "0.0003680466472303207", "0.000507462717201166180758017492711370262"},
		{"23324", "1", 8, "0.00007288629737609329", "1.7"},
		{"2572.45", "1", 1, "0.00058309037900874636", "1.499970845481049562682215743440233236"},
	} {
		f := Factor(bt, dec(tc.token), tc.gpus)
		if f.String() != tc.factor {
			t.Errorf("factor(%s, %d) %s, want %s", tc.token, tc.gpus, f, tc.factor)
		}
		got := dec(tc.amount).Mul(f)
		if got.Sub(dec(tc.perGPU)).Abs().GreaterThan(dec("1e-15")) {
			t.Errorf("%s × factor = %s, want %s", tc.amount, got, tc.perGPU)
		}
	}
	// Blocks per hour at the default block time: 3600 / 6.174 ≈ 583.09.
	if bph := Factor(bt, dec("1000000"), 1).StringFixed(2); bph != "583.09" {
		t.Errorf("blocks per hour %s", bph)
	}
}

// BilledCap turns a USD/GPU-hour cap into denom per block: 1.70 on the
// 8 × H100 USDC bid is its own 23324, and a bid at the cap never bills more.
func TestBidBilledCap(t *testing.T) {
	v := (&venue{bids: map[string]string{"": "bids_act_usdc.json"}}).start(t)
	s, _ := source(t, v, freshAKT(), nil)
	qs, err := s.GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	q := find(t, qs, pagedBids[2].ref)
	cap, err := q.BilledCap(dec("1.70"))
	if err != nil {
		t.Fatal(err)
	}
	if cap.Sub(dec("23324")).Abs().GreaterThan(dec("1e-9")) || cap.Mul(q.Billing.ToUSDPerGPUHour).GreaterThan(dec("1.70")) {
		t.Errorf("cap %s µUSDC/block bills %s", cap, cap.Mul(q.Billing.ToUSDPerGPUHour))
	}
}

func TestBidsWithoutAKT(t *testing.T) {
	// uact and USDC need no token price: a broken feed is not consulted.
	v := (&venue{bids: map[string]string{"": "bids_act_usdc.json"}}).start(t)
	p := &fakePricer{err: errors.New("feed down")}
	s, _ := source(t, v, p, nil)
	qs, err := s.GPUQuotes(context.Background())
	if err != nil || len(qs) != 2 {
		t.Fatalf("%v %v", qs, err)
	}
	if p.calls.Load() != 0 {
		t.Errorf("pricer called")
	}
}

func TestBidsV1beta4(t *testing.T) {
	v := (&venue{bids: map[string]string{"": "bids_v1beta4.json"}, path: "/rest/akash/market/v1beta4/bids/list"}).start(t)
	s, _ := source(t, v, freshAKT(), func(c *Config) { c.MarketVersion = "v1beta4"; c.GPU = "RTX 4090" })
	qs, err := s.GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 2 {
		t.Fatalf("%d quotes", len(qs))
	}
	// bid_id has no bseq; the bid with no model attribute takes the
	// configured class. The second is the package comment's worked example.
	checkBid(t, find(t, qs, owner+"/"+dseq+"/1/1/"+provider), bidWant{owner + "/" + dseq + "/1/1/" + provider, "A100", "uakt", "1432.735519000000000000", 1, "0.527313504135743440233236151603498542", "0.53"})
	checkBid(t, find(t, qs, owner+"/"+dseq+"/1/1/akash1g7az2pus6atgeufgttlcnl0wzlzwd0lrsy6d7s"), bidWant{owner + "/" + dseq + "/1/1/akash1g7az2pus6atgeufgttlcnl0wzlzwd0lrsy6d7s", "RTX4090", "uakt", "1.378800000000000000", 1, "0.000507462717201166180758017492711370", "0.00"})
}

func TestBidsEmpty(t *testing.T) {
	v := (&venue{bids: map[string]string{"": "bids_empty.json"}}).start(t)
	p := freshAKT()
	s, _ := source(t, v, p, nil)
	qs, err := s.GPUQuotes(context.Background())
	if err != nil || len(qs) != 0 || p.calls.Load() != 0 {
		t.Fatalf("%v %v calls %d", qs, err, p.calls.Load())
	}
}

func TestBidErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   string
		status int
		mod    func(*Config)
		code   string
		want   []string
	}{
		{"unknown denom", "bids_unknown_denom.json", 200, nil, procurebot.EINVALID, []string{"akash", "GET", "bids/list", "filters.dseq=" + dseq, "bids[0].bid.price.denom", `"uosmo"`}},
		{"malformed", "bids_malformed.json", 200, nil, procurebot.EINVALID, []string{"akash", "bids/list", "units.val", `"one"`}},
		{"other deployment", "bids_other_owner.json", 200, nil, procurebot.EINVALID, []string{"bids[0].bid.id", "not the deployment"}},
		{"no model", "bids_v1beta4.json", 200, nil, procurebot.EINVALID, []string{"bids[1].bid.resources_offer", "providers.akash.gpu"}},
		{"lcd 400", "lcd_error_400.json", 400, nil, procurebot.EINVALID, []string{"akash", "bids/list", "HTTP 400", "invalid owner address"}},
		{"lcd 500", "lcd_error_500.json", 500, nil, procurebot.EUNAVAILABLE, []string{"akash", "bids/list", "HTTP 500", "store is pruned"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &venue{bids: map[string]string{"": tc.file}, bStatus: tc.status}
			if tc.name == "no model" {
				v.path = "/rest/akash/market/v1beta4/bids/list"
				tc.mod = func(c *Config) { c.MarketVersion = "v1beta4" }
			}
			v.start(t)
			s, _ := source(t, v, freshAKT(), tc.mod)
			qs, err := s.GPUQuotes(context.Background())
			venuetest.CheckError(t, err, tc.code, tc.want)
			if qs != nil {
				t.Errorf("partial book %v", qs)
			}
		})
	}
}

func TestTokenPrice(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      *fakePricer
		maxAge time.Duration
		code   string
		want   []string
	}{
		{"stale", &fakePricer{price: aktUSD, asOf: fetched.Add(-16 * time.Minute)}, 0, procurebot.EUNAVAILABLE, []string{"akash", "AKT/USD", "akash-network", "16m0s old", "max_token_price_age 15m0s", "stale"}},
		{"stale under a tighter bound", &fakePricer{price: aktUSD, asOf: fetched.Add(-2 * time.Minute)}, time.Minute, procurebot.EUNAVAILABLE, []string{"2m0s old", "max_token_price_age 1m0s"}},
		{"no time", &fakePricer{price: aktUSD}, 0, procurebot.EUNAVAILABLE, []string{"AKT/USD", "stale"}},
		{"feed error", &fakePricer{err: procurebot.Errorf(procurebot.EUNAVAILABLE, "coingecko: HTTP 429")}, 0, procurebot.EUNAVAILABLE, []string{"akash: AKT/USD price (akash-network) for uakt bids", "HTTP 429"}},
		{"zero price", &fakePricer{price: decimal.Zero, asOf: fetched}, 0, procurebot.EINVALID, []string{"not positive"}},
		{"fresh under a looser bound", &fakePricer{price: aktUSD, asOf: fetched.Add(-16 * time.Minute)}, 30 * time.Minute, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := (&venue{console: "gpu_prices.json", bids: map[string]string{"": "bids_page1.json", nextKey: "bids_page2.json"}}).start(t)
			s, _ := source(t, v, tc.p, func(c *Config) { c.MaxTokenPriceAge = tc.maxAge })
			qs, err := s.GPUQuotes(context.Background())
			if tc.code == "" {
				if err != nil || len(qs) != 13+5 {
					t.Fatalf("%d quotes, %v", len(qs), err)
				}
				return
			}
			// Never a partial book: the console half is dropped too.
			venuetest.CheckError(t, err, tc.code, tc.want)
			if qs != nil {
				t.Errorf("partial book %v", qs)
			}
		})
	}
}

func TestConsoleAndBids(t *testing.T) {
	v := (&venue{console: "gpu_prices.json", bids: map[string]string{"": "bids_page1.json", nextKey: "bids_page2.json"}}).start(t)
	s, _ := source(t, v, freshAKT(), func(c *Config) { c.PageLimit = 3; c.BlockTimeSeconds = dec("6") })
	qs, err := s.GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 18 {
		t.Fatalf("%d quotes", len(qs))
	}
	if r := v.requests("/rest/"); r[0].URL.Query().Get("pagination.limit") != "3" {
		t.Errorf("limit %s", r[0].URL.Query().Get("pagination.limit"))
	}
	// 6 s blocks: 600 an hour, so 2572.45 uact/block is 1.54347 USD/h.
	q := find(t, qs, pagedBids[1].ref)
	if !q.PerGPU.Equal(dec("1.54347")) {
		t.Errorf("per GPU %s at 6 s blocks, want 1.54347", q.PerGPU)
	}
	for i := 1; i < len(qs); i++ {
		if qs[i].PerGPU.LessThan(qs[i-1].PerGPU) {
			t.Errorf("not sorted at %d", i)
		}
	}
}

func TestPagingLoop(t *testing.T) {
	v := (&venue{bids: map[string]string{"": "bids_page1.json", nextKey: "bids_page1.json"}}).start(t)
	s, _ := source(t, v, freshAKT(), nil)
	_, err := s.GPUQuotes(context.Background())
	if err == nil || !strings.Contains(err.Error(), "pagination.next_key") || !strings.Contains(err.Error(), "loop") {
		t.Errorf("err %v", err)
	}
	if n := len(v.requests("/rest/")); n != 2 {
		t.Errorf("%d requests", n)
	}
}

func TestConfig(t *testing.T) {
	p := freshAKT()
	bids := func(c Config) Config {
		c.LCDURL, c.Owner, c.DSeq = "https://api.akashnet.net", owner, dseq
		return c
	}
	for _, tc := range []struct {
		cfg    Config
		pricer USDPricer
		want   string
	}{
		{Config{Price: "mean"}, nil, "providers.akash.price"},
		{Config{SkipConsole: true}, nil, "providers.akash.skip_console"},
		{Config{Owner: owner, DSeq: dseq}, p, "providers.akash.lcd_url"},
		{Config{LCDURL: "https://api.akashnet.net", Owner: "cosmos1abc", DSeq: dseq}, p, "providers.akash.owner"},
		{Config{LCDURL: "https://api.akashnet.net", Owner: owner, DSeq: "12ab"}, p, "providers.akash.dseq"},
		{bids(Config{MarketVersion: "v1"}), p, "providers.akash.market_version"},
		{bids(Config{BlockTimeSeconds: dec("-6")}), p, "providers.akash.block_time_seconds"},
		{bids(Config{GPUsPerOrder: -1}), p, "providers.akash.gpus_per_order"},
		{bids(Config{MaxTokenPriceAge: -time.Second}), p, "providers.akash.max_token_price_age"},
		{bids(Config{PageLimit: -1}), p, "providers.akash.page_limit"},
		{bids(Config{GPU: "potato"}), p, "providers.akash.gpu"},
		{bids(Config{}), nil, "token price feed"},
		{Config{LCDURL: "not a url", Owner: owner, DSeq: dseq}, p, "providers.akash.lcd_url"},
		{Config{Config: venuehttp.Config{MaxAge: -1}}, nil, "providers.akash.max_age"},
	} {
		_, err := New(tc.cfg, venuehttp.Env{}, tc.pricer)
		if err == nil || !strings.Contains(err.Error(), tc.want) || procurebot.ErrorCode(err) != procurebot.EINVALID {
			t.Errorf("%+v: err %v, want %s", tc.cfg, err, tc.want)
		}
	}
	if _, err := New(bids(Config{}), venuehttp.Env{}, p); err != nil {
		t.Errorf("valid bid config: %v", err)
	}
}

func TestGPUsPerOrderFallback(t *testing.T) {
	// A bid with no GPU units in its offer (a pre-v1beta4 shape) takes
	// gpus_per_order.
	var page map[string]any
	if err := json.Unmarshal(read(t, "bids_act_usdc.json"), &page); err != nil {
		t.Fatal(err)
	}
	b := page["bids"].([]any)[1].(map[string]any)["bid"].(map[string]any)
	delete(b, "resources_offer")
	body, _ := json.Marshal(page)
	c, _ := venuehttp.New("akash", "https://api.akashnet.net", venuehttp.Options{}, nil)
	cv := &converter{blockTime: dec(DefaultBlockTime), gpusPerOrder: 8, gpu: "H100", owner: owner, dseq: dseq}
	qs, _, err := parseBids(c, venuehttp.Request{Path: "akash/market/v1beta5/bids/list"}, body, fetched, cv)
	if err != nil {
		t.Fatal(err)
	}
	checkBid(t, find(t, qs, pagedBids[2].ref), pagedBids[2])
	cv.gpusPerOrder = 0
	if _, _, err := parseBids(c, venuehttp.Request{Path: "akash/market/v1beta5/bids/list"}, body, fetched, cv); err == nil || !strings.Contains(err.Error(), "gpus_per_order") {
		t.Errorf("err %v", err)
	}
}

func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"availability":{"total":9000,"available":2000},"models":[`)
	names := []string{"h100", "h200", "a100", "rtx4090", "l40s", "a6000", "t4", "v100", "gtx1080ti"}
	for i := 0; i < 500; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"vendor":"nvidia","model":"%s","ram":"%dGi","interface":"PCIe","availability":{"total":%d,"available":%d},"providerAvailability":{"total":9,"available":4},"price":{"currency":"USD","min":0.%02d,"max":2.%02d,"avg":1.%02d,"weightedAverage":1.%02d,"med":1.%02d},"priceUakt":null}`,
			names[i%len(names)], 16+i, 100+i, i%50, 10+i%80, 10+i%80, 10+i%80, 10+i%80, 10+i%80)
	}
	sb.WriteString("]}")
	body := []byte(sb.String())
	c, _ := venuehttp.New("akash", DefaultConsoleURL, venuehttp.Options{}, nil)
	req := venuehttp.Request{Path: "v1/gpu-prices"}
	b.ReportAllocs()
	for b.Loop() {
		qs, _, err := parseConsole(c, req, body, fetched, "med")
		if err != nil || len(qs) < 400 {
			b.Fatal(len(qs), err)
		}
	}
}

func BenchmarkParseBids(b *testing.B) {
	var page map[string]any
	if err := json.Unmarshal(read(b, "bids_page1.json"), &page); err != nil {
		b.Fatal(err)
	}
	tmpl := page["bids"].([]any)
	var bids []any
	for i := 0; i < 500; i++ {
		var e map[string]any
		raw, _ := json.Marshal(tmpl[i%len(tmpl)])
		json.Unmarshal(raw, &e)
		e["bid"].(map[string]any)["id"].(map[string]any)["bseq"] = i
		bids = append(bids, e)
	}
	page["bids"] = bids
	body, _ := json.Marshal(page)
	c, _ := venuehttp.New("akash", "https://api.akashnet.net", venuehttp.Options{}, nil)
	req := venuehttp.Request{Path: "akash/market/v1beta5/bids/list"}
	b.ReportAllocs()
	for b.Loop() {
		cv := &converter{blockTime: dec(DefaultBlockTime), owner: owner, dseq: dseq, aktUSD: func() (decimal.Decimal, error) { return aktUSD, nil }}
		qs, _, err := parseBids(c, req, body, fetched, cv)
		if err != nil || len(qs) != 500 {
			b.Fatal(len(qs), err)
		}
	}
}

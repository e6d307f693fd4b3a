package vastai

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
	"github.com/procurebot/procurebot/providers/venuehttp/venuetest"
)

const apiKey = "vast-secret-key-123"

var fetched = time.Date(2026, 10, 12, 17, 0, 0, 0, time.UTC)

// call is one search the fake Vast received.
type call struct {
	method, path, auth, ctype string
	query                     map[string]any
}

// fake serves a file per search type with status and records the
// searches.
type fake struct {
	t      *testing.T
	files  map[string]string // search type → file
	status int
	mu     sync.Mutex
	calls  []call
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c := call{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"), ctype: r.Header.Get("Content-Type")}
	if err := json.Unmarshal(b, &c.query); err != nil {
		f.t.Errorf("request body %q: %v", b, err)
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	typ, _ := c.query["type"].(string)
	body, err := os.ReadFile(filepath.Join("testdata", f.files[typ]))
	if err != nil {
		f.t.Errorf("no fixture for type %q: %v", typ, err)
	}
	if strings.HasSuffix(f.files[typ], ".html") {
		w.Header().Set("Content-Type", "text/html")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(f.status)
	w.Write(body)
}

func replay(t *testing.T, cfg Config, status int, files map[string]string, env venuehttp.Env) (*Source, *fake) {
	t.Helper()
	f := &fake{t: t, files: files, status: status}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg.BaseURL, cfg.MaxAttempts, cfg.RatePerSecond = srv.URL+"/api/v0", 1, 1e6
	if env.Clock == nil {
		env.Clock = venuetest.Clock{T: fetched}
	}
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	s, err := New(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	return s, f
}

var both = map[string]string{TypeOnDemand: "ondemand.json", TypeBid: "bid.json"}

func keyed() Config { return Config{APIKey: venuehttp.Credential{Value: apiKey}} }

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestQuotes(t *testing.T) {
	s, f := replay(t, keyed(), 200, both, venuehttp.Env{})
	qs, err := s.GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ref    string
		kind   procurebot.SpotKind
		raw    string
		perGPU string
		class  string
		gpus   int
		region string
		avail  int
	}
	// Not quoted: GTX 1080 Ti, Q RTX 8000 and RTX 3060 (no GPU class), the
	// rented L40S, H100 PCIE and the 2× RTX 4090 as interruptible (min_bid
	// null, 0).
	want := []row{
		{"15550011", procurebot.SpotBid, "0.2", "0.2", "RTX4090", 1, "Poland, PL", 1},
		{"16660001", procurebot.SpotBid, "0.5", "0.25", "A6000", 2, "Japan, JP", 1},
		{"15550011", procurebot.SpotNone, "0.3456666666666667", "0.3456666666666667", "RTX4090", 1, "Poland, PL", 1},
		{"15550012", procurebot.SpotNone, "3.12", "0.39", "RTX4090", 8, "", 1},
		{"16660001", procurebot.SpotNone, "0.94", "0.47", "A6000", 2, "Japan, JP", 1},
		{"16000006", procurebot.SpotNone, "0.55", "0.55", "RTX5090", 1, "Georgia, US", -1},
		{"19001122", procurebot.SpotBid, "2.4", "0.6", "A100", 4, "California, US", 1},
		{"19001200", procurebot.SpotNone, "0.8026", "0.8026", "A100", 1, "Sweden, SE", 1},
		{"19001122", procurebot.SpotNone, "4.412", "1.103", "A100", 4, "California, US", 1},
		{"18234601", procurebot.SpotBid, "1.1333333333333333", "1.1333333333333333", "H100", 1, "Texas, US", 1},
		{"18234567", procurebot.SpotBid, "9.6", "1.2", "H100", 8, "Iceland, IS", 1},
		{"17660034", procurebot.SpotNone, "3.6", "1.8", "H100", 2, "Quebec, CA", 1},
		{"18234567", procurebot.SpotNone, "15.31", "1.91375", "H100", 8, "Iceland, IS", 1},
		{"18234601", procurebot.SpotNone, "1.9866666666666666", "1.9866666666666666", "H100", 1, "Texas, US", 1},
		{"16000004", procurebot.SpotNone, "24.005333333333333", "3.0006666666666666", "H200", 8, "Netherlands, NL", 1},
	}
	if len(qs) != len(want) {
		for _, q := range qs {
			t.Log(q)
		}
		t.Fatalf("%d quotes, want %d", len(qs), len(want))
	}
	for i, q := range qs {
		w := want[i]
		got := row{q.Ref, q.SpotKind, q.Billing.Raw, q.PerGPU.String(), q.GPU, q.GPUCount, q.Region, q.Available}
		if got != w {
			t.Errorf("quote %d: %+v, want %+v", i, got, w)
		}
		if err := q.Validate(); err != nil {
			t.Error(err)
		}
		if q.Venue != "vastai" || q.Provider != "vastai" || !q.FetchedAt.Equal(fetched) || q.Billing.Unit != procurebot.BillUSDPerInstanceHour || q.Billing.Denom != "USD" {
			t.Errorf("quote %d: %+v", i, q)
		}
		if (q.SpotKind == procurebot.SpotBid) != (q.Spot == procurebot.SpotTrue) {
			t.Errorf("quote %d: spot %v kind %q", i, q.Spot, q.SpotKind)
		}
		if !q.USDPerHour.Equal(d(w.raw)) {
			t.Errorf("quote %d: USD/h %s, want the whole-offer price %s", i, q.USDPerHour, w.raw)
		}
	}
	if len(f.calls) != 2 || f.calls[0].query["type"] != TypeOnDemand || f.calls[1].query["type"] != TypeBid {
		t.Errorf("searches %+v", f.calls)
	}
}

// Worked example: the 8× H100 SXM offer 18234567 at dph_total 15.31 USD per
// offer-hour is 1.91375 USD per GPU-hour; a 1.80 USD/GPU-hour cap is 14.40
// USD per offer-hour in Vast's unit. Its interruptible floor min_bid 9.6 is
// 1.20 per GPU-hour; a bid capped at 1.30 per GPU-hour is 10.40 for the
// machine, the amount Vast's per-machine bid_price takes.
func TestConversion(t *testing.T) {
	s, _ := replay(t, keyed(), 200, both, venuehttp.Env{})
	qs, err := s.GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var od, bid procurebot.Quote
	for _, q := range qs {
		if q.Ref == "18234567" {
			if q.SpotKind == procurebot.SpotBid {
				bid = q
			} else {
				od = q
			}
		}
	}
	if od.Instance != "8x H100 SXM" || !od.Billing.ToUSDPerGPUHour.Equal(d("0.125")) || !od.PerGPU.Equal(d("1.91375")) {
		t.Fatalf("on-demand %+v", od)
	}
	cap, err := od.BilledCap(d("1.80"))
	if err != nil || !cap.Equal(d("14.4")) {
		t.Errorf("cap %s %v, want 14.40 per offer-hour", cap, err)
	}
	if !bid.PerGPU.Equal(d("1.2")) || bid.Billing.Raw != "9.6" {
		t.Fatalf("bid %+v", bid)
	}
	b, err := bid.BilledCap(d("1.30"))
	if err != nil || !b.Equal(d("10.4")) {
		t.Errorf("bid cap %s %v, want 10.40 per machine-hour", b, err)
	}
	// A non-terminating factor: 1/3 for a 3-GPU offer still validates.
	q := procurebot.Quote{Offer: procurebot.Offer{Provider: "vastai", GPU: "H100", GPUCount: 3, USDPerHour: d("5.5")}, Venue: "vastai", FetchedAt: fetched,
		Billing: procurebot.Billing{Unit: procurebot.BillUSDPerInstanceHour, Raw: "5.5", Amount: d("5.5"), ToUSDPerGPUHour: perGPU(3)}}
	q.PerGPU = q.PerGPUPrice()
	if err := q.Validate(); err != nil {
		t.Error(err)
	}
}

func TestRequest(t *testing.T) {
	cfg := keyed()
	cfg.GPUNames = []string{"H100 SXM", "H200"}
	cfg.MinReliability, cfg.Limit, cfg.DatacenterOnly, cfg.StorageGiB = 0.98, 200, true, 50
	s, f := replay(t, cfg, 200, both, venuehttp.Env{})
	if _, err := s.GPUQuotes(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, c := range f.calls {
		if c.method != http.MethodPost || c.path != "/api/v0/bundles/" || !strings.HasPrefix(c.ctype, "application/json") {
			t.Errorf("call %d: %s %s %s", i, c.method, c.path, c.ctype)
		}
		if c.auth != "Bearer "+apiKey {
			t.Errorf("call %d: Authorization %q", i, c.auth)
		}
		// limit is always set: Vast returns 64 rows without it.
		if c.query["limit"] != float64(200) {
			t.Errorf("call %d: limit %v, want 200", i, c.query["limit"])
		}
		got, _ := json.Marshal(map[string]any{
			"gpu_name": c.query["gpu_name"], "reliability": c.query["reliability"], "datacenter": c.query["datacenter"],
			"verified": c.query["verified"], "rentable": c.query["rentable"], "rented": c.query["rented"], "external": c.query["external"],
			"order": c.query["order"], "allocated_storage": c.query["allocated_storage"],
		})
		want := `{"allocated_storage":50,"datacenter":{"eq":true},"external":{"eq":false},"gpu_name":{"in":["H100 SXM","H200"]},"order":[["dph_total","asc"]],"reliability":{"gte":0.98},"rentable":{"eq":true},"rented":{"eq":false},"verified":{"eq":true}}`
		if string(got) != want {
			t.Errorf("call %d: query %s\nwant %s", i, got, want)
		}
	}
	if len(f.calls) != 2 || f.calls[0].query["type"] != "on-demand" || f.calls[1].query["type"] != "bid" {
		t.Errorf("types %v", f.calls)
	}
}

func TestDefaults(t *testing.T) {
	s, f := replay(t, Config{Types: []string{TypeOnDemand}, IncludeUnverified: true}, 200, both, venuehttp.Env{})
	qs, err := s.GPUQuotes(context.Background())
	if err != nil || len(qs) != 10 {
		t.Fatalf("%d quotes %v", len(qs), err)
	}
	c := f.calls[0]
	if c.query["limit"] != float64(DefaultLimit) || c.query["allocated_storage"] != float64(5) {
		t.Errorf("limit %v storage %v", c.query["limit"], c.query["allocated_storage"])
	}
	for _, k := range []string{"verified", "gpu_name", "reliability", "datacenter"} {
		if _, ok := c.query[k]; ok {
			t.Errorf("filter %s sent when not configured: %v", k, c.query[k])
		}
	}
	if c.auth != "" {
		t.Errorf("Authorization %q sent without a key", c.auth)
	}
	if len(f.calls) != 1 {
		t.Errorf("%d searches, want only on-demand", len(f.calls))
	}
	if s.Name() != "vastai" || s.MaxAge() != 10*time.Minute {
		t.Errorf("%s %s", s.Name(), s.MaxAge())
	}
}

// A search that fills its limit may have cut the book: it is logged.
func TestLimitFilled(t *testing.T) {
	for _, tc := range []struct {
		limit int
		warn  bool
	}{{3, true}, {4, false}} {
		log, logs := venuetest.Logger()
		cfg := keyed()
		cfg.Limit, cfg.Types = tc.limit, []string{TypeOnDemand}
		s, _ := replay(t, cfg, 200, map[string]string{TypeOnDemand: "three.json"}, venuehttp.Env{Logger: log})
		qs, err := s.GPUQuotes(context.Background())
		if err != nil || len(qs) != 3 {
			t.Fatalf("%d quotes %v", len(qs), err)
		}
		if got := strings.Contains(logs.String(), "filled its limit"); got != tc.warn {
			t.Errorf("limit %d: warned %v, want %v: %s", tc.limit, got, tc.warn, logs.String())
		}
	}
}

func TestEmpty(t *testing.T) {
	s, _ := replay(t, keyed(), 200, map[string]string{TypeOnDemand: "empty.json", TypeBid: "empty.json"}, venuehttp.Env{})
	qs, err := s.GPUQuotes(context.Background())
	if err != nil || len(qs) != 0 {
		t.Fatalf("%v %v", qs, err)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		file   string
		status int
		code   string
		want   []string
	}{
		{"error_401.json", 401, procurebot.EINVALID, []string{"vastai", "POST", "/api/v0/bundles/", "HTTP 401", "invalid_user"}},
		{"error_429.json", 429, procurebot.EUNAVAILABLE, []string{"vastai", "POST", "HTTP 429", "too frequent"}},
		{"error_500.html", 502, procurebot.EUNAVAILABLE, []string{"vastai", "POST", "HTTP 502", "Bad Gateway"}},
		{"no_offers.json", 200, procurebot.EINVALID, []string{"vastai", "/bundles/", "field offers", "missing"}},
		{"malformed.json", 200, procurebot.EINVALID, []string{"vastai", "dph_total", "fifteen"}},
		{"missing_price.json", 200, procurebot.EINVALID, []string{"vastai", "offers[1].dph_total", "missing"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			log, logs := venuetest.Logger()
			s, _ := replay(t, keyed(), tc.status, map[string]string{TypeOnDemand: tc.file, TypeBid: tc.file}, venuehttp.Env{Logger: log})
			qs, err := s.GPUQuotes(context.Background())
			venuetest.CheckError(t, err, tc.code, tc.want, apiKey)
			if qs != nil {
				t.Errorf("partial book %v", qs)
			}
			if !strings.Contains(logs.String(), "venue call") {
				t.Errorf("the call was not logged: %q", logs.String())
			}
			venuetest.NoSecret(t, logs.String(), apiKey)
		})
	}
}

// A server that echoes the Authorization header into its error body does
// not leak the key into the error or the retry log.
func TestKeyRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, `{"success": false, "error": "unavailable", "msg": "backend busy for %s"}`, r.Header.Get("Authorization"))
	}))
	t.Cleanup(srv.Close)
	cfg := keyed()
	cfg.BaseURL, cfg.MaxAttempts, cfg.RatePerSecond, cfg.Types = srv.URL, 2, 1e6, []string{TypeOnDemand}
	log, logs := venuetest.Logger()
	s, err := New(cfg, venuehttp.Env{Clock: venuetest.Clock{T: fetched}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.GPUQuotes(context.Background())
	if err == nil || !strings.Contains(err.Error(), "Bearer [redacted]") {
		t.Fatalf("error %v does not show the redacted key", err)
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Errorf("no retry logged: %s", logs.String())
	}
	venuetest.NoSecret(t, err.Error(), apiKey)
	venuetest.NoSecret(t, logs.String(), apiKey)
}

func TestConfig(t *testing.T) {
	env := venuehttp.Env{Getenv: func(string) string { return "" }}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Limit: -5}, "providers.vastai.limit"},
		{Config{MinReliability: 1.5}, "providers.vastai.min_reliability"},
		{Config{StorageGiB: -1}, "providers.vastai.storage_gib"},
		{Config{Types: []string{"reserved"}}, "providers.vastai.types"},
		{Config{Types: []string{"bid", "bid"}}, "providers.vastai.types"},
		{Config{GPUNames: []string{""}}, "providers.vastai.gpu_names[0]"},
		{Config{APIKey: venuehttp.Credential{File: "/nonexistent/vast-key"}}, "providers.vastai.api_key.file"},
		{Config{Config: venuehttp.Config{Timeout: -time.Second}}, "providers.vastai.timeout"},
	} {
		_, err := New(tc.cfg, env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %s", tc.cfg, err, tc.want)
		}
	}
}

func TestClassOf(t *testing.T) {
	for name, want := range map[string]string{
		"H100 SXM": "H100", "H100 NVL": "H100", "A100 SXM4": "A100", "A100X": "A100", "RTX A6000": "A6000", "RTX 6000Ada": "RTX6000",
		"Tesla V100": "V100", "L40S": "L40S", "RTX 4090": "RTX4090",
		"Q RTX 6000": "QRTX6000", "Quadro RTX 6000": "QRTX6000", "RTX A1000": "A1000", "GTX 1080 Ti": "", "RTX 3060": "",
	} {
		if got := procurebot.GPUClassOf(name); got != want {
			t.Errorf("GPUClassOf(%q) = %q, want %q", name, got, want)
		}
	}
}

// BenchmarkParse parses a search response of 600 offers in Vast's full
// field set.
func BenchmarkParse(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "ondemand.json"))
	if err != nil {
		b.Fatal(err)
	}
	var r struct {
		Offers []map[string]any `json:"offers"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		b.Fatal(err)
	}
	var big []map[string]any
	for i := range 600 {
		o := map[string]any{}
		for k, v := range r.Offers[i%4] { // the first four: all quoted
			o[k] = v
		}
		o["id"] = 20000000 + i
		o["dph_total"] = json.Number(fmt.Sprintf("%d.%04d", 1+i%20, i))
		big = append(big, o)
	}
	body, err := json.Marshal(map[string]any{"offers": big})
	if err != nil {
		b.Fatal(err)
	}
	c, err := venuehttp.New("vastai", DefaultBaseURL, venuehttp.Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	req := venuehttp.Request{Method: http.MethodPost, Path: "bundles/"}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		qs, _, err := parse(c, req, body, TypeOnDemand, fetched)
		if err != nil || len(qs) != 600 {
			b.Fatalf("%d quotes, %v", len(qs), err)
		}
	}
}

// BenchmarkNormalize10k turns 10,000 decoded offers (on-demand, 1–8 GPUs,
// four GPU names) into quotes: the normalisation step alone, JSON decoding
// aside (issue target: under 20 ms).
func BenchmarkNormalize10k(b *testing.B) {
	names := []string{"H100 SXM", "A100 PCIE", "RTX 4090", "H200"}
	offers := make([]offer, 10000)
	yes, no := true, false
	geo := "Texas, US"
	for i := range offers {
		raw := fmt.Sprintf("%d.%04d", 1+i%20, i)
		offers[i] = offer{ID: int64(30000000 + i), GPUName: names[i%4], NumGPUs: 1 << (i % 4),
			DPHTotal: venuehttp.Number{Raw: raw, Value: decimal.RequireFromString(raw)}, Geolocation: &geo, Rentable: &yes, Rented: &no}
	}
	c, err := venuehttp.New("vastai", DefaultBaseURL, venuehttp.Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	req := venuehttp.Request{Method: http.MethodPost, Path: "bundles/"}
	b.ReportAllocs()
	for b.Loop() {
		qs, _, err := normalise(c, req, offers, TypeOnDemand, fetched)
		if err != nil || len(qs) != 10000 {
			b.Fatalf("%d quotes, %v", len(qs), err)
		}
	}
}

package runpod

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

const apiKey = "rp-secret-key-123"

var fetched = time.Date(2026, 10, 12, 17, 0, 0, 0, time.UTC)

// call is one request the fake RunPod received.
type call struct {
	apiKey   string
	hasKey   bool
	method   string
	path     string
	ctype    string
	query    string
	variable lowestPriceInput
}

// fake serves a file per cloud (chosen by the request's secureCloud
// variable) with status, and records the requests.
type fake struct {
	t      *testing.T
	files  map[string]string // cloud → file
	status int
	mu     sync.Mutex
	calls  []call
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var g struct {
		Query     string `json:"query"`
		Variables struct {
			LowestPriceInput lowestPriceInput `json:"lowestPriceInput"`
		} `json:"variables"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		f.t.Errorf("request body %q: %v", b, err)
	}
	c := call{method: r.Method, path: r.URL.Path, ctype: r.Header.Get("Content-Type"), query: g.Query, variable: g.Variables.LowestPriceInput}
	c.apiKey, c.hasKey = r.URL.Query().Get("api_key"), r.URL.Query().Has("api_key")
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	cloud := CloudCommunity
	if c.variable.SecureCloud {
		cloud = CloudSecure
	}
	body, err := os.ReadFile(filepath.Join("testdata", f.files[cloud]))
	if err != nil {
		f.t.Errorf("no fixture for %s: %v", cloud, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	w.Write(body)
}

// replay builds a Source against a fake serving the files; cfg's base URL
// and attempts are filled in.
func replay(t *testing.T, cfg Config, status int, files map[string]string, env venuehttp.Env) (*Source, *fake) {
	t.Helper()
	f := &fake{t: t, files: files, status: status}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg.BaseURL, cfg.MaxAttempts, cfg.RatePerSecond = srv.URL, 1, 1e6
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

var both = map[string]string{CloudSecure: "secure.json", CloudCommunity: "community.json"}

func keyed() Config { return Config{APIKey: venuehttp.Credential{Value: apiKey}} }

func TestQuotes(t *testing.T) {
	s, f := replay(t, keyed(), 200, both, venuehttp.Env{})
	qs, err := s.GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		cloud, ref string
		kind       procurebot.SpotKind
		raw        string
		available  int
		region     string
	}
	// Sorted by per-GPU price, then cloud, kind, ref. Not quoted: RTX
	// 2000 Ada (no GPU class), B200 (stockStatus null), RTX 5090
	// (availableGpuCounts lacks 1), L4 (maxUnreservedGpuCount 0), RTX
	// 3090 (lowestPrice null), H100 NVL community (stockStatus null), and
	// the zero communityPrice types in community.
	want := []row{
		{"community", "NVIDIA RTX A6000", procurebot.SpotBid, "0.19", -1, "US"},
		{"community", "NVIDIA GeForce RTX 4090", procurebot.SpotBid, "0.2", 112, "PL"},
		{"secure", "NVIDIA RTX A6000", procurebot.SpotBid, "0.25", 31, "NL"},
		{"community", "NVIDIA RTX A6000", procurebot.SpotNone, "0.33", -1, "US"},
		{"community", "NVIDIA GeForce RTX 4090", procurebot.SpotNone, "0.34", 112, "PL"},
		{"secure", "NVIDIA GeForce RTX 4090", procurebot.SpotBid, "0.35", 57, "CZ"},
		{"secure", "NVIDIA RTX A6000", procurebot.SpotNone, "0.49", 31, "NL"},
		{"secure", "NVIDIA L40S", procurebot.SpotBid, "0.53", 40, "SE"},
		{"community", "NVIDIA A100 80GB PCIe", procurebot.SpotBid, "0.6", 9, "NO"},
		{"secure", "NVIDIA GeForce RTX 4090", procurebot.SpotNone, "0.69", 57, "CZ"},
		{"secure", "NVIDIA A100 80GB PCIe", procurebot.SpotBid, "0.82", 3, "US"},
		{"secure", "NVIDIA L40S", procurebot.SpotNone, "0.86", 40, "SE"},
		{"secure", "NVIDIA A100-SXM4-80GB", procurebot.SpotFixed, "0.99", 16, "CA"},
		{"community", "NVIDIA H100 PCIe", procurebot.SpotBid, "1.05", 2, "US"},
		{"community", "NVIDIA A100 80GB PCIe", procurebot.SpotNone, "1.19", 9, "NO"},
		{"secure", "NVIDIA H100 PCIe", procurebot.SpotBid, "1.25", -1, "US"},
		{"community", "NVIDIA H100 80GB HBM3", procurebot.SpotBid, "1.39", 8, "CA"},
		{"secure", "NVIDIA A100 80GB PCIe", procurebot.SpotNone, "1.64", 3, "US"},
		{"secure", "NVIDIA A100-SXM4-80GB", procurebot.SpotNone, "1.74", 16, "CA"},
		{"secure", "NVIDIA H100 80GB HBM3", procurebot.SpotBid, "1.75", 24, "US"},
		{"community", "NVIDIA H100 PCIe", procurebot.SpotNone, "1.99", 2, "US"},
		{"secure", "NVIDIA H200", procurebot.SpotBid, "2.29", 8, "US"},
		{"secure", "NVIDIA H100 PCIe", procurebot.SpotNone, "2.39", -1, "US"},
		{"secure", "AMD Instinct MI300X OAM", procurebot.SpotNone, "2.49", 8, "US"},
		{"community", "NVIDIA H100 80GB HBM3", procurebot.SpotNone, "2.69", 8, "CA"},
		{"secure", "NVIDIA H100 80GB HBM3", procurebot.SpotNone, "2.69", 24, "US"},
		{"secure", "NVIDIA H100 NVL", procurebot.SpotNone, "2.79", 4, "RO"},
		{"secure", "NVIDIA H200", procurebot.SpotNone, "3.59", 8, "US"},
	}
	if len(qs) != len(want) {
		for _, q := range qs {
			t.Log(q.Cloud, q.Ref, q.SpotKind, q.Billing.Raw)
		}
		t.Fatalf("%d quotes, want %d", len(qs), len(want))
	}
	for i, q := range qs {
		w := want[i]
		got := row{q.Cloud, q.Ref, q.SpotKind, q.Billing.Raw, q.Available, q.Region}
		if got != w {
			t.Errorf("quote %d: %+v, want %+v", i, got, w)
		}
		if err := q.Validate(); err != nil {
			t.Error(err)
		}
		if q.Venue != "runpod" || q.Provider != "runpod" || q.GPUCount != 1 || !q.FetchedAt.Equal(fetched) {
			t.Errorf("quote %d: %+v", i, q)
		}
		if (q.SpotKind == procurebot.SpotNone) != (q.Spot == procurebot.SpotFalse) {
			t.Errorf("quote %d: spot %v with kind %q", i, q.Spot, q.SpotKind)
		}
		if !q.PerGPU.Equal(decimal.RequireFromString(w.raw)) || q.Billing.Unit != procurebot.BillUSDPerGPUHour || !q.Billing.ToUSDPerGPUHour.Equal(decimal.NewFromInt(1)) {
			t.Errorf("quote %d: per-GPU %s billing %+v", i, q.PerGPU, q.Billing)
		}
	}
	classes := map[string]string{}
	for _, q := range qs {
		classes[q.Ref] = q.GPU
	}
	for ref, class := range map[string]string{
		"NVIDIA H100 80GB HBM3": "H100", "NVIDIA H100 NVL": "H100", "NVIDIA H200": "H200", "NVIDIA A100-SXM4-80GB": "A100",
		"AMD Instinct MI300X OAM": "MI300X", "NVIDIA L40S": "L40S", "NVIDIA RTX A6000": "A6000", "NVIDIA GeForce RTX 4090": "RTX4090",
	} {
		if classes[ref] != class {
			t.Errorf("%s: class %q, want %q", ref, classes[ref], class)
		}
	}
	if len(f.calls) != 2 {
		t.Fatalf("%d calls, want one per cloud", len(f.calls))
	}
}

// Worked example: 8× H100 SXM in Secure Cloud at securePrice 2.69 USD per
// GPU-hour is 21.52 USD/h. A 2.50 USD/GPU-hour cap stays 2.50 in RunPod's
// unit, and so does the spot bid floor of 1.75: bids are per GPU, never the
// instance total (dstack #1890).
func TestConversion(t *testing.T) {
	cfg := keyed()
	cfg.GPUCount, cfg.Clouds = 8, []string{CloudSecure}
	s, f := replay(t, cfg, 200, both, venuehttp.Env{})
	qs, err := s.GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var od, spot procurebot.Quote
	for _, q := range qs {
		if q.Ref == "NVIDIA H100 80GB HBM3" {
			if q.SpotKind == procurebot.SpotNone {
				od = q
			} else {
				spot = q
			}
		}
		if q.Ref == "NVIDIA H100 PCIe" || q.Ref == "NVIDIA A100 80GB PCIe" {
			t.Errorf("%s offers no 8-GPU pods (availableGpuCounts) but was quoted", q.Ref)
		}
	}
	if od.GPU != "H100" || od.GPUCount != 8 || od.Cloud != CloudSecure || od.Instance != "H100 SXM" {
		t.Fatalf("on-demand quote %+v", od)
	}
	if !od.USDPerHour.Equal(decimal.RequireFromString("21.52")) || !od.PerGPU.Equal(decimal.RequireFromString("2.69")) {
		t.Errorf("per hour %s per GPU %s, want 21.52 and 2.69", od.USDPerHour, od.PerGPU)
	}
	if od.Available != 3 { // maxUnreservedGpuCount 24 ÷ 8
		t.Errorf("available %d, want 3", od.Available)
	}
	cap, err := od.BilledCap(decimal.RequireFromString("2.50"))
	if err != nil || !cap.Equal(decimal.RequireFromString("2.50")) {
		t.Errorf("cap %s %v, want 2.50 per GPU-hour", cap, err)
	}
	if spot.SpotKind != procurebot.SpotBid || spot.Billing.Raw != "1.75" || !spot.USDPerHour.Equal(decimal.RequireFromString("14")) {
		t.Errorf("spot %+v", spot)
	}
	bid, err := spot.BilledCap(decimal.RequireFromString("1.80"))
	if err != nil || !bid.Equal(decimal.RequireFromString("1.80")) {
		t.Errorf("bid cap %s %v, want 1.80 per GPU (not 14.40)", bid, err)
	}
	if c := f.calls[0]; c.variable.GPUCount != 8 || !c.variable.SecureCloud {
		t.Errorf("lowestPriceInput %+v", c.variable)
	}
}

func TestRequest(t *testing.T) {
	cfg := keyed()
	cfg.GPUCount, cfg.MinCUDAVersion = 2, "12.8"
	s, f := replay(t, cfg, 200, both, venuehttp.Env{})
	if _, err := s.GPUQuotes(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []lowestPriceInput{{2, true, "12.8"}, {2, false, "12.8"}}
	for i, c := range f.calls {
		if c.method != http.MethodPost || c.path != "/graphql" || !strings.HasPrefix(c.ctype, "application/json") {
			t.Errorf("call %d: %s %s %s", i, c.method, c.path, c.ctype)
		}
		if c.apiKey != apiKey {
			t.Errorf("call %d: api_key %q", i, c.apiKey)
		}
		if c.variable != want[i] {
			t.Errorf("call %d: lowestPriceInput %+v, want %+v", i, c.variable, want[i])
		}
		for _, field := range []string{"securePrice", "communityPrice", "secureSpotPrice", "communitySpotPrice", "minimumBidPrice", "stockStatus", "availableGpuCounts", "maxUnreservedGpuCount"} {
			if !strings.Contains(c.query, field) {
				t.Errorf("call %d: query lacks %s", i, field)
			}
		}
	}
}

// Prices are public: without a key no api_key parameter is sent at all.
func TestNoKey(t *testing.T) {
	s, f := replay(t, Config{Clouds: []string{CloudCommunity}}, 200, both, venuehttp.Env{})
	qs, err := s.GPUQuotes(context.Background())
	if err != nil || len(qs) != 10 {
		t.Fatalf("%d quotes, %v", len(qs), err)
	}
	if f.calls[0].hasKey {
		t.Errorf("api_key sent without a key: %q", f.calls[0].apiKey)
	}
	for _, q := range qs {
		if q.Cloud != CloudCommunity {
			t.Errorf("cloud %s quoted, only community configured", q.Cloud)
		}
	}
}

func TestKeyFromEnv(t *testing.T) {
	s, f := replay(t, Config{Clouds: []string{CloudSecure}}, 200, both, venuehttp.Env{Getenv: func(k string) string {
		if k == "RUNPOD_API_KEY" {
			return apiKey
		}
		return ""
	}})
	if _, err := s.GPUQuotes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.calls[0].apiKey != apiKey {
		t.Errorf("api_key %q, want the RUNPOD_API_KEY value", f.calls[0].apiKey)
	}
}

func TestFilter(t *testing.T) {
	for _, tc := range []struct {
		types []string
		refs  []string
	}{
		{[]string{"h100"}, []string{"NVIDIA H100 80GB HBM3", "NVIDIA H100 NVL", "NVIDIA H100 PCIe"}},
		{[]string{"NVIDIA A100 80GB PCIe", "RTX 4090"}, []string{"NVIDIA A100 80GB PCIe", "NVIDIA GeForce RTX 4090"}},
		{[]string{"GB200"}, nil},
	} {
		cfg := keyed()
		cfg.GPUTypes = tc.types
		s, _ := replay(t, cfg, 200, both, venuehttp.Env{})
		qs, err := s.GPUQuotes(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, q := range qs {
			seen[q.Ref] = true
		}
		if len(seen) != len(tc.refs) {
			t.Errorf("%v: quoted %v, want %v", tc.types, seen, tc.refs)
		}
		for _, r := range tc.refs {
			if !seen[r] {
				t.Errorf("%v: %s not quoted", tc.types, r)
			}
		}
	}
}

func TestEmpty(t *testing.T) {
	s, _ := replay(t, keyed(), 200, map[string]string{CloudSecure: "empty.json", CloudCommunity: "empty.json"}, venuehttp.Env{})
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
		{"error_401.json", 401, procurebot.EINVALID, []string{"runpod", "POST", "/graphql", "HTTP 401", "Unauthorized"}},
		{"error_429.json", 429, procurebot.EUNAVAILABLE, []string{"runpod", "POST", "HTTP 429", "Too many requests"}},
		{"error_500.json", 500, procurebot.EUNAVAILABLE, []string{"runpod", "POST", "HTTP 500"}},
		// HTTP 200 with GraphQL errors is an error, not an empty book.
		{"graphql_error.json", 200, procurebot.EINVALID, []string{"runpod", "POST", "/graphql", "field errors", "GraphQL error", "expected a positive Int"}},
		{"malformed.json", 200, procurebot.EINVALID, []string{"runpod", "POST", "securePrice", "two dollars"}},
		{"negative.json", 200, procurebot.EINVALID, []string{"runpod", "data.gpuTypes[0].lowestPrice.minimumBidPrice", "-1.75"}},
		{"no_data.json", 200, procurebot.EINVALID, []string{"runpod", "data.gpuTypes", "missing"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			log, logs := venuetest.Logger()
			s, _ := replay(t, keyed(), tc.status, map[string]string{CloudSecure: tc.file, CloudCommunity: tc.file}, venuehttp.Env{Logger: log})
			qs, err := s.GPUQuotes(context.Background())
			venuetest.CheckError(t, err, tc.code, tc.want, apiKey)
			if qs != nil {
				t.Errorf("partial book %v", qs)
			}
			venuetest.NoSecret(t, logs.String(), apiKey)
			if !strings.Contains(logs.String(), "venue call") {
				t.Errorf("the call was not logged: %q", logs.String())
			}
		})
	}
}

// The key is never in an error or a log line, even when the transport
// fails with the full URL in its message.
func TestKeyRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			t.Fatal("no hijacker")
		}
		conn, _, _ := hj.Hijack()
		conn.Close() // the client sees an EOF naming the URL with ?api_key=
	}))
	t.Cleanup(srv.Close)
	cfg := keyed()
	cfg.BaseURL, cfg.MaxAttempts, cfg.RatePerSecond = srv.URL, 2, 1e6
	log, logs := venuetest.Logger()
	s, err := New(cfg, venuehttp.Env{Clock: venuetest.Clock{T: fetched}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = s.GPUQuotes(ctx)
	if err == nil {
		t.Fatal("no error from a dropped connection")
	}
	if !strings.Contains(logs.String(), "runpod") || !strings.Contains(logs.String(), "retrying") {
		t.Errorf("nothing logged: %q", logs.String())
	}
	venuetest.NoSecret(t, err.Error(), apiKey)
	venuetest.NoSecret(t, logs.String(), apiKey)
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("error %q does not show the redacted key", err)
	}
}

func TestConfig(t *testing.T) {
	env := venuehttp.Env{Getenv: func(string) string { return "" }}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{GPUCount: -1}, "providers.runpod.gpu_count"},
		{Config{Clouds: []string{"secure", "private"}}, "providers.runpod.clouds"},
		{Config{Clouds: []string{"secure", "secure"}}, "providers.runpod.clouds"},
		{Config{GPUTypes: []string{"H100", " "}}, "providers.runpod.gpu_types[1]"},
		{Config{APIKey: venuehttp.Credential{Env: "NO_SUCH_RUNPOD_KEY"}}, "providers.runpod.api_key.env"},
		{Config{Config: venuehttp.Config{MaxAge: -time.Second}}, "providers.runpod.max_age"},
		{Config{Config: venuehttp.Config{BaseURL: "not a url"}}, "base_url"},
	} {
		_, err := New(tc.cfg, env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %s", tc.cfg, err, tc.want)
		}
	}
	s, err := New(Config{}, env)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "runpod" || s.MaxAge() != 15*time.Minute || s.gpuCount != 1 || len(s.clouds) != 2 {
		t.Errorf("defaults: %s %s %d %v", s.Name(), s.MaxAge(), s.gpuCount, s.clouds)
	}
}

// BenchmarkParse parses a secure-cloud response of 600 GPU types.
func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"data":{"gpuTypes":[`)
	names := []string{"H100 SXM", "H200 SXM", "A100 PCIe", "L40S", "RTX 4090", "RTX A6000"}
	for i := range 600 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":"NVIDIA %s #%d","displayName":%q,"securePrice":%d.%02d,"communityPrice":1.19,"secureSpotPrice":0.%02d,"communitySpotPrice":null,`+
			`"lowestPrice":{"minimumBidPrice":0.%02d,"uninterruptablePrice":1.64,"stockStatus":"High","availableGpuCounts":[1,2,4,8],"maxUnreservedGpuCount":%d,"countryCode":"US"}}`,
			names[i%len(names)], i, names[i%len(names)], 1+i%4, i%100, 10+i%80, 10+i%80, 8+i%50)
	}
	sb.WriteString(`]}}`)
	body := []byte(sb.String())
	c, err := venuehttp.New("runpod", DefaultBaseURL, venuehttp.Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	req := venuehttp.Request{Method: http.MethodPost, Path: "graphql"}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		qs, _, err := parse(c, req, body, CloudSecure, 1, fetched)
		if err != nil || len(qs) != 1200 {
			b.Fatalf("%d quotes, %v", len(qs), err)
		}
	}
}

package ionet

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/feed"
	"github.com/procurebot/procurebot/providers/venuehttp"
	"github.com/procurebot/procurebot/providers/venuehttp/venuetest"
)

const secret = "io-v1-secret-0b9d8c7e"

const prefix = "/enterprise/v1/io-cloud/caas"

var fetched = time.Date(2026, 10, 12, 17, 0, 0, 0, time.UTC)

// The adapter is a feed source.
var _ feed.GPUSource = (*Source)(nil)

type reply struct {
	file   string
	status int
}

func ok(file string) reply { return reply{file, 200} }

// call is one request the fake API saw: its path under the prefix and
// query.
type call struct {
	path  string
	query map[string]string
}

type recorder struct {
	mu    sync.Mutex
	calls []call
}

func (r *recorder) seen() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func readFixture(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// routes picks the reply of a call; standard serves the happy fixtures.
type routes func(c call) reply

func standard(c call) reply {
	switch c.path {
	case "/hardware/max-gpus-per-container":
		return ok("hardware.json")
	case "/available-replicas":
		return ok("replicas_" + c.query["hardware_id"] + ".json")
	case "/price":
		return ok("price_" + c.query["hardware_id"] + ".json")
	}
	return reply{"error_500.json", 404}
}

// with overrides standard for one path (and hardware id, when not empty).
func with(path, hwID string, rep reply) routes {
	return func(c call) reply {
		if c.path == path && (hwID == "" || c.query["hardware_id"] == hwID) {
			return rep
		}
		return standard(c)
	}
}

func serve(t *testing.T, cfg Config, route routes) (*Source, *recorder, *venuetest.SyncBuffer) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("x-api-key"); got != secret {
			t.Errorf("x-api-key %q", got)
		}
		if !strings.HasPrefix(r.URL.Path, prefix) {
			t.Errorf("path %s outside %s", r.URL.Path, prefix)
		}
		c := call{path: strings.TrimPrefix(r.URL.Path, prefix), query: map[string]string{}}
		for k, v := range r.URL.Query() {
			c.query[k] = v[0]
		}
		rec.mu.Lock()
		rec.calls = append(rec.calls, c)
		rec.mu.Unlock()
		rep := route(c)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.status)
		w.Write(readFixture(t, rep.file))
	}))
	t.Cleanup(srv.Close)
	cfg.Config = venuehttp.Config{BaseURL: srv.URL + prefix, MaxAttempts: 1, RatePerSecond: 1000}
	cfg.APIKey = venuehttp.Credential{Value: secret}
	log, logs := venuetest.Logger()
	s, err := New(cfg, venuehttp.Env{Clock: venuetest.Clock{T: fetched}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return s, rec, logs
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestQuotes(t *testing.T) {
	s, rec, logs := serve(t, Config{}, standard)
	qs, err := s.GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		gpu, instance, region, perGPU, perHour, raw, ref string
		avail                                            int
	}{
		{"A100", "A100-SXM4-80GB", "US", "1.29", "10.32", "10.32", "duration_hours=1&gpus_per_container=8&hardware_id=12&location_ids=%5B1%5D", 3},
		{"MI300X", "Instinct MI300X", "CA", "1.93", "15.44", "15.44", "duration_hours=1&gpus_per_container=8&hardware_id=61&location_ids=%5B11%5D", 1},
		{"H100", "H100 80GB HBM3", "US,DE", "2.19", "17.52", "17.52", "duration_hours=1&gpus_per_container=8&hardware_id=8&location_ids=%5B1%2C4%5D", 8},
	}
	if len(qs) != len(want) {
		t.Fatalf("%d quotes, want %d: %v", len(qs), len(want), qs)
	}
	for i, w := range want {
		q := qs[i]
		if err := q.Validate(); err != nil {
			t.Errorf("quote %d: %v", i, err)
		}
		if q.GPU != w.gpu || q.Instance != w.instance || q.Region != w.region || q.Available != w.avail || q.Ref != w.ref {
			t.Errorf("quote %d: %s %q %s avail %d ref %s, want %+v", i, q.GPU, q.Instance, q.Region, q.Available, q.Ref, w)
		}
		if !q.PerGPU.Equal(dec(w.perGPU)) || !q.USDPerHour.Equal(dec(w.perHour)) || q.Billing.Raw != w.raw || q.GPUCount != 8 {
			t.Errorf("quote %d: per GPU %s per hour %s raw %s count %d, want %+v", i, q.PerGPU, q.USDPerHour, q.Billing.Raw, q.GPUCount, w)
		}
		if q.Venue != "ionet" || q.Provider != "ionet" || q.Spot != procurebot.SpotFalse || q.SpotKind != procurebot.SpotNone ||
			q.Billing.Unit != procurebot.BillUSDCPerTerm || q.Billing.Denom != "USDC" || !q.FetchedAt.Equal(fetched) ||
			!q.Term.Start.Equal(fetched) || !q.Term.End.Equal(fetched.Add(time.Hour)) {
			t.Errorf("quote %d: %+v", i, q)
		}
	}
	// Calls: the list, then per priced hardware its replicas and price; the
	// RTX 4090 has no location with replicas, so no price call; H200 (none
	// available), L40S (4 GPUs max) and the M2 Ultra (no GPU class) are not
	// asked about at all.
	var got []string
	for _, c := range rec.seen() {
		got = append(got, c.path+"#"+c.query["hardware_id"])
	}
	wantCalls := "/hardware/max-gpus-per-container# /available-replicas#8 /price#8 /available-replicas#12 /price#12 /available-replicas#22 /available-replicas#61 /price#61"
	if strings.Join(got, " ") != wantCalls {
		t.Errorf("calls\n %s\nwant\n %s", strings.Join(got, " "), wantCalls)
	}
	if !strings.Contains(logs.String(), `"total_cost_usdc":"17.52","ionet_fee":"0.34353"`) {
		t.Errorf("price breakdown not logged:\n%s", logs)
	}
}

func TestRequestParams(t *testing.T) {
	s, rec, _ := serve(t, Config{Hardware: []string{"H100"}, DurationHours: 24}, with("/price", "8", ok("price_8_24h.json")))
	if _, err := s.GPUQuotes(context.Background()); err != nil {
		t.Fatal(err)
	}
	calls := rec.seen()
	if len(calls) != 3 {
		t.Fatalf("calls %v", calls)
	}
	if len(calls[0].query) != 0 {
		t.Errorf("hardware list query %v", calls[0].query)
	}
	for k, v := range map[string]string{"hardware_id": "8", "hardware_qty": "8"} {
		if calls[1].query[k] != v {
			t.Errorf("available-replicas %s=%q, want %q", k, calls[1].query[k], v)
		}
	}
	for k, v := range map[string]string{
		"location_ids": "[1,4]", "hardware_id": "8", "hardware_qty": "8", "gpus_per_container": "8",
		"duration_type": "hourly", "duration_qty": "24", "duration_hours": "24", "replica_count": "1", "currency": "usdc",
	} {
		if calls[2].query[k] != v {
			t.Errorf("price %s=%q, want %q", k, calls[2].query[k], v)
		}
	}
}

// Worked examples of USDC per term to USD per GPU-hour.
func TestConversion(t *testing.T) {
	for _, tc := range []struct {
		name, file                   string
		hours                        int
		raw, factor, perHour, perGPU string
		capIn                        string
		capOut                       string // exact, or "" to check the bound only
	}{
		// 17.52 USDC for one 8-GPU container for 1 h: 2.19 USD per GPU-hour.
		{"1h", "price_8.json", 1, "17.52", "0.125", "17.52", "2.19", "2.00", "16"},
		// 399.36 USDC for 24 h: 16.64 USD/h, 2.08 USD per GPU-hour.
		{"24h", "price_8_24h.json", 24, "399.36", "0.0052083333333333333333", "16.64", "2.08", "2.00", ""},
		// 50 USDC for 3 h: a non-terminating 2.0833… USD per GPU-hour.
		{"3h", "price_8_3h.json", 3, "50", "0.041666666666666666666667", "16.6666666666666667", "2.0833333333333333", "2.00", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := serve(t, Config{Hardware: []string{"H100"}, DurationHours: tc.hours}, with("/price", "8", ok(tc.file)))
			qs, err := s.GPUQuotes(context.Background())
			if err != nil || len(qs) != 1 {
				t.Fatalf("%v %v", qs, err)
			}
			q := qs[0]
			if err := q.Validate(); err != nil {
				t.Error(err)
			}
			if q.Billing.Raw != tc.raw || !q.Billing.ToUSDPerGPUHour.Round(22).Equal(dec(tc.factor).Round(22)) {
				t.Errorf("billing %+v, want raw %s factor %s", q.Billing, tc.raw, tc.factor)
			}
			if !q.USDPerHour.Equal(dec(tc.perHour)) || !q.PerGPU.Equal(dec(tc.perGPU)) {
				t.Errorf("per hour %s per GPU %s, want %s %s", q.USDPerHour, q.PerGPU, tc.perHour, tc.perGPU)
			}
			if h := q.Term.Hours(); !h.Equal(decimal.NewFromInt(int64(tc.hours))) {
				t.Errorf("term %s h, want %d", h, tc.hours)
			}
			capped, err := q.BilledCap(dec(tc.capIn))
			if err != nil {
				t.Fatal(err)
			}
			want := dec(tc.capIn).Mul(decimal.NewFromInt(int64(8 * tc.hours)))
			if tc.capOut != "" && !capped.Equal(dec(tc.capOut)) {
				t.Errorf("cap %s = %s USDC for the term, want %s", tc.capIn, capped, tc.capOut)
			}
			if capped.GreaterThan(want) || want.Sub(capped).GreaterThan(dec("1e-9")) {
				t.Errorf("cap %s = %s USDC for the term, want ≤ %s within 1e-9", tc.capIn, capped, want)
			}
		})
	}
}

func TestEmpty(t *testing.T) {
	for _, tc := range []struct {
		name  string
		route routes
		calls int
	}{
		{"no hardware", with("/hardware/max-gpus-per-container", "", ok("hardware_empty.json")), 1},
		{"no replicas", with("/available-replicas", "", ok("replicas_empty.json")), 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rec, _ := serve(t, Config{}, tc.route)
			qs, err := s.GPUQuotes(context.Background())
			if err != nil || len(qs) != 0 {
				t.Fatalf("%v %v", qs, err)
			}
			if n := len(rec.seen()); n != tc.calls {
				t.Errorf("%d calls, want %d", n, tc.calls)
			}
		})
	}
}

// The hardware filter sets the order; max_calls stops before a hardware
// type whose two calls would not fit, and says so.
func TestFilterAndMaxCalls(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		gpus     string
		calls    int
		warnings bool
	}{
		{"filter", Config{Hardware: []string{"NVIDIA A100 80GB", "H100"}}, "A100 H100", 5, false},
		{"budget of one hardware", Config{Hardware: []string{"H100", "A100"}, MaxCalls: 3}, "H100", 3, true},
		{"budget of four calls", Config{MaxCalls: 4}, "H100", 3, true},
		{"unwanted only", Config{Hardware: []string{"B200"}}, "", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rec, logs := serve(t, tc.cfg, standard)
			qs, err := s.GPUQuotes(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var gpus []string
			for _, q := range qs {
				gpus = append(gpus, q.GPU)
			}
			if strings.Join(gpus, " ") != tc.gpus || len(rec.seen()) != tc.calls {
				t.Errorf("quotes %v in %d calls, want %s in %d", gpus, len(rec.seen()), tc.gpus, tc.calls)
			}
			if warned := strings.Contains(logs.String(), "max_calls reached"); warned != tc.warnings {
				t.Errorf("max_calls warning %v, want %v:\n%s", warned, tc.warnings, logs)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		route routes
		code  string
		want  []string
	}{
		{"401", with("/hardware/max-gpus-per-container", "", reply{"error_401.json", 401}), procurebot.EINVALID,
			[]string{"ionet", "GET", "/hardware/max-gpus-per-container", "HTTP 401", "Invalid API key"}},
		{"422", with("/available-replicas", "8", reply{"error_422.json", 422}), procurebot.EINVALID,
			[]string{"ionet", "/available-replicas?hardware_id=8&hardware_qty=8", "HTTP 422", "greater_than_equal"}},
		{"429", with("/price", "12", reply{"error_429.json", 429}), procurebot.EUNAVAILABLE,
			[]string{"ionet", "/price?", "hardware_id=12", "HTTP 429", "Rate limit"}},
		{"500", with("/price", "8", reply{"error_500.json", 500}), procurebot.EUNAVAILABLE,
			[]string{"ionet", "/price?", "HTTP 500", "Internal Server Error"}},
		{"price not a number", with("/price", "8", ok("malformed_price.json")), procurebot.EINVALID,
			[]string{"ionet", "/price?", "field data.total_cost_usdc", "TBD"}},
		{"no total", with("/price", "8", ok("malformed_missing_total.json")), procurebot.EINVALID,
			[]string{"ionet", "field data.total_cost_usdc", "missing"}},
		{"fees above total", with("/price", "8", ok("malformed_fees.json")), procurebot.EINVALID,
			[]string{"ionet", "field data.total_cost_usdc", "does not exceed its fees 18"}},
		{"other container size", with("/price", "8", ok("malformed_gpus.json")), procurebot.EINVALID,
			[]string{"ionet", "field data.gpus_per_container", "1, but 8 were asked for"}},
		{"no data wrapper", with("/hardware/max-gpus-per-container", "", ok("malformed_unwrapped.json")), procurebot.EINVALID,
			[]string{"ionet", "/hardware/max-gpus-per-container", "field data", "missing"}},
		{"location id", with("/available-replicas", "12", ok("malformed_replicas.json")), procurebot.EINVALID,
			[]string{"ionet", "/available-replicas?hardware_id=12", "field data.id", "string is not int"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, logs := serve(t, Config{}, tc.route)
			qs, err := s.GPUQuotes(context.Background())
			venuetest.CheckError(t, err, tc.code, tc.want, secret)
			if qs != nil {
				t.Errorf("partial book %v", qs)
			}
			venuetest.NoSecret(t, logs.String(), secret)
		})
	}
}

func TestNoSecretInLogs(t *testing.T) {
	s, _, logs := serve(t, Config{}, standard)
	if _, err := s.GPUQuotes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "venue call") {
		t.Fatalf("debug log not captured: %s", logs)
	}
	venuetest.NoSecret(t, logs.String(), secret)
}

func TestConfig(t *testing.T) {
	env := venuehttp.Env{Getenv: func(k string) string {
		if k == "IONET_API_KEY" {
			return secret
		}
		return ""
	}}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"gpus", Config{GPUsPerContainer: -1}, "providers.ionet.gpus_per_container"},
		{"hours", Config{DurationHours: -2}, "providers.ionet.duration_hours"},
		{"calls", Config{MaxCalls: 2}, "providers.ionet.max_calls: 2"},
		{"hardware", Config{Hardware: []string{"H100", "TPU v5"}}, "providers.ionet.hardware[1]: \"TPU v5\" names no GPU class"},
		{"repeat", Config{Hardware: []string{"H100", "H100 SXM"}}, "providers.ionet.hardware[1]: \"H100 SXM\" repeats GPU class H100"},
		{"shared", Config{Config: venuehttp.Config{Timeout: -time.Second}}, "providers.ionet.timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, env); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %q", err, tc.want)
			}
		})
	}
	s, err := New(Config{}, env)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "ionet" || s.MaxAge() != 30*time.Minute || s.gpc != 8 || s.hours != 1 || s.maxCalls != 25 {
		t.Errorf("defaults %s %s %d %d %d", s.Name(), s.MaxAge(), s.gpc, s.hours, s.maxCalls)
	}
	if _, err := New(Config{}, venuehttp.Env{Getenv: func(string) string { return "" }}); err == nil || !strings.Contains(err.Error(), "IONET_API_KEY") {
		t.Fatalf("missing key: %v", err)
	}
}

// BenchmarkParse parses a hardware list of several hundred types, then the
// replicas and price of each.
func BenchmarkParse(b *testing.B) {
	s, err := New(Config{Config: venuehttp.Config{BaseURL: "http://ionet.invalid"}, APIKey: venuehttp.Credential{Value: "k"}}, venuehttp.Env{Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	names := []string{"H100 80GB HBM3", "A100-SXM4-80GB", "GeForce RTX 4090", "H200 141GB HBM3e", "L40S", "Instinct MI300X"}
	var hw bytes.Buffer
	hw.WriteString(`{"data":{"hardware":[`)
	for i := range 300 {
		if i > 0 {
			hw.WriteByte(',')
		}
		fmt.Fprintf(&hw, `{"max_gpus_per_container":8,"available":%d,"hardware_id":%d,"hardware_name":%q,"brand_name":"NVIDIA"}`, 8+i, i+1, names[i%len(names)])
	}
	hw.WriteString(`],"total":300}}`)
	replicas := readFixture(b, "replicas_8.json")
	priceBody := readFixture(b, "price_8.json")
	hreq := venuehttp.Request{Path: "hardware/max-gpus-per-container"}
	b.ReportAllocs()
	for b.Loop() {
		list, err := s.parseHardware(hreq, hw.Bytes())
		if err != nil || len(list) != 300 {
			b.Fatalf("%d %v", len(list), err)
		}
		for _, h := range list {
			rreq := s.replicasRequest(h)
			locs, err := s.parseReplicas(rreq, replicas)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.parsePrice(s.priceRequest(h, locs), priceBody, h, locs, fetched); err != nil {
				b.Fatal(err)
			}
		}
	}
}

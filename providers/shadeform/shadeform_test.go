package shadeform

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
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

const secret = "shade-secret-key-4c2a1b"

var fetched = time.Date(2026, 10, 12, 17, 0, 0, 0, time.UTC)

// The adapter is a feed source.
var _ feed.GPUSource = (*Source)(nil)

type reply struct {
	file   string
	status int
}

type recorder struct {
	mu      sync.Mutex
	queries []url.Values
}

func (r *recorder) seen() []url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]url.Values(nil), r.queries...)
}

func readFixture(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serve replays testdata chosen by route at /v1/instances/types, checks the
// API key header, and returns a source logging into the returned buffer.
func serve(t *testing.T, cfg Config, route func(url.Values) reply) (*Source, *recorder, *venuetest.SyncBuffer) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/instances/types" {
			t.Errorf("path %s", r.URL.Path)
		}
		if got := r.Header.Get("X-API-KEY"); got != secret {
			t.Errorf("X-API-KEY %q", got)
		}
		if r.Header.Get("Authorization") != "" {
			t.Errorf("unexpected Authorization header")
		}
		rec.mu.Lock()
		rec.queries = append(rec.queries, r.URL.Query())
		rec.mu.Unlock()
		rep := route(r.URL.Query())
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.status)
		w.Write(readFixture(t, rep.file))
	}))
	t.Cleanup(srv.Close)
	cfg.Config = venuehttp.Config{BaseURL: srv.URL + "/v1", MaxAttempts: 1, RatePerSecond: 1000}
	cfg.APIKey = venuehttp.Credential{Value: secret}
	log, logs := venuetest.Logger()
	s, err := New(cfg, venuehttp.Env{Clock: venuetest.Clock{T: fetched}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return s, rec, logs
}

func always(file string) func(url.Values) reply {
	return func(url.Values) reply { return reply{file, 200} }
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// key identifies a quote in expectations.
func key(q procurebot.Quote) string {
	k := q.Cloud + "/" + q.Instance + "/" + q.Region
	if q.SpotKind != procurebot.SpotNone {
		k += "/spot"
	}
	return k
}

func TestQuotes(t *testing.T) {
	s, rec, logs := serve(t, Config{}, always("instance_types.json"))
	qs, err := s.GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		key, gpu, perGPU string
		count            int
	}{
		{"massedcompute/gpu_1x_A6000_high_perf/us-central-1/spot", "A6000", "0.4", 1},
		{"massedcompute/gpu_1x_A6000_high_perf/us-central-1", "A6000", "0.57", 1},
		{"hyperstack/n3-A100x1/canada-1", "A100", "1.35", 1},
		{"hyperstack/n3-A100x1/norway-1", "A100", "1.35", 1},
		{"excesssupply/8x-h100-sxm5-ac/us-central-1/spot", "H100", "1.55", 8},
		// us-west-1 is sold out on demand but open as spot: a spot quote only.
		{"excesssupply/8x-h100-sxm5-ac/us-west-1/spot", "H100", "1.6", 8},
		{"vultr/vbm-256c-2048gb-8-mi300x-gpu/ord", "MI300X", "1.99", 8},
		{"excesssupply/8x-h100-sxm5-ac/us-central-1", "H100", "2.49", 8},
		{"lambdalabs/gpu_8x_h100_sxm5/us-east-1", "H100", "2.99", 8},
		{"datacrunch/8H200.141S.176V/FIN-01", "H200", "3.59", 8},
		{"excesssupply/8x-b300-sxm6-ac/us-west-1/spot", "B300", "4.5", 8},
	}
	if len(qs) != len(want) {
		for _, q := range qs {
			t.Log(key(q), q.PerGPU)
		}
		t.Fatalf("%d quotes, want %d", len(qs), len(want))
	}
	for i, w := range want {
		q := qs[i]
		if err := q.Validate(); err != nil {
			t.Errorf("quote %d: %v", i, err)
		}
		if key(q) != w.key || q.GPU != w.gpu || q.GPUCount != w.count || !q.PerGPU.Equal(dec(w.perGPU)) {
			t.Errorf("quote %d: %s %s x%d %s, want %+v", i, key(q), q.GPU, q.GPUCount, q.PerGPU, w)
		}
		if q.Venue != "shadeform" || q.Provider != "shadeform" || q.Available != -1 || !q.FetchedAt.Equal(fetched) || !q.Term.IsZero() {
			t.Errorf("quote %d: %+v", i, q)
		}
		spot := q.SpotKind == procurebot.SpotFixed
		if spot != (q.Spot == procurebot.SpotTrue) || spot != strings.Contains(q.Ref, "rental_type=spot") {
			t.Errorf("quote %d: spot kind %q spot %v ref %s disagree", i, q.SpotKind, q.Spot, q.Ref)
		}
	}
	// No on-demand quote for a region that is only open as spot (brevdev/cloud #157).
	for _, q := range qs {
		if q.SpotKind == procurebot.SpotNone && (q.Region == "us-west-1" || q.GPU == "B300") {
			t.Errorf("on-demand quote from a spot-only availability: %v", q)
		}
		if q.Region == "FIN-02" || q.GPU == "" || q.Cloud == "aws" {
			t.Errorf("quote from a skipped entry: %v", q)
		}
	}
	l := logs.String()
	if !strings.Contains(l, `"rental_type":"reserved"`) || !strings.Contains(l, `"gpu_type":"GAUDI2"`) {
		t.Errorf("skipped entries not logged:\n%s", l)
	}
	q := rec.seen()
	if len(q) != 1 || q[0].Get("available") != "true" || q[0].Get("sort") != "price" || q[0].Has("gpu_type") || q[0].Has("num_gpus") {
		t.Errorf("queries %v", q)
	}
}

// Worked examples, one per billed unit.
func TestConversion(t *testing.T) {
	s, _, _ := serve(t, Config{}, always("instance_types.json"))
	qs, err := s.GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]procurebot.Quote{}
	for _, q := range qs {
		byKey[key(q)] = q
	}
	for _, tc := range []struct {
		key                                      string
		unit                                     procurebot.BillingUnit
		raw, denom, factor, perHour, perGPU, ref string
		capIn, capOut                            string
		spot                                     procurebot.SpotKind
	}{
		// 1992 cents per 8-GPU instance-hour: 19.92 USD/h, 2.49 USD per GPU-hour.
		{"excesssupply/8x-h100-sxm5-ac/us-central-1", procurebot.BillCentsPerInstanceHour, "1992", "USD cents", "0.00125", "19.92", "2.49",
			"cloud=excesssupply&region=us-central-1&shade_instance_type=H100_sxm5x8", "2.00", "1600", procurebot.SpotNone},
		// The spot entry's dollar string "12.40" per instance-hour: 1.55 USD per GPU-hour.
		{"excesssupply/8x-h100-sxm5-ac/us-central-1/spot", procurebot.BillUSDPerInstanceHour, "12.40", "USD", "0.125", "12.4", "1.55",
			"cloud=excesssupply&region=us-central-1&rental_type=spot&shade_cloud=true&shade_instance_type=H100_sxm5x8", "1.50", "12", procurebot.SpotFixed},
		// One GPU: 57 cents, and its "0.40" spot price.
		{"massedcompute/gpu_1x_A6000_high_perf/us-central-1", procurebot.BillCentsPerInstanceHour, "57", "USD cents", "0.01", "0.57", "0.57",
			"cloud=massedcompute&region=us-central-1&shade_instance_type=A6000_plus", "0.50", "50", procurebot.SpotNone},
		{"massedcompute/gpu_1x_A6000_high_perf/us-central-1/spot", procurebot.BillUSDPerInstanceHour, "0.40", "USD", "1", "0.4", "0.4",
			"cloud=massedcompute&region=us-central-1&rental_type=spot&shade_cloud=true&shade_instance_type=A6000_plus", "0.35", "0.35", procurebot.SpotFixed},
	} {
		t.Run(tc.key, func(t *testing.T) {
			q, ok := byKey[tc.key]
			if !ok {
				t.Fatalf("no quote %s", tc.key)
			}
			b := q.Billing
			if b.Unit != tc.unit || b.Raw != tc.raw || b.Denom != tc.denom || !b.Amount.Equal(dec(tc.raw)) || !b.ToUSDPerGPUHour.Equal(dec(tc.factor)) {
				t.Errorf("billing %+v, want %s %s %s factor %s", b, tc.unit, tc.raw, tc.denom, tc.factor)
			}
			if !q.USDPerHour.Equal(dec(tc.perHour)) || !q.PerGPU.Equal(dec(tc.perGPU)) || q.SpotKind != tc.spot {
				t.Errorf("per hour %s per GPU %s spot %q, want %s %s %q", q.USDPerHour, q.PerGPU, q.SpotKind, tc.perHour, tc.perGPU, tc.spot)
			}
			if q.Ref != tc.ref {
				t.Errorf("ref %q, want %q", q.Ref, tc.ref)
			}
			capped, err := q.BilledCap(dec(tc.capIn))
			if err != nil || !capped.Equal(dec(tc.capOut)) {
				t.Errorf("cap %s USD/GPU-h in %s = %s (%v), want %s", tc.capIn, tc.unit, capped, err, tc.capOut)
			}
		})
	}
}

// The regression of brevdev/cloud PR #157: spot availability never makes an
// on-demand quote, and excluding spot leaves nothing.
func TestSpotOnly(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rentals []string
		want    []string
	}{
		{"both", nil, []string{"34.5", "36"}},
		{"spot", []string{Spot}, []string{"34.5", "36"}},
		{"on demand only", []string{OnDemand}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := serve(t, Config{RentalTypes: tc.rentals}, always("spot_only.json"))
			qs, err := s.GPUQuotes(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(qs) != len(tc.want) {
				t.Fatalf("%d quotes, want %d: %v", len(qs), len(tc.want), qs)
			}
			for i, q := range qs {
				if q.SpotKind != procurebot.SpotFixed || q.Billing.Unit != procurebot.BillUSDPerInstanceHour || !q.USDPerHour.Equal(dec(tc.want[i])) {
					t.Errorf("quote %d: %v", i, q)
				}
			}
		})
	}
}

func TestEmpty(t *testing.T) {
	s, _, _ := serve(t, Config{}, always("empty.json"))
	qs, err := s.GPUQuotes(context.Background())
	if err != nil || len(qs) != 0 {
		t.Fatalf("%v %v", qs, err)
	}
}

// One call per gpu_type filter; a type returned by two calls is quoted once.
func TestGPUTypes(t *testing.T) {
	s, rec, _ := serve(t, Config{GPUTypes: []string{"H100", "H200"}, NumGPUs: 8}, func(q url.Values) reply {
		return reply{"instance_types_" + strings.ToLower(q.Get("gpu_type")) + ".json", 200}
	})
	qs, err := s.GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := rec.seen()
	if len(seen) != 2 || seen[0].Get("gpu_type") != "H100" || seen[1].Get("gpu_type") != "H200" {
		t.Fatalf("queries %v", seen)
	}
	for _, q := range seen {
		if q.Get("num_gpus") != "8" || q.Get("available") != "true" || q.Get("sort") != "price" {
			t.Errorf("query %v", q)
		}
	}
	var got []string
	for _, q := range qs {
		got = append(got, key(q)+"="+q.PerGPU.String())
	}
	want := []string{
		"excesssupply/8x-h100-sxm5-ac/us-central-1/spot=1.55",
		"excesssupply/8x-h100-sxm5-ac/us-central-1=2.49",
		"lambdalabs/gpu_8x_h100_sxm5/us-east-1=2.99",
		"datacrunch/8H200.141S.176V/FIN-01=3.59",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("quotes\n %v\nwant\n %v", got, want)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		file   string
		status int
		code   string
		want   []string
	}{
		{"error_401.json", 401, procurebot.EINVALID, []string{"shadeform", "GET", "/v1/instances/types?available=true&sort=price", "HTTP 401", "UNAUTHORIZED"}},
		{"error_429.json", 429, procurebot.EUNAVAILABLE, []string{"shadeform", "HTTP 429", "RATE_LIMITED"}},
		{"error_500.json", 500, procurebot.EUNAVAILABLE, []string{"shadeform", "HTTP 500", "INTERNAL_SERVER_ERROR"}},
		{"malformed_spot_number.json", 200, procurebot.EINVALID, []string{"shadeform", "instances/types", "field instance_types[0].availability[0].hourly_price", "bare number"}},
		{"malformed_price.json", 200, procurebot.EINVALID, []string{"shadeform", "field instance_types.hourly_price", "fifty-seven cents"}},
		{"malformed_missing_price.json", 200, procurebot.EINVALID, []string{"shadeform", "field instance_types[0].hourly_price", "missing for on-demand region us-central-1"}},
		{"malformed_no_list.json", 200, procurebot.EINVALID, []string{"shadeform", "field instance_types", "missing"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			s, _, logs := serve(t, Config{}, func(url.Values) reply { return reply{tc.file, tc.status} })
			qs, err := s.GPUQuotes(context.Background())
			venuetest.CheckError(t, err, tc.code, tc.want, secret)
			if qs != nil {
				t.Errorf("partial book %v", qs)
			}
			venuetest.NoSecret(t, logs.String(), secret)
		})
	}
}

// The second of two calls failing fails the book.
func TestNoPartialBook(t *testing.T) {
	s, _, _ := serve(t, Config{GPUTypes: []string{"H100", "H200"}}, func(q url.Values) reply {
		if q.Get("gpu_type") == "H200" {
			return reply{"error_500.json", 500}
		}
		return reply{"instance_types_h100.json", 200}
	})
	qs, err := s.GPUQuotes(context.Background())
	if err == nil || qs != nil || !strings.Contains(err.Error(), "gpu_type=H200") {
		t.Fatalf("quotes %v err %v", qs, err)
	}
}

func TestNoSecretInLogs(t *testing.T) {
	s, _, logs := serve(t, Config{}, always("instance_types.json"))
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
		if k == "SHADEFORM_API_KEY" {
			return secret
		}
		return ""
	}}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative gpus", Config{NumGPUs: -1}, "providers.shadeform.num_gpus"},
		{"empty type", Config{GPUTypes: []string{"H100", " "}}, "providers.shadeform.gpu_types[1]: empty"},
		{"duplicate type", Config{GPUTypes: []string{"H100", "h100"}}, "providers.shadeform.gpu_types[1]: \"h100\" is listed twice"},
		{"rental type", Config{RentalTypes: []string{"reserved"}}, "providers.shadeform.rental_types[0]"},
		{"shared", Config{Config: venuehttp.Config{MaxAge: -time.Second}}, "providers.shadeform.max_age"},
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
	if s.Name() != "shadeform" || s.MaxAge() != 15*time.Minute || !s.rentals[OnDemand] || !s.rentals[Spot] {
		t.Errorf("defaults: %s %s %v", s.Name(), s.MaxAge(), s.rentals)
	}
	if _, err := New(Config{}, venuehttp.Env{Getenv: func(string) string { return "" }}); err == nil || !strings.Contains(err.Error(), "SHADEFORM_API_KEY") {
		t.Fatalf("missing key: %v", err)
	}
}

// BenchmarkParse parses a response of several hundred instance types, each
// with on-demand and spot entries in three regions.
func BenchmarkParse(b *testing.B) {
	s, err := New(Config{Config: venuehttp.Config{BaseURL: "http://shadeform.invalid/v1"}, APIKey: venuehttp.Credential{Value: "k"}}, venuehttp.Env{Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	gpus := []string{"H100", "H200", "A100_80G", "B200", "MI300X", "L40S"}
	var buf bytes.Buffer
	buf.WriteString(`{"instance_types":[`)
	for i := range 400 {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"cloud":"cloud%d","shade_instance_type":"%sx8","cloud_instance_type":"type-%d","configuration":{"memory_in_gb":1800,"storage_in_gb":20000,"vcpus":192,"num_gpus":8,"gpu_type":"%s","interconnect":"sxm5","vram_per_gpu_in_gb":80,"os_options":["ubuntu22.04_cuda12.4_shade_os"],"gpu_manufacturer":"nvidia","nvlink":true},"hourly_price":%d,"deployment_type":"vm","availability":[`,
			i%17, gpus[i%len(gpus)], i, gpus[i%len(gpus)], 1500+i)
		for r := range 3 {
			if r > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, `{"region":"region-%d","available":%t,"display_name":"Region %d","rental_type":"on_demand"},{"region":"region-%d","available":true,"display_name":"Region %d","rental_type":"spot","hourly_price":"%d.%02d"}`,
				r, (i+r)%2 == 0, r, r, r, 9+i%5, i%100)
		}
		buf.WriteString(`],"boot_time":{"min_boot_in_sec":300,"max_boot_in_sec":900}}`)
	}
	buf.WriteString(`]}`)
	body := buf.Bytes()
	req := s.requests()[0]
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		qs, err := s.parse(req, body, fetched)
		if err != nil || len(qs) < 1600 {
			b.Fatalf("%d quotes %v", len(qs), err)
		}
	}
}

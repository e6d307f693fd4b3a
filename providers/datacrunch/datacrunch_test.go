package datacrunch

import (
	"bytes"
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

const (
	clientID     = "dc-client-id-42"
	clientSecret = "dc-client-secret-S3cr3t"
)

var t0 = time.Date(2026, 10, 12, 17, 0, 0, 0, time.UTC)

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

// tokenOf is the access token the fake issues the nth time.
func tokenOf(n int) string { return fmt.Sprintf("eyJhbGciOiJIUzI1NiJ9.tok-%d.sig", n) }

// call is one API request the fake received.
type call struct {
	path, auth string
	query      map[string][]string
}

// fake is a Verda API: a file and status per route, tokens issued in
// sequence, and a set of tokens it refuses.
type fake struct {
	t           *testing.T
	mu          sync.Mutex
	tokenFile   string
	tokenStatus int
	typesFile   string
	typesStatus int
	availFiles  map[string]string // "true"/"false" → file
	availStatus int
	refuse      map[string]bool
	echo        bool // error bodies quote the credentials they got

	issued      int
	tokenBodies []map[string]string
	tokenCTypes []string
	calls       []call
}

func newFake(t *testing.T) *fake {
	return &fake{
		t: t, tokenFile: "token.json", tokenStatus: 200, typesFile: "instance_types.json", typesStatus: 200,
		availFiles:  map[string]string{"false": "availability_ondemand.json", "true": "availability_spot.json"},
		availStatus: 200, refuse: map[string]bool{},
	}
}

func (f *fake) serve(w http.ResponseWriter, status int, file string, tok string) {
	f.t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		f.t.Errorf("fixture %s: %v", file, err)
	}
	body = bytes.ReplaceAll(body, []byte("%TOKEN%"), []byte(tok))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/oauth2/token":
		b, _ := io.ReadAll(r.Body)
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			f.t.Errorf("token body %q: %v", b, err)
		}
		f.tokenBodies = append(f.tokenBodies, m)
		f.tokenCTypes = append(f.tokenCTypes, r.Header.Get("Content-Type"))
		if f.echo {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, `{"code":"service_unavailable","message":"cannot check %s / %s"}`, m["client_id"], m["client_secret"])
			return
		}
		if f.tokenStatus == 200 {
			f.issued++
		}
		f.serve(w, f.tokenStatus, f.tokenFile, tokenOf(f.issued))
		return
	case r.Method == http.MethodGet && (r.URL.Path == "/v1/instance-types" || r.URL.Path == "/v1/instance-availability"):
	default:
		f.t.Errorf("unexpected %s %s", r.Method, r.URL)
		http.NotFound(w, r)
		return
	}
	auth := r.Header.Get("Authorization")
	f.calls = append(f.calls, call{path: r.URL.Path, auth: auth, query: r.URL.Query()})
	if f.echo {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"code":"server_error","message":"bad header %s"}`, auth)
		return
	}
	if f.refuse[strings.TrimPrefix(auth, "Bearer ")] || !strings.HasPrefix(auth, "Bearer eyJ") {
		f.serve(w, 401, "error_401.json", "")
		return
	}
	if r.URL.Path == "/v1/instance-types" {
		f.serve(w, f.typesStatus, f.typesFile, "")
		return
	}
	f.serve(w, f.availStatus, f.availFiles[r.URL.Query().Get("is_spot")], "")
}

func (f *fake) tokenRequests() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.tokenBodies) }

// replay builds a Source against f, with the credentials from the env
// vars VERDA_CLIENT_ID / VERDA_CLIENT_SECRET.
func replay(t *testing.T, f *fake, cfg Config, env venuehttp.Env) *Source {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	if cfg.BaseURL == "" {
		cfg.BaseURL = srv.URL + "/v1"
	}
	cfg.RatePerSecond = 1e6
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 1
	}
	if env.Clock == nil {
		env.Clock = &clock{t: t0}
	}
	env.Getenv = func(k string) string {
		return map[string]string{"VERDA_CLIENT_ID": clientID, "VERDA_CLIENT_SECRET": clientSecret}[k]
	}
	s, err := New(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestQuotes(t *testing.T) {
	f := newFake(t)
	log, logs := venuetest.Logger()
	qs, err := replay(t, f, Config{}, venuehttp.Env{Logger: log}).GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ref, region string
		kind        procurebot.SpotKind
		raw, perGPU string
		class       string
		gpus        int
	}
	// Not quoted: the CPU types, CPU.4V.16G (not in instance-types), the
	// RTX PRO 6000 (no GPU class), the L40S as spot (no spot_price) and the
	// duplicate 1V100.6V spot entry.
	want := []row{
		{"1V100.6V", "FIN-01", procurebot.SpotFixed, "0.25", "0.25", "V100", 1},
		{"2A6000.20V", "FIN-01", procurebot.SpotFixed, "0.70", "0.35", "A6000", 2},
		{"1RTX6000ADA.10V", "ICE-01", procurebot.SpotFixed, "0.46", "0.46", "RTX6000", 1},
		{"1A100.22V", "FIN-01", procurebot.SpotFixed, "0.55", "0.55", "A100", 1},
		{"1V100.6V", "FIN-01", procurebot.SpotNone, "0.89", "0.89", "V100", 1},
		{"2A6000.20V", "FIN-01", procurebot.SpotNone, "1.98", "0.99", "A6000", 2},
		{"1L40S.20V", "ICE-01", procurebot.SpotNone, "1.10", "1.1", "L40S", 1},
		{"1RTX6000ADA.10V", "ICE-01", procurebot.SpotNone, "1.19", "1.19", "RTX6000", 1},
		{"1A100.22V", "FIN-01", procurebot.SpotNone, "1.29", "1.29", "A100", 1},
		{"1H100.80S.30V", "FIN-01", procurebot.SpotFixed, "1.70", "1.7", "H100", 1},
		{"8H100.80S.176V", "FIN-01", procurebot.SpotFixed, "13.60", "1.7", "H100", 8},
		{"8A100.176V", "ICE-01", procurebot.SpotNone, "14.24", "1.78", "A100", 8},
		{"1H100.80S.30V", "FIN-01", procurebot.SpotNone, "3.95", "3.95", "H100", 1},
		{"8H100.80S.176V", "FIN-01", procurebot.SpotNone, "31.60", "3.95", "H100", 8},
		{"1H100.80S.30V", "FIN-02", procurebot.SpotNone, "3.95", "3.95", "H100", 1},
		{"1H200.141S.44V", "FIN-02", procurebot.SpotNone, "4.49", "4.49", "H200", 1},
		{"8B200.240V", "FIN-02", procurebot.SpotNone, "47.92", "5.99", "B200", 8},
	}
	if len(qs) != len(want) {
		for _, q := range qs {
			t.Log(q.Ref, q.Region, q.SpotKind, q.Billing.Raw)
		}
		t.Fatalf("%d quotes, want %d", len(qs), len(want))
	}
	for i, q := range qs {
		w := want[i]
		got := row{q.Ref, q.Region, q.SpotKind, q.Billing.Raw, q.PerGPU.String(), q.GPU, q.GPUCount}
		if got != w {
			t.Errorf("quote %d: %+v, want %+v", i, got, w)
		}
		if err := q.Validate(); err != nil {
			t.Error(err)
		}
		if q.Venue != "datacrunch" || q.Provider != "datacrunch" || !q.FetchedAt.Equal(t0) || q.Available != -1 ||
			q.Billing.Unit != procurebot.BillUSDPerInstanceHour || q.Billing.Denom != "USD" || !q.USDPerHour.Equal(d(w.raw)) {
			t.Errorf("quote %d: %+v", i, q)
		}
		if (q.SpotKind == procurebot.SpotFixed) != (q.Spot == procurebot.SpotTrue) {
			t.Errorf("quote %d: spot %v kind %q", i, q.Spot, q.SpotKind)
		}
	}
	for _, skip := range []string{"CPU.4V.16G (not in instance-types)", "1RTXPRO6000.30V (no GPU class", "1L40S.20V (spot, no spot_price)"} {
		if !strings.Contains(logs.String(), skip) {
			t.Errorf("skip of %s not logged: %s", skip, logs.String())
		}
	}
	// One token, then the three calls with it and the documented parameters.
	if len(f.tokenBodies) != 1 {
		t.Fatalf("%d token requests", len(f.tokenBodies))
	}
	if b := f.tokenBodies[0]; b["grant_type"] != "client_credentials" || b["client_id"] != clientID || b["client_secret"] != clientSecret || !strings.HasPrefix(f.tokenCTypes[0], "application/json") {
		t.Errorf("token request %v (%s)", b, f.tokenCTypes[0])
	}
	wantCalls := []string{"/v1/instance-types?currency=usd", "/v1/instance-availability?is_spot=false", "/v1/instance-availability?is_spot=true"}
	if len(f.calls) != len(wantCalls) {
		t.Fatalf("calls %+v", f.calls)
	}
	for i, c := range f.calls {
		q := ""
		for k, v := range c.query {
			q = k + "=" + v[0]
		}
		if c.path+"?"+q != wantCalls[i] || len(c.query) != 1 {
			t.Errorf("call %d: %s %v, want %s", i, c.path, c.query, wantCalls[i])
		}
		if c.auth != "Bearer "+tokenOf(1) {
			t.Errorf("call %d: Authorization %q", i, c.auth)
		}
	}
}

// Worked example: 8H100.80S.176V at price_per_hour "31.60" USD per
// instance-hour is 3.95 USD per GPU-hour; a 3.00 USD/GPU-hour cap is 24.00
// per instance-hour in Verda's unit. Its spot_price "13.60" is a fixed
// price, 1.70 per GPU-hour.
func TestConversion(t *testing.T) {
	qs, err := replay(t, newFake(t), Config{}, venuehttp.Env{}).GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var od, spot procurebot.Quote
	for _, q := range qs {
		if q.Ref == "8H100.80S.176V" {
			if q.SpotKind == procurebot.SpotFixed {
				spot = q
			} else {
				od = q
			}
		}
	}
	if !od.USDPerHour.Equal(d("31.6")) || !od.PerGPU.Equal(d("3.95")) || !od.Billing.ToUSDPerGPUHour.Equal(d("0.125")) || od.Instance != "8H100.80S.176V" {
		t.Fatalf("on-demand %+v", od)
	}
	cap, err := od.BilledCap(d("3.00"))
	if err != nil || !cap.Equal(d("24")) {
		t.Errorf("cap %s %v, want 24.00 per instance-hour", cap, err)
	}
	if spot.Billing.Raw != "13.60" || !spot.PerGPU.Equal(d("1.7")) || spot.Spot != procurebot.SpotTrue {
		t.Errorf("spot %+v", spot)
	}
}

func TestFilters(t *testing.T) {
	f := newFake(t)
	qs, err := replay(t, f, Config{Locations: []string{"FIN-02"}, Types: []string{TypeOnDemand}}, venuehttp.Env{}).GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 3 {
		t.Fatalf("%d quotes, want FIN-02's three", len(qs))
	}
	for _, q := range qs {
		if q.Region != "FIN-02" || q.SpotKind != procurebot.SpotNone {
			t.Errorf("quote %s %s %s", q.Ref, q.Region, q.SpotKind)
		}
	}
	for _, c := range f.calls {
		if c.query["is_spot"] != nil && c.query["is_spot"][0] == "true" {
			t.Errorf("spot availability asked for with types on-demand only")
		}
	}
}

// The token is fetched once and reused until 30 s before it expires.
func TestTokenCached(t *testing.T) {
	f := newFake(t)
	clk := &clock{t: t0}
	s := replay(t, f, Config{}, venuehttp.Env{Clock: clk})
	for i := 0; i < 3; i++ {
		if _, err := s.GPUQuotes(context.Background()); err != nil {
			t.Fatal(err)
		}
		clk.Sleep(context.Background(), 20*time.Minute) // 0, 20, 40 min: within the 3600 s token
	}
	if n := f.tokenRequests(); n != 1 {
		t.Errorf("%d token requests over three fetches in 40 min, want 1", n)
	}
	clk.Sleep(context.Background(), 19*time.Minute+31*time.Second) // 79:31 → past 3600 s − 30 s
	if _, err := s.GPUQuotes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := f.tokenRequests(); n != 2 {
		t.Errorf("%d token requests after expiry, want 2", n)
	}
	last := f.calls[len(f.calls)-1]
	if last.auth != "Bearer "+tokenOf(2) {
		t.Errorf("after renewal Authorization %q, want the new token", last.auth)
	}
}

// A cached token the API refuses (revoked) is dropped, and the fetch is
// retried once with a new one.
func TestTokenRefused(t *testing.T) {
	f := newFake(t)
	s := replay(t, f, Config{}, venuehttp.Env{})
	if _, err := s.GPUQuotes(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.refuse[tokenOf(1)] = true
	f.mu.Unlock()
	qs, err := s.GPUQuotes(context.Background())
	if err != nil || len(qs) != 17 {
		t.Fatalf("%d quotes %v", len(qs), err)
	}
	if n := f.tokenRequests(); n != 2 {
		t.Errorf("%d token requests, want a second after the 401", n)
	}
	// A fresh token refused too is an error, not a loop.
	f.mu.Lock()
	f.refuse[tokenOf(2)], f.refuse[tokenOf(3)] = true, true
	f.mu.Unlock()
	_, err = s.GPUQuotes(context.Background())
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || procurebot.ErrorCode(err) != procurebot.EINVALID {
		t.Fatalf("error %v, want the 401", err)
	}
	if n := f.tokenRequests(); n != 3 {
		t.Errorf("%d token requests, want 3 (one retry, no loop)", n)
	}
}

func TestEmpty(t *testing.T) {
	for _, tc := range []struct{ types, avail string }{{"empty.json", "availability_ondemand.json"}, {"instance_types.json", "empty.json"}} {
		f := newFake(t)
		f.typesFile, f.availFiles = tc.types, map[string]string{"true": tc.avail, "false": tc.avail}
		log, _ := venuetest.Logger()
		qs, err := replay(t, f, Config{}, venuehttp.Env{Logger: log}).GPUQuotes(context.Background())
		if err != nil || len(qs) != 0 {
			t.Fatalf("%+v: %v %v", tc, qs, err)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(f *fake)
		code  string
		want  []string
	}{
		{"bad credentials", func(f *fake) { f.tokenStatus, f.tokenFile = 401, "token_error_401.json" }, procurebot.EINVALID,
			[]string{"datacrunch", "POST", "/v1/oauth2/token", "HTTP 401", "Invalid client credentials"}},
		{"token truncated", func(f *fake) { f.tokenFile = "token_truncated.json" }, procurebot.EINVALID,
			[]string{"datacrunch", "/oauth2/token", "field (body)", "not a JSON token"}},
		{"token missing", func(f *fake) { f.tokenFile = "token_missing.json" }, procurebot.EINVALID,
			[]string{"datacrunch", "/oauth2/token", "field access_token", "missing"}},
		{"rate limited", func(f *fake) { f.typesStatus, f.typesFile = 429, "error_429.json" }, procurebot.EUNAVAILABLE,
			[]string{"datacrunch", "GET", "/v1/instance-types?currency=usd", "HTTP 429", "Rate limit"}},
		{"server error", func(f *fake) {
			f.availStatus, f.availFiles = 500, map[string]string{"true": "error_500.json", "false": "error_500.json"}
		}, procurebot.EUNAVAILABLE,
			[]string{"datacrunch", "GET", "/v1/instance-availability?is_spot=false", "HTTP 500", "server_error"}},
		{"unavailable", func(f *fake) { f.tokenStatus, f.tokenFile = 503, "error_503.json" }, procurebot.EUNAVAILABLE,
			[]string{"datacrunch", "/oauth2/token", "HTTP 503"}},
		{"malformed price", func(f *fake) { f.typesFile = "malformed_price.json" }, procurebot.EINVALID,
			[]string{"datacrunch", "/instance-types", "price_per_hour", "31,60"}},
		{"currency", func(f *fake) { f.typesFile = "currency_eur.json" }, procurebot.EINVALID,
			[]string{"datacrunch", "/instance-types", "[0].currency", "eur"}},
		{"zero spot price", func(f *fake) { f.typesFile = "zero_spot.json" }, procurebot.EINVALID,
			[]string{"datacrunch", "[1].spot_price", "0.00", "not a positive price"}},
		{"no location", func(f *fake) {
			f.availFiles = map[string]string{"true": "availability_no_location.json", "false": "availability_no_location.json"}
		}, procurebot.EINVALID, []string{"datacrunch", "/instance-availability", "[0].location_code", "missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			tc.setup(f)
			log, logs := venuetest.Logger()
			qs, err := replay(t, f, Config{}, venuehttp.Env{Logger: log}).GPUQuotes(context.Background())
			venuetest.CheckError(t, err, tc.code, tc.want, clientSecret, tokenOf(1))
			if qs != nil {
				t.Errorf("partial book %v", qs)
			}
			if !strings.Contains(logs.String(), "venue call") {
				t.Errorf("the calls were not logged: %q", logs.String())
			}
			venuetest.NoSecret(t, logs.String(), clientSecret, tokenOf(1))
		})
	}
}

// Servers that quote the credentials back in their errors leak neither the
// client secret nor the access token into errors or retry logs.
func TestSecretsRedacted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret string
		setup  func(f *fake)
		want   string
	}{
		{"token endpoint", clientSecret, func(f *fake) { f.echo = true }, "/ [redacted]"},
		{"api", tokenOf(1), func(f *fake) {}, "Bearer [redacted]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			tc.setup(f)
			log, logs := venuetest.Logger()
			s := replay(t, f, Config{Config: venuehttp.Config{MaxAttempts: 2}}, venuehttp.Env{Logger: log})
			if tc.name == "api" {
				// Get a token, then have the API quote it back.
				if _, err := s.GPUQuotes(context.Background()); err != nil {
					t.Fatal(err)
				}
				f.mu.Lock()
				f.echo = true
				f.mu.Unlock()
			}
			_, err := s.GPUQuotes(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to show %q", err, tc.want)
			}
			if !strings.Contains(logs.String(), "retrying") {
				t.Errorf("no retry logged: %s", logs.String())
			}
			venuetest.NoSecret(t, err.Error(), tc.secret)
			venuetest.NoSecret(t, logs.String(), tc.secret)
		})
	}
}

func TestConfig(t *testing.T) {
	none := venuehttp.Env{Getenv: func(string) string { return "" }}
	withID := venuehttp.Env{Getenv: func(k string) string {
		if k == "VERDA_CLIENT_ID" {
			return clientID
		}
		return ""
	}}
	for _, tc := range []struct {
		cfg  Config
		env  venuehttp.Env
		want string
	}{
		{Config{}, none, "VERDA_CLIENT_ID"},
		{Config{}, withID, "VERDA_CLIENT_SECRET"},
		{Config{ClientSecret: venuehttp.Credential{Env: "NO_SUCH_VERDA_SECRET"}}, withID, "providers.datacrunch.client_secret.env"},
		{Config{Types: []string{"dynamic"}}, withID, "providers.datacrunch.types"},
		{Config{Types: []string{"spot", "spot"}}, withID, "providers.datacrunch.types"},
		{Config{Locations: []string{"FIN-01", ""}}, withID, "providers.datacrunch.locations[1]"},
		{Config{Config: venuehttp.Config{MaxAttempts: -1}}, withID, "providers.datacrunch.max_attempts"},
	} {
		_, err := New(tc.cfg, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %s", tc.cfg, err, tc.want)
		}
	}
	s, err := New(Config{ClientID: venuehttp.Credential{Value: "id"}, ClientSecret: venuehttp.Credential{Value: "secret"},
		Config: venuehttp.Config{BaseURL: LegacyBaseURL}}, none)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "datacrunch" || s.MaxAge() != 15*time.Minute || s.base != LegacyBaseURL || len(s.types) != 2 {
		t.Errorf("%s %s %s %v", s.Name(), s.MaxAge(), s.base, s.types)
	}
}

// BenchmarkParse parses 300 instance types and their availability in 6
// locations, on-demand and spot.
func BenchmarkParse(b *testing.B) {
	var types []map[string]any
	var names []string
	gpus := []string{"H100 SXM5 80GB", "H200 SXM5 141GB", "A100 SXM4 80GB", "B200 SXM6 180GB", "L40S 48GB", "RTX A6000 48GB"}
	for i := range 300 {
		n := []int{1, 2, 4, 8}[i%4]
		name := fmt.Sprintf("%dX%d.%dV", n, i, 10*n)
		names = append(names, name)
		types = append(types, map[string]any{
			"instance_type": name, "model": "GPU", "name": gpus[i%len(gpus)], "currency": "usd",
			"gpu":            map[string]any{"description": fmt.Sprintf("%dx %s", n, gpus[i%len(gpus)]), "number_of_gpus": n},
			"gpu_memory":     map[string]any{"description": "80GB GPU RAM", "size_in_gigabytes": 80 * n},
			"cpu":            map[string]any{"description": "30 CPU", "number_of_cores": 30},
			"price_per_hour": fmt.Sprintf("%d.%02d", 1+i%30, i%100), "spot_price": fmt.Sprintf("0.%02d", 10+i%90),
			"supported_os": []string{"ubuntu-22.04"}, "storage": map[string]any{"description": "dynamic"},
		})
	}
	var locs []map[string]any
	for _, l := range []string{"FIN-01", "FIN-02", "FIN-03", "ICE-01", "ICE-02", "NOR-01"} {
		locs = append(locs, map[string]any{"location_code": l, "availabilities": names})
	}
	tb, _ := json.Marshal(types)
	ab, _ := json.Marshal(locs)
	c, err := venuehttp.New("datacrunch", DefaultBaseURL, venuehttp.Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	in := input{typesReq: venuehttp.Request{Path: "instance-types"}, types: tb, avail: []avail{
		{spot: false, req: venuehttp.Request{Path: "instance-availability"}, body: ab},
		{spot: true, req: venuehttp.Request{Path: "instance-availability"}, body: ab},
	}}
	b.ReportAllocs()
	b.SetBytes(int64(len(tb) + 2*len(ab)))
	for b.Loop() {
		qs, _, err := parse(c, in, t0)
		if err != nil || len(qs) != 3600 {
			b.Fatalf("%d quotes, %v", len(qs), err)
		}
	}
}

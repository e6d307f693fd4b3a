package ercot

import (
	"bytes"
	"context"
	"fmt"
	"io"
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
	"github.com/procurebot/procurebot/providers/venuehttp"
	"github.com/procurebot/procurebot/providers/venuehttp/venuetest"
)

const (
	subKey   = "sub-key-5f2e9c0b7a"
	username = "buyer@example.com"
	password = "hunter2-pass-XYZ"
	idToken  = "eyJhbGciOiJSUzI1NiIsImtpZCI6IlgiLCJ0eXAiOiJKV1QifQ.ID-TOKEN-SECRET.sig"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Sleep(ctx context.Context, d time.Duration) error { return nil }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var fetched = time.Date(2024, 11, 4, 18, 0, 0, 0, time.UTC)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reply is one canned response.
type reply struct {
	file   string
	status int
}

// fake is an ERCOT API and B2C token endpoint in one server. data picks
// the reply for a report request; token is the token endpoint's reply.
type fake struct {
	t     *testing.T
	data  func(path string, q url.Values) reply
	token reply

	mu          sync.Mutex
	tokenCalls  int
	dataQueries []url.Values
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.t
	var rp reply
	switch {
	case r.URL.Path == "/b2c/token":
		f.tokenCalls++
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("token call %s %s", r.Method, r.Header.Get("Content-Type"))
		}
		if r.Header.Get("Ocp-Apim-Subscription-Key") != "" || r.Header.Get("Authorization") != "" {
			t.Errorf("credentials sent to the token endpoint: %v", r.Header)
		}
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		want := url.Values{
			"grant_type": {"password"}, "username": {username}, "password": {password},
			"scope":     {"openid fec253ea-0d06-4272-a5e6-b478baeecd70 offline_access"},
			"client_id": {"fec253ea-0d06-4272-a5e6-b478baeecd70"}, "response_type": {"id_token"},
		}
		for k, v := range want {
			if form.Get(k) != v[0] {
				t.Errorf("token form %s = %q, want %q", k, form.Get(k), v[0])
			}
		}
		rp = f.token
	case strings.HasPrefix(r.URL.Path, "/api/public-reports/"):
		if got := r.Header.Get("Ocp-Apim-Subscription-Key"); got != subKey {
			t.Errorf("subscription key %q", got)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+idToken {
			t.Errorf("Authorization %q", got)
		}
		f.dataQueries = append(f.dataQueries, r.URL.Query())
		rp = f.data(strings.TrimPrefix(r.URL.Path, "/api/public-reports/"), r.URL.Query())
	default:
		t.Errorf("unexpected %s %s", r.Method, r.URL)
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rp.status)
	w.Write(readFile(t, rp.file))
}

// start serves f and builds a Source on it; log, if not nil, gets the
// client's log lines.
func start(t *testing.T, f *fake, cfg Config, clk *clock, log *zerolog.Logger) *Source {
	t.Helper()
	f.t = t
	if f.token.file == "" {
		f.token = reply{"token.json", 200}
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL + "/api/public-reports"
	cfg.TokenURL = srv.URL + "/b2c/token"
	cfg.MaxAttempts = 1
	cfg.RatePerSecond = 1000
	if clk == nil {
		clk = &clock{t: fetched}
	}
	env := venuehttp.Env{Clock: clk, Getenv: func(k string) string {
		return map[string]string{"ERCOT_SUBSCRIPTION_KEY": subKey, "ERCOT_USERNAME": username, "ERCOT_PASSWORD": password}[k]
	}}
	if log != nil {
		env.Logger = *log
	}
	s, err := New(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pages serves rt_page1..3.json by the page parameter.
func pages(t *testing.T) func(string, url.Values) reply {
	return func(path string, q url.Values) reply {
		if path != "np6-905-cd/spp_node_zone_hub" {
			t.Errorf("path %s", path)
		}
		return reply{"rt_page" + q.Get("page") + ".json", 200}
	}
}

func file(name string) func(string, url.Values) reply {
	return func(string, url.Values) reply { return reply{name, 200} }
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// byStart indexes quotes by their start.
func byStart(qs []procurebot.PowerQuote) map[time.Time]procurebot.PowerQuote {
	m := map[time.Time]procurebot.PowerQuote{}
	for _, q := range qs {
		m[q.Start] = q
	}
	return m
}

// contiguous checks that qs are every step from first, in order.
func contiguous(t *testing.T, qs []procurebot.PowerQuote, first time.Time, step time.Duration) {
	t.Helper()
	for i, q := range qs {
		if want := first.Add(time.Duration(i) * step); !q.Start.Equal(want) {
			t.Fatalf("quote %d starts %s, want %s", i, q.Start, want)
		}
	}
}

// A normal day (2024-11-04, CST) over three pages of 40 rows. Worked
// example: hour ending 1 interval 1 at 24.21 is ERCOT_HB_NORTH
// 2024-11-04T06:00Z, 24.21 USD/MWh, public at the interval end 06:15Z.
func TestRealTimePaged(t *testing.T) {
	f := &fake{data: pages(t)}
	s := start(t, f, Config{PageSize: 40}, nil, nil)
	qs, err := s.PowerQuotes(context.Background(), utc("2024-11-04T06:00:00Z"), utc("2024-11-05T06:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 96 {
		t.Fatalf("%d quotes, want 96", len(qs))
	}
	contiguous(t, qs, utc("2024-11-04T06:00:00Z"), 15*time.Minute)
	for _, q := range qs {
		if err := q.Validate(); err != nil {
			t.Error(err)
		}
		if q.Market != "ERCOT_HB_NORTH" || q.Venue != "ercot" || q.Currency != "USD" || q.Resolution != 15*time.Minute ||
			!q.Published.Equal(q.Start.Add(15*time.Minute)) || !q.FetchedAt.Equal(fetched) || !q.USDPerMWh.Equal(q.Orig) {
			t.Fatalf("quote %+v", q)
		}
	}
	first, last := qs[0], qs[95]
	if first.Raw != "24.21" || !first.USDPerMWh.Equal(dec("24.21")) || !first.Published.Equal(utc("2024-11-04T06:15:00Z")) {
		t.Errorf("first %+v", first)
	}
	if !last.Start.Equal(utc("2024-11-05T05:45:00Z")) || last.Raw != "24.79" {
		t.Errorf("last %+v", last)
	}
	if len(f.dataQueries) != 3 || f.tokenCalls != 1 {
		t.Fatalf("%d data calls, %d token calls", len(f.dataQueries), f.tokenCalls)
	}
	for i, q := range f.dataQueries {
		want := url.Values{"deliveryDateFrom": {"2024-11-04"}, "deliveryDateTo": {"2024-11-04"}, "settlementPoint": {"HB_NORTH"},
			"size": {"40"}, "page": {fmt.Sprint(i + 1)}}
		if q.Encode() != want.Encode() {
			t.Errorf("call %d query %s, want %s", i, q.Encode(), want.Encode())
		}
	}
}

// The fall-back day 2024-11-03 has 25 hours: hour ending 2 comes twice,
// the second time with DSTFlag true (CST). The fixture's fields are in a
// different order from the other fixtures.
func TestFallBack(t *testing.T) {
	f := &fake{data: file("rt_fallback.json")}
	s := start(t, f, Config{}, nil, nil)
	qs, err := s.PowerQuotes(context.Background(), utc("2024-11-03T05:00:00Z"), utc("2024-11-04T06:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 100 {
		t.Fatalf("%d quotes, want 100", len(qs))
	}
	contiguous(t, qs, utc("2024-11-03T05:00:00Z"), 15*time.Minute)
	m := byStart(qs)
	for _, w := range []struct{ start, raw string }{
		{"2024-11-03T05:00:00Z", "20.82"}, // HE1: 00:00 CDT
		{"2024-11-03T06:00:00Z", "23.66"}, // HE2, DSTFlag false: 01:00 CDT
		{"2024-11-03T07:00:00Z", "20.7"},  // HE2, DSTFlag true: 01:00 CST
		{"2024-11-03T08:00:00Z", "17.8"},  // HE3: 02:00 CST
	} {
		if q := m[utc(w.start)]; q.Raw != w.raw {
			t.Errorf("%s: raw %q, want %q", w.start, q.Raw, w.raw)
		}
	}
	hours, err := procurebot.HourlyPower(qs)
	if err != nil {
		t.Fatal(err)
	}
	if len(hours) != 25 {
		t.Errorf("%d hours, want 25", len(hours))
	}
}

// The spring-forward day 2024-03-10 has 23 hours: no hour ending 3.
func TestSpringForward(t *testing.T) {
	f := &fake{data: file("rt_springforward.json")}
	s := start(t, f, Config{}, nil, nil)
	qs, err := s.PowerQuotes(context.Background(), utc("2024-03-10T06:00:00Z"), utc("2024-03-11T05:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 92 {
		t.Fatalf("%d quotes, want 92", len(qs))
	}
	contiguous(t, qs, utc("2024-03-10T06:00:00Z"), 15*time.Minute)
	m := byStart(qs)
	if q := m[utc("2024-03-10T07:45:00Z")]; q.Raw != "25.48" { // HE2 interval 4: 01:45 CST
		t.Errorf("07:45Z %+v", q)
	}
	if q := m[utc("2024-03-10T08:00:00Z")]; q.Raw != "19.78" { // HE4 interval 1: 03:00 CDT
		t.Errorf("08:00Z %+v", q)
	}
}

// The conversion of CPT wall clocks, including the impossible ones.
func TestLocalStart(t *testing.T) {
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	for _, tc := range []struct {
		day          string
		hour, minute int
		repeated     bool
		want, err    string
	}{
		{"2024-07-01", 0, 0, false, "2024-07-01T05:00:00Z", ""},
		{"2024-01-15", 23, 45, false, "2024-01-16T05:45:00Z", ""},
		{"2024-11-03", 1, 15, false, "2024-11-03T06:15:00Z", ""},
		{"2024-11-03", 1, 15, true, "2024-11-03T07:15:00Z", ""},
		{"2024-11-03", 2, 0, false, "2024-11-03T08:00:00Z", ""},
		{"2024-03-10", 1, 45, false, "2024-03-10T07:45:00Z", ""},
		{"2024-03-10", 2, 0, false, "", "does not exist"},
		{"2024-03-10", 3, 0, false, "2024-03-10T08:00:00Z", ""},
		{"2024-07-01", 1, 0, true, "", "not a repeated hour"},
	} {
		got, err := localStart(day(tc.day), tc.hour, tc.minute, tc.repeated)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s %02d:%02d %v: err %v, want %q", tc.day, tc.hour, tc.minute, tc.repeated, err, tc.err)
		case tc.err == "" && (err != nil || !got.Equal(utc(tc.want))):
			t.Errorf("%s %02d:%02d %v: %s %v, want %s", tc.day, tc.hour, tc.minute, tc.repeated, got, err, tc.want)
		}
	}
}

// Day ahead, on the fall-back day: hourly, hour ending "02:00" twice, all
// published at 13:30 CDT the day before (2024-11-02T18:30Z).
func TestDayAhead(t *testing.T) {
	f := &fake{data: func(path string, q url.Values) reply {
		if path != "np4-190-cd/dam_stlmnt_pnt_prices" {
			t.Errorf("path %s", path)
		}
		return reply{"dam_fallback.json", 200}
	}}
	s := start(t, f, Config{Report: DayAhead}, nil, nil)
	qs, err := s.PowerQuotes(context.Background(), utc("2024-11-03T05:00:00Z"), utc("2024-11-04T06:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 25 {
		t.Fatalf("%d quotes, want 25", len(qs))
	}
	contiguous(t, qs, utc("2024-11-03T05:00:00Z"), time.Hour)
	for _, q := range qs {
		if q.Resolution != time.Hour || !q.Published.Equal(utc("2024-11-02T18:30:00Z")) || q.Market != "ERCOT_HB_NORTH" {
			t.Fatalf("quote %+v", q)
		}
		if !q.VisibleAt(utc("2024-11-02T18:30:00Z")) || q.VisibleAt(utc("2024-11-02T18:29:59Z")) {
			t.Fatalf("visibility of %+v", q)
		}
	}
	m := byStart(qs)
	for _, w := range []struct{ start, raw string }{
		{"2024-11-03T05:00:00Z", "16.9"},
		{"2024-11-03T06:00:00Z", "25.02"},
		{"2024-11-03T07:00:00Z", "26.72"},
		{"2024-11-04T05:00:00Z", "22.78"}, // HE24: 23:00 CST
	} {
		if q := m[utc(w.start)]; q.Raw != w.raw {
			t.Errorf("%s: raw %q, want %q", w.start, q.Raw, w.raw)
		}
	}
	if s.MaxAge() != 2*time.Hour {
		t.Errorf("max age %s", s.MaxAge())
	}
}

// Four 15-minute prices make one hourly price, their mean: hour ending 10
// of 2024-11-04 (15:00Z) at 20.17, 17.13, 25.89, 17.08 is 20.0675.
func TestHourly(t *testing.T) {
	f := &fake{data: pages(t)}
	s := start(t, f, Config{PageSize: 40}, nil, nil)
	qs, err := s.PowerQuotes(context.Background(), utc("2024-11-04T15:00:00Z"), utc("2024-11-04T16:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 4 {
		t.Fatalf("%d quotes, want the 4 of the hour", len(qs))
	}
	hours, err := procurebot.HourlyPower(qs)
	if err != nil {
		t.Fatal(err)
	}
	if len(hours) != 1 {
		t.Fatalf("%d hours", len(hours))
	}
	h := hours[0]
	if !h.Start.Equal(utc("2024-11-04T15:00:00Z")) || h.Resolution != time.Hour || !h.USDPerMWh.Equal(dec("20.0675")) ||
		!h.Orig.Equal(dec("20.0675")) || !h.Published.Equal(utc("2024-11-04T16:00:00Z")) || h.Market != "ERCOT_HB_NORTH" {
		t.Errorf("hour %+v", h)
	}
}

func TestEmpty(t *testing.T) {
	f := &fake{data: file("rt_empty.json")}
	s := start(t, f, Config{}, nil, nil)
	qs, err := s.PowerQuotes(context.Background(), utc("2024-11-05T06:00:00Z"), utc("2024-11-06T06:00:00Z"))
	if err != nil || len(qs) != 0 {
		t.Fatalf("%v %v", qs, err)
	}
	if len(f.dataQueries) != 1 {
		t.Errorf("%d calls", len(f.dataQueries))
	}
}

// The id_token is reused until five minutes before its hour is up, and
// replaced when the API refuses it.
func TestToken(t *testing.T) {
	clk := &clock{t: fetched}
	f := &fake{data: file("rt_empty.json")}
	s := start(t, f, Config{}, clk, nil)
	ctx := context.Background()
	from, to := utc("2024-11-05T06:00:00Z"), utc("2024-11-06T06:00:00Z")
	for range 2 {
		if _, err := s.PowerQuotes(ctx, from, to); err != nil {
			t.Fatal(err)
		}
	}
	if f.tokenCalls != 1 {
		t.Fatalf("%d token calls, want 1", f.tokenCalls)
	}
	clk.advance(54 * time.Minute)
	if _, err := s.PowerQuotes(ctx, from, to); err != nil || f.tokenCalls != 1 {
		t.Fatalf("at 54 min: %v, %d token calls", err, f.tokenCalls)
	}
	clk.advance(2 * time.Minute)
	if _, err := s.PowerQuotes(ctx, from, to); err != nil || f.tokenCalls != 2 {
		t.Fatalf("at 56 min: %v, %d token calls, want 2", err, f.tokenCalls)
	}
	// A 401 with a cached token: fetch a new one and try again, once.
	calls := 0
	f.mu.Lock()
	f.data = func(string, url.Values) reply {
		calls++
		if calls == 1 {
			return reply{"error_401.json", 401}
		}
		return reply{"rt_empty.json", 200}
	}
	f.mu.Unlock()
	if _, err := s.PowerQuotes(ctx, from, to); err != nil || f.tokenCalls != 3 || calls != 2 {
		t.Fatalf("after 401: %v, %d token calls, %d data calls", err, f.tokenCalls, calls)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		data  string
		code  int
		token reply
		want  []string
		ecode string
	}{
		{"401", "error_401.json", 401, reply{}, []string{"ercot", "GET", "spp_node_zone_hub", "HTTP 401", "invalid subscription key"}, procurebot.EINVALID},
		{"429", "error_429.json", 429, reply{}, []string{"ercot", "HTTP 429", "Rate limit is exceeded"}, procurebot.EUNAVAILABLE},
		{"400", "error_400.json", 400, reply{}, []string{"ercot", "HTTP 400", "deliveryDateFrom"}, procurebot.EINVALID},
		{"500", "error_500.json", 500, reply{}, []string{"ercot", "HTTP 500", "unexpected error"}, procurebot.EUNAVAILABLE},
		{"malformed price", "malformed.json", 200, reply{}, []string{"ercot", "GET", "spp_node_zone_hub", "settlementPoint=HB_NORTH",
			"field data[5][5] (settlementPointPrice)", `"n/a"`}, procurebot.EINVALID},
		{"missing field", "missing_field.json", 200, reply{}, []string{"ercot", "field fields", "deliveryInterval"}, procurebot.EINVALID},
		{"token refused", "rt_empty.json", 200, reply{"token_error.json", 400}, []string{"ercot", "POST", "/b2c/token", "HTTP 400", "invalid_grant"}, procurebot.EINVALID},
		{"token missing", "rt_empty.json", 200, reply{"token_no_id.json", 200}, []string{"ercot", "POST", "field id_token", "missing"}, procurebot.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, logs := venuetest.Logger()
			f := &fake{data: func(string, url.Values) reply { return reply{tc.data, tc.code} }, token: tc.token}
			s := start(t, f, Config{}, nil, &log)
			qs, err := s.PowerQuotes(context.Background(), utc("2024-11-04T06:00:00Z"), utc("2024-11-05T06:00:00Z"))
			secrets := []string{subKey, username, password, "ID-TOKEN-SECRET", url.QueryEscape(username)}
			venuetest.CheckError(t, err, tc.ecode, tc.want, secrets...)
			if qs != nil {
				t.Errorf("partial book of %d", len(qs))
			}
			if logs.String() == "" {
				t.Error("nothing logged")
			}
			venuetest.NoSecret(t, logs.String(), secrets...)
		})
	}
}

// A row on the spring-forward hour, or a DSTFlag on an ordinary hour, is
// malformed, named by row and field.
func TestImpossibleTimes(t *testing.T) {
	body := func(row string) []byte {
		return []byte(`{"_meta":{"totalRecords":1,"pageSize":10,"totalPages":1,"currentPage":1},` +
			`"fields":[{"name":"deliveryDate"},{"name":"deliveryHour"},{"name":"deliveryInterval"},{"name":"settlementPoint"},` +
			`{"name":"settlementPointType"},{"name":"settlementPointPrice"},{"name":"DSTFlag"}],"data":[` + row + `]}`)
	}
	for _, tc := range []struct{ row, want string }{
		{`["2024-03-10",3,1,"HB_NORTH","HU",21.5,false]`, "data[0][1] (deliveryHour): 2024-03-10 02:00 CPT does not exist"},
		{`["2024-07-10",3,1,"HB_NORTH","HU",21.5,true]`, "data[0][1] (deliveryHour): DSTFlag set"},
		{`["2024-07-10",25,1,"HB_NORTH","HU",21.5,false]`, "data[0][1] (deliveryHour)"},
		{`["2024-07-10",3,5,"HB_NORTH","HU",21.5,false]`, "data[0][2] (deliveryInterval)"},
		{`["07/10/2024",3,1,"HB_NORTH","HU",21.5,false]`, "data[0][0] (deliveryDate)"},
		{`["2024-07-10",3,1,"HB_NORTH","HU",null,false]`, "data[0][5] (settlementPointPrice)"},
		{`["2024-07-10",3,1,"HB_NORTH","HU",21.5]`, "data[0]: 6 values for 7 fields"},
	} {
		_, err := parse(body(tc.row), RealTime, fetched)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.row, err, tc.want)
		}
	}
}

func TestConfig(t *testing.T) {
	full := func(k string) string {
		return map[string]string{"ERCOT_SUBSCRIPTION_KEY": subKey, "ERCOT_USERNAME": username, "ERCOT_PASSWORD": password}[k]
	}
	without := func(name string) func(string) string {
		return func(k string) string {
			if k == name {
				return ""
			}
			return full(k)
		}
	}
	for _, tc := range []struct {
		cfg    Config
		getenv func(string) string
		want   string
	}{
		{Config{}, without("ERCOT_SUBSCRIPTION_KEY"), "ERCOT_SUBSCRIPTION_KEY"},
		{Config{}, without("ERCOT_USERNAME"), "ERCOT_USERNAME"},
		{Config{}, without("ERCOT_PASSWORD"), "ERCOT_PASSWORD"},
		{Config{Report: "hourly"}, full, "providers.ercot.report"},
		{Config{TokenURL: "/relative"}, full, "providers.ercot.token_url"},
		{Config{PageSize: -1}, full, "providers.ercot.page_size"},
		{Config{SettlementPoints: []string{"HB_NORTH", "HB_NORTH"}}, full, "providers.ercot.settlement_points[1]"},
		{Config{SettlementPoints: []string{"HB/NORTH"}}, full, "providers.ercot.settlement_points[0]"},
	} {
		_, err := New(tc.cfg, venuehttp.Env{Getenv: tc.getenv})
		if err == nil || !strings.Contains(err.Error(), tc.want) || procurebot.ErrorCode(err) != procurebot.EINVALID {
			t.Errorf("%+v: err %v, want %s", tc.cfg, err, tc.want)
		}
	}
	s, err := New(Config{}, venuehttp.Env{Getenv: full})
	if err != nil || s.Name() != "ercot" || s.MaxAge() != 30*time.Minute || s.points[0] != "HB_NORTH" || s.report != RealTime {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := s.PowerQuotes(context.Background(), fetched, fetched); procurebot.ErrorCode(err) != procurebot.EINVALID {
		t.Errorf("empty interval: %v", err)
	}
}

// bigPage is one real-time page of days × 96 rows, fields reordered.
func bigPage(days int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"_meta":{"totalRecords":` + fmt.Sprint(days*96) + `,"pageSize":100000,"totalPages":1,"currentPage":1},` +
		`"report":{"reportEMIL":"NP6-905-CD","reportName":"spp_node_zone_hub"},` +
		`"fields":[{"name":"settlementPointPrice"},{"name":"deliveryDate"},{"name":"deliveryHour"},{"name":"deliveryInterval"},` +
		`{"name":"settlementPoint"},{"name":"settlementPointType"},{"name":"DSTFlag"}],"data":[`)
	d0 := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	for d := range days {
		date := d0.AddDate(0, 0, d).Format(time.DateOnly)
		for h := 1; h <= 24; h++ {
			for i := 1; i <= 4; i++ {
				if n > 0 {
					b.WriteByte(',')
				}
				n++
				fmt.Fprintf(&b, `[%d.%02d,"%s",%d,%d,"HB_NORTH","HU",false]`, 15+(d*7+h*3+i)%40, (h*i)%100, date, h, i)
			}
		}
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func BenchmarkParse(b *testing.B) {
	body := bigPage(31)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		p, err := parse(body, RealTime, fetched)
		if err != nil || len(p.quotes) != 31*96 {
			b.Fatal(len(p.quotes), err)
		}
	}
}

package entsoe

import (
	"bytes"
	"context"
	"encoding/csv"
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
	"go.yaml.in/yaml/v3"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
	"github.com/procurebot/procurebot/providers/venuehttp/venuetest"
	"github.com/procurebot/procurebot/sampledata"
)

const token = "3f1c9a77-5e2b-4c0d-9a61-7b2e8d4f0c55"

var fetched = time.Date(2026, 10, 12, 17, 0, 0, 0, time.UTC)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fake replays one file with a status and records the queries.
type fake struct {
	file   string
	status int

	mu      sync.Mutex
	queries []url.Values
}

func start(t *testing.T, f *fake, cfg Config, log *zerolog.Logger) *Source {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.queries = append(f.queries, r.URL.Query())
		f.mu.Unlock()
		if r.URL.Path != "/api" {
			t.Errorf("path %s", r.URL.Path)
		}
		if got := r.Header.Get("Accept"); got != "application/xml" {
			t.Errorf("Accept %q", got)
		}
		switch {
		case strings.HasSuffix(f.file, ".xml"):
			w.Header().Set("Content-Type", "text/xml")
		case strings.HasSuffix(f.file, ".html"):
			w.Header().Set("Content-Type", "text/html")
		}
		w.WriteHeader(f.status)
		w.Write(readFile(t, f.file))
	}))
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL + "/api"
	return build(t, cfg, log)
}

func build(t *testing.T, cfg Config, log *zerolog.Logger) *Source {
	t.Helper()
	if cfg.Zone == "" {
		cfg.Zone = "BE"
	}
	cfg.MaxAttempts = 1
	cfg.RatePerSecond = 1000
	env := venuehttp.Env{Clock: venuetest.Clock{T: fetched}, Getenv: func(k string) string {
		if k == "ENTSOE_TOKEN" {
			return token
		}
		return ""
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

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// recorded is the ENTSOE_BE history of sampledata: hour → (usd, orig).
func recorded(t *testing.T) map[time.Time][2]string {
	t.Helper()
	f, err := sampledata.FS().Open("power/entsoe_be.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	m := map[time.Time][2]string{}
	for _, r := range rows[1:] {
		m[utc(r[0])] = [2]string{r[2], r[3]}
	}
	return m
}

// sameAsRecorded checks hourly quotes against the recorded history.
func sameAsRecorded(t *testing.T, hours []procurebot.PowerQuote, rec map[time.Time][2]string) {
	t.Helper()
	for _, q := range hours {
		r, ok := rec[q.Start]
		if !ok {
			t.Fatalf("no recorded hour %s", q.Start)
		}
		if !q.USDPerMWh.Equal(dec(r[0])) || !q.Orig.Equal(dec(r[1])) {
			t.Errorf("%s: %s USD (%s EUR), recorded %s USD (%s EUR)", q.Start.Format(time.RFC3339), q.USDPerMWh, q.Orig, r[0], r[1])
		}
	}
}

// A full PT60M day: Belgium, 2025-01-01 (CET). Worked example: the first
// hour, 2024-12-31T23:00Z at "10.62" EUR/MWh, is 10.62 × 1.08 = 11.4696
// USD/MWh, public at 12:45 CET the day before (11:45Z); the document's
// createdDateTime (the query, days later) is not its publication.
func TestFullDayPT60M(t *testing.T) {
	f := &fake{file: "a44_be_pt60m.xml", status: 200}
	s := start(t, f, Config{}, nil)
	qs, err := s.PowerQuotes(context.Background(), utc("2024-12-31T23:00:00Z"), utc("2025-01-01T23:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 24 {
		t.Fatalf("%d quotes, want 24", len(qs))
	}
	first := qs[0]
	if !first.Start.Equal(utc("2024-12-31T23:00:00Z")) || first.Raw != "10.62" || !first.Orig.Equal(dec("10.62")) ||
		!first.USDPerMWh.Equal(dec("11.4696")) || first.Currency != "EUR" || first.Resolution != time.Hour ||
		first.Market != "ENTSOE_BE" || first.Venue != "entsoe" || !first.FetchedAt.Equal(fetched) {
		t.Errorf("first %+v", first)
	}
	for i, q := range qs {
		if err := q.Validate(); err != nil {
			t.Error(err)
		}
		if !q.Start.Equal(first.Start.Add(time.Duration(i) * time.Hour)) {
			t.Errorf("quote %d at %s", i, q.Start)
		}
		if !q.Published.Equal(utc("2024-12-31T11:45:00Z")) {
			t.Errorf("quote %d published %s", i, q.Published)
		}
	}
	sameAsRecorded(t, qs, recorded(t))
	want := url.Values{
		"securityToken": {token}, "documentType": {"A44"}, "in_Domain": {"10YBE----------2"}, "out_Domain": {"10YBE----------2"},
		"periodStart": {"202412312300"}, "periodEnd": {"202501012300"}, "contract_MarketAgreement.type": {"A01"},
	}
	if len(f.queries) != 1 || f.queries[0].Encode() != want.Encode() {
		t.Errorf("queries %v, want %v", f.queries, want)
	}
}

// A PT15M day: Belgium 2025-10-05 (CEST). Four quarters average to the
// recorded hourly price. The document was created at 12:41 CEST on
// 2025-10-04, after the 12:00 auction and before the 12:45 rule: the
// prices were public then.
func TestPT15M(t *testing.T) {
	f := &fake{file: "a44_be_pt15m.xml", status: 200}
	s := start(t, f, Config{}, nil)
	qs, err := s.PowerQuotes(context.Background(), utc("2025-10-04T22:00:00Z"), utc("2025-10-05T22:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 96 {
		t.Fatalf("%d quotes, want 96", len(qs))
	}
	for i, q := range qs {
		if q.Resolution != 15*time.Minute || !q.Start.Equal(utc("2025-10-04T22:00:00Z").Add(time.Duration(i)*15*time.Minute)) ||
			!q.Published.Equal(utc("2025-10-04T10:41:07Z")) {
			t.Fatalf("quote %d %+v", i, q)
		}
	}
	// 22:00Z–23:00Z: 0.77, 0.19, 0.45, 0.19 → 0.4 EUR → 0.432 USD.
	hours, err := procurebot.HourlyPower(qs)
	if err != nil {
		t.Fatal(err)
	}
	if len(hours) != 24 {
		t.Fatalf("%d hours", len(hours))
	}
	if h := hours[0]; !h.Orig.Equal(dec("0.4")) || !h.USDPerMWh.Equal(dec("0.432")) || !h.Published.Equal(utc("2025-10-04T10:41:07Z")) {
		t.Errorf("first hour %+v", h)
	}
	sameAsRecorded(t, hours, recorded(t))
}

// One response with PT15M (A03) and PT60M series for the same day: the
// default takes the hourly series, resolution PT15M the quarters — never
// both.
func TestMixed(t *testing.T) {
	from, to := utc("2025-10-04T22:00:00Z"), utc("2025-10-05T22:00:00Z")
	hourly, err := start(t, &fake{file: "a44_be_mixed.xml", status: 200}, Config{}, nil).PowerQuotes(context.Background(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(hourly) != 24 {
		t.Fatalf("default: %d quotes, want the 24 hourly", len(hourly))
	}
	for _, q := range hourly {
		if q.Resolution != time.Hour {
			t.Fatalf("default: %+v", q)
		}
	}
	sameAsRecorded(t, hourly, recorded(t))

	quarters, err := start(t, &fake{file: "a44_be_mixed.xml", status: 200}, Config{Resolution: "PT15M"}, nil).PowerQuotes(context.Background(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	full, err := start(t, &fake{file: "a44_be_pt15m.xml", status: 200}, Config{}, nil).PowerQuotes(context.Background(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(quarters) != 96 || len(full) != 96 {
		t.Fatalf("PT15M: %d quotes, full %d, want 96", len(quarters), len(full))
	}
	// The A03 series, forward-filled, is the full A01 one — including the
	// three trailing quarters it omits.
	for i := range quarters {
		if !quarters[i].Start.Equal(full[i].Start) || !quarters[i].Orig.Equal(full[i].Orig) || quarters[i].Resolution != 15*time.Minute {
			t.Errorf("quarter %d: %s %s, want %s %s", i, quarters[i].Start, quarters[i].Orig, full[i].Start, full[i].Orig)
		}
	}
	if last := quarters[95]; last.Raw != "26.72" || !last.Start.Equal(utc("2025-10-05T21:45:00Z")) {
		t.Errorf("last quarter %+v", last)
	}
	if _, err := procurebot.HourlyPower(append(hourly, quarters...)); err == nil {
		t.Error("HourlyPower accepted both series of one hour; the two configs must not be mixed")
	}
}

// curveType A03 omits repeated prices: Belgium 2025-07-13, four hours at 0
// are one point at position 13.
func TestA03(t *testing.T) {
	body := readFile(t, "a44_be_a03.xml")
	if n := bytes.Count(body, []byte("<Point>")); n != 21 {
		t.Fatalf("fixture has %d points, want 21 of 24", n)
	}
	qs, err := start(t, &fake{file: "a44_be_a03.xml", status: 200}, Config{}, nil).PowerQuotes(context.Background(), utc("2025-07-12T22:00:00Z"), utc("2025-07-13T22:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 24 {
		t.Fatalf("%d quotes, want 24", len(qs))
	}
	for h := 10; h <= 13; h++ {
		q := qs[h-10+12]
		if !q.Start.Equal(time.Date(2025, 7, 13, h, 0, 0, 0, time.UTC)) || q.Raw != "0" || !q.USDPerMWh.IsZero() {
			t.Errorf("%d:00Z %+v", h, q)
		}
	}
	sameAsRecorded(t, qs, recorded(t))
}

// DE-LU carries two series for one day; classification position 1 wins,
// though listed second.
func TestSequences(t *testing.T) {
	qs, err := start(t, &fake{file: "a44_delu_sequences.xml", status: 200}, Config{Zone: "DE_LU"}, nil).PowerQuotes(context.Background(), utc("2025-03-03T23:00:00Z"), utc("2025-03-04T23:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 24 {
		t.Fatalf("%d quotes, want 24", len(qs))
	}
	if qs[0].Raw != "80.00" || qs[1].Raw != "87.13" || qs[23].Raw != "80.99" || qs[0].Market != "ENTSOE_DE_LU" {
		t.Errorf("got %s %s %s %s, want position 1's 80.00 87.13 80.99", qs[0].Market, qs[0].Raw, qs[1].Raw, qs[23].Raw)
	}
}

// Only the asked window is returned, though ENTSO-E answers whole days.
func TestWindow(t *testing.T) {
	f := &fake{file: "a44_be_pt60m.xml", status: 200}
	qs, err := start(t, f, Config{}, nil).PowerQuotes(context.Background(), utc("2025-01-01T09:30:00Z"), utc("2025-01-01T12:10:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 3 || !qs[0].Start.Equal(utc("2025-01-01T10:00:00Z")) || qs[1].Raw != "29.94" || !qs[2].Start.Equal(utc("2025-01-01T12:00:00Z")) {
		t.Fatalf("%+v", qs)
	}
	if q := f.queries[0]; q.Get("periodStart") != "202501010900" || q.Get("periodEnd") != "202501011300" {
		t.Errorf("period %s–%s", q.Get("periodStart"), q.Get("periodEnd"))
	}
}

// "No matching data found" is no prices, with HTTP 200 (today) or 400
// (before 2021).
func TestNoData(t *testing.T) {
	for _, status := range []int{200, 400} {
		qs, err := start(t, &fake{file: "ack_no_data.xml", status: status}, Config{}, nil).PowerQuotes(context.Background(), utc("2026-10-12T22:00:00Z"), utc("2026-10-13T22:00:00Z"))
		if err != nil || len(qs) != 0 {
			t.Errorf("HTTP %d: %v %v", status, qs, err)
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
		{"ack_invalid.xml", 400, procurebot.EINVALID, []string{"HTTP 400", "reason 999: Invalid query attributes or parameters"}},
		{"ack_unauthorized.xml", 401, procurebot.EINVALID, []string{"HTTP 401", "Unauthorized. Missing or invalid security token"}},
		{"ack_invalid.xml", 200, procurebot.EINVALID, []string{"field Acknowledgement_MarketDocument.Reason", "reason 999: Invalid query"}},
		{"error_429.txt", 429, procurebot.EUNAVAILABLE, []string{"HTTP 429", "Too many requests"}},
		{"error_503.html", 503, procurebot.EUNAVAILABLE, []string{"HTTP 503", "Service Temporarily Unavailable"}},
		{"malformed.xml", 200, procurebot.EINVALID, []string{"XML syntax error on line 42", "element <Point> closed by </Period>"}},
		{"bad_price.xml", 200, procurebot.EINVALID, []string{"field TimeSeries[0].Period[0].Point[2].price.amount", `"n/a" is not a price`}},
	} {
		t.Run(fmt.Sprintf("%s_%d", tc.file, tc.status), func(t *testing.T) {
			log, logs := venuetest.Logger()
			qs, err := start(t, &fake{file: tc.file, status: tc.status}, Config{}, &log).PowerQuotes(context.Background(), utc("2024-12-31T23:00:00Z"), utc("2025-01-01T23:00:00Z"))
			venuetest.CheckError(t, err, tc.code, append(tc.want, "entsoe", "GET", "documentType=A44", "securityToken=[redacted]"), token)
			if qs != nil {
				t.Errorf("partial result of %d", len(qs))
			}
			if logs.String() == "" {
				t.Error("nothing logged")
			}
			venuetest.NoSecret(t, logs.String(), token)
		})
	}
}

// A network failure quotes the whole URL in Go's error; the token must be
// redacted there too.
func TestNetworkErrorRedacted(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL + "/api"
	srv.Close()
	log, logs := venuetest.Logger()
	s := build(t, Config{Config: venuehttp.Config{BaseURL: base, Timeout: time.Second}}, &log)
	_, err := s.PowerQuotes(context.Background(), utc("2024-12-31T23:00:00Z"), utc("2025-01-01T23:00:00Z"))
	venuetest.CheckError(t, err, procurebot.EUNAVAILABLE, []string{"redacted"}, token)
	venuetest.NoSecret(t, logs.String(), token)
}

// doc wraps series in a publication document.
func doc(created string, series ...string) []byte {
	return []byte(`<?xml version="1.0" encoding="utf-8"?><Publication_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3">` +
		`<type>A44</type><createdDateTime>` + created + `</createdDateTime>` + strings.Join(series, "") + `</Publication_MarketDocument>`)
}

// series is one TimeSeries with one Period; prices[i] is at position i+1,
// "" omits it.
func series(cur, unit, curve, start, end, res string, prices ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<TimeSeries><currency_Unit.name>%s</currency_Unit.name><price_Measure_Unit.name>%s</price_Measure_Unit.name><curveType>%s</curveType>`+
		`<Period><timeInterval><start>%s</start><end>%s</end></timeInterval><resolution>%s</resolution>`, cur, unit, curve, start, end, res)
	for i, p := range prices {
		if p != "" {
			fmt.Fprintf(&b, `<Point><position>%d</position><price.amount>%s</price.amount></Point>`, i+1, p)
		}
	}
	b.WriteString(`</Period></TimeSeries>`)
	return b.String()
}

func repeat(p string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = p
	}
	return out
}

var beOpts = parseOptions{market: "ENTSOE_BE", prefer: time.Hour, usdPerEUR: dec("1.08")}

func TestParse(t *testing.T) {
	// The fall-back day 2025-10-26 has 25 hours; its prices were public
	// at 12:45 CEST on the 25th.
	qs, err := parse(doc("2025-10-30T08:00:00Z", series("EUR", "MWH", "A01", "2025-10-25T22:00Z", "2025-10-26T23:00Z", "PT60M", repeat("50.5", 25)...)), beOpts, fetched)
	if err != nil || len(qs) != 25 {
		t.Fatalf("fall-back day: %d quotes, %v", len(qs), err)
	}
	for _, q := range qs {
		if !q.Published.Equal(utc("2025-10-25T10:45:00Z")) || !q.USDPerMWh.Equal(dec("54.54")) {
			t.Fatalf("%+v", q)
		}
	}
	// USD needs no rate; A01 with a missing position leaves it out.
	prices := repeat("30", 24)
	prices[5] = ""
	qs, err = parse(doc("", series("USD", "MWH", "A01", "2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", prices...)), beOpts, fetched)
	if err != nil || len(qs) != 23 || !qs[0].USDPerMWh.Equal(dec("30")) || qs[0].Currency != "USD" || !qs[5].Start.Equal(utc("2025-01-02T05:00:00Z")) {
		t.Fatalf("USD with a gap: %d quotes, %v", len(qs), err)
	}
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"currency", doc("", series("PLN", "MWH", "A01", "2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", repeat("400", 24)...)),
			`TimeSeries[0].currency_Unit.name: "PLN"`},
		{"unit", doc("", series("EUR", "KWH", "A01", "2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", repeat("0.1", 24)...)),
			`TimeSeries[0].price_Measure_Unit.name: "KWH"`},
		{"curve", doc("", series("EUR", "MWH", "A02", "2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", repeat("1", 24)...)),
			`TimeSeries[0].curveType`},
		{"resolution", doc("", series("EUR", "MWH", "A01", "2025-01-01T23:00Z", "2025-01-02T23:00Z", "P1D", "1")),
			`TimeSeries[0].Period[0].resolution: "P1D"`},
		{"position", doc("", series("EUR", "MWH", "A01", "2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", repeat("1", 25)...)),
			`TimeSeries[0].Period[0].Point[24].position: "25" is not a position 1–24`},
		{"a03 start", doc("", series("EUR", "MWH", "A03", "2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", append([]string{""}, repeat("1", 23)...)...)),
			`without position 1`},
		{"overlap", doc("", series("EUR", "MWH", "A01", "2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", repeat("1", 24)...),
			series("EUR", "MWH", "A01", "2025-01-02T22:00Z", "2025-01-02T23:00Z", "PT60M", "2")), "periods overlap at 2025-01-02T22:00:00Z"},
		{"twice", doc("", series("EUR", "MWH", "A01", "2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", repeat("1", 24)...),
			series("EUR", "MWH", "A01", "2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", repeat("2", 24)...)), "TimeSeries[1].Period[0]: a second PT60M series"},
		{"type", []byte(`<Publication_MarketDocument><type>A65</type></Publication_MarketDocument>`), `Publication_MarketDocument.type: "A65"`},
		{"root", []byte(`<GL_MarketDocument><type>A65</type></GL_MarketDocument>`), `<GL_MarketDocument> is not a Publication_MarketDocument`},
		{"empty", nil, "no XML document"},
	} {
		_, err := parse(tc.body, beOpts, fetched)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

// Day-ahead visibility: every price of delivery day D is public before D
// begins, never before the 12:00 CET auction of D−1.
func TestPublished(t *testing.T) {
	for _, tc := range []struct{ start, created, want string }{
		{"2025-01-01T10:00:00Z", "", "2024-12-31T11:45:00Z"},                     // CET
		{"2025-07-13T10:00:00Z", "", "2025-07-12T10:45:00Z"},                     // CEST
		{"2025-07-12T22:00:00Z", "", "2025-07-12T10:45:00Z"},                     // 00:00 CEST is day D
		{"2025-07-12T21:45:00Z", "", "2025-07-11T10:45:00Z"},                     // 23:45 CEST is still D−1
		{"2025-07-13T10:00:00Z", "2025-07-12T10:30:00Z", "2025-07-12T10:30:00Z"}, // created after the auction, before 12:45
		{"2025-07-13T10:00:00Z", "2025-07-12T09:59:00Z", "2025-07-12T10:45:00Z"}, // before the auction: impossible, ignored
		{"2025-07-13T10:00:00Z", "2025-07-20T08:00:00Z", "2025-07-12T10:45:00Z"}, // the query time, later
	} {
		var created time.Time
		if tc.created != "" {
			created = utc(tc.created)
		}
		got := published(utc(tc.start), created)
		if !got.Equal(utc(tc.want)) {
			t.Errorf("start %s created %q: %s, want %s", tc.start, tc.created, got, tc.want)
		}
		dayStart := utc(tc.start).In(brussels)
		dayStart = time.Date(dayStart.Year(), dayStart.Month(), dayStart.Day(), 0, 0, 0, 0, brussels)
		if !got.Before(dayStart) {
			t.Errorf("start %s: published %s not before its delivery day %s", tc.start, got, dayStart)
		}
	}
}

func TestConfig(t *testing.T) {
	env := venuehttp.Env{Getenv: func(k string) string {
		if k == "ENTSOE_TOKEN" {
			return token
		}
		return ""
	}}
	zero := dec("0")
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "providers.entsoe.zone"},
		{Config{Zone: "be"}, "providers.entsoe.zone"},
		{Config{Zone: "PL"}, "providers.entsoe.domain: required for zone PL"},
		{Config{Zone: "PL", Domain: "10YPL"}, "providers.entsoe.domain"},
		{Config{Zone: "BE", Resolution: "PT5M"}, "providers.entsoe.resolution"},
		{Config{Zone: "BE", USDPerEUR: &zero}, "providers.entsoe.usd_per_eur"},
		{Config{Zone: "BE", SecurityToken: venuehttp.Credential{Env: "MY_ENTSOE"}}, "providers.entsoe.security_token.env"},
	} {
		_, err := New(tc.cfg, env)
		if err == nil || !strings.Contains(err.Error(), tc.want) || procurebot.ErrorCode(err) != procurebot.EINVALID {
			t.Errorf("%+v: err %v, want %s", tc.cfg, err, tc.want)
		}
	}
	if _, err := New(Config{Zone: "BE"}, venuehttp.Env{Getenv: func(string) string { return "" }}); err == nil || !strings.Contains(err.Error(), "ENTSOE_TOKEN") {
		t.Errorf("missing token: %v", err)
	}
	s, err := New(Config{Zone: "PL", Domain: "10YPL-AREA-----S", USDPerEUR: ptr(dec("1.1"))}, env)
	if err != nil || s.Name() != "entsoe" || s.MaxAge() != 2*time.Hour || s.opts.market != "ENTSOE_PL" || !s.opts.usdPerEUR.Equal(dec("1.1")) || s.opts.prefer != time.Hour {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := s.PowerQuotes(context.Background(), fetched, fetched.Add(400*24*time.Hour)); procurebot.ErrorCode(err) != procurebot.EINVALID {
		t.Errorf("a 400-day query: %v", err)
	}
}

// The YAML section decodes, the rate exactly.
func TestConfigYAML(t *testing.T) {
	var c Config
	d := yaml.NewDecoder(strings.NewReader("security_token: {env: MY_TOKEN}\nzone: BE\nresolution: PT15M\nusd_per_eur: 1.0873\nmax_age: 90m\n"))
	d.KnownFields(true)
	if err := d.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.Zone != "BE" || c.Resolution != "PT15M" || c.USDPerEUR == nil || !c.USDPerEUR.Equal(dec("1.0873")) || c.MaxAge != 90*time.Minute || c.SecurityToken.Env != "MY_TOKEN" {
		t.Fatalf("%+v", c)
	}
}

func ptr[T any](v T) *T { return &v }

// bigDoc is days of PT15M (A03, every third quarter repeated) and PT60M
// series, as one response over a month.
func bigDoc(days int) []byte {
	var ss []string
	d0 := utc("2025-10-31T23:00:00Z")
	for d := range days {
		s, e := d0.AddDate(0, 0, d), d0.AddDate(0, 0, d+1)
		n := int(e.Sub(s) / (15 * time.Minute))
		q := make([]string, n)
		for i := range q {
			if i%3 != 2 {
				q[i] = fmt.Sprintf("%d.%02d", 40+(d*11+i*7)%60, (i*17)%100)
			}
		}
		h := make([]string, n/4)
		for i := range h {
			h[i] = fmt.Sprintf("%d.%02d", 50+(d*5+i*3)%40, (i*31)%100)
		}
		ss = append(ss, series("EUR", "MWH", "A03", s.Format("2006-01-02T15:04Z"), e.Format("2006-01-02T15:04Z"), "PT15M", q...),
			series("EUR", "MWH", "A01", s.Format("2006-01-02T15:04Z"), e.Format("2006-01-02T15:04Z"), "PT60M", h...))
	}
	return doc("2025-10-31T11:00:00Z", ss...)
}

func BenchmarkParse(b *testing.B) {
	body := bigDoc(30)
	o := beOpts
	o.prefer = 15 * time.Minute
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		qs, err := parse(body, o, fetched)
		if err != nil || len(qs) != 30*96 {
			b.Fatal(len(qs), err)
		}
	}
}

// Package ercot reads ERCOT settlement point prices from ERCOT's Public API,
// as power quotes: real-time 15-minute prices (report NP6-905-CD) or
// day-ahead hourly prices (NP4-190-CD).
//
// API (ERCOT Public API, https://apiexplorer.ercot.com and
// https://developer.ercot.com/applications/pubapi/user-guide/; the OpenAPI
// spec ercot/api-specs pubapi/pubapi-apim-api.json; the same calls in
// gridstatus/gridstatus gridstatus/ercot_api/ercot_api.py, whose date
// handling is gridstatus/ercot.py parse_doc):
//
//   - GET {base}/np6-905-cd/spp_node_zone_hub?deliveryDateFrom=yyyy-MM-dd
//     &deliveryDateTo=yyyy-MM-dd&settlementPoint=HB_NORTH&size=N&page=P
//     (real time), or {base}/np4-190-cd/dam_stlmnt_pnt_prices with the
//     same parameters (day ahead).
//   - Both headers are required on every call: Ocp-Apim-Subscription-Key
//     (the primary key of the apiexplorer subscription) and Authorization:
//     Bearer <id_token>.
//   - The id_token comes from Azure B2C's resource-owner password flow: a
//     form POST to the token URL with grant_type=password, username,
//     password, scope=openid <client_id> offline_access, client_id
//     (fec253ea-0d06-4272-a5e6-b478baeecd70, the public API's) and
//     response_type=id_token. It lives one hour and cannot be refreshed; it
//     is cached here for its lifetime (expires_in, at most 3600 s) less five
//     minutes, and dropped when the API answers 401.
//   - The response is {_meta{totalRecords, pageSize, totalPages,
//     currentPage}, report, fields[{name, ...}], data[[...]], _links}: rows
//     are ARRAYS, zipped here with fields by name (never by position). All
//     pages are read.
//
// Columns: real time deliveryDate, deliveryHour (1–24, hour ending),
// deliveryInterval (1–4), settlementPoint, settlementPointType,
// settlementPointPrice, DSTFlag; day ahead deliveryDate, hourEnding
// ("01:00"…"24:00"), settlementPoint, settlementPointPrice, DSTFlag.
//
// Time: ERCOT counts in Central Prevailing Time (America/Chicago). An
// interval starts at deliveryDate + (hour ending − 1) h + (interval − 1) ×
// 15 min local; DSTFlag is true on the repeated hour of the fall-back day
// (the second 01:00–02:00, in CST). On 2024-11-03 hour ending 2 interval 1
// is 06:00Z with DSTFlag false and 07:00Z with it true; hour ending 3 is
// 08:00Z. On the spring-forward day (2024-03-10) hour ending 3 does not
// exist: hour ending 2 starts 07:00Z, hour ending 4 at 08:00Z.
//
// Units: settlementPointPrice is USD per MWh, used as is (USDPerMWh = Orig
// = the price, Currency "USD"). Example: HB_NORTH at 23.41 for 2024-11-04
// hour ending 1 interval 1 is ERCOT_HB_NORTH 2024-11-04T06:00Z, 15 min,
// 23.41 USD/MWh. The market is "ERCOT_" + settlement point, as in the
// recorded history (ERCOT_HB_NORTH).
//
// Publication: a real-time price is public at the end of its interval
// (ERCOT posts it a few minutes later; the end is the earliest it can be
// known, as the simulator's realtime visibility assumes). A day-ahead
// price is public when the day-ahead market results are posted, at 13:30
// Central Prevailing Time the day before delivery (ERCOT's DAM timeline:
// offers close at 10:00, results by 13:30): the rule rather than a guess
// from the fetch time, so that a backfill of past days gets the same
// publication times as a live poll.
package ercot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // America/Chicago even where the system has no zone database

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

// Defaults of the ERCOT Public API.
const (
	DefaultBaseURL  = "https://api.ercot.com/api/public-reports"
	DefaultTokenURL = "https://ercotb2c.b2clogin.com/ercotb2c.onmicrosoft.com/B2C_1_PUBAPI-ROPC-FLOW/oauth2/v2.0/token"
	// ClientID is the Azure B2C client id of ERCOT's public API.
	ClientID = "fec253ea-0d06-4272-a5e6-b478baeecd70"
)

// Venue is the adapter's name.
const Venue = "ercot"

// Report names accepted in Config.Report.
const (
	RealTime = "real_time"
	DayAhead = "day_ahead"
)

const (
	rtPath  = "np6-905-cd/spp_node_zone_hub"
	damPath = "np4-190-cd/dam_stlmnt_pnt_prices"

	tokenLifetime = time.Hour
	tokenMargin   = 5 * time.Minute
	maxPages      = 1000
)

// Config is the providers.ercot section of the config:
//
//	providers:
//	  ercot:
//	    subscription_key: {env: ERCOT_SUBSCRIPTION_KEY}
//	    username: {env: ERCOT_USERNAME}
//	    password: {env: ERCOT_PASSWORD}
//	    report: real_time
//	    settlement_points: [HB_NORTH]
type Config struct {
	venuehttp.Config `yaml:",inline"`
	// SubscriptionKey defaults to the env var ERCOT_SUBSCRIPTION_KEY.
	SubscriptionKey venuehttp.Credential `yaml:"subscription_key"`
	// Username and Password of the ERCOT API account default to the env
	// vars ERCOT_USERNAME and ERCOT_PASSWORD.
	Username venuehttp.Credential `yaml:"username"`
	Password venuehttp.Credential `yaml:"password"`
	// TokenURL is the B2C token endpoint (default DefaultTokenURL).
	TokenURL string `yaml:"token_url"`
	// Report is real_time (default: 15-minute SPPs) or day_ahead (hourly
	// DAM SPPs).
	Report string `yaml:"report"`
	// SettlementPoints are the hubs, load zones or nodes to quote (default
	// [HB_NORTH]).
	SettlementPoints []string `yaml:"settlement_points"`
	// PageSize is the rows asked per page (default 2000).
	PageSize int `yaml:"page_size"`
}

// Source is the ERCOT adapter.
type Source struct {
	c        *venuehttp.Client
	env      venuehttp.Env
	maxAge   time.Duration
	report   string
	points   []string
	pageSize int
	tokenURL string
	subKey   venuehttp.Secret
	user     venuehttp.Secret
	pass     venuehttp.Secret

	mu       sync.Mutex
	token    string
	tokenExp time.Time
}

var chicago = mustLoad("America/Chicago")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // cannot happen: time/tzdata is linked in
	}
	return loc
}

// New builds the adapter; the subscription key, username and password are
// required.
func New(cfg Config, env venuehttp.Env) (*Source, error) {
	if err := cfg.Validate(Venue); err != nil {
		return nil, err
	}
	report := cfg.Report
	if report == "" {
		report = RealTime
	}
	if report != RealTime && report != DayAhead {
		return nil, procurebot.Invalidf("providers.ercot.report: %q is not %s or %s", cfg.Report, RealTime, DayAhead)
	}
	points := cfg.SettlementPoints
	if len(points) == 0 {
		points = []string{"HB_NORTH"}
	}
	seen := map[string]bool{}
	for i, p := range points {
		if p == "" || strings.TrimSpace(p) != p || strings.ContainsAny(p, "/?&#") {
			return nil, procurebot.Invalidf("providers.ercot.settlement_points[%d]: %q is not a settlement point name", i, p)
		}
		if seen[p] {
			return nil, procurebot.Invalidf("providers.ercot.settlement_points[%d]: %s twice", i, p)
		}
		seen[p] = true
	}
	if cfg.PageSize < 0 {
		return nil, procurebot.Invalidf("providers.ercot.page_size: %d must not be negative", cfg.PageSize)
	}
	pageSize := cfg.PageSize
	if pageSize == 0 {
		pageSize = 2000
	}
	tokenURL := cfg.TokenURL
	if tokenURL == "" {
		tokenURL = DefaultTokenURL
	}
	if u, err := url.Parse(tokenURL); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, procurebot.Invalidf("providers.ercot.token_url: %q is not an absolute URL", tokenURL)
	}
	subKey, err := cfg.SubscriptionKey.Resolve(env, "providers.ercot.subscription_key", "ERCOT_SUBSCRIPTION_KEY", true)
	if err != nil {
		return nil, err
	}
	user, err := cfg.Username.Resolve(env, "providers.ercot.username", "ERCOT_USERNAME", true)
	if err != nil {
		return nil, err
	}
	pass, err := cfg.Password.Resolve(env, "providers.ercot.password", "ERCOT_PASSWORD", true)
	if err != nil {
		return nil, err
	}
	// Credentials go in per request (not through the client's auth hook),
	// so that the subscription key is sent to ERCOT only, never to B2C.
	c, err := venuehttp.New(Venue, cfg.URL(DefaultBaseURL), env.Options(cfg.Config, 0.5), nil, subKey, user, pass)
	if err != nil {
		return nil, err
	}
	maxAge := cfg.MaxAge
	if maxAge == 0 {
		maxAge = 30 * time.Minute
		if report == DayAhead {
			maxAge = 2 * time.Hour
		}
	}
	return &Source{
		c: c, env: env, maxAge: maxAge, report: report, points: points, pageSize: pageSize,
		tokenURL: tokenURL, subKey: subKey, user: user, pass: pass,
	}, nil
}

// Name is "ercot".
func (s *Source) Name() string { return Venue }

// MaxAge is the configured staleness bound (default 30 min for real time,
// 2 h for day ahead).
func (s *Source) MaxAge() time.Duration { return s.maxAge }

// idToken returns a cached id_token, or fetches one. fresh reports whether
// it was fetched by this call.
func (s *Source) idToken(ctx context.Context) (tok string, fresh bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.env.Now()
	if s.token != "" && now.Before(s.tokenExp) {
		return s.token, false, nil
	}
	form := url.Values{
		"grant_type":    {"password"},
		"username":      {s.user.Reveal()},
		"password":      {s.pass.Reveal()},
		"scope":         {"openid " + ClientID + " offline_access"},
		"client_id":     {ClientID},
		"response_type": {"id_token"},
	}
	req := venuehttp.Request{
		Method: http.MethodPost, Path: s.tokenURL,
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		Body:   []byte(form.Encode()),
	}
	var r struct {
		IDToken   string           `json:"id_token"`
		ExpiresIn venuehttp.Number `json:"expires_in"`
	}
	if err := s.c.JSON(ctx, req, &r); err != nil {
		return "", false, err
	}
	if r.IDToken == "" {
		return "", false, s.c.Malformed(req, "id_token", "missing from the token response")
	}
	life := tokenLifetime
	if r.ExpiresIn.Set() && r.ExpiresIn.Value.IsPositive() {
		if d := time.Duration(r.ExpiresIn.Value.IntPart()) * time.Second; d < life {
			life = d
		}
	}
	s.token, s.tokenExp = r.IDToken, now.Add(life-tokenMargin)
	return s.token, true, nil
}

func (s *Source) dropToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == tok {
		s.token = ""
	}
}

// get calls the API with both credentials; on a 401 with a cached token it
// fetches a new token and tries once more.
func (s *Source) get(ctx context.Context, req venuehttp.Request) ([]byte, error) {
	for {
		tok, fresh, err := s.idToken(ctx)
		if err != nil {
			return nil, err
		}
		req.Header = http.Header{
			"Authorization":             {"Bearer " + tok},
			"Ocp-Apim-Subscription-Key": {s.subKey.Reveal()},
		}
		body, err := s.c.Do(ctx, req)
		var ve *venuehttp.Error
		if err != nil && errors.As(err, &ve) && ve.Status == http.StatusUnauthorized {
			s.dropToken(tok)
			if !fresh {
				continue
			}
		}
		return body, err
	}
}

// PowerQuotes returns the prices of intervals starting in [from, to) at
// every configured settlement point, sorted by market then start.
func (s *Source) PowerQuotes(ctx context.Context, from, to time.Time) ([]procurebot.PowerQuote, error) {
	if !to.After(from) {
		return nil, procurebot.Invalidf("ercot: interval [%s, %s) is empty", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	path := rtPath
	if s.report == DayAhead {
		path = damPath
	}
	dateFrom := from.In(chicago).Format(time.DateOnly)
	dateTo := to.Add(-time.Nanosecond).In(chicago).Format(time.DateOnly)
	now := s.env.Now()
	var out []procurebot.PowerQuote
	for _, point := range s.points {
		total := 1
		for page := 1; page <= total; page++ {
			req := venuehttp.Request{Path: path, Query: url.Values{
				"deliveryDateFrom": {dateFrom},
				"deliveryDateTo":   {dateTo},
				"settlementPoint":  {point},
				"size":             {strconv.Itoa(s.pageSize)},
				"page":             {strconv.Itoa(page)},
			}}
			body, err := s.get(ctx, req)
			if err != nil {
				return nil, err
			}
			p, err := parse(body, s.report, now)
			if err != nil {
				return nil, s.malformed(req, err)
			}
			if p.currentPage != 0 && p.currentPage != page {
				return nil, s.c.Malformed(req, "_meta.currentPage", "%d, asked for page %d", p.currentPage, page)
			}
			if page == 1 {
				if p.totalPages > maxPages {
					return nil, s.c.Malformed(req, "_meta.totalPages", "%d pages of %d rows; narrow the interval or raise page_size", p.totalPages, s.pageSize)
				}
				total = p.totalPages
			}
			for _, q := range p.quotes {
				if !q.Start.Before(from) && q.Start.Before(to) {
					out = append(out, q)
				}
			}
		}
	}
	procurebot.SortPower(out)
	for i := 1; i < len(out); i++ {
		if out[i].Market == out[i-1].Market && out[i].Start.Equal(out[i-1].Start) {
			return nil, procurebot.Invalidf("ercot: %s interval %s twice in the response", out[i].Market, out[i].Start.Format(time.RFC3339))
		}
	}
	return out, nil
}

func (s *Source) malformed(req venuehttp.Request, err error) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		return s.c.Malformed(req, fe.field, "%s", fe.msg)
	}
	return s.c.Malformed(req, "(body)", "%v", err)
}

// fieldError is a parse failure at a JSON path; the Source turns it into a
// venuehttp Malformed error naming the request.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return "field " + e.field + ": " + e.msg }

func malformedf(field, format string, args ...any) *fieldError {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

type response struct {
	Meta *struct {
		TotalRecords int `json:"totalRecords"`
		PageSize     int `json:"pageSize"`
		TotalPages   int `json:"totalPages"`
		CurrentPage  int `json:"currentPage"`
	} `json:"_meta"`
	Fields []struct {
		Name string `json:"name"`
	} `json:"fields"`
	Data *[][]json.RawMessage `json:"data"`
}

// pageResult is one parsed page.
type pageResult struct {
	quotes                  []procurebot.PowerQuote
	totalPages, currentPage int
}

// columns are the indexes of the needed fields in a row; -1 when absent.
type columns struct {
	date, hour, interval, hourEnding, point, price, dst int
}

// parse turns one page of a report into quotes. report is RealTime or
// DayAhead.
func parse(body []byte, report string, now time.Time) (pageResult, error) {
	var r response
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return pageResult{}, malformedf(te.Field, "%s is not %s", te.Value, te.Type)
		case errors.As(err, &se):
			return pageResult{}, malformedf("(body)", "not JSON at byte %d: %v", se.Offset, se)
		case errors.Is(err, io.EOF):
			return pageResult{}, malformedf("(body)", "empty body")
		default:
			return pageResult{}, malformedf("(body)", "%v", err)
		}
	}
	if r.Meta == nil {
		return pageResult{}, malformedf("_meta", "missing")
	}
	if r.Data == nil {
		return pageResult{}, malformedf("data", "missing")
	}
	res := pageResult{totalPages: r.Meta.TotalPages, currentPage: r.Meta.CurrentPage}
	rows := *r.Data
	if len(rows) == 0 {
		return res, nil
	}
	col := columns{-1, -1, -1, -1, -1, -1, -1}
	for i, f := range r.Fields {
		switch f.Name {
		case "deliveryDate":
			col.date = i
		case "deliveryHour":
			col.hour = i
		case "deliveryInterval":
			col.interval = i
		case "hourEnding":
			col.hourEnding = i
		case "settlementPoint":
			col.point = i
		case "settlementPointPrice":
			col.price = i
		case "DSTFlag":
			col.dst = i
		}
	}
	need := map[string]int{"deliveryDate": col.date, "settlementPoint": col.point, "settlementPointPrice": col.price}
	if report == RealTime {
		need["deliveryHour"], need["deliveryInterval"] = col.hour, col.interval
	} else {
		need["hourEnding"] = col.hourEnding
	}
	for _, name := range []string{"deliveryDate", "deliveryHour", "deliveryInterval", "hourEnding", "settlementPoint", "settlementPointPrice"} {
		if i, ok := need[name]; ok && i < 0 {
			return pageResult{}, malformedf("fields", "no field %q (have %d fields)", name, len(r.Fields))
		}
	}
	res.quotes = make([]procurebot.PowerQuote, 0, len(rows))
	days := map[string]time.Time{}
	for i, row := range rows {
		q, err := parseRow(row, i, len(r.Fields), col, report, now, days)
		if err != nil {
			return pageResult{}, err
		}
		res.quotes = append(res.quotes, q)
	}
	return res, nil
}

// parseRow parses row i; days caches parsed delivery dates.
func parseRow(row []json.RawMessage, i, nfields int, col columns, report string, now time.Time, days map[string]time.Time) (procurebot.PowerQuote, error) {
	at := func(c int, name string) string { return fmt.Sprintf("data[%d][%d] (%s)", i, c, name) }
	if len(row) != nfields {
		return procurebot.PowerQuote{}, malformedf(fmt.Sprintf("data[%d]", i), "%d values for %d fields", len(row), nfields)
	}
	ds, err := cellString(row[col.date])
	if err != nil {
		return procurebot.PowerQuote{}, malformedf(at(col.date, "deliveryDate"), "%v", err)
	}
	day, ok := days[ds]
	if !ok {
		if day, err = parseDate(ds); err != nil {
			return procurebot.PowerQuote{}, malformedf(at(col.date, "deliveryDate"), "%v", err)
		}
		days[ds] = day
	}
	point, err := cellString(row[col.point])
	if err != nil || point == "" {
		return procurebot.PowerQuote{}, malformedf(at(col.point, "settlementPoint"), "%s is not a settlement point", row[col.point])
	}
	var price venuehttp.Number
	if err := price.UnmarshalJSON(row[col.price]); err != nil || !price.Set() {
		return procurebot.PowerQuote{}, malformedf(at(col.price, "settlementPointPrice"), "%s is not a price", row[col.price])
	}
	repeated := false
	if col.dst >= 0 {
		if repeated, err = cellBool(row[col.dst]); err != nil {
			return procurebot.PowerQuote{}, malformedf(at(col.dst, "DSTFlag"), "%v", err)
		}
	}
	var he, minute int
	res := time.Hour
	if report == RealTime {
		if he, err = cellInt(row[col.hour]); err != nil || he < 1 || he > 24 {
			return procurebot.PowerQuote{}, malformedf(at(col.hour, "deliveryHour"), "%s is not an hour ending 1–24", row[col.hour])
		}
		iv, err := cellInt(row[col.interval])
		if err != nil || iv < 1 || iv > 4 {
			return procurebot.PowerQuote{}, malformedf(at(col.interval, "deliveryInterval"), "%s is not an interval 1–4", row[col.interval])
		}
		minute, res = (iv-1)*15, 15*time.Minute
	} else if he, err = hourEnding(row[col.hourEnding]); err != nil {
		return procurebot.PowerQuote{}, malformedf(at(col.hourEnding, "hourEnding"), "%v", err)
	}
	start, err := localStart(day, he-1, minute, repeated)
	if err != nil {
		field := at(col.hour, "deliveryHour")
		if report == DayAhead {
			field = at(col.hourEnding, "hourEnding")
		}
		return procurebot.PowerQuote{}, malformedf(field, "%v", err)
	}
	published := start.Add(res)
	if report == DayAhead {
		published = time.Date(day.Year(), day.Month(), day.Day()-1, 13, 30, 0, 0, chicago).UTC()
	}
	q := procurebot.PowerQuote{
		Market:     "ERCOT_" + point,
		Start:      start,
		Resolution: res,
		USDPerMWh:  price.Value,
		Raw:        price.Raw,
		Currency:   "USD",
		Orig:       price.Value,
		Published:  published,
		Venue:      Venue,
		FetchedAt:  now,
	}
	if err := q.Validate(); err != nil {
		return procurebot.PowerQuote{}, malformedf(fmt.Sprintf("data[%d]", i), "%v", err)
	}
	return q, nil
}

// localStart converts a Central Prevailing Time wall clock (day, hour,
// minute) to UTC. repeated (DSTFlag) picks the second, standard-time
// occurrence of a wall time the fall-back repeats; a wall time the
// spring-forward skips is an error, as is DSTFlag on a time that is not
// repeated.
func localStart(day time.Time, hour, minute int, repeated bool) (time.Time, error) {
	wall := time.Date(day.Year(), day.Month(), day.Day(), hour, minute, 0, 0, time.UTC)
	var cands []time.Time
	for _, probe := range []time.Time{wall.Add(-24 * time.Hour), wall, wall.Add(24 * time.Hour)} {
		_, off := probe.In(chicago).Zone()
		t := wall.Add(-time.Duration(off) * time.Second)
		lt := t.In(chicago)
		if lt.Year() != wall.Year() || lt.YearDay() != wall.YearDay() || lt.Hour() != hour || lt.Minute() != minute {
			continue
		}
		dup := false
		for _, c := range cands {
			dup = dup || c.Equal(t)
		}
		if !dup {
			cands = append(cands, t.UTC())
		}
	}
	if len(cands) == 2 && cands[1].Before(cands[0]) {
		cands[0], cands[1] = cands[1], cands[0]
	}
	label := func() string { return fmt.Sprintf("%s %02d:%02d CPT", day.Format(time.DateOnly), hour, minute) }
	switch {
	case len(cands) == 0:
		return time.Time{}, fmt.Errorf("%s does not exist (the spring-forward hour)", label())
	case len(cands) == 1 && repeated:
		return time.Time{}, fmt.Errorf("DSTFlag set on %s, which is not a repeated hour", label())
	case len(cands) == 1:
		return cands[0], nil
	case repeated:
		return cands[len(cands)-1], nil
	default:
		return cands[0], nil
	}
}

func parseDate(s string) (time.Time, error) {
	if len(s) > 10 && (s[10] == 'T' || s[10] == ' ') {
		s = s[:10]
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date yyyy-MM-dd", s)
	}
	return d, nil
}

func cellString(raw json.RawMessage) (string, error) {
	// Fast path: a plain quoted string with no escapes.
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && bytes.IndexByte(raw[1:n-1], '\\') < 0 && bytes.IndexByte(raw[1:n-1], '"') < 0 {
		return string(raw[1 : n-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s is not a string", raw)
	}
	return s, nil
}

func cellInt(raw json.RawMessage) (int, error) {
	// Fast path: a small unsigned JSON integer.
	if len(raw) > 0 && len(raw) <= 9 {
		v, ok := 0, true
		for _, c := range raw {
			if c < '0' || c > '9' {
				ok = false
				break
			}
			v = v*10 + int(c-'0')
		}
		if ok {
			return v, nil
		}
	}
	var n venuehttp.Number
	if err := n.UnmarshalJSON(raw); err != nil || !n.Set() || !n.Value.IsInteger() {
		return 0, fmt.Errorf("%s is not an integer", raw)
	}
	return int(n.Value.IntPart()), nil
}

// cellBool reads DSTFlag: a JSON boolean, "Y"/"N", "true"/"false", or null
// (false).
func cellBool(raw json.RawMessage) (bool, error) {
	switch strings.ToLower(strings.Trim(string(bytes.TrimSpace(raw)), `"`)) {
	case "true", "y":
		return true, nil
	case "false", "n", "null", "":
		return false, nil
	}
	return false, fmt.Errorf("%s is not a flag", raw)
}

// hourEnding reads a day-ahead hour ending: "01:00"…"24:00", or a number.
func hourEnding(raw json.RawMessage) (int, error) {
	if h, err := cellInt(raw); err == nil {
		if h < 1 || h > 24 {
			return 0, fmt.Errorf("%s is not an hour ending 1–24", raw)
		}
		return h, nil
	}
	s, err := cellString(raw)
	if err != nil {
		return 0, fmt.Errorf("%s is not an hour ending", raw)
	}
	hh, mm, ok := strings.Cut(s, ":")
	h, err := strconv.Atoi(hh)
	if !ok || err != nil || mm != "00" || h < 1 || h > 24 {
		return 0, fmt.Errorf("%q is not an hour ending 01:00–24:00", s)
	}
	return h, nil
}

// Package entsoe reads day-ahead electricity prices from the ENTSO-E
// Transparency Platform (Energy Prices [12.1.D], document type A44), as
// power quotes.
//
// API (ENTSO-E Transparency Platform RESTful API guide,
// https://transparency.entsoe.eu/content/static_content/Static%20content/web%20api/Guide.html;
// the same call and XML in evcc-io/evcc tariff/entsoe/api.go and static.go,
// and in EnergieID/entsoe-py entsoe/entsoe.py and series_parsers.py):
//
//   - GET {base}?securityToken=<token>&documentType=A44&in_Domain=<EIC>
//     &out_Domain=<EIC>&periodStart=yyyyMMddHHmm&periodEnd=yyyyMMddHHmm
//     &contract_MarketAgreement.type=A01 (day ahead, as entsoe-py sends).
//     Times are UTC; one query may span at most a year. The token is a
//     query parameter: it is redacted from every error and log line.
//   - The answer is a Publication_MarketDocument: TimeSeries* with
//     currency_Unit.name (EUR), price_Measure_Unit.name (MWH), curveType,
//     classificationSequence_AttributeInstanceComponent.position and
//     Period*{timeInterval{start, end}, resolution (PT15M, PT30M, PT60M),
//     Point*{position, price.amount}}.
//   - Or an Acknowledgement_MarketDocument with Reason{code, text}. "No
//     matching data found" (code 999, HTTP 200 today, 4xx before 2021 —
//     entsoe-py checks the text in both cases) means no prices: an empty
//     result, not an error. Any other reason is an error naming it (code
//     999 "Invalid query attributes or parameters" comes with HTTP 400;
//     HTTP 401 is a missing or invalid token). evcc treats every
//     acknowledgement as an error; we follow entsoe-py for "no data".
//
// Traps handled:
//   - curveType A03 omits a position whose price repeats the previous
//     one: each point holds until the next present position or the end of
//     its Period (forward fill, as entsoe-py does, per ENTSO-E's
//     "Introduction of different Timeseries possibilities (curvetypes)").
//     A01 lists every position; a missing one is simply absent.
//   - The number of positions is (end − start) / resolution, so a 23- or
//     25-hour day (DST) has 23 or 25 hourly positions (evcc assumes 24).
//   - Since 15-minute day-ahead (delivery from 2025-10-01) one response can
//     carry PT15M and PT60M series for the same period. For each period
//     one resolution is used — Config.Resolution if the period has it,
//     else PT60M, else PT30M, else PT15M — never both, so nothing is
//     counted twice.
//   - Some zones (DE-LU) carry two series of the same resolution,
//     distinguished by classificationSequence position; the lowest
//     position wins (evcc, after dropping series at position 2 by mistake).
//
// Units: price.amount is currency per MWh. EUR is converted at the fixed
// rate Config.USDPerEUR (default 1.08 USD per EUR, the rate the recorded
// ENTSOE_BE history in sampledata was converted at, so live and recorded
// prices compare; set the day's rate for accounting). Raw keeps the price
// as published, Orig it parsed, Currency "EUR". Example: Belgium
// 2025-01-01 00:00 CET (2024-12-31T23:00Z) at "10.62" EUR/MWh is 10.62 ×
// 1.08 = 11.4696 USD/MWh, the recorded value. USD prices are used as is;
// other currencies are an error.
//
// Publication: day-ahead prices of delivery day D (a CET/CEST day, the
// SDAC day) are published after the 12:00 CET auction, at about 12:45 CET
// on D−1. Published is that rule time — unless the document's
// createdDateTime lies between the 12:00 gate closure and 12:45 on D−1,
// which proves an earlier publication. createdDateTime is otherwise not
// the publication time: the platform stamps a document when it answers a
// query (its acknowledgements carry the request time there too), so for
// any query after 12:45 on D−1 it says only when we asked. The rule keeps
// the simulator's day-ahead visibility live: every price of day D is
// public before D begins, and none before the auction.
package entsoe

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Brussels even where the system has no zone database

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

// DefaultBaseURL is the Transparency Platform's API endpoint.
const DefaultBaseURL = "https://web-api.tp.entsoe.eu/api"

// Venue is the adapter's name.
const Venue = "entsoe"

// DefaultUSDPerEUR is the default EUR→USD rate: the one the recorded
// ENTSOE_BE history was converted at.
var DefaultUSDPerEUR = decimal.RequireFromString("1.08")

// Zones maps a few bidding-zone codes to their EIC, so that a config may
// name the zone alone.
var Zones = map[string]string{
	"AT":    "10YAT-APG------L",
	"BE":    "10YBE----------2",
	"DE_LU": "10Y1001A1001A82H",
	"FR":    "10YFR-RTE------C",
	"NL":    "10YNL----------L",
}

// Config is the providers.entsoe section of the config:
//
//	providers:
//	  entsoe:
//	    security_token: {env: ENTSOE_TOKEN}
//	    zone: BE                 # market ENTSOE_BE
//	    domain: 10YBE----------2 # EIC; optional for the zones in Zones
//	    resolution: PT60M
//	    usd_per_eur: 1.08
type Config struct {
	venuehttp.Config `yaml:",inline"`
	// SecurityToken defaults to the env var ENTSOE_TOKEN.
	SecurityToken venuehttp.Credential `yaml:"security_token"`
	// Zone names the market: quotes are for "ENTSOE_" + Zone.
	Zone string `yaml:"zone"`
	// Domain is the bidding zone's EIC code (in_Domain = out_Domain).
	Domain string `yaml:"domain"`
	// Resolution is the series used when a period comes in several:
	// PT60M (the default), PT30M or PT15M.
	Resolution string `yaml:"resolution"`
	// USDPerEUR converts EUR prices (default 1.08).
	USDPerEUR *procurebot.Money `yaml:"usd_per_eur"`
}

// Source is the ENTSO-E adapter.
type Source struct {
	c      *venuehttp.Client
	env    venuehttp.Env
	maxAge time.Duration
	token  venuehttp.Secret
	domain string
	opts   parseOptions
}

// parseOptions is what parse needs besides the body.
type parseOptions struct {
	market    string
	prefer    time.Duration
	usdPerEUR decimal.Decimal
}

var (
	brussels = mustLoad("Europe/Brussels")
	zoneRE   = regexp.MustCompile(`^[A-Z0-9_]+$`)
	eicRE    = regexp.MustCompile(`^[0-9A-Z][0-9A-Z\-]{15}$`)
)

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // cannot happen: time/tzdata is linked in
	}
	return loc
}

// New builds the adapter; the token and the zone are required.
func New(cfg Config, env venuehttp.Env) (*Source, error) {
	if err := cfg.Validate(Venue); err != nil {
		return nil, err
	}
	if !zoneRE.MatchString(cfg.Zone) {
		return nil, procurebot.Invalidf("providers.entsoe.zone: %q is not a zone code (BE, DE_LU, ...)", cfg.Zone)
	}
	domain := cfg.Domain
	if domain == "" {
		domain = Zones[cfg.Zone]
		if domain == "" {
			return nil, procurebot.Invalidf("providers.entsoe.domain: required for zone %s (its EIC code, e.g. 10YBE----------2)", cfg.Zone)
		}
	}
	if !eicRE.MatchString(domain) {
		return nil, procurebot.Invalidf("providers.entsoe.domain: %q is not a 16-character EIC code", domain)
	}
	prefer := time.Hour
	if cfg.Resolution != "" {
		d, ok := resolution(cfg.Resolution)
		if !ok {
			return nil, procurebot.Invalidf("providers.entsoe.resolution: %q is not PT15M, PT30M or PT60M", cfg.Resolution)
		}
		prefer = d
	}
	rate := DefaultUSDPerEUR
	if cfg.USDPerEUR != nil {
		rate = *cfg.USDPerEUR
	}
	if !rate.IsPositive() {
		return nil, procurebot.Invalidf("providers.entsoe.usd_per_eur: %s must be positive", rate)
	}
	token, err := cfg.SecurityToken.Resolve(env, "providers.entsoe.security_token", "ENTSOE_TOKEN", true)
	if err != nil {
		return nil, err
	}
	opts := env.Options(cfg.Config, 1)
	opts.HTTP = ackClient(env.HTTP)
	c, err := venuehttp.New(Venue, cfg.URL(DefaultBaseURL), opts, nil, token)
	if err != nil {
		return nil, err
	}
	maxAge := cfg.MaxAge
	if maxAge == 0 {
		maxAge = 2 * time.Hour
	}
	return &Source{
		c: c, env: env, maxAge: maxAge, token: token, domain: domain,
		opts: parseOptions{market: "ENTSOE_" + cfg.Zone, prefer: prefer, usdPerEUR: rate},
	}, nil
}

// Name is "entsoe".
func (s *Source) Name() string { return Venue }

// MaxAge is the configured staleness bound (default 2 h: prices change
// once a day).
func (s *Source) MaxAge() time.Duration { return s.maxAge }

// PowerQuotes returns the day-ahead prices of intervals starting in [from,
// to), sorted by start. Days not yet auctioned are absent.
func (s *Source) PowerQuotes(ctx context.Context, from, to time.Time) ([]procurebot.PowerQuote, error) {
	if !to.After(from) {
		return nil, procurebot.Invalidf("entsoe: interval [%s, %s) is empty", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if to.Sub(from) > 366*24*time.Hour {
		return nil, procurebot.Invalidf("entsoe: interval [%s, %s) is longer than the year one query may span", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	start := from.UTC().Truncate(time.Hour)
	end := to.UTC().Truncate(time.Hour)
	if end.Before(to) {
		end = end.Add(time.Hour)
	}
	req := venuehttp.Request{
		Query: url.Values{
			"securityToken":                 {s.token.Reveal()},
			"documentType":                  {"A44"},
			"in_Domain":                     {s.domain},
			"out_Domain":                    {s.domain},
			"periodStart":                   {start.Format("200601021504")},
			"periodEnd":                     {end.Format("200601021504")},
			"contract_MarketAgreement.type": {"A01"},
		},
		Header: http.Header{"Accept": {"application/xml"}},
	}
	body, err := s.c.Do(ctx, req)
	if err != nil {
		var ve *venuehttp.Error
		if errors.As(err, &ve) && ve.Status >= 400 && ve.Status < 500 && strings.Contains(ve.Msg, noData) {
			return nil, nil // the pre-2021 way of saying "no data"
		}
		return nil, err
	}
	qs, err := parse(body, s.opts, s.env.Now())
	if err != nil {
		var fe *fieldError
		var ae *ackError
		switch {
		case errors.As(err, &ae):
			return nil, s.c.Malformed(req, "Acknowledgement_MarketDocument.Reason", "%s", ae.reason)
		case errors.As(err, &fe):
			return nil, s.c.Malformed(req, fe.field, "%s", fe.msg)
		default:
			return nil, s.c.Malformed(req, "(body)", "%v", err)
		}
	}
	out := qs[:0]
	for _, q := range qs {
		if !q.Start.Before(from) && q.Start.Before(to) {
			out = append(out, q)
		}
	}
	return out, nil
}

const noData = "No matching data found"

// fieldError is a parse failure at an XML element; the Source turns it
// into a venuehttp Malformed error naming the request.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return "element " + e.field + ": " + e.msg }

func malformedf(field, format string, args ...any) *fieldError {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// ackError is an acknowledgement other than "no data".
type ackError struct{ reason string }

func (e *ackError) Error() string { return "acknowledgement: " + e.reason }

type ackDoc struct {
	Reasons []struct {
		Code string `xml:"code"`
		Text string `xml:"text"`
	} `xml:"Reason"`
}

func (a ackDoc) reason() string {
	var parts []string
	for _, r := range a.Reasons {
		code, text := strings.TrimSpace(r.Code), strings.TrimSpace(r.Text)
		switch {
		case code != "" && text != "":
			parts = append(parts, "reason "+code+": "+text)
		case text != "":
			parts = append(parts, text)
		case code != "":
			parts = append(parts, "reason "+code)
		}
	}
	if len(parts) == 0 {
		return "no reason given"
	}
	return strings.Join(parts, "; ")
}

type pubDoc struct {
	Type            string       `xml:"type"`
	CreatedDateTime string       `xml:"createdDateTime"`
	TimeSeries      []timeSeries `xml:"TimeSeries"`
}

type timeSeries struct {
	Currency  string   `xml:"currency_Unit.name"`
	PriceUnit string   `xml:"price_Measure_Unit.name"`
	CurveType string   `xml:"curveType"`
	Position  string   `xml:"classificationSequence_AttributeInstanceComponent.position"`
	Periods   []period `xml:"Period"`
}

type period struct {
	Start      string  `xml:"timeInterval>start"`
	End        string  `xml:"timeInterval>end"`
	Resolution string  `xml:"resolution"`
	Points     []point `xml:"Point"`
}

type point struct {
	Position string `xml:"position"`
	Price    string `xml:"price.amount"`
}

// candidate is one Period, checked, with what selection needs.
type candidate struct {
	field      string // TimeSeries[i].Period[j]
	start, end time.Time
	res        time.Duration
	seq        int
	a03        bool
	toUSD      decimal.Decimal
	currency   string
	points     []point
}

// parse turns an A44 answer into quotes sorted by start. An
// acknowledgement of no data is no quotes; another acknowledgement is an
// *ackError; anything malformed a *fieldError naming the element.
func parse(body []byte, o parseOptions, now time.Time) ([]procurebot.PowerQuote, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	var root xml.StartElement
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, xmlError(err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			root = se
			break
		}
	}
	switch root.Name.Local {
	case "Acknowledgement_MarketDocument":
		var a ackDoc
		if err := dec.DecodeElement(&a, &root); err != nil {
			return nil, xmlError(err)
		}
		r := a.reason()
		if strings.Contains(r, noData) {
			return nil, nil
		}
		return nil, &ackError{reason: r}
	case "Publication_MarketDocument":
	default:
		return nil, malformedf("(root)", "<%s> is not a Publication_MarketDocument", root.Name.Local)
	}
	var doc pubDoc
	if err := dec.DecodeElement(&doc, &root); err != nil {
		return nil, xmlError(err)
	}
	if t := strings.TrimSpace(doc.Type); t != "A44" {
		return nil, malformedf("Publication_MarketDocument.type", "%q is not A44 (day-ahead prices)", t)
	}
	var created time.Time
	if s := strings.TrimSpace(doc.CreatedDateTime); s != "" {
		created, _ = parseTime(s) // only a hint; a bad one is ignored
	}
	cands, err := candidates(doc, o)
	if err != nil {
		return nil, err
	}
	chosen, err := choose(cands, o.prefer)
	if err != nil {
		return nil, err
	}
	var out []procurebot.PowerQuote
	for _, c := range chosen {
		qs, err := expand(c, o, created, now)
		if err != nil {
			return nil, err
		}
		out = append(out, qs...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	for i := 1; i < len(out); i++ {
		if out[i].Start.Equal(out[i-1].Start) {
			return nil, malformedf("TimeSeries.Period", "periods overlap at %s", out[i].Start.Format(time.RFC3339))
		}
	}
	return out, nil
}

func xmlError(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return malformedf("(body)", "%v", se) // "XML syntax error on line 42: element <Point> closed by </Period>"
	}
	if errors.Is(err, io.EOF) {
		return malformedf("(body)", "no XML document")
	}
	return malformedf("(body)", "%v", err)
}

// candidates checks every Period of every TimeSeries.
func candidates(doc pubDoc, o parseOptions) ([]candidate, error) {
	var out []candidate
	for i, ts := range doc.TimeSeries {
		f := fmt.Sprintf("TimeSeries[%d]", i)
		if u := strings.TrimSpace(ts.PriceUnit); u != "MWH" {
			return nil, malformedf(f+".price_Measure_Unit.name", "%q is not MWH", u)
		}
		cur := strings.TrimSpace(ts.Currency)
		var toUSD decimal.Decimal
		switch cur {
		case "EUR":
			toUSD = o.usdPerEUR
		case "USD":
			toUSD = decimal.NewFromInt(1)
		default:
			return nil, malformedf(f+".currency_Unit.name", "%q: no USD rate (EUR converts at usd_per_eur)", cur)
		}
		var a03 bool
		switch ct := strings.TrimSpace(ts.CurveType); ct {
		case "A01", "":
		case "A03":
			a03 = true
		default:
			return nil, malformedf(f+".curveType", "%q is not A01 or A03", ct)
		}
		seq := 1
		if s := strings.TrimSpace(ts.Position); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return nil, malformedf(f+".classificationSequence_AttributeInstanceComponent.position", "%q is not a position", s)
			}
			seq = n
		}
		if len(ts.Periods) == 0 {
			return nil, malformedf(f+".Period", "missing")
		}
		for j, p := range ts.Periods {
			pf := fmt.Sprintf("%s.Period[%d]", f, j)
			start, err := parseTime(p.Start)
			if err != nil {
				return nil, malformedf(pf+".timeInterval.start", "%v", err)
			}
			end, err := parseTime(p.End)
			if err != nil {
				return nil, malformedf(pf+".timeInterval.end", "%v", err)
			}
			res, ok := resolution(p.Resolution)
			if !ok {
				return nil, malformedf(pf+".resolution", "%q is not PT15M, PT30M or PT60M", strings.TrimSpace(p.Resolution))
			}
			if !end.After(start) || end.Sub(start)%res != 0 {
				return nil, malformedf(pf+".timeInterval", "%s–%s is not a whole number of %s", p.Start, p.End, p.Resolution)
			}
			out = append(out, candidate{field: pf, start: start, end: end, res: res, seq: seq, a03: a03,
				toUSD: toUSD, currency: cur, points: p.Points})
		}
	}
	return out, nil
}

// choose keeps, for each delivery period, one resolution (prefer, else the
// coarsest) and of that the lowest classification sequence.
func choose(cands []candidate, prefer time.Duration) ([]candidate, error) {
	type key struct{ start, end time.Time }
	groups := map[key][]candidate{}
	var order []key
	for _, c := range cands {
		k := key{c.start, c.end}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], c)
	}
	var out []candidate
	for _, k := range order {
		g := groups[k]
		res := time.Duration(0)
		for _, c := range g {
			switch {
			case c.res == prefer:
				res = prefer
			case res != prefer && c.res > res:
				res = c.res
			}
		}
		var best *candidate
		for i := range g {
			c := &g[i]
			if c.res != res {
				continue
			}
			switch {
			case best == nil || c.seq < best.seq:
				best = c
			case c.seq == best.seq:
				return nil, malformedf(c.field, "a second %s series for %s–%s at classification position %d (first %s)",
					fmtRes(res), k.start.Format(time.RFC3339), k.end.Format(time.RFC3339), c.seq, best.field)
			}
		}
		out = append(out, *best)
	}
	return out, nil
}

// expand turns a Period into one quote per interval, forward-filling the
// positions an A03 curve omits.
func expand(c candidate, o parseOptions, created, now time.Time) ([]procurebot.PowerQuote, error) {
	n := int(c.end.Sub(c.start) / c.res)
	slots := make([]int, n) // index+1 into c.points; 0 = absent
	for k, p := range c.points {
		f := fmt.Sprintf("%s.Point[%d]", c.field, k)
		pos, err := strconv.Atoi(strings.TrimSpace(p.Position))
		if err != nil || pos < 1 || pos > n {
			return nil, malformedf(f+".position", "%q is not a position 1–%d", p.Position, n)
		}
		if slots[pos-1] != 0 {
			return nil, malformedf(f+".position", "position %d twice", pos)
		}
		slots[pos-1] = k + 1
	}
	prices := make([]decimal.Decimal, len(c.points))
	for k, p := range c.points {
		v, err := decimal.NewFromString(strings.TrimSpace(p.Price))
		if err != nil {
			return nil, malformedf(fmt.Sprintf("%s.Point[%d].price.amount", c.field, k), "%q is not a price", p.Price)
		}
		prices[k] = v
	}
	if c.a03 && n > 0 && slots[0] == 0 {
		return nil, malformedf(c.field+".Point", "curveType A03 without position 1: nothing to carry forward")
	}
	out := make([]procurebot.PowerQuote, 0, n)
	cur := 0
	for pos := range n {
		if slots[pos] != 0 {
			cur = slots[pos]
		} else if !c.a03 {
			continue // A01: a missing position is a missing price
		}
		p := c.points[cur-1]
		start := c.start.Add(time.Duration(pos) * c.res)
		q := procurebot.PowerQuote{
			Market:     o.market,
			Start:      start,
			Resolution: c.res,
			USDPerMWh:  prices[cur-1].Mul(c.toUSD),
			Raw:        strings.TrimSpace(p.Price),
			Currency:   c.currency,
			Orig:       prices[cur-1],
			Published:  published(start, created),
			Venue:      Venue,
			FetchedAt:  now,
		}
		if err := q.Validate(); err != nil {
			return nil, malformedf(c.field, "%v", err)
		}
		out = append(out, q)
	}
	return out, nil
}

// published is when the day-ahead price of the interval starting at start
// became public: 12:45 Brussels time the day before its delivery day, or
// the document's creation if that falls between the 12:00 gate closure and
// then.
func published(start, created time.Time) time.Time {
	l := start.In(brussels)
	rule := time.Date(l.Year(), l.Month(), l.Day()-1, 12, 45, 0, 0, brussels)
	gate := time.Date(l.Year(), l.Month(), l.Day()-1, 12, 0, 0, 0, brussels)
	if !created.IsZero() && !created.Before(gate) && created.Before(rule) {
		return created.UTC()
	}
	return rule.UTC()
}

// parseTime reads ENTSO-E's "2024-12-31T23:00Z" (or with seconds).
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02T15:04Z07:00", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time yyyy-MM-ddTHH:mmZ", s)
}

// resolution reads an ISO 8601 duration of minutes or one hour that
// divides an hour.
func resolution(s string) (time.Duration, bool) {
	switch strings.TrimSpace(s) {
	case "PT15M":
		return 15 * time.Minute, true
	case "PT30M":
		return 30 * time.Minute, true
	case "PT60M", "PT1H":
		return time.Hour, true
	}
	return 0, false
}

func fmtRes(d time.Duration) string { return fmt.Sprintf("PT%dM", int(d/time.Minute)) }

// ackClient returns http (or a default client) with a transport that
// shortens a 4xx acknowledgement to its Reason, so that the venuehttp
// error — which keeps only the start of a body — says why ENTSO-E refused
// ("Invalid query attributes or parameters", "Unauthorized ...").
func ackClient(hc *http.Client) *http.Client {
	c := &http.Client{}
	if hc != nil {
		*c = *hc
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = ackTransport{base: base}
	return c
}

type ackTransport struct{ base http.RoundTripper }

func (t ackTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.StatusCode < 400 || resp.StatusCode >= 500 {
		return resp, err
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if rerr == nil && bytes.Contains(body, []byte("Acknowledgement_MarketDocument")) {
		var a ackDoc
		if xml.Unmarshal(body, &a) == nil {
			body = []byte("Acknowledgement_MarketDocument: " + a.reason())
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

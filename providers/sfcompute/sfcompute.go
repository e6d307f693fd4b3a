// Package sfcompute reads SF Compute's forward market as GPU quotes: for
// each configured request (instance type, nodes, duration, start) it asks
// the order book what a buy would cost now.
//
// API: GET {base}/v0/quote?side=buy&instance_type=h100i&quantity=N
// &min_start_date=NOW|ISO&max_start_date=NOW|ISO&min_duration=S
// &max_duration=S with "Authorization: Bearer <token>". The shapes follow
// the official CLI, sfcompute/cli: src/helpers/quote.ts (getQuote and
// getPricePerGpuHourFromQuote), src/schema.ts (quoter_QuoteRequestParams,
// quoter_ApiQuoteResponse, quoter_ApiQuoteDetails, quoter_NoQuoteReason,
// quoter_*Error), src/helpers/units.ts (roundDateUpToNextMinute,
// roundStartDate) and src/lib/constants.ts (GPUS_PER_NODE = 8). The
// response is {object:"quote", side:"buy", quote:{price, quantity,
// start_at, end_at, instance_type, zone} | null, no_quote_reason}. A null
// quote with a known no_quote_reason (no_matching_clusters,
// no_availability, bid_price_too_low, ask_price_too_high,
// internal_solver_error) means no quote for that request, which is logged;
// a null quote without a known reason is malformed. Durations are at least
// 3600 s; when the API is given one duration it widens it to [d, d+59 min],
// which is also this adapter's default window.
//
// Units: price is TOTAL US cents for the whole block (quantity nodes × 8
// GPUs × the quote's own term), so the price per GPU-hour is
// price / 100 / 8 / quantity / hours, hours taken from the returned
// start_at and end_at, not from the requested duration (the market may
// quote a longer block inside the window). start_at "NOW" means the start
// of the next minute, as the CLI reads it. Worked example: 1690 cents for 1
// node from 17:00 to 18:00 is 16.90 USD/h for the 8-GPU node and exactly
// 2.1125 USD per GPU-hour; the billing factor is 1/(100·8·1·1) = 0.00125,
// so a 2.00 USD/GPU-hour cap is a 1600-cent limit price for that block.
// Blocks are not interruptible (no spot) and every quote records its Term.
package sfcompute

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

// DefaultBaseURL is SF Compute's API root.
const DefaultBaseURL = "https://api.sfcompute.com"

// GPUsPerNode is the GPU count of one SF Compute node (CLI constants.ts).
const GPUsPerNode = 8

// Venue is the adapter's name and the quotes' provider.
const Venue = "sfcompute"

// MinDuration is the shortest block the quote API accepts (3600 s).
const MinDuration = time.Hour

// defaultFlex widens a duration the way the API widens its duration
// parameter: [d, d+59 min].
const defaultFlex = 59 * time.Minute

// noQuoteReasons are the documented reasons for a null quote
// (quoter_NoQuoteReason).
var noQuoteReasons = map[string]bool{
	"no_matching_clusters":  true,
	"no_availability":       true,
	"bid_price_too_low":     true,
	"ask_price_too_high":    true,
	"internal_solver_error": true,
}

// Request is one block to quote. Each becomes at most one quote.
type Request struct {
	// InstanceType is the market's instance type: h100i, h100v, h200ki.
	InstanceType string `yaml:"instance_type"`
	// Quantity is the number of 8-GPU nodes (1–1024).
	Quantity int `yaml:"quantity"`
	// Duration is the shortest block to quote (at least 1h, whole minutes).
	Duration time.Duration `yaml:"duration"`
	// MaxDuration is the longest block the market may quote instead
	// (default Duration + 59m, as the API widens a single duration).
	MaxDuration time.Duration `yaml:"max_duration"`
	// Start is "now" (the default) or an offset such as "24h"; an offset
	// start is rounded up to the hour as the CLI does (roundStartDate).
	Start string `yaml:"start"`
	// Cluster optionally pins the quote to one cluster (a hostname).
	Cluster string `yaml:"cluster"`
}

// Config is the providers.sfcompute section of the config.
//
//	providers:
//	  sfcompute:
//	    api_key: {env: SFC_API_KEY}
//	    requests:
//	      - {instance_type: h100i, quantity: 1, duration: 1h}
//	      - {instance_type: h100i, quantity: 1, duration: 24h, start: 24h}
type Config struct {
	venuehttp.Config `yaml:",inline"`
	// APIKey is the bearer token; it defaults to the env var SFC_API_KEY.
	APIKey venuehttp.Credential `yaml:"api_key"`
	// Requests are the blocks to quote (default one h100i node for 1h
	// starting now).
	Requests []Request `yaml:"requests"`
}

// Source is the SF Compute adapter.
type Source struct {
	c      *venuehttp.Client
	env    venuehttp.Env
	log    zerolog.Logger
	maxAge time.Duration
	reqs   []Request
}

// DefaultRequests is what is quoted when the config lists no request.
var DefaultRequests = []Request{{InstanceType: "h100i", Quantity: 1, Duration: time.Hour, Start: "now"}}

// New builds the adapter; the token is required.
func New(cfg Config, env venuehttp.Env) (*Source, error) {
	if err := cfg.Validate(Venue); err != nil {
		return nil, err
	}
	reqs := cfg.Requests
	if len(reqs) == 0 {
		reqs = DefaultRequests
	}
	norm := make([]Request, len(reqs))
	for i, r := range reqs {
		n, err := normalise(i, r)
		if err != nil {
			return nil, err
		}
		norm[i] = n
	}
	key, err := cfg.APIKey.Resolve(env, "providers.sfcompute.api_key", "SFC_API_KEY", true)
	if err != nil {
		return nil, err
	}
	opts := env.Options(cfg.Config, 1)
	if cfg.Timeout == 0 {
		// The market's solver is slow; the CLI waits up to 600 s.
		opts.Timeout = 90 * time.Second
	}
	c, err := venuehttp.New(Venue, cfg.URL(DefaultBaseURL), opts,
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key.Reveal()) }, key)
	if err != nil {
		return nil, err
	}
	maxAge := cfg.MaxAge
	if maxAge == 0 {
		maxAge = 10 * time.Minute
	}
	return &Source{c: c, env: env, log: env.Logger.With().Str("venue", Venue).Logger(), maxAge: maxAge, reqs: norm}, nil
}

func normalise(i int, r Request) (Request, error) {
	field := "providers.sfcompute.requests[" + strconv.Itoa(i) + "]"
	r.InstanceType = strings.TrimSpace(r.InstanceType)
	r.Start = strings.TrimSpace(r.Start)
	switch {
	case r.InstanceType == "":
		return r, procurebot.Invalidf("%s.instance_type: required (h100i, h100v, h200ki)", field)
	case procurebot.GPUClassOf(r.InstanceType) == "":
		return r, procurebot.Invalidf("%s.instance_type: %q names no GPU class", field, r.InstanceType)
	case r.Quantity < 1 || r.Quantity > 1024:
		return r, procurebot.Invalidf("%s.quantity: %d nodes must be 1–1024", field, r.Quantity)
	case r.Duration < MinDuration:
		return r, procurebot.Invalidf("%s.duration: %s is shorter than the market's minimum %s", field, r.Duration, MinDuration)
	case r.Duration%time.Minute != 0:
		return r, procurebot.Invalidf("%s.duration: %s is not a whole number of minutes", field, r.Duration)
	}
	if r.MaxDuration == 0 {
		r.MaxDuration = r.Duration + defaultFlex
	}
	switch {
	case r.MaxDuration < r.Duration:
		return r, procurebot.Invalidf("%s.max_duration: %s is shorter than duration %s", field, r.MaxDuration, r.Duration)
	case r.MaxDuration%time.Minute != 0:
		return r, procurebot.Invalidf("%s.max_duration: %s is not a whole number of minutes", field, r.MaxDuration)
	}
	if r.Start == "" || strings.EqualFold(r.Start, "now") {
		r.Start = "now"
		return r, nil
	}
	d, err := time.ParseDuration(r.Start)
	if err != nil || d < 0 {
		return r, procurebot.Invalidf("%s.start: %q is neither \"now\" nor a non-negative offset such as 24h", field, r.Start)
	}
	if d == 0 {
		r.Start = "now"
	}
	return r, nil
}

// Name is "sfcompute".
func (s *Source) Name() string { return Venue }

// MaxAge is the configured staleness bound (default 10 min).
func (s *Source) MaxAge() time.Duration { return s.maxAge }

// Requests are the normalised requests the source quotes.
func (s *Source) Requests() []Request { return append([]Request(nil), s.reqs...) }

// request builds the quote call for r at now.
func (s *Source) request(r Request, now time.Time) venuehttp.Request {
	start := "NOW"
	if r.Start != "now" {
		d, _ := time.ParseDuration(r.Start) // checked in New
		start = roundUpToHour(now.Add(d)).UTC().Format(time.RFC3339)
	}
	q := url.Values{
		"side":           {"buy"},
		"instance_type":  {r.InstanceType},
		"quantity":       {strconv.Itoa(r.Quantity)},
		"min_start_date": {start},
		"max_start_date": {start},
		"min_duration":   {strconv.FormatInt(int64(r.Duration/time.Second), 10)},
		"max_duration":   {strconv.FormatInt(int64(r.MaxDuration/time.Second), 10)},
	}
	if r.Cluster != "" {
		q.Set("cluster", r.Cluster)
	}
	return venuehttp.Request{Path: "v0/quote", Query: q}
}

// GPUQuotes asks for one quote per configured request and returns those
// the market could fill, sorted by per-GPU price. A request the market has
// no quote for is logged and skipped; any failed or malformed call fails
// the whole book.
func (s *Source) GPUQuotes(ctx context.Context) ([]procurebot.Quote, error) {
	now := s.env.Now()
	var out []procurebot.Quote
	for _, r := range s.reqs {
		req := s.request(r, now)
		body, err := s.c.Do(ctx, req)
		if err != nil {
			return nil, err
		}
		q, err := s.parse(req, r, body, now)
		if err != nil {
			return nil, err
		}
		if q != nil {
			out = append(out, *q)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].PerGPU.LessThan(out[j].PerGPU) })
	return out, nil
}

type quoteResponse struct {
	Object        string  `json:"object"`
	Side          string  `json:"side"`
	Quote         *quote  `json:"quote"`
	NoQuoteReason *string `json:"no_quote_reason"`
}

type quote struct {
	Price        venuehttp.Number `json:"price"`
	Quantity     venuehttp.Number `json:"quantity"`
	StartAt      string           `json:"start_at"`
	EndAt        string           `json:"end_at"`
	InstanceType string           `json:"instance_type"`
	Zone         string           `json:"zone"`
}

var (
	// nanosPerHour/100/GPUsPerNode: price × this ÷ (quantity × term in ns)
	// is USD per GPU-hour.
	perGPUNumerator = decimal.NewFromInt(int64(time.Hour) / 100 / GPUsPerNode)
	// nanosPerHour/100: price × this ÷ term in ns is USD per block-hour.
	perHourNumerator = decimal.NewFromInt(int64(time.Hour) / 100)
)

// parse turns one quote response into a quote, nil when the market has
// none for the request. It does no I/O; req names the call in errors.
func (s *Source) parse(req venuehttp.Request, r Request, body []byte, now time.Time) (*procurebot.Quote, error) {
	var resp quoteResponse
	if err := s.c.Decode(req, body, &resp); err != nil {
		return nil, err
	}
	if resp.Object != "quote" {
		return nil, s.c.Malformed(req, "object", "%q, want \"quote\"", resp.Object)
	}
	if resp.Side != "" && resp.Side != "buy" {
		return nil, s.c.Malformed(req, "side", "%q, want \"buy\"", resp.Side)
	}
	if resp.Quote == nil {
		switch {
		case resp.NoQuoteReason == nil || *resp.NoQuoteReason == "":
			return nil, s.c.Malformed(req, "no_quote_reason", "quote is null and no reason is given")
		case !noQuoteReasons[*resp.NoQuoteReason]:
			return nil, s.c.Malformed(req, "no_quote_reason", "unknown reason %q", *resp.NoQuoteReason)
		}
		ev := s.log.Info()
		if *resp.NoQuoteReason == "internal_solver_error" {
			ev = s.log.Warn()
		}
		ev.Str("instance_type", r.InstanceType).Int("quantity", r.Quantity).Dur("duration", r.Duration).
			Str("start", r.Start).Str("reason", *resp.NoQuoteReason).Msg("no quote")
		return nil, nil
	}
	q := resp.Quote
	switch {
	case !q.Price.Set():
		return nil, s.c.Malformed(req, "quote.price", "missing")
	case q.Price.Value.Sign() <= 0:
		return nil, s.c.Malformed(req, "quote.price", "%s is not a positive price in cents", q.Price.Raw)
	case !q.Quantity.Set():
		return nil, s.c.Malformed(req, "quote.quantity", "missing")
	case !q.Quantity.Value.IsInteger() || q.Quantity.Value.Sign() <= 0 || q.Quantity.Value.GreaterThan(decimal.NewFromInt(1024)):
		return nil, s.c.Malformed(req, "quote.quantity", "%s is not a node count 1–1024", q.Quantity.Raw)
	}
	nodes := q.Quantity.Value.IntPart()
	var start time.Time
	switch {
	case q.StartAt == "":
		return nil, s.c.Malformed(req, "quote.start_at", "missing")
	case strings.EqualFold(q.StartAt, "NOW"):
		start = nextMinute(now)
	default:
		t, err := time.Parse(time.RFC3339Nano, q.StartAt)
		if err != nil {
			return nil, s.c.Malformed(req, "quote.start_at", "%q is neither NOW nor an ISO 8601 time", q.StartAt)
		}
		start = t.UTC()
	}
	if q.EndAt == "" {
		return nil, s.c.Malformed(req, "quote.end_at", "missing")
	}
	end, err := time.Parse(time.RFC3339Nano, q.EndAt)
	if err != nil {
		return nil, s.c.Malformed(req, "quote.end_at", "%q is not an ISO 8601 time", q.EndAt)
	}
	end = end.UTC()
	if !end.After(start) {
		return nil, s.c.Malformed(req, "quote.end_at", "%s is not after the start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	it := q.InstanceType
	if it == "" {
		it = r.InstanceType
	}
	class := procurebot.GPUClassOf(it)
	if class == "" {
		return nil, s.c.Malformed(req, "quote.instance_type", "%q names no GPU class", it)
	}
	term := decimal.NewFromInt(int64(end.Sub(start)))
	// USD/GPU-hour = cents / 100 / 8 / nodes / hours, with hours = ns / 3.6e12.
	factor := perGPUNumerator.DivRound(term.Mul(decimal.NewFromInt(nodes)), 28)
	qt := procurebot.Quote{
		Offer: procurebot.Offer{
			Provider: Venue, GPU: class, GPUCount: int(nodes) * GPUsPerNode,
			USDPerHour: q.Price.Value.Mul(perHourNumerator).DivRound(term, 16),
			Spot:       procurebot.SpotFalse, Region: q.Zone, Instance: it,
		},
		Venue: Venue, FetchedAt: now,
		Billing: procurebot.Billing{
			Unit: procurebot.BillCentsPerTerm, Raw: q.Price.Raw, Denom: "USD cents",
			Amount: q.Price.Value, ToUSDPerGPUHour: factor,
		},
		Term:      procurebot.Term{Start: start, End: end},
		Available: 1, // the quoted block itself
		Ref: url.Values{
			"instance_type": {it}, "quantity": {strconv.FormatInt(nodes, 10)},
			"start_at": {q.StartAt}, "end_at": {q.EndAt}, "zone": {q.Zone},
		}.Encode(),
	}
	qt.PerGPU = qt.PerGPUPrice()
	if err := qt.Validate(); err != nil {
		return nil, s.c.Malformed(req, "quote", "%v", err)
	}
	return &qt, nil
}

// nextMinute is the start of the minute after t, or t itself when t is on a
// minute: the market's reading of "NOW" (CLI roundDateUpToNextMinute).
func nextMinute(t time.Time) time.Time {
	t = t.UTC()
	if m := t.Truncate(time.Minute); !m.Equal(t) {
		return m.Add(time.Minute)
	}
	return t
}

// roundUpToHour rounds a future start up to the hour (CLI roundStartDate).
func roundUpToHour(t time.Time) time.Time {
	t = t.UTC()
	if h := t.Truncate(time.Hour); !h.Equal(t) {
		return h.Add(time.Hour)
	}
	return t
}

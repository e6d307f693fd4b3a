// Package vastai reads Vast.ai's marketplace offers, on-demand and
// interruptible, as GPU quotes.
//
// API: POST {base}/bundles/ (base https://console.vast.ai/api/v0; the
// trailing slash matters) with the search query as the JSON body, as the
// official CLI/SDK (vast-ai/vast-cli vastai/api/offers.py search_offers) and
// dstackai/gpuhunt (src/gpuhunt/providers/vastai.py, bundles_url) send it.
// The query grammar is {"field":{"op":value}}: this adapter sends the CLI's
// defaults verified=true, external=false, rentable=true, rented=false, plus
// gpu_name in [...], reliability >= min, datacenter=true when configured,
// "order":[["dph_total","asc"]], "allocated_storage" (GiB; dph_total
// includes that much storage), "type" ("on-demand", or "bid" for
// interruptible) and "limit". A key is optional (gpuhunt searches without
// one); when set it is sent as "Authorization: Bearer <key>" (vastai
// _base.py) and redacted everywhere. The response is {"offers":[…]}, each
// with id, machine_id, gpu_name ("H100 SXM"), num_gpus, dph_total, min_bid,
// geolocation ("Texas, US"), rentable, rented (field list: vast-cli
// vastai/data/offer.py).
//
// Paging: Vast has no cursor. The server returns 64 rows unless "limit" is
// set, so every request carries limit (default 512), ordered cheapest first:
// the book is the cheapest `limit` offers of each type, and a response that
// fills the limit is logged as possibly truncated.
//
// Units: dph_total and min_bid are USD per hour for the whole offer,
// num_gpus GPUs (BillUSDPerInstanceHour, ToUSDPerGPUHour = 1/num_gpus). An
// 8× H100 SXM offer at dph_total 15.31 is 1.91375 USD per GPU-hour, and a
// 1.80 USD/GPU-hour cap is 14.40 per offer-hour in Vast's unit. Vast bids
// are per machine (vast-cli create instance --bid_price: "per machine bid
// price in $/hour"), so the interruptible quote is SpotBid at min_bid, the
// bid floor for the whole offer; its BilledCap is what to bid.
//
// Quotes: the "on-demand" search gives one on-demand quote per offer at
// dph_total; the "bid" search gives one SpotBid quote per offer at min_bid
// (an offer without a positive min_bid gives none). Ref is the offer id,
// Region the geolocation as sent, Available 1 for an offer that is rentable
// and not rented (-1 when Vast leaves those out; an offer Vast marks
// unrentable or rented is not quoted). Offers whose gpu_name maps to no GPU
// class (GTX 1080, Q RTX 8000…) are skipped and counted in a debug log.
package vastai

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

// DefaultBaseURL is Vast's API root.
const DefaultBaseURL = "https://console.vast.ai/api/v0"

// DefaultLimit is the number of offers asked for per search type.
const DefaultLimit = 512

// Search types, as the "type" of a Vast query.
const (
	TypeOnDemand = "on-demand"
	TypeBid      = "bid"
)

// Config is the providers.vastai section of the config.
type Config struct {
	venuehttp.Config `yaml:",inline"`
	// APIKey is optional; it defaults to the env var VAST_API_KEY.
	APIKey venuehttp.Credential `yaml:"api_key"`
	// GPUNames keeps only offers of these Vast GPU names, as Vast spells
	// them ("H100 SXM", "RTX 4090"). Empty searches all.
	GPUNames []string `yaml:"gpu_names"`
	// MinReliability, in [0, 1], keeps offers whose reliability is at least
	// this (0: no filter).
	MinReliability float64 `yaml:"min_reliability"`
	// Limit bounds each search (default 512; Vast's own default is 64).
	Limit int `yaml:"limit"`
	// DatacenterOnly keeps only datacenter-hosted offers.
	DatacenterOnly bool `yaml:"datacenter_only"`
	// IncludeUnverified drops the CLI's default verified=true filter.
	IncludeUnverified bool `yaml:"include_unverified"`
	// Types lists the searches: "on-demand", "bid" (default both).
	Types []string `yaml:"types"`
	// StorageGiB is the disk dph_total is priced with (default 5, the
	// CLI's default).
	StorageGiB float64 `yaml:"storage_gib"`
}

// Source is the Vast.ai adapter.
type Source struct {
	c      *venuehttp.Client
	env    venuehttp.Env
	maxAge time.Duration
	cfg    Config
}

// New builds the adapter. No API key is needed.
func New(cfg Config, env venuehttp.Env) (*Source, error) {
	if err := cfg.Validate("vastai"); err != nil {
		return nil, err
	}
	switch {
	case cfg.Limit < 0:
		return nil, procurebot.Invalidf("providers.vastai.limit: %d must be positive", cfg.Limit)
	case cfg.Limit == 0:
		cfg.Limit = DefaultLimit
	}
	if cfg.MinReliability < 0 || cfg.MinReliability > 1 {
		return nil, procurebot.Invalidf("providers.vastai.min_reliability: %g must be in [0, 1]", cfg.MinReliability)
	}
	switch {
	case cfg.StorageGiB < 0:
		return nil, procurebot.Invalidf("providers.vastai.storage_gib: %g must not be negative", cfg.StorageGiB)
	case cfg.StorageGiB == 0:
		cfg.StorageGiB = 5
	}
	if len(cfg.Types) == 0 {
		cfg.Types = []string{TypeOnDemand, TypeBid}
	}
	seen := map[string]bool{}
	for _, t := range cfg.Types {
		if t != TypeOnDemand && t != TypeBid {
			return nil, procurebot.Invalidf("providers.vastai.types: %q is not %q or %q", t, TypeOnDemand, TypeBid)
		}
		if seen[t] {
			return nil, procurebot.Invalidf("providers.vastai.types: %q twice", t)
		}
		seen[t] = true
	}
	for i, g := range cfg.GPUNames {
		if strings.TrimSpace(g) == "" {
			return nil, procurebot.Invalidf("providers.vastai.gpu_names[%d]: empty", i)
		}
	}
	key, err := cfg.APIKey.Resolve(env, "providers.vastai.api_key", "VAST_API_KEY", false)
	if err != nil {
		return nil, err
	}
	var auth func(*http.Request)
	if key != "" {
		auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key.Reveal()) }
	}
	c, err := venuehttp.New("vastai", cfg.URL(DefaultBaseURL), env.Options(cfg.Config, 1), auth, key)
	if err != nil {
		return nil, err
	}
	maxAge := cfg.MaxAge
	if maxAge == 0 {
		maxAge = 10 * time.Minute
	}
	return &Source{c: c, env: env, maxAge: maxAge, cfg: cfg}, nil
}

// Name is "vastai".
func (s *Source) Name() string { return "vastai" }

// MaxAge is the configured staleness bound (default 10 min: Vast's
// marketplace moves fast).
func (s *Source) MaxAge() time.Duration { return s.maxAge }

type cond map[string]any

// query is the search body for one type.
func (s *Source) query(typ string) ([]byte, error) {
	q := map[string]any{
		"external": cond{"eq": false},
		"rentable": cond{"eq": true},
		"rented":   cond{"eq": false},
		"order":    [][]string{{"dph_total", "asc"}},
		"type":     typ,
		"limit":    s.cfg.Limit,
		// allocated_storage is in GiB; dph_total includes its cost.
		"allocated_storage": s.cfg.StorageGiB,
	}
	if !s.cfg.IncludeUnverified {
		q["verified"] = cond{"eq": true}
	}
	if len(s.cfg.GPUNames) > 0 {
		q["gpu_name"] = cond{"in": s.cfg.GPUNames}
	}
	if s.cfg.MinReliability > 0 {
		q["reliability"] = cond{"gte": s.cfg.MinReliability}
	}
	if s.cfg.DatacenterOnly {
		q["datacenter"] = cond{"eq": true}
	}
	return json.Marshal(q)
}

// GPUQuotes runs each configured search and returns the quotes sorted by
// per-GPU price; one failed search fails the book.
func (s *Source) GPUQuotes(ctx context.Context) ([]procurebot.Quote, error) {
	now := s.env.Now()
	var out []procurebot.Quote
	for _, typ := range s.cfg.Types {
		body, err := s.query(typ)
		if err != nil {
			return nil, err
		}
		req := venuehttp.Request{Method: http.MethodPost, Path: "bundles/", Body: body}
		resp, err := s.c.Do(ctx, req)
		if err != nil {
			return nil, err
		}
		qs, st, err := parse(s.c, req, resp, typ, now)
		if err != nil {
			return nil, err
		}
		if st.offers >= s.cfg.Limit {
			s.env.Logger.Warn().Str("venue", "vastai").Str("type", typ).Int("limit", s.cfg.Limit).Msg("search filled its limit; the book holds only the cheapest offers")
		}
		if st.unclassed > 0 || st.unavailable > 0 {
			s.env.Logger.Debug().Str("venue", "vastai").Str("type", typ).Int("offers", st.offers).Int("no_gpu_class", st.unclassed).Int("not_rentable", st.unavailable).Msg("offers skipped")
		}
		out = append(out, qs...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if c := a.PerGPU.Cmp(b.PerGPU); c != 0 {
			return c < 0
		}
		if a.SpotKind != b.SpotKind {
			return a.SpotKind < b.SpotKind
		}
		return a.Ref < b.Ref
	})
	return out, nil
}

type offer struct {
	ID          int64            `json:"id"`
	MachineID   int64            `json:"machine_id"`
	GPUName     string           `json:"gpu_name"`
	NumGPUs     int              `json:"num_gpus"`
	DPHTotal    venuehttp.Number `json:"dph_total"`
	MinBid      venuehttp.Number `json:"min_bid"`
	Geolocation *string          `json:"geolocation"`
	Rentable    *bool            `json:"rentable"`
	Rented      *bool            `json:"rented"`
}

type response struct {
	Offers []offer `json:"offers"`
}

// stats counts what a parse saw and skipped.
type stats struct {
	offers, unclassed, unavailable int
}

// parse turns one search response into quotes: on-demand quotes at
// dph_total for typ "on-demand", SpotBid quotes at min_bid for "bid". It
// does no I/O: c only decodes and names the venue and request in errors.
func parse(c *venuehttp.Client, req venuehttp.Request, body []byte, typ string, now time.Time) ([]procurebot.Quote, stats, error) {
	var st stats
	var r response
	if err := c.Decode(req, body, &r); err != nil {
		return nil, st, err
	}
	if r.Offers == nil {
		return nil, st, c.Malformed(req, "offers", "missing")
	}
	return normalise(c, req, r.Offers, typ, now)
}

// normalise turns decoded offers into quotes (see parse).
func normalise(c *venuehttp.Client, req venuehttp.Request, offers []offer, typ string, now time.Time) ([]procurebot.Quote, stats, error) {
	var st stats
	st.offers = len(offers)
	out := make([]procurebot.Quote, 0, len(offers))
	for i, o := range offers {
		field := fmt.Sprintf("offers[%d]", i)
		if o.ID <= 0 {
			return nil, st, c.Malformed(req, field+".id", "missing")
		}
		if o.NumGPUs <= 0 {
			return nil, st, c.Malformed(req, field+".num_gpus", "%d is not a GPU count", o.NumGPUs)
		}
		available := -1
		if o.Rentable != nil && o.Rented != nil {
			if !*o.Rentable || *o.Rented {
				st.unavailable++
				continue
			}
			available = 1
		}
		class := procurebot.GPUClassOf(o.GPUName)
		if class == "" {
			st.unclassed++
			continue
		}
		price, pfield, kind, spot := o.DPHTotal, "dph_total", procurebot.SpotNone, procurebot.SpotFalse
		if typ == TypeBid {
			price, pfield, kind, spot = o.MinBid, "min_bid", procurebot.SpotBid, procurebot.SpotTrue
		}
		switch {
		case !price.Set() && typ == TypeBid:
			continue // not offered as interruptible
		case !price.Set():
			return nil, st, c.Malformed(req, field+"."+pfield, "missing")
		case price.Value.Sign() < 0:
			return nil, st, c.Malformed(req, field+"."+pfield, "%s is not a price", price.Raw)
		case price.Value.Sign() == 0 && typ == TypeBid:
			continue
		case price.Value.Sign() == 0:
			return nil, st, c.Malformed(req, field+"."+pfield, "%s is not a positive price", price.Raw)
		}
		region := ""
		if o.Geolocation != nil {
			region = strings.TrimSpace(*o.Geolocation)
		}
		q := procurebot.Quote{
			Offer: procurebot.Offer{
				Provider: "vastai", GPU: class, GPUCount: o.NumGPUs,
				USDPerHour: price.Value, Spot: spot, Region: region,
				Instance: fmt.Sprintf("%dx %s", o.NumGPUs, o.GPUName),
			},
			Venue: "vastai", FetchedAt: now,
			Billing: procurebot.Billing{
				Unit: procurebot.BillUSDPerInstanceHour, Raw: price.Raw, Denom: "USD",
				Amount: price.Value, ToUSDPerGPUHour: perGPU(o.NumGPUs),
			},
			SpotKind: kind, Available: available, Ref: strconv.FormatInt(o.ID, 10),
		}
		q.PerGPU = q.PerGPUPrice()
		out = append(out, q)
	}
	return out, st, nil
}

var factors [17]decimal.Decimal

func init() {
	for n := 1; n < len(factors); n++ {
		factors[n] = decimal.NewFromInt(1).Div(decimal.NewFromInt(int64(n)))
	}
}

// perGPU is 1/n, the factor from a whole-offer price to a per-GPU one.
func perGPU(n int) decimal.Decimal {
	if n < len(factors) {
		return factors[n]
	}
	return decimal.NewFromInt(1).Div(decimal.NewFromInt(int64(n)))
}

// Package shadeform reads Shadeform's instance types and their per-region,
// per-rental-type availability as GPU quotes. Shadeform is an aggregator:
// it is who is paid (Offer.Provider "shadeform"), and Quote.Cloud names the
// underlying cloud that runs the machine.
//
// API: GET {base}/instances/types?available=true&sort=price[&gpu_type=H100]
// [&num_gpus=8] with "X-API-KEY: <key>" (docs.shadeform.ai
// api-reference/instances/instances-types; the same call in skypilot
// sky/catalog/data_fetchers/fetch_shadeform.py, which reads hourly_price/100
// as dollars; the response shape is the OpenAPI spec vendored by
// brevdev/cloud v1/providers/shadeform/gen/shadeform/api/openapi.yaml). The
// response is {instance_types:[{cloud, shade_instance_type,
// cloud_instance_type, configuration{num_gpus, gpu_type,
// vram_per_gpu_in_gb, ...}, hourly_price, availability[{region, available,
// display_name, rental_type, hourly_price}]}]}; errors are
// {error_code, error}. The API does not page.
//
// Rental types: a region that can also be rented as spot appears twice in
// availability, once with rental_type "on_demand" and once with "spot"
// whose hourly_price is "a decimal string in dollars"; spot and on-demand
// availability "are evaluated independently", and a spot launch needs
// rental_type "spot" and shade_cloud true (shadeform/docs
// guides/spotinstances.mdx). Entries are kept apart by
// rental type: brevdev/cloud PR #157 shipped a bug by letting a spot-only
// "available: true" mark an instance type bookable on demand, so every
// on-demand create failed with InsufficientCapacity. Here an on-demand
// quote comes only from an available on_demand entry (or one with no
// rental_type, which older responses send and brevdev/cloud treats as on
// demand), a spot quote only from an available spot entry, and an unknown
// rental type is logged and skipped, never read as on demand. One quote per
// (instance type, region, rental type) that is available. Ref holds what the
// create call needs to launch that offer: cloud, region and
// shade_instance_type, plus rental_type=spot and shade_cloud=true for spot.
// Instance types of a GPU with no known class are logged and skipped.
//
// Units: the instance's hourly_price is integer US cents per instance-hour
// and applies to on-demand; a spot entry carries its own hourly_price as a
// dollar string per instance-hour, a fixed discounted price (SpotFixed).
// Worked examples: an 8×H100 at hourly_price 1992 is 19.92 USD/h and 2.49
// USD per GPU-hour (factor 1/800); its spot entry "12.40" is 12.40 USD/h
// and 1.55 USD per GPU-hour (factor 1/8). A spot price sent as a bare JSON
// number is refused as malformed: its unit would be a guess.
package shadeform

import (
	"context"
	"encoding/json"
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

// DefaultBaseURL is Shadeform's API root.
const DefaultBaseURL = "https://api.shadeform.ai/v1"

// Venue is the adapter's name and the quotes' provider.
const Venue = "shadeform"

// Rental types as Shadeform spells them.
const (
	OnDemand = "on_demand"
	Spot     = "spot"
)

// Config is the providers.shadeform section of the config.
//
//	providers:
//	  shadeform:
//	    api_key: {env: SHADEFORM_API_KEY}
//	    gpu_types: [H100, H200, A100_80G]
//	    num_gpus: 8
type Config struct {
	venuehttp.Config `yaml:",inline"`
	// APIKey defaults to the env var SHADEFORM_API_KEY.
	APIKey venuehttp.Credential `yaml:"api_key"`
	// GPUTypes are Shadeform gpu_type filters (H100, A100_80G…), one call
	// each; empty means one call for every type.
	GPUTypes []string `yaml:"gpu_types"`
	// NumGPUs filters by GPUs per instance; 0 means any.
	NumGPUs int `yaml:"num_gpus"`
	// RentalTypes to quote: on_demand, spot (default both).
	RentalTypes []string `yaml:"rental_types"`
}

// Source is the Shadeform adapter.
type Source struct {
	c       *venuehttp.Client
	env     venuehttp.Env
	log     zerolog.Logger
	maxAge  time.Duration
	types   []string
	numGPUs int
	rentals map[string]bool
}

// New builds the adapter; the API key is required.
func New(cfg Config, env venuehttp.Env) (*Source, error) {
	if err := cfg.Validate(Venue); err != nil {
		return nil, err
	}
	if cfg.NumGPUs < 0 {
		return nil, procurebot.Invalidf("providers.shadeform.num_gpus: %d must not be negative", cfg.NumGPUs)
	}
	seen := map[string]bool{}
	var types []string
	for i, g := range cfg.GPUTypes {
		g = strings.TrimSpace(g)
		switch {
		case g == "":
			return nil, procurebot.Invalidf("providers.shadeform.gpu_types[%d]: empty", i)
		case seen[strings.ToUpper(g)]:
			return nil, procurebot.Invalidf("providers.shadeform.gpu_types[%d]: %q is listed twice", i, g)
		}
		seen[strings.ToUpper(g)] = true
		types = append(types, g)
	}
	rentals := map[string]bool{}
	for i, r := range cfg.RentalTypes {
		if r != OnDemand && r != Spot {
			return nil, procurebot.Invalidf("providers.shadeform.rental_types[%d]: %q is neither %s nor %s", i, r, OnDemand, Spot)
		}
		rentals[r] = true
	}
	if len(rentals) == 0 {
		rentals[OnDemand], rentals[Spot] = true, true
	}
	key, err := cfg.APIKey.Resolve(env, "providers.shadeform.api_key", "SHADEFORM_API_KEY", true)
	if err != nil {
		return nil, err
	}
	c, err := venuehttp.New(Venue, cfg.URL(DefaultBaseURL), env.Options(cfg.Config, 1),
		func(r *http.Request) { r.Header.Set("X-API-KEY", key.Reveal()) }, key)
	if err != nil {
		return nil, err
	}
	maxAge := cfg.MaxAge
	if maxAge == 0 {
		maxAge = 15 * time.Minute
	}
	return &Source{c: c, env: env, log: env.Logger.With().Str("venue", Venue).Logger(), maxAge: maxAge,
		types: types, numGPUs: cfg.NumGPUs, rentals: rentals}, nil
}

// Name is "shadeform".
func (s *Source) Name() string { return Venue }

// MaxAge is the configured staleness bound (default 15 min).
func (s *Source) MaxAge() time.Duration { return s.maxAge }

func (s *Source) requests() []venuehttp.Request {
	base := url.Values{"available": {"true"}, "sort": {"price"}}
	if s.numGPUs > 0 {
		base.Set("num_gpus", strconv.Itoa(s.numGPUs))
	}
	if len(s.types) == 0 {
		return []venuehttp.Request{{Path: "instances/types", Query: base}}
	}
	out := make([]venuehttp.Request, len(s.types))
	for i, g := range s.types {
		q := url.Values{}
		for k, v := range base {
			q[k] = v
		}
		q.Set("gpu_type", g)
		out[i] = venuehttp.Request{Path: "instances/types", Query: q}
	}
	return out
}

// GPUQuotes returns one quote per instance type, region and rental type
// that is available, sorted by per-GPU price. A failed or malformed call
// fails the whole book.
func (s *Source) GPUQuotes(ctx context.Context) ([]procurebot.Quote, error) {
	now := s.env.Now()
	seen := map[string]bool{}
	var out []procurebot.Quote
	for _, req := range s.requests() {
		body, err := s.c.Do(ctx, req)
		if err != nil {
			return nil, err
		}
		qs, err := s.parse(req, body, now)
		if err != nil {
			return nil, err
		}
		for _, q := range qs {
			// Overlapping filters may return a type twice.
			if !seen[q.Ref] {
				seen[q.Ref] = true
				out = append(out, q)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].PerGPU.LessThan(out[j].PerGPU) })
	return out, nil
}

type response struct {
	InstanceTypes []instanceType `json:"instance_types"`
}

type instanceType struct {
	Cloud             string `json:"cloud"`
	ShadeInstanceType string `json:"shade_instance_type"`
	CloudInstanceType string `json:"cloud_instance_type"`
	Configuration     struct {
		NumGPUs int    `json:"num_gpus"`
		GPUType string `json:"gpu_type"`
	} `json:"configuration"`
	HourlyPrice  venuehttp.Number `json:"hourly_price"`
	Availability []availability   `json:"availability"`
}

type availability struct {
	Region      string       `json:"region"`
	Available   bool         `json:"available"`
	DisplayName string       `json:"display_name"`
	RentalType  string       `json:"rental_type"`
	HourlyPrice dollarString `json:"hourly_price"`
}

// dollarString is a spot price: a decimal string of US dollars. A bare
// JSON number is refused, since its unit (cents like the instance price,
// or dollars) would be a guess.
type dollarString struct {
	venuehttp.Number
	bare bool // sent as a JSON number
}

// UnmarshalJSON keeps the number verbatim and notes whether it was quoted.
func (d *dollarString) UnmarshalJSON(b []byte) error {
	if err := d.Number.UnmarshalJSON(b); err != nil {
		return err
	}
	d.bare = d.Number.Set() && len(b) > 0 && b[0] != '"'
	return nil
}

var _ json.Unmarshaler = (*dollarString)(nil)

var (
	one         = decimal.NewFromInt(1)
	centsPerUSD = decimal.NewFromInt(100)
)

// parse turns one instance-types response into quotes. It does no I/O;
// req names the call in errors.
func (s *Source) parse(req venuehttp.Request, body []byte, now time.Time) ([]procurebot.Quote, error) {
	var r response
	if err := s.c.Decode(req, body, &r); err != nil {
		return nil, err
	}
	if r.InstanceTypes == nil {
		return nil, s.c.Malformed(req, "instance_types", "missing")
	}
	var out []procurebot.Quote
	for i, it := range r.InstanceTypes {
		field := "instance_types[" + strconv.Itoa(i) + "]"
		switch {
		case it.Cloud == "":
			return nil, s.c.Malformed(req, field+".cloud", "missing")
		case it.ShadeInstanceType == "":
			return nil, s.c.Malformed(req, field+".shade_instance_type", "missing")
		case it.Configuration.NumGPUs <= 0:
			return nil, s.c.Malformed(req, field+".configuration.num_gpus", "%d is not a GPU count", it.Configuration.NumGPUs)
		}
		class := procurebot.GPUClassOf(it.Configuration.GPUType, it.ShadeInstanceType)
		if class == "" {
			s.log.Warn().Str("cloud", it.Cloud).Str("shade_instance_type", it.ShadeInstanceType).
				Str("gpu_type", it.Configuration.GPUType).Msg("skipping an instance type of no known GPU class")
			continue
		}
		gpus := decimal.NewFromInt(int64(it.Configuration.NumGPUs))
		instance := it.CloudInstanceType
		if instance == "" {
			instance = it.ShadeInstanceType
		}
		seen := map[string]bool{}
		for j, a := range it.Availability {
			af := field + ".availability[" + strconv.Itoa(j) + "]"
			rental := a.RentalType
			if rental == "" {
				rental = OnDemand
			}
			if rental != OnDemand && rental != Spot {
				s.log.Warn().Str("cloud", it.Cloud).Str("shade_instance_type", it.ShadeInstanceType).
					Str("region", a.Region).Str("rental_type", a.RentalType).Msg("skipping an unknown rental type")
				continue
			}
			if !a.Available || !s.rentals[rental] {
				continue
			}
			if a.Region == "" {
				return nil, s.c.Malformed(req, af+".region", "missing")
			}
			if seen[rental+"/"+a.Region] {
				continue
			}
			seen[rental+"/"+a.Region] = true
			q := procurebot.Quote{
				Offer: procurebot.Offer{
					Provider: Venue, GPU: class, GPUCount: it.Configuration.NumGPUs,
					Spot: procurebot.SpotFalse, Region: a.Region, Instance: instance,
				},
				Venue: Venue, FetchedAt: now, Cloud: it.Cloud, Available: -1,
			}
			ref := url.Values{"cloud": {it.Cloud}, "region": {a.Region}, "shade_instance_type": {it.ShadeInstanceType}}
			switch rental {
			case OnDemand:
				p := it.HourlyPrice
				switch {
				case !p.Set():
					return nil, s.c.Malformed(req, field+".hourly_price", "missing for on-demand region %s", a.Region)
				case p.Value.Sign() <= 0 || !p.Value.IsInteger():
					return nil, s.c.Malformed(req, field+".hourly_price", "%s is not a positive whole number of cents", p.Raw)
				}
				q.USDPerHour = p.Value.Div(centsPerUSD)
				q.Billing = procurebot.Billing{
					Unit: procurebot.BillCentsPerInstanceHour, Raw: p.Raw, Denom: "USD cents",
					Amount: p.Value, ToUSDPerGPUHour: one.DivRound(gpus.Mul(centsPerUSD), 24),
				}
			case Spot:
				p := a.HourlyPrice
				switch {
				case !p.Set():
					return nil, s.c.Malformed(req, af+".hourly_price", "missing for a spot entry")
				case p.bare:
					return nil, s.c.Malformed(req, af+".hourly_price", "%s is a bare number, not a dollar string; its unit is ambiguous", p.Raw)
				case p.Value.Sign() <= 0:
					return nil, s.c.Malformed(req, af+".hourly_price", "%s is not a positive price in dollars", p.Raw)
				}
				q.USDPerHour = p.Value
				q.Spot, q.SpotKind = procurebot.SpotTrue, procurebot.SpotFixed
				q.Billing = procurebot.Billing{
					Unit: procurebot.BillUSDPerInstanceHour, Raw: p.Raw, Denom: "USD",
					Amount: p.Value, ToUSDPerGPUHour: one.DivRound(gpus, 24),
				}
				ref.Set("rental_type", Spot)
				ref.Set("shade_cloud", "true")
			}
			q.Ref = ref.Encode()
			q.PerGPU = q.PerGPUPrice()
			if err := q.Validate(); err != nil {
				return nil, s.c.Malformed(req, af, "%v", err)
			}
			out = append(out, q)
		}
	}
	return out, nil
}

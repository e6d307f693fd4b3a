// Package lambda reads Lambda Cloud's instance types and the regions with
// capacity, as GPU quotes.
//
// API: GET {base}/instance-types with "Authorization: Bearer <key>"
// (Lambda Cloud API v1, https://cloud.lambda.ai/api/v1/openapi.json; the
// same call in dstackai/gpuhunt src/gpuhunt/providers/lambdalabs.py and
// skypilot sky/catalog/data_fetchers/fetch_lambda_cloud.py). The response's
// "data" is a map keyed by instance-type name; each entry has
// instance_type{name, description, gpu_description, price_cents_per_hour,
// specs{vcpus, memory_gib, storage_gib, gpus}} and
// regions_with_capacity_available[{name, description}].
//
// Units: price_cents_per_hour is integer US cents per instance-hour, so the
// per-GPU price is cents / 100 / gpus (gpu_8x_h100_sxm5 at 2392 cents is
// 23.92 USD/h, 2.99 USD per GPU-hour). Lambda has no spot market. An
// instance type with no region with capacity is sold out and yields no
// quote; one quote per region with capacity.
package lambda

import (
	"context"
	"net/http"
	"regexp"
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

// DefaultBaseURL is Lambda's API root.
const DefaultBaseURL = "https://cloud.lambda.ai/api/v1"

// Config is the providers.lambda section of the config.
type Config struct {
	venuehttp.Config `yaml:",inline"`
	// APIKey defaults to the env var LAMBDA_API_KEY.
	APIKey venuehttp.Credential `yaml:"api_key"`
}

// Source is the Lambda adapter.
type Source struct {
	c      *venuehttp.Client
	env    venuehttp.Env
	maxAge time.Duration
}

// New builds the adapter; the API key is required.
func New(cfg Config, env venuehttp.Env) (*Source, error) {
	if err := cfg.Validate("lambda"); err != nil {
		return nil, err
	}
	key, err := cfg.APIKey.Resolve(env, "providers.lambda.api_key", "LAMBDA_API_KEY", true)
	if err != nil {
		return nil, err
	}
	c, err := venuehttp.New("lambda", cfg.URL(DefaultBaseURL), env.Options(cfg.Config, 1),
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key.Reveal()) }, key)
	if err != nil {
		return nil, err
	}
	maxAge := cfg.MaxAge
	if maxAge == 0 {
		maxAge = 15 * time.Minute
	}
	return &Source{c: c, env: env, maxAge: maxAge}, nil
}

// Name is "lambda".
func (s *Source) Name() string { return "lambda" }

// MaxAge is the configured staleness bound (default 15 min).
func (s *Source) MaxAge() time.Duration { return s.maxAge }

type response struct {
	Data map[string]struct {
		InstanceType struct {
			Name              string           `json:"name"`
			Description       string           `json:"description"`
			GPUDescription    string           `json:"gpu_description"`
			PriceCentsPerHour venuehttp.Number `json:"price_cents_per_hour"`
			Specs             struct {
				GPUs int `json:"gpus"`
			} `json:"specs"`
		} `json:"instance_type"`
		Regions []struct {
			Name string `json:"name"`
		} `json:"regions_with_capacity_available"`
	} `json:"data"`
}

var centsPerUSD = decimal.NewFromInt(100)

// GPUQuotes returns one quote per instance type and region with capacity,
// sorted by per-GPU price. CPU-only types are skipped.
func (s *Source) GPUQuotes(ctx context.Context) ([]procurebot.Quote, error) {
	req := venuehttp.Request{Path: "instance-types"}
	var r response
	if err := s.c.JSON(ctx, req, &r); err != nil {
		return nil, err
	}
	if r.Data == nil {
		return nil, s.c.Malformed(req, "data", "missing")
	}
	now := s.env.Now()
	names := make([]string, 0, len(r.Data))
	for k := range r.Data {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []procurebot.Quote
	for _, key := range names {
		e := r.Data[key]
		it := e.InstanceType
		field := "data." + key + ".instance_type"
		gpus := it.Specs.GPUs
		if gpus == 0 {
			gpus = gpusFromName(it.Name)
		}
		if gpus == 0 {
			continue // CPU instance
		}
		if !it.PriceCentsPerHour.Set() {
			return nil, s.c.Malformed(req, field+".price_cents_per_hour", "missing")
		}
		if it.PriceCentsPerHour.Value.Sign() <= 0 {
			return nil, s.c.Malformed(req, field+".price_cents_per_hour", "%s is not a positive price", it.PriceCentsPerHour.Raw)
		}
		class := procurebot.GPUClassOf(it.GPUDescription, it.Name)
		if class == "" {
			// A GPU this build does not know (as the other venues do): left
			// out, not the whole book.
			s.env.Logger.Debug().Str("venue", "lambda").Str("instance_type", it.Name).Str("gpu_description", it.GPUDescription).Msg("GPU type with no GPU class skipped")
			continue
		}
		name := it.Name
		if name == "" {
			name = key
		}
		perHour := it.PriceCentsPerHour.Value.Div(centsPerUSD)
		factor := decimal.NewFromInt(1).Div(decimal.NewFromInt(int64(100 * gpus)))
		for _, reg := range e.Regions {
			q := procurebot.Quote{
				Offer: procurebot.Offer{
					Provider: "lambdalabs", GPU: class, GPUCount: gpus,
					USDPerHour: perHour, Spot: procurebot.SpotFalse,
					Region: reg.Name, Instance: name,
				},
				Venue: "lambda", FetchedAt: now,
				Billing: procurebot.Billing{
					Unit: procurebot.BillCentsPerInstanceHour, Raw: it.PriceCentsPerHour.Raw,
					Denom: "USD cents", Amount: it.PriceCentsPerHour.Value, ToUSDPerGPUHour: factor,
				},
				Available: -1, Ref: name,
			}
			q.PerGPU = q.PerGPUPrice()
			out = append(out, q)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].PerGPU.LessThan(out[j].PerGPU) })
	return out, nil
}

var nameRE = regexp.MustCompile(`^gpu_(\d+)x_`)

func gpusFromName(name string) int {
	m := nameRE.FindStringSubmatch(name)
	if m == nil {
		return 0
	}
	n := 0
	for _, c := range m[1] {
		n = n*10 + int(c-'0')
	}
	return n
}

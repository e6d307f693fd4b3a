// Package runpod reads RunPod's per-GPU prices for Secure Cloud and
// Community Cloud pods, on-demand and spot, as GPU quotes.
//
// API: GraphQL, POST https://api.runpod.io/graphql with the query and its
// variables as a JSON body. The key, when there is one, goes in the URL as
// ?api_key=<key>, as runpod/runpod-python runpod/api/graphql.py sends it;
// gpuTypes pricing is readable without a key (dstackai/gpuhunt
// src/gpuhunt/providers/runpod.py sends none). The query is gpuhunt's price
// query: gpuTypes{id displayName securePrice communityPrice secureSpotPrice
// communitySpotPrice lowestPrice(input:$lowestPriceInput){minimumBidPrice
// uninterruptablePrice stockStatus availableGpuCounts maxUnreservedGpuCount
// countryCode}}, with lowestPriceInput{gpuCount, secureCloud} — one request
// per cloud, because lowestPrice (stock and the bid floor) answers for the
// cloud it is asked about. GraphQL failures come back as HTTP 200 with
// {"errors":[{"message":…}]}; that is an error, never an empty book.
//
// Units: every price is USD per GPU-hour (a JSON float, kept verbatim), so
// ToUSDPerGPUHour is 1 and an instance of gpu_count GPUs costs price ×
// gpu_count per hour. An H100 SXM at securePrice 2.69 with gpu_count 8 is
// 21.52 USD/h and 2.69 USD per GPU-hour; a 2.50 USD/GPU-hour cap stays 2.50
// in RunPod's unit. That matters for spot: a RunPod bid is per GPU, and
// dstack bid the instance total per GPU and paid 8× (dstack #1890, fixed by
// PR #1891's bid_per_gpu), so BilledCap is per GPU here.
//
// Quotes: per cloud ("secure" or "community"; Quote.Cloud), one on-demand
// quote at securePrice / communityPrice, and one spot quote when the cloud
// lists a spot price (secureSpotPrice / communitySpotPrice): SpotBid priced
// at lowestPrice.minimumBidPrice, the bid floor, where RunPod gives one, else
// SpotFixed at the spot price. Buy in the cloud you were quoted: a pod
// deployed without pinning cloudType may land in Secure Cloud at the Secure
// price after a Community quote (dstack #1886). A null or zero price, a null
// lowestPrice or stockStatus (gpuhunt's test for "no offer"), an
// availableGpuCounts list without gpu_count, or a maxUnreservedGpuCount below
// gpu_count mean no offer. Available is maxUnreservedGpuCount ÷ gpu_count
// when RunPod sends it (its exact meaning is not documented: verify), else
// -1. Region is lowestPrice.countryCode. Ref is the GPU type id
// ("NVIDIA H100 80GB HBM3"), which is what a pod deployment names.
//
// GPU types whose name maps to no GPU class (RTX 2000 Ada, RTX A4500…) are
// skipped and logged at debug level.
package runpod

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

// DefaultBaseURL is RunPod's API root; the GraphQL endpoint is
// {base}/graphql.
const DefaultBaseURL = "https://api.runpod.io"

// Cloud names, as Quote.Cloud carries them.
const (
	CloudSecure    = "secure"
	CloudCommunity = "community"
)

// Config is the providers.runpod section of the config.
type Config struct {
	venuehttp.Config `yaml:",inline"`
	// APIKey is optional (prices are public); it defaults to the env var
	// RUNPOD_API_KEY and is sent as ?api_key=.
	APIKey venuehttp.Credential `yaml:"api_key"`
	// GPUCount is the pod size quoted (default 1): lowestPrice, stock and
	// availability depend on it.
	GPUCount int `yaml:"gpu_count"`
	// GPUTypes keeps only these GPU types, each matched against the RunPod
	// id ("NVIDIA H100 80GB HBM3"), the display name ("H100 SXM") or the GPU
	// class ("H100"), case-insensitively. Empty keeps all.
	GPUTypes []string `yaml:"gpu_types"`
	// Clouds lists the clouds quoted: "secure", "community" (default both).
	Clouds []string `yaml:"clouds"`
	// MinCUDAVersion, when set ("12.8"), restricts lowestPrice to hosts
	// with at least that CUDA version, as gpuhunt does.
	MinCUDAVersion string `yaml:"min_cuda_version"`
}

// Source is the RunPod adapter.
type Source struct {
	c        *venuehttp.Client
	env      venuehttp.Env
	maxAge   time.Duration
	gpuCount int
	clouds   []string
	filter   []string
	minCUDA  string
}

// New builds the adapter. No API key is needed.
func New(cfg Config, env venuehttp.Env) (*Source, error) {
	if err := cfg.Validate("runpod"); err != nil {
		return nil, err
	}
	n := cfg.GPUCount
	switch {
	case n == 0:
		n = 1
	case n < 0:
		return nil, procurebot.Invalidf("providers.runpod.gpu_count: %d must be positive", n)
	}
	clouds := cfg.Clouds
	if len(clouds) == 0 {
		clouds = []string{CloudSecure, CloudCommunity}
	}
	seen := map[string]bool{}
	for _, c := range clouds {
		if c != CloudSecure && c != CloudCommunity {
			return nil, procurebot.Invalidf("providers.runpod.clouds: %q is not %q or %q", c, CloudSecure, CloudCommunity)
		}
		if seen[c] {
			return nil, procurebot.Invalidf("providers.runpod.clouds: %q twice", c)
		}
		seen[c] = true
	}
	var filter []string
	for i, g := range cfg.GPUTypes {
		g = strings.TrimSpace(g)
		if g == "" {
			return nil, procurebot.Invalidf("providers.runpod.gpu_types[%d]: empty", i)
		}
		filter = append(filter, strings.ToUpper(g))
	}
	key, err := cfg.APIKey.Resolve(env, "providers.runpod.api_key", "RUNPOD_API_KEY", false)
	if err != nil {
		return nil, err
	}
	var auth func(*http.Request)
	if key != "" {
		auth = func(r *http.Request) {
			q := r.URL.Query()
			q.Set("api_key", key.Reveal())
			r.URL.RawQuery = q.Encode()
		}
	}
	c, err := venuehttp.New("runpod", cfg.URL(DefaultBaseURL), env.Options(cfg.Config, 2), auth, key)
	if err != nil {
		return nil, err
	}
	maxAge := cfg.MaxAge
	if maxAge == 0 {
		maxAge = 15 * time.Minute
	}
	return &Source{c: c, env: env, maxAge: maxAge, gpuCount: n, clouds: clouds, filter: filter, minCUDA: cfg.MinCUDAVersion}, nil
}

// Name is "runpod".
func (s *Source) Name() string { return "runpod" }

// MaxAge is the configured staleness bound (default 15 min).
func (s *Source) MaxAge() time.Duration { return s.maxAge }

// priceQuery is gpuhunt's pod price query, trimmed to the fields used.
const priceQuery = `query GpuTypes($lowestPriceInput: GpuLowestPriceInput) {
  gpuTypes {
    id
    displayName
    securePrice
    communityPrice
    secureSpotPrice
    communitySpotPrice
    lowestPrice(input: $lowestPriceInput) {
      minimumBidPrice
      uninterruptablePrice
      stockStatus
      availableGpuCounts
      maxUnreservedGpuCount
      countryCode
    }
  }
}`

type lowestPriceInput struct {
	GPUCount       int    `json:"gpuCount"`
	SecureCloud    bool   `json:"secureCloud"`
	MinCUDAVersion string `json:"minCudaVersion,omitempty"`
}

type graphQLRequest struct {
	Query     string `json:"query"`
	Variables struct {
		LowestPriceInput lowestPriceInput `json:"lowestPriceInput"`
	} `json:"variables"`
}

// request builds the GraphQL call for one cloud.
func (s *Source) request(cloud string) (venuehttp.Request, error) {
	var g graphQLRequest
	g.Query = priceQuery
	g.Variables.LowestPriceInput = lowestPriceInput{GPUCount: s.gpuCount, SecureCloud: cloud == CloudSecure, MinCUDAVersion: s.minCUDA}
	body, err := json.Marshal(g)
	if err != nil {
		return venuehttp.Request{}, err
	}
	return venuehttp.Request{Method: http.MethodPost, Path: "graphql", Body: body}, nil
}

// GPUQuotes returns the on-demand and spot quotes of every configured
// cloud, sorted by per-GPU price; one failed cloud fails the book.
func (s *Source) GPUQuotes(ctx context.Context) ([]procurebot.Quote, error) {
	now := s.env.Now()
	var out []procurebot.Quote
	for _, cloud := range s.clouds {
		req, err := s.request(cloud)
		if err != nil {
			return nil, err
		}
		body, err := s.c.Do(ctx, req)
		if err != nil {
			return nil, err
		}
		qs, skipped, err := parse(s.c, req, body, cloud, s.gpuCount, now)
		if err != nil {
			return nil, err
		}
		if len(skipped) > 0 {
			s.env.Logger.Debug().Str("venue", "runpod").Str("cloud", cloud).Strs("gpu_types", skipped).Msg("GPU types with no GPU class skipped")
		}
		for _, q := range qs {
			if s.keep(q) {
				out = append(out, q)
			}
		}
	}
	sortQuotes(out)
	return out, nil
}

// keep applies the gpu_types filter.
func (s *Source) keep(q procurebot.Quote) bool {
	if len(s.filter) == 0 {
		return true
	}
	for _, f := range s.filter {
		if f == strings.ToUpper(q.Ref) || f == strings.ToUpper(q.Instance) || f == q.GPU {
			return true
		}
	}
	return false
}

type lowestPrice struct {
	MinimumBidPrice       venuehttp.Number `json:"minimumBidPrice"`
	UninterruptablePrice  venuehttp.Number `json:"uninterruptablePrice"`
	StockStatus           *string          `json:"stockStatus"`
	AvailableGPUCounts    []int            `json:"availableGpuCounts"`
	MaxUnreservedGPUCount *int             `json:"maxUnreservedGpuCount"`
	CountryCode           *string          `json:"countryCode"`
}

type gpuType struct {
	ID                 string           `json:"id"`
	DisplayName        string           `json:"displayName"`
	SecurePrice        venuehttp.Number `json:"securePrice"`
	CommunityPrice     venuehttp.Number `json:"communityPrice"`
	SecureSpotPrice    venuehttp.Number `json:"secureSpotPrice"`
	CommunitySpotPrice venuehttp.Number `json:"communitySpotPrice"`
	LowestPrice        *lowestPrice     `json:"lowestPrice"`
}

type response struct {
	Data *struct {
		GPUTypes []gpuType `json:"gpuTypes"`
	} `json:"data"`
	Errors []struct {
		Message string `json:"message"`
		Path    []any  `json:"path"`
	} `json:"errors"`
}

// parse turns one cloud's GraphQL response into quotes. It does no I/O: c
// only decodes and names the venue and request in errors. skipped lists
// the GPU types that map to no GPU class.
func parse(c *venuehttp.Client, req venuehttp.Request, body []byte, cloud string, gpuCount int, now time.Time) (qs []procurebot.Quote, skipped []string, err error) {
	var r response
	if err := c.Decode(req, body, &r); err != nil {
		return nil, nil, err
	}
	if len(r.Errors) > 0 {
		msgs := make([]string, 0, len(r.Errors))
		for _, e := range r.Errors {
			m := e.Message
			if len(e.Path) > 0 {
				m = fmt.Sprintf("%s (at %v)", m, e.Path)
			}
			msgs = append(msgs, m)
		}
		return nil, nil, c.Malformed(req, "errors", "GraphQL error: %s", c.Redact(strings.Join(msgs, "; ")))
	}
	if r.Data == nil || r.Data.GPUTypes == nil {
		return nil, nil, c.Malformed(req, "data.gpuTypes", "missing")
	}
	n := decimal.NewFromInt(int64(gpuCount))
	for i, g := range r.Data.GPUTypes {
		field := fmt.Sprintf("data.gpuTypes[%d]", i)
		if g.ID == "" {
			return nil, nil, c.Malformed(req, field+".id", "missing")
		}
		lp := g.LowestPrice
		if lp == nil || lp.StockStatus == nil || *lp.StockStatus == "" {
			continue // no offer in this cloud at this size
		}
		if len(lp.AvailableGPUCounts) > 0 && !slices.Contains(lp.AvailableGPUCounts, gpuCount) {
			continue
		}
		available := -1
		if m := lp.MaxUnreservedGPUCount; m != nil {
			if *m < gpuCount {
				continue
			}
			available = *m / gpuCount
		}
		class := procurebot.GPUClassOf(g.DisplayName, g.ID)
		if class == "" {
			skipped = append(skipped, g.ID)
			continue
		}
		onDemand, onDemandField := g.SecurePrice, "securePrice"
		spot, spotField := g.SecureSpotPrice, "secureSpotPrice"
		if cloud == CloudCommunity {
			onDemand, onDemandField = g.CommunityPrice, "communityPrice"
			spot, spotField = g.CommunitySpotPrice, "communitySpotPrice"
		}
		region := ""
		if lp.CountryCode != nil {
			region = *lp.CountryCode
		}
		mk := func(p venuehttp.Number, spot bool, kind procurebot.SpotKind) procurebot.Quote {
			s := procurebot.SpotFalse
			if spot {
				s = procurebot.SpotTrue
			}
			q := procurebot.Quote{
				Offer: procurebot.Offer{
					Provider: "runpod", GPU: class, GPUCount: gpuCount,
					USDPerHour: p.Value.Mul(n), USDPerGPUHour: p.Value, HasPerGPU: true,
					Spot: s, Region: region, Instance: g.DisplayName,
				},
				Venue: "runpod", FetchedAt: now,
				Billing: procurebot.Billing{
					Unit: procurebot.BillUSDPerGPUHour, Raw: p.Raw, Denom: "USD",
					Amount: p.Value, ToUSDPerGPUHour: procurebot.One,
				},
				SpotKind: kind, Cloud: cloud, Available: available, Ref: g.ID,
			}
			q.PerGPU = q.PerGPUPrice()
			return q
		}
		ok, err := offered(c, req, onDemand, field+"."+onDemandField)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			qs = append(qs, mk(onDemand, false, procurebot.SpotNone))
		}
		ok, err = offered(c, req, spot, field+"."+spotField)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		bid, err := offered(c, req, lp.MinimumBidPrice, field+".lowestPrice.minimumBidPrice")
		if err != nil {
			return nil, nil, err
		}
		if bid {
			qs = append(qs, mk(lp.MinimumBidPrice, true, procurebot.SpotBid))
		} else {
			qs = append(qs, mk(spot, true, procurebot.SpotFixed))
		}
	}
	return qs, skipped, nil
}

// offered reports whether a price is an offer: null and zero (RunPod's
// "not in this cloud") are not; a negative price is malformed.
func offered(c *venuehttp.Client, req venuehttp.Request, p venuehttp.Number, field string) (bool, error) {
	if !p.Set() {
		return false, nil
	}
	switch p.Value.Sign() {
	case 0:
		return false, nil
	case -1:
		return false, c.Malformed(req, field, "%s is not a price", p.Raw)
	}
	return true, nil
}

// sortQuotes orders a book by per-GPU price, then by cloud, spot kind and
// ref, so that equal books compare equal.
func sortQuotes(qs []procurebot.Quote) {
	sort.SliceStable(qs, func(i, j int) bool {
		a, b := qs[i], qs[j]
		if c := a.PerGPU.Cmp(b.PerGPU); c != 0 {
			return c < 0
		}
		if a.Cloud != b.Cloud {
			return a.Cloud < b.Cloud
		}
		if a.SpotKind != b.SpotKind {
			return a.SpotKind < b.SpotKind
		}
		return a.Ref < b.Ref
	})
}

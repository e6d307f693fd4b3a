// Package ionet reads io.net's IO Cloud container (CaaS) prices as GPU
// quotes: for each hardware type of interest it finds the locations with
// deployable replicas and asks the price of one container of
// gpus_per_container GPUs for duration_hours.
//
// API (io.net docs, reference/caas: available-replicas, price-estimation;
// the Go client QuantumNous/new-api pkg/ionet client.go, hardware.go
// GetMaxGPUsPerContainer and GetAvailableReplicas, deployment.go
// GetPriceEstimation, types.go MaxGPUInfo), every call with the header
// "x-api-key: <key>" under {base} = https://api.io.solutions/enterprise/v1/io-cloud/caas:
//
//  1. GET {base}/hardware/max-gpus-per-container →
//     {data:{hardware:[{hardware_id, hardware_name, brand_name,
//     max_gpus_per_container, available}], total}}
//  2. GET {base}/available-replicas?hardware_id=&hardware_qty= →
//     {data:[{id, iso2, name, available_replicas}]}
//  3. GET {base}/price?location_ids=[1,4]&hardware_id=&hardware_qty=
//     &gpus_per_container=&duration_type=hourly&duration_qty=H
//     &duration_hours=H&replica_count=1&currency=usdc →
//     {data:{replica_count, gpus_per_container, available_replica_count[],
//     discount, ionet_fee, ionet_fee_percent, currency_conversion_fee,
//     currency_conversion_fee_percent, total_cost_usdc}}
//
// (the docs list duration_hours; new-api sends duration_type/duration_qty
// and hardware_qty as well, so both spellings are sent). Errors are
// FastAPI's {detail: "..."} or {detail:[{loc, msg, type}]}. Nothing pages.
//
// Units: total_cost_usdc is the whole deployment's cost in USDC for
// replica_count containers × duration_hours, so the price per GPU-hour is
// total / hours / replicas / gpus_per_container (BillUSDCPerTerm). USDC is
// counted as 1 USD: it is a dollar stablecoin and io.net bills in it, but
// a depeg is not modelled. The total is what is paid: it already includes
// ionet_fee and currency_conversion_fee (new-api derives the compute cost
// as total − ionet_fee − currency_conversion_fee); the adapter checks that
// the fees are non-negative and below the total, logs the breakdown, and
// never adds them again. Worked example: 8 H100 for 1 h at total_cost_usdc
// 17.52 is 17.52 USD/h for the container and 2.19 USD per GPU-hour (factor
// 1/8). The term is [fetch time, fetch time + duration); io.net has no
// spot market.
//
// One quote per hardware type that has a location with replicas: the price
// call covers all those locations, so the quote's Region lists their ISO
// codes, Available sums their replicas, and Ref holds hardware_id,
// gpus_per_container, duration_hours and location_ids, what a deploy call
// needs. Hardware of no known GPU class, with nothing available, or whose
// max_gpus_per_container is below gpus_per_container is skipped; so is any
// hardware beyond max_calls API calls, with a warning.
package ionet

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

// DefaultBaseURL is io.net's enterprise CaaS API root.
const DefaultBaseURL = "https://api.io.solutions/enterprise/v1/io-cloud/caas"

// Venue is the adapter's name and the quotes' provider.
const Venue = "ionet"

// Config is the providers.ionet section of the config.
//
//	providers:
//	  ionet:
//	    api_key: {env: IONET_API_KEY}
//	    hardware: [H100, A100]
//	    gpus_per_container: 8
//	    duration_hours: 1
type Config struct {
	venuehttp.Config `yaml:",inline"`
	// APIKey defaults to the env var IONET_API_KEY.
	APIKey venuehttp.Credential `yaml:"api_key"`
	// Hardware names the GPUs to price (H100, "A100 80GB", RTX 4090…), read
	// as GPU classes; empty means every hardware type of a known class.
	Hardware []string `yaml:"hardware"`
	// GPUsPerContainer is the container size priced (default 8; io.net's
	// deploy docs require 8 for CaaS).
	GPUsPerContainer int `yaml:"gpus_per_container"`
	// DurationHours is the term priced (default 1).
	DurationHours int `yaml:"duration_hours"`
	// MaxCalls bounds the API calls of one fetch (default 25, at least 3).
	MaxCalls int `yaml:"max_calls"`
}

// Source is the io.net adapter.
type Source struct {
	c        *venuehttp.Client
	env      venuehttp.Env
	log      zerolog.Logger
	maxAge   time.Duration
	classes  []string // wanted GPU classes in priority order; nil = all
	gpc      int
	hours    int
	maxCalls int
}

// New builds the adapter; the API key is required.
func New(cfg Config, env venuehttp.Env) (*Source, error) {
	if err := cfg.Validate(Venue); err != nil {
		return nil, err
	}
	s := &Source{env: env, log: env.Logger.With().Str("venue", Venue).Logger(),
		gpc: cfg.GPUsPerContainer, hours: cfg.DurationHours, maxCalls: cfg.MaxCalls, maxAge: cfg.MaxAge}
	if s.gpc == 0 {
		s.gpc = 8
	}
	if s.hours == 0 {
		s.hours = 1
	}
	if s.maxCalls == 0 {
		s.maxCalls = 25
	}
	if s.maxAge == 0 {
		s.maxAge = 30 * time.Minute
	}
	switch {
	case s.gpc < 1:
		return nil, procurebot.Invalidf("providers.ionet.gpus_per_container: %d must be at least 1", s.gpc)
	case s.hours < 1:
		return nil, procurebot.Invalidf("providers.ionet.duration_hours: %d must be at least 1", s.hours)
	case s.maxCalls < 3:
		return nil, procurebot.Invalidf("providers.ionet.max_calls: %d is fewer than the 3 calls one price takes", s.maxCalls)
	}
	seen := map[string]bool{}
	for i, h := range cfg.Hardware {
		class := procurebot.GPUClassOf(h)
		switch {
		case class == "":
			return nil, procurebot.Invalidf("providers.ionet.hardware[%d]: %q names no GPU class", i, h)
		case seen[class]:
			return nil, procurebot.Invalidf("providers.ionet.hardware[%d]: %q repeats GPU class %s", i, h, class)
		}
		seen[class] = true
		s.classes = append(s.classes, class)
	}
	key, err := cfg.APIKey.Resolve(env, "providers.ionet.api_key", "IONET_API_KEY", true)
	if err != nil {
		return nil, err
	}
	s.c, err = venuehttp.New(Venue, cfg.URL(DefaultBaseURL), env.Options(cfg.Config, 1),
		func(r *http.Request) { r.Header.Set("x-api-key", key.Reveal()) }, key)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Name is "ionet".
func (s *Source) Name() string { return Venue }

// MaxAge is the configured staleness bound (default 30 min).
func (s *Source) MaxAge() time.Duration { return s.maxAge }

type hardware struct {
	HardwareID          int    `json:"hardware_id"`
	HardwareName        string `json:"hardware_name"`
	BrandName           string `json:"brand_name"`
	MaxGPUsPerContainer int    `json:"max_gpus_per_container"`
	Available           int    `json:"available"`
	class               string
	rank                int
}

type location struct {
	ID                int    `json:"id"`
	ISO2              string `json:"iso2"`
	Name              string `json:"name"`
	AvailableReplicas int    `json:"available_replicas"`
}

type price struct {
	ReplicaCount          int              `json:"replica_count"`
	GPUsPerContainer      int              `json:"gpus_per_container"`
	AvailableReplicaCount []int            `json:"available_replica_count"`
	Discount              venuehttp.Number `json:"discount"`
	IonetFee              venuehttp.Number `json:"ionet_fee"`
	IonetFeePercent       venuehttp.Number `json:"ionet_fee_percent"`
	ConversionFee         venuehttp.Number `json:"currency_conversion_fee"`
	ConversionFeePercent  venuehttp.Number `json:"currency_conversion_fee_percent"`
	TotalCostUSDC         venuehttp.Number `json:"total_cost_usdc"`
}

// GPUQuotes returns one quote per wanted hardware type with deployable
// replicas, sorted by per-GPU price. A failed or malformed call fails the
// whole book.
func (s *Source) GPUQuotes(ctx context.Context) ([]procurebot.Quote, error) {
	now := s.env.Now()
	req := venuehttp.Request{Path: "hardware/max-gpus-per-container"}
	body, err := s.c.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	hw, err := s.parseHardware(req, body)
	if err != nil {
		return nil, err
	}
	calls := 1
	var out []procurebot.Quote
	for i, h := range hw {
		if calls+2 > s.maxCalls {
			s.log.Warn().Int("max_calls", s.maxCalls).Int("unpriced", len(hw)-i).Str("next", h.HardwareName).
				Msg("max_calls reached; the remaining hardware is not priced")
			break
		}
		rreq := s.replicasRequest(h)
		body, err := s.c.Do(ctx, rreq)
		calls++
		if err != nil {
			return nil, err
		}
		locs, err := s.parseReplicas(rreq, body)
		if err != nil {
			return nil, err
		}
		if len(locs) == 0 {
			s.log.Debug().Int("hardware_id", h.HardwareID).Str("hardware", h.HardwareName).Msg("no location has replicas")
			continue
		}
		preq := s.priceRequest(h, locs)
		body, err = s.c.Do(ctx, preq)
		calls++
		if err != nil {
			return nil, err
		}
		q, err := s.parsePrice(preq, body, h, locs, now)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].PerGPU.LessThan(out[j].PerGPU) })
	return out, nil
}

// parseHardware decodes the hardware list and returns the hardware worth
// pricing, in the configured order of GPU classes, then by id. It does no
// I/O.
func (s *Source) parseHardware(req venuehttp.Request, body []byte) ([]hardware, error) {
	var r struct {
		Data *struct {
			Hardware []hardware `json:"hardware"`
			Total    int        `json:"total"`
		} `json:"data"`
	}
	if err := s.c.Decode(req, body, &r); err != nil {
		return nil, err
	}
	switch {
	case r.Data == nil:
		return nil, s.c.Malformed(req, "data", "missing")
	case r.Data.Hardware == nil:
		return nil, s.c.Malformed(req, "data.hardware", "missing")
	}
	rank := map[string]int{}
	for i, c := range s.classes {
		rank[c] = i
	}
	var out []hardware
	for i, h := range r.Data.Hardware {
		field := "data.hardware[" + strconv.Itoa(i) + "]"
		if h.HardwareID <= 0 {
			return nil, s.c.Malformed(req, field+".hardware_id", "%d is not an id", h.HardwareID)
		}
		h.HardwareName = strings.TrimSpace(h.HardwareName)
		h.class = procurebot.GPUClassOf(h.HardwareName, h.BrandName+" "+h.HardwareName)
		pos, wanted := rank[h.class]
		switch {
		case h.class == "":
			s.log.Debug().Int("hardware_id", h.HardwareID).Str("hardware", h.HardwareName).Msg("skipping hardware of no known GPU class")
			continue
		case s.classes != nil && !wanted:
			continue
		case h.Available <= 0:
			continue
		case h.MaxGPUsPerContainer < s.gpc:
			s.log.Debug().Int("hardware_id", h.HardwareID).Str("hardware", h.HardwareName).Int("max_gpus_per_container", h.MaxGPUsPerContainer).
				Int("gpus_per_container", s.gpc).Msg("skipping hardware too small for the container")
			continue
		}
		h.rank = pos
		out = append(out, h)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].rank != out[j].rank {
			return out[i].rank < out[j].rank
		}
		return out[i].HardwareID < out[j].HardwareID
	})
	return out, nil
}

func (s *Source) replicasRequest(h hardware) venuehttp.Request {
	return venuehttp.Request{Path: "available-replicas", Query: url.Values{
		"hardware_id":  {strconv.Itoa(h.HardwareID)},
		"hardware_qty": {strconv.Itoa(s.gpc)},
	}}
}

// parseReplicas returns the locations with replicas available. It does no
// I/O.
func (s *Source) parseReplicas(req venuehttp.Request, body []byte) ([]location, error) {
	var r struct {
		Data *[]location `json:"data"`
	}
	if err := s.c.Decode(req, body, &r); err != nil {
		return nil, err
	}
	if r.Data == nil {
		return nil, s.c.Malformed(req, "data", "missing")
	}
	var out []location
	for i, l := range *r.Data {
		field := "data[" + strconv.Itoa(i) + "]"
		switch {
		case l.ID <= 0:
			return nil, s.c.Malformed(req, field+".id", "%d is not a location id", l.ID)
		case l.AvailableReplicas < 0:
			return nil, s.c.Malformed(req, field+".available_replicas", "%d is negative", l.AvailableReplicas)
		case l.AvailableReplicas > 0:
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func locationIDs(locs []location) string {
	ids := make([]int, len(locs))
	for i, l := range locs {
		ids[i] = l.ID
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

func (s *Source) priceRequest(h hardware, locs []location) venuehttp.Request {
	return venuehttp.Request{Path: "price", Query: url.Values{
		"location_ids":       {locationIDs(locs)},
		"hardware_id":        {strconv.Itoa(h.HardwareID)},
		"hardware_qty":       {strconv.Itoa(s.gpc)},
		"gpus_per_container": {strconv.Itoa(s.gpc)},
		"duration_type":      {"hourly"},
		"duration_qty":       {strconv.Itoa(s.hours)},
		"duration_hours":     {strconv.Itoa(s.hours)},
		"replica_count":      {"1"},
		"currency":           {"usdc"},
	}}
}

// parsePrice turns the price of one container of hardware h over locs into
// a quote. It does no I/O.
func (s *Source) parsePrice(req venuehttp.Request, body []byte, h hardware, locs []location, now time.Time) (procurebot.Quote, error) {
	var r struct {
		Data *price `json:"data"`
	}
	if err := s.c.Decode(req, body, &r); err != nil {
		return procurebot.Quote{}, err
	}
	p := r.Data
	if p == nil {
		return procurebot.Quote{}, s.c.Malformed(req, "data", "missing")
	}
	total := p.TotalCostUSDC
	switch {
	case !total.Set():
		return procurebot.Quote{}, s.c.Malformed(req, "data.total_cost_usdc", "missing")
	case total.Value.Sign() <= 0:
		return procurebot.Quote{}, s.c.Malformed(req, "data.total_cost_usdc", "%s is not a positive cost", total.Raw)
	case p.GPUsPerContainer != 0 && p.GPUsPerContainer != s.gpc:
		return procurebot.Quote{}, s.c.Malformed(req, "data.gpus_per_container", "%d, but %d were asked for", p.GPUsPerContainer, s.gpc)
	case p.ReplicaCount != 0 && p.ReplicaCount != 1:
		return procurebot.Quote{}, s.c.Malformed(req, "data.replica_count", "%d, but 1 was asked for", p.ReplicaCount)
	}
	fees := decimal.Zero
	for _, f := range []struct {
		name string
		n    venuehttp.Number
	}{{"ionet_fee", p.IonetFee}, {"currency_conversion_fee", p.ConversionFee}} {
		if !f.n.Set() {
			continue
		}
		if f.n.Value.Sign() < 0 {
			return procurebot.Quote{}, s.c.Malformed(req, "data."+f.name, "%s is negative", f.n.Raw)
		}
		fees = fees.Add(f.n.Value)
	}
	if !fees.LessThan(total.Value) {
		return procurebot.Quote{}, s.c.Malformed(req, "data.total_cost_usdc", "%s does not exceed its fees %s; the total is expected to include them", total.Raw, fees)
	}
	s.log.Debug().Int("hardware_id", h.HardwareID).Str("total_cost_usdc", total.Raw).Str("ionet_fee", p.IonetFee.Raw).
		Str("currency_conversion_fee", p.ConversionFee.Raw).Str("discount", p.Discount.Raw).Msg("price breakdown")

	hours := decimal.NewFromInt(int64(s.hours))
	gpus := decimal.NewFromInt(int64(s.gpc))
	iso := make([]string, len(locs))
	avail := 0
	for i, l := range locs {
		iso[i] = l.ISO2
		if iso[i] == "" {
			iso[i] = l.Name
		}
		avail += l.AvailableReplicas
	}
	q := procurebot.Quote{
		Offer: procurebot.Offer{
			Provider: Venue, GPU: h.class, GPUCount: s.gpc,
			USDPerHour: total.Value.DivRound(hours, 16),
			Spot:       procurebot.SpotFalse, Region: strings.Join(iso, ","), Instance: h.HardwareName,
		},
		Venue: Venue, FetchedAt: now,
		Billing: procurebot.Billing{
			Unit: procurebot.BillUSDCPerTerm, Raw: total.Raw, Denom: "USDC", Amount: total.Value,
			ToUSDPerGPUHour: decimal.NewFromInt(1).DivRound(hours.Mul(gpus), 24),
		},
		Term:      procurebot.Term{Start: now, End: now.Add(time.Duration(s.hours) * time.Hour)},
		Available: avail,
		Ref: url.Values{
			"hardware_id": {strconv.Itoa(h.HardwareID)}, "gpus_per_container": {strconv.Itoa(s.gpc)},
			"duration_hours": {strconv.Itoa(s.hours)}, "location_ids": {locationIDs(locs)},
		}.Encode(),
	}
	q.PerGPU = q.PerGPUPrice()
	if err := q.Validate(); err != nil {
		return procurebot.Quote{}, s.c.Malformed(req, "data", "%v", err)
	}
	return q, nil
}

package procurebot

import (
	"time"

	"github.com/shopspring/decimal"
)

// Spot is an offer's interruptibility as recorded: true, false or unknown.
type Spot int8

const (
	SpotUnknown Spot = iota // empty in the CSV: spot unless the provider is on-demand (§5)
	SpotTrue
	SpotFalse
)

// Offer is one row of a GPU book: a provider's price for instances of a GPU
// class at a snapshot time (DESIGN §5).
type Offer struct {
	Provider      string
	GPU           string // GPU class exactly as recorded: H100, H200, A100, MI300X…
	GPUCount      int    // GPUs per instance; 0 = unknown
	USDPerHour    Money  // instance price per hour (may be zero when only per-GPU is known)
	USDPerGPUHour Money  // per-GPU price as recorded; zero with HasPerGPU false when absent
	HasPerGPU     bool
	Spot          Spot
	Region        string
	Instance      string

	// PerGPU is the per-GPU price of the row by the rule of §5, filled by
	// the loader: usd_per_gpu_hour if set, else usd_per_hour/gpu_count if
	// gpu_count is set, else usd_per_hour (unknown shape counts as one GPU).
	PerGPU Money
}

// PerGPUPrice computes the per-GPU price of o by the rule of DESIGN §5.
func (o Offer) PerGPUPrice() Money {
	switch {
	case o.HasPerGPU:
		return o.USDPerGPUHour
	case o.GPUCount > 0:
		return o.USDPerHour.Div(decimal.NewFromInt(int64(o.GPUCount)))
	default:
		return o.USDPerHour
	}
}

// IsSpot reports whether o counts as spot: recorded spot, or unknown and the
// provider not among onDemand providers (§5).
func (o Offer) IsSpot(onDemand []string) bool {
	switch o.Spot {
	case SpotTrue:
		return true
	case SpotFalse:
		return false
	}
	for _, p := range onDemand {
		if p == o.Provider {
			return false
		}
	}
	return true
}

// Snapshot is every GPU offer recorded at one time. The book at time t is the
// latest snapshot at or before t; its prices hold until the next one.
type Snapshot struct {
	Time   time.Time
	Offers []Offer
}

// TokenPrice is a seller's price for an inference model, USD per million
// tokens in and out.
type TokenPrice struct {
	Provider      string
	Model         string
	USDPerMTokIn  Money
	USDPerMTokOut Money
	ContextLength int
}

// TokenSnapshot is every token price recorded at one time. A model absent
// from a later snapshot is no longer sold.
type TokenSnapshot struct {
	Time   time.Time
	Prices []TokenPrice
}

package procurebot

import (
	"fmt"
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// BillingUnit names the unit a venue bills a price in, before normalisation.
// The commonest way to pay more than quoted is to confuse these (a per-GPU
// bid sent as a per-instance bid, a block total read as an hourly price), so
// every live quote keeps its billed unit beside the normalised price.
type BillingUnit string

const (
	BillCentsPerInstanceHour BillingUnit = "usd_cents/instance_hour" // Lambda, Shadeform on-demand
	BillUSDPerInstanceHour   BillingUnit = "usd/instance_hour"       // Verda (DataCrunch), Shadeform spot, Vast.ai (whole offer)
	BillUSDPerGPUHour        BillingUnit = "usd/gpu_hour"            // RunPod, Akash console aggregates
	BillCentsPerTerm         BillingUnit = "usd_cents/term"          // SF Compute: total for the whole block of nodes × hours
	BillDenomPerBlock        BillingUnit = "denom/block"             // Akash bids: micro-denom per chain block
	BillUSDCPerTerm          BillingUnit = "usdc/term"               // io.net: total for replicas × duration
	BillUSDPerToken          BillingUnit = "usd/token"               // OpenRouter
	BillCurrencyPerMWh       BillingUnit = "currency/mwh"            // ERCOT (USD), ENTSO-E (EUR…)
)

// SpotKind says what "spot" means for an offer, which differs by venue.
type SpotKind string

const (
	SpotNone  SpotKind = ""      // on-demand, not interruptible
	SpotFixed SpotKind = "fixed" // interruptible at a fixed discounted list price (Verda, Shadeform)
	SpotBid   SpotKind = "bid"   // interruptible; the price is a bid floor, yours to set above it (Vast.ai, RunPod)
)

// Billing is a price exactly as the venue billed it, and the factor that
// normalises it: USD per GPU-hour = Amount × ToUSDPerGPUHour.
type Billing struct {
	Unit BillingUnit
	// Raw is the price exactly as the venue sent it ("2392", "3.95",
	// "1.378800000000000000").
	Raw string
	// Denom is the currency or token Raw is counted in: "USD", "USDC",
	// "uakt", "uact", "EUR".
	Denom string
	// Amount is Raw parsed exactly.
	Amount decimal.Decimal
	// ToUSDPerGPUHour converts one billed unit to USD per GPU-hour: for
	// cents per 8-GPU instance-hour it is 1/800; for uakt per block it is
	// blocks per hour × AKT/USD ÷ 1e6 ÷ GPUs. Zero when unknown.
	ToUSDPerGPUHour decimal.Decimal
}

// Term is the period a forward-market quote covers (SF Compute, io.net). A
// zero Term is the ordinary open-ended hourly rental.
type Term struct {
	Start time.Time
	End   time.Time
}

// IsZero reports whether t is the open-ended hourly term.
func (t Term) IsZero() bool { return t.Start.IsZero() && t.End.IsZero() }

// Hours is the term's length in hours (exact when it is a whole number of
// seconds).
func (t Term) Hours() decimal.Decimal {
	return decimal.NewFromInt(int64(t.End.Sub(t.Start) / time.Second)).Div(decimal.NewFromInt(3600))
}

// Quote is a live GPU offer: the normalised Offer of DESIGN §5 (USD per hour
// and per GPU-hour) plus what a buyer needs to re-quote right before buying
// and to cap on what the venue actually bills.
type Quote struct {
	Offer
	// Venue is the adapter that fetched the quote ("runpod"). Offer.Provider
	// is who is paid; the two differ only for aggregators, where Cloud names
	// the underlying cloud.
	Venue     string
	FetchedAt time.Time
	Billing   Billing
	SpotKind  SpotKind
	// Cloud is the venue's sub-market: "secure" or "community" on RunPod,
	// the underlying cloud on Shadeform. Buy in the same one you were
	// quoted, or pay another price.
	Cloud string
	// Term is the forward period for block markets; zero for hourly rentals.
	Term Term
	// Available is how many instances the venue says it can deliver now; -1
	// when it does not say.
	Available int
	// Ref is the venue's own key to re-quote or buy this exact offer (a Vast
	// offer id, a RunPod GPU type id, a Lambda instance type).
	Ref string
}

// Class is the outlier-guard class of a GPU quote: its GPU.
func (q Quote) Class() string { return q.GPU }

// BilledCap converts a cap in USD per GPU-hour to the venue's billed unit,
// rounded down to 12 decimals so that a bid at the returned amount never
// bills more than the cap. It is how a bid for a 0.80 USD/GPU-hour H100 on an
// 8-GPU Vast offer becomes 6.40 per offer-hour, and not 0.80 per GPU sent as
// an instance bid (or 8× too much the other way).
func (q Quote) BilledCap(maxUSDPerGPUHour Money) (decimal.Decimal, error) {
	if q.Billing.ToUSDPerGPUHour.Sign() <= 0 {
		return decimal.Zero, Errorf(EINVALID, "quote %s/%s: billing unit %s has no conversion to USD per GPU-hour", q.Venue, q.Ref, q.Billing.Unit)
	}
	return maxUSDPerGPUHour.DivRound(q.Billing.ToUSDPerGPUHour, 16).RoundDown(12), nil
}

// Validate checks that the quote is complete and that its normalised
// per-GPU price is its billed amount times its conversion factor (to 1e-9
// USD, the rounding of non-terminating factors).
func (q Quote) Validate() error {
	switch {
	case q.Venue == "":
		return Invalidf("quote: venue is empty")
	case q.Provider == "":
		return Invalidf("quote %s: provider is empty", q.Venue)
	case q.GPU == "":
		return Invalidf("quote %s/%s: gpu class is empty", q.Venue, q.Ref)
	case q.GPUCount <= 0:
		return Invalidf("quote %s/%s: gpu_count %d must be positive", q.Venue, q.Ref, q.GPUCount)
	case q.PerGPU.Sign() <= 0:
		return Invalidf("quote %s/%s: per-GPU price %s must be positive", q.Venue, q.Ref, q.PerGPU)
	case q.FetchedAt.IsZero():
		return Invalidf("quote %s/%s: fetch time is missing", q.Venue, q.Ref)
	case q.Billing.Unit == "" || q.Billing.Raw == "":
		return Invalidf("quote %s/%s: billed unit and raw price are required", q.Venue, q.Ref)
	case !q.Term.IsZero() && !q.Term.End.After(q.Term.Start):
		return Invalidf("quote %s/%s: term ends %s, not after its start %s", q.Venue, q.Ref, q.Term.End, q.Term.Start)
	}
	if f := q.Billing.ToUSDPerGPUHour; f.Sign() > 0 {
		want := q.Billing.Amount.Mul(f)
		if want.Sub(q.PerGPU).Abs().GreaterThan(decimal.New(1, -9)) {
			return Invalidf("quote %s/%s: per-GPU price %s is not billed %s %s × %s = %s", q.Venue, q.Ref, q.PerGPU, q.Billing.Raw, q.Billing.Unit, f, want)
		}
	}
	return nil
}

// TokenQuote is a live inference price: the TokenPrice of DESIGN §5 (USD per
// million tokens) plus its source and the raw per-token prices.
type TokenQuote struct {
	TokenPrice
	Venue     string
	FetchedAt time.Time
	// Upstream is the provider actually serving the model behind an
	// aggregator (OpenRouter endpoint's provider_name); empty for the
	// aggregator's own list price.
	Upstream     string
	Quantization string
	// RawIn and RawOut are the per-token prices as sent ("0.00000023").
	RawIn, RawOut string
	// Status is the venue's health code for the endpoint (OpenRouter: 0 =
	// up); Up reports whether it can be used.
	Status int
	Up     bool
}

// Class is the outlier-guard class of a token quote: its model.
func (q TokenQuote) Class() string { return q.Model }

// Validate checks the token quote.
func (q TokenQuote) Validate() error {
	switch {
	case q.Venue == "":
		return Invalidf("token quote: venue is empty")
	case q.Model == "":
		return Invalidf("token quote %s: model is empty", q.Venue)
	case q.USDPerMTokIn.Sign() < 0 || q.USDPerMTokOut.Sign() < 0:
		return Invalidf("token quote %s/%s: negative price", q.Venue, q.Model)
	case q.FetchedAt.IsZero():
		return Invalidf("token quote %s/%s: fetch time is missing", q.Venue, q.Model)
	}
	return nil
}

// PowerQuote is one interval's wholesale electricity price at a market
// (DESIGN §5 names markets as VENUE_NODE: ERCOT_HB_NORTH, ENTSOE_BE).
type PowerQuote struct {
	Market string
	// Start is the interval's start (UTC); Resolution its length (15 min
	// for ERCOT real time and new ENTSO-E day-ahead, 1 h otherwise).
	Start      time.Time
	Resolution time.Duration
	USDPerMWh  Money
	// Raw and Currency are the price as published ("88.41", "EUR"); Orig
	// is Raw parsed (for an hour averaged from intervals, their mean).
	Raw      string
	Currency string
	Orig     decimal.Decimal
	// Published is when the price became public: for day-ahead prices the
	// auction result time, before Start; for real-time prices the end of
	// the interval. A decision at t may use the price only if Published ≤ t
	// (the visibility rule of DESIGN §7.6, honoured live as in the
	// simulator).
	Published time.Time
	Venue     string
	FetchedAt time.Time
}

// Class is the outlier-guard class of a power quote: its market.
func (q PowerQuote) Class() string { return q.Market }

// VisibleAt reports whether the price may be used for a decision at t.
func (q PowerQuote) VisibleAt(t time.Time) bool { return !q.Published.After(t) }

// Validate checks the power quote.
func (q PowerQuote) Validate() error {
	switch {
	case q.Venue == "":
		return Invalidf("power quote: venue is empty")
	case q.Market == "":
		return Invalidf("power quote %s: market is empty", q.Venue)
	case q.Start.IsZero():
		return Invalidf("power quote %s/%s: interval start is missing", q.Venue, q.Market)
	case q.Resolution <= 0 || time.Hour%q.Resolution != 0:
		return Invalidf("power quote %s/%s: resolution %s must divide an hour", q.Venue, q.Market, q.Resolution)
	case q.Published.IsZero():
		return Invalidf("power quote %s/%s: publication time is missing", q.Venue, q.Market)
	}
	return nil
}

// HourlyPower averages sub-hourly power quotes into the hourly prices of
// DESIGN §5: one quote per (market, hour) whose price is the mean of the
// hour's intervals, published when its last interval was. An hour is
// returned only when all its intervals are present (an incomplete hour is
// left for a later poll). The result is sorted by market, then hour.
func HourlyPower(qs []PowerQuote) ([]PowerQuote, error) {
	type key struct {
		market string
		hour   time.Time
	}
	type acc struct {
		q     PowerQuote
		sum   decimal.Decimal
		orig  decimal.Decimal
		seen  map[time.Time]bool
		slots int
	}
	groups := map[key]*acc{}
	var order []key
	for _, q := range qs {
		if err := q.Validate(); err != nil {
			return nil, err
		}
		k := key{q.Market, q.Start.UTC().Truncate(time.Hour)}
		a := groups[k]
		if a == nil {
			a = &acc{q: q, seen: map[time.Time]bool{}, slots: int(time.Hour / q.Resolution)}
			a.q.Start, a.q.Resolution = k.hour, time.Hour
			a.q.Published, a.q.FetchedAt = time.Time{}, time.Time{}
			groups[k] = a
			order = append(order, k)
		}
		if int(time.Hour/q.Resolution) != a.slots {
			return nil, Invalidf("power %s/%s hour %s: mixed resolutions %s and %s", q.Venue, q.Market, k.hour.Format(time.RFC3339), time.Hour/time.Duration(a.slots), q.Resolution)
		}
		if a.seen[q.Start] {
			return nil, Invalidf("power %s/%s: interval %s twice", q.Venue, q.Market, q.Start.Format(time.RFC3339))
		}
		a.seen[q.Start] = true
		a.sum = a.sum.Add(q.USDPerMWh)
		a.orig = a.orig.Add(q.Orig)
		if q.Published.After(a.q.Published) {
			a.q.Published = q.Published
		}
		if q.FetchedAt.After(a.q.FetchedAt) {
			a.q.FetchedAt = q.FetchedAt
		}
	}
	out := make([]PowerQuote, 0, len(order))
	for _, k := range order {
		a := groups[k]
		if len(a.seen) < a.slots {
			continue
		}
		n := decimal.NewFromInt(int64(a.slots))
		a.q.USDPerMWh = a.sum.DivRound(n, 8)
		a.q.Orig = a.orig.DivRound(n, 8)
		a.q.Raw = a.q.Orig.String()
		out = append(out, a.q)
	}
	SortPower(out)
	return out, nil
}

// SortPower orders power quotes by market, then interval start.
func SortPower(qs []PowerQuote) {
	sort.Slice(qs, func(i, j int) bool {
		if qs[i].Market != qs[j].Market {
			return qs[i].Market < qs[j].Market
		}
		return qs[i].Start.Before(qs[j].Start)
	})
}

// String renders the quote for logs.
func (q Quote) String() string {
	return fmt.Sprintf("%s %s %dx%s %s/gpu-h (billed %s %s)", q.Venue, q.Provider, q.GPUCount, q.GPU, q.PerGPU, q.Billing.Raw, q.Billing.Unit)
}

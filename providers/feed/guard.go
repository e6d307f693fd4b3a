package feed

import (
	"fmt"
	"sort"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
)

// GuardConfig tunes the outlier guard. In YAML (the feed section):
//
//	guard: {low: 0.2, high: 5, window: 200, min_samples: 5,
//	        power_min_usd_per_mwh: -1000, power_max_usd_per_mwh: 10000}
type GuardConfig struct {
	// A GPU or token price below Low × or above High × the rolling median
	// of its class is quarantined (defaults 0.2 and 5).
	Low  float64 `yaml:"low"`
	High float64 `yaml:"high"`
	// Window is how many recent accepted prices per class and provider the
	// provider medians are taken over (default 200).
	Window int `yaml:"window"`
	// MinSamples is how many prices a class needs before the guard judges
	// it (default 5): a class seen once cannot be told from an outlier.
	MinSamples int `yaml:"min_samples"`
	// Power prices may be negative, so a ratio to the median means nothing
	// for them: a power price outside [PowerMin, PowerMax] USD/MWh is
	// quarantined instead (defaults −1000 and 10000: ERCOT's offer cap is
	// 5000, ENTSO-E's harmonised day-ahead bounds are −500 and 4000).
	PowerMin *float64 `yaml:"power_min_usd_per_mwh"`
	PowerMax *float64 `yaml:"power_max_usd_per_mwh"`
}

func (c *GuardConfig) defaults() {
	if c.Low == 0 {
		c.Low = 0.2
	}
	if c.High == 0 {
		c.High = 5
	}
	if c.Window == 0 {
		c.Window = 200
	}
	if c.MinSamples == 0 {
		c.MinSamples = 5
	}
	if c.PowerMin == nil {
		v := -1000.0
		c.PowerMin = &v
	}
	if c.PowerMax == nil {
		v := 10000.0
		c.PowerMax = &v
	}
}

// Validate names the first bad key.
func (c GuardConfig) Validate() error {
	c.defaults()
	switch {
	case c.Low < 0 || c.Low >= 1:
		return procurebot.Invalidf("feed.guard.low: %g must be in [0, 1)", c.Low)
	case c.High <= 1:
		return procurebot.Invalidf("feed.guard.high: %g must be above 1", c.High)
	case c.Window < 1:
		return procurebot.Invalidf("feed.guard.window: %d must be positive", c.Window)
	case c.MinSamples < 1:
		return procurebot.Invalidf("feed.guard.min_samples: %d must be positive", c.MinSamples)
	case *c.PowerMin >= *c.PowerMax:
		return procurebot.Invalidf("feed.guard.power_min_usd_per_mwh: %g must be below power_max_usd_per_mwh %g", *c.PowerMin, *c.PowerMax)
	}
	return nil
}

// Quarantined is a quote the guard kept out of use, and why.
type Quarantined struct {
	Venue  string
	Class  string // GPU class, model or market
	Price  decimal.Decimal
	Median decimal.Decimal // zero for power
	Reason string
}

// Guard judges prices against the recent range of their class. The
// reference is the median, over the providers selling the class, of each
// provider's median price (its recent window and the batch being judged):
// one provider listing a hundred odd-shaped offers gets one vote, as does
// one listing a single offer, so no single seller moves the reference. It
// is not safe for concurrent use; Feed serialises it.
type Guard struct {
	cfg            GuardConfig
	low, high      decimal.Decimal
	powMin, powMax decimal.Decimal
	recent         map[string]map[string][]decimal.Decimal // class → provider → accepted prices, oldest first
}

// NewGuard returns a guard with cfg's defaults filled in.
func NewGuard(cfg GuardConfig) (*Guard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	return &Guard{
		cfg:    cfg,
		low:    decimal.NewFromFloat(cfg.Low),
		high:   decimal.NewFromFloat(cfg.High),
		powMin: decimal.NewFromFloat(*cfg.PowerMin),
		powMax: decimal.NewFromFloat(*cfg.PowerMax),
		recent: map[string]map[string][]decimal.Decimal{},
	}, nil
}

// Seed adds accepted prices of a class sold by provider (recorded
// history), so that the guard judges from the first poll. Classes are
// "gpu:H100", "tok:<model>".
func (g *Guard) Seed(class, provider string, prices ...decimal.Decimal) {
	g.accept(class, provider, prices)
}

func (g *Guard) accept(class, provider string, prices []decimal.Decimal) {
	if g.recent[class] == nil {
		g.recent[class] = map[string][]decimal.Decimal{}
	}
	r := append(g.recent[class][provider], prices...)
	if len(r) > g.cfg.Window {
		r = append([]decimal.Decimal(nil), r[len(r)-g.cfg.Window:]...)
	}
	g.recent[class][provider] = r
}

func median(xs []decimal.Decimal) decimal.Decimal {
	s := append([]decimal.Decimal(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i].LessThan(s[j]) })
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return s[n/2-1].Add(s[n/2]).Div(decimal.NewFromInt(2))
}

// judge splits prices of one class (a batch from one poll; provider[i]
// sells prices[i]) into kept and quarantined. The reference is the median
// of provider medians over the window of accepted prices; while the window
// holds fewer than MinSamples prices the batch counts too, and below that
// nothing is judged. Kept prices join the window. A whole market moving
// beyond the bounds at once is therefore quarantined until a human looks
// (a unit change at a venue looks exactly like that).
func (g *Guard) judge(class string, provider []string, prices []decimal.Decimal) (keep []bool, med decimal.Decimal) {
	keep = make([]bool, len(prices))
	samples := map[string][]decimal.Decimal{}
	n := 0
	for p, xs := range g.recent[class] {
		samples[p] = append(samples[p], xs...)
		n += len(xs)
	}
	if n < g.cfg.MinSamples {
		for i, x := range prices {
			samples[provider[i]] = append(samples[provider[i]], x)
			n++
		}
	}
	if n < g.cfg.MinSamples {
		for i := range keep {
			keep[i] = true
		}
		for i, x := range prices {
			g.accept(class, provider[i], []decimal.Decimal{x})
		}
		return keep, decimal.Zero
	}
	meds := make([]decimal.Decimal, 0, len(samples))
	for _, xs := range samples {
		meds = append(meds, median(xs))
	}
	med = median(meds)
	lo, hi := med.Mul(g.low), med.Mul(g.high)
	ok := map[string][]decimal.Decimal{}
	for i, x := range prices {
		keep[i] = !x.LessThan(lo) && !x.GreaterThan(hi)
		if keep[i] {
			ok[provider[i]] = append(ok[provider[i]], x)
		}
	}
	for _, p := range sortedKeys(ok) {
		g.accept(class, p, ok[p])
	}
	return keep, med
}

// GPU returns the quotes to use and the quarantined ones: a quote whose
// per-GPU price is outside [Low, High] × the reference of its GPU class
// (see Guard).
func (g *Guard) GPU(qs []procurebot.Quote) ([]procurebot.Quote, []Quarantined) {
	byClass := map[string][]int{}
	for i, q := range qs {
		byClass[q.Class()] = append(byClass[q.Class()], i)
	}
	drop := make([]bool, len(qs))
	var out []Quarantined
	for _, class := range sortedKeys(byClass) {
		idx := byClass[class]
		prices := make([]decimal.Decimal, len(idx))
		sellers := make([]string, len(idx))
		for k, i := range idx {
			prices[k], sellers[k] = qs[i].PerGPU, qs[i].Provider
		}
		keep, med := g.judge("gpu:"+class, sellers, prices)
		for k, i := range idx {
			if !keep[k] {
				drop[i] = true
				out = append(out, Quarantined{Venue: qs[i].Venue, Class: class, Price: prices[k], Median: med,
					Reason: fmt.Sprintf("%s USD/GPU-h is %s× the median %s of %s (allowed %g–%g×)", prices[k], ratio(prices[k], med), med, class, g.cfg.Low, g.cfg.High)})
			}
		}
	}
	return filter(qs, drop), out
}

// Tokens does for token quotes what GPU does, on the sum of the input and
// output prices per million tokens, per model. Free models (price zero)
// are judged like any other: zero is below Low × a positive median, so a
// model that is sometimes free needs a free majority to pass.
func (g *Guard) Tokens(qs []procurebot.TokenQuote) ([]procurebot.TokenQuote, []Quarantined) {
	byClass := map[string][]int{}
	for i, q := range qs {
		byClass[q.Class()] = append(byClass[q.Class()], i)
	}
	drop := make([]bool, len(qs))
	var out []Quarantined
	for _, class := range sortedKeys(byClass) {
		idx := byClass[class]
		prices := make([]decimal.Decimal, len(idx))
		sellers := make([]string, len(idx))
		for k, i := range idx {
			prices[k] = qs[i].USDPerMTokIn.Add(qs[i].USDPerMTokOut)
			sellers[k] = qs[i].Provider + "/" + qs[i].Upstream
		}
		keep, med := g.judge("tok:"+class, sellers, prices)
		for k, i := range idx {
			if !keep[k] {
				drop[i] = true
				out = append(out, Quarantined{Venue: qs[i].Venue, Class: class, Price: prices[k], Median: med,
					Reason: fmt.Sprintf("%s USD/Mtok (in+out) is %s× the median %s (allowed %g–%g×)", prices[k], ratio(prices[k], med), med, g.cfg.Low, g.cfg.High)})
			}
		}
	}
	return filter(qs, drop), out
}

// Power quarantines power prices outside the configured band.
func (g *Guard) Power(qs []procurebot.PowerQuote) ([]procurebot.PowerQuote, []Quarantined) {
	drop := make([]bool, len(qs))
	var out []Quarantined
	for i, q := range qs {
		if q.USDPerMWh.LessThan(g.powMin) || q.USDPerMWh.GreaterThan(g.powMax) {
			drop[i] = true
			out = append(out, Quarantined{Venue: q.Venue, Class: q.Market, Price: q.USDPerMWh,
				Reason: fmt.Sprintf("%s USD/MWh at %s is outside [%s, %s]", q.USDPerMWh, q.Start.Format("2006-01-02T15:04Z"), g.powMin, g.powMax)})
		}
	}
	return filter(qs, drop), out
}

func ratio(p, med decimal.Decimal) string {
	if med.IsZero() {
		return "∞"
	}
	return p.DivRound(med, 2).String()
}

func filter[T any](xs []T, drop []bool) []T {
	out := make([]T, 0, len(xs))
	for i, x := range xs {
		if !drop[i] {
			out = append(out, x)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// SeedOffers seeds the guard with a recorded GPU book (e.g. the embedded
// history's latest), so that a venue that starts quoting in the wrong unit
// is caught on the first poll even when few venues are configured. Each
// provider's cheapest offer of a class is taken: recorded rows of unknown
// shape count as one GPU (DESIGN §5), so a provider's 8-GPU instance row
// would read as an 8× per-GPU price, while its cheapest row is the one
// most likely priced per GPU.
func (g *Guard) SeedOffers(offers []procurebot.Offer) {
	type key struct{ class, provider string }
	cheapest := map[key]decimal.Decimal{}
	var order []key
	for _, o := range offers {
		k := key{o.GPU, o.Provider}
		c, ok := cheapest[k]
		if !ok {
			order = append(order, k)
		}
		if !ok || o.PerGPU.LessThan(c) {
			cheapest[k] = o.PerGPU
		}
	}
	for _, k := range order {
		g.accept("gpu:"+k.class, k.provider, []decimal.Decimal{cheapest[k]})
	}
}

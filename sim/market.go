package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/big"
	"strconv"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
)

// Market is a scenario's market replayed from recorded history: the power
// price of every site at every step, the book and token snapshot in force at
// every step, and the deterministic preemption draws of DESIGN §7.5. It is
// the full truth of a run; strategies see it only through a View (with the
// visibility rules of §7.6), the oracle through Foresight.
type Market struct {
	sc *procurebot.Scenario
	ds *procurebot.Dataset
	k  int   // number of steps
	h  Money // step length in hours

	power   [][]Money // [site][step] USD/MWh
	bookIdx []int     // [step] index in ds.GPU, -1 before the first snapshot
	tokIdx  []int     // [step] index in ds.Tokens, -1 before the first

	// tokenCost[w][i] is workload w's cost per hour at the cheapest row for
	// its model in token snapshot i; tokenSold[w][i] false when not sold.
	tokenCost [][]Money
	tokenSold [][]bool

	live bool // per-step data is filled in by Session.Prepare as it arrives

	preemptAlways bool
	preemptNever  bool
	preemptBelow  uint64 // preempted iff draw < preemptBelow
	leaseCache    map[leaseKey]leaseVal

	preemptMu    sync.Mutex
	preemptCache map[preemptKey]bool
}

type leaseKey struct {
	book int
	gpu  string
}

type leaseVal struct {
	price Money
	ok    bool
}

type preemptKey struct {
	provider, gpu string
	k             int
}

// NewMarket prepares the replay of ds over sc's window. sc must be valid
// (Validate and ValidateData); a power price the data lacks is an EINVALID
// error naming the market and hour.
func NewMarket(sc *procurebot.Scenario, ds *procurebot.Dataset) (*Market, error) {
	m := newMarket(sc, ds)
	for s := range sc.Sites {
		site := &sc.Sites[s]
		if _, ok := ds.Power[site.PowerMarket]; !ok {
			return nil, procurebot.Invalidf("sites[%d] (%s).power_market: market %q not in the data", s, site.Name, site.PowerMarket)
		}
	}
	for k := 0; k < m.k; k++ {
		if _, err := m.fillStep(k); err != nil {
			return nil, err
		}
	}
	m.costTokens()
	m.setPreemption(sc.Market.SpotPreemptionPerHour.Mul(m.h))
	return m, nil
}

// newMarket allocates the per-step arrays of sc's window, unfilled.
func newMarket(sc *procurebot.Scenario, ds *procurebot.Dataset) *Market {
	m := &Market{sc: sc, ds: ds, k: sc.Steps(), h: sc.StepHours(), preemptCache: map[preemptKey]bool{}}
	m.power = make([][]Money, len(sc.Sites))
	for s := range sc.Sites {
		m.power[s] = make([]Money, m.k)
	}
	m.bookIdx = make([]int, m.k)
	m.tokIdx = make([]int, m.k)
	m.tokenCost = make([][]Money, len(sc.Inference))
	m.tokenSold = make([][]bool, len(sc.Inference))
	return m
}

// errNoMarket is fillStep's error for a site whose market has no series.
var errNoMarket = errors.New("no price series for the market")

// fillStep fixes step k from the data set as it is: each site's power price
// of the step's hour (the gap rule of §5), the book and the token snapshot
// in force. On error it returns the site whose price is missing.
func (m *Market) fillStep(k int) (int, error) {
	t := m.sc.StepTime(k)
	for s := range m.sc.Sites {
		series, ok := m.ds.Power[m.sc.Sites[s].PowerMarket]
		if !ok {
			return s, errNoMarket
		}
		p, err := series.At(t)
		if err != nil {
			return s, err
		}
		m.power[s][k] = p
	}
	m.bookIdx[k] = m.ds.BookIndex(t)
	m.tokIdx[k] = m.ds.TokenIndex(t)
	return -1, nil
}

// costTokens prices every inference workload in the token snapshots not
// priced yet (all of them at first; in a live session, the new ones).
func (m *Market) costTokens() {
	for w := range m.sc.Inference {
		inf := &m.sc.Inference[w]
		for i := len(m.tokenCost[w]); i < len(m.ds.Tokens); i++ {
			c, ok := inf.TokenCostPerHour(m.ds.Tokens[i].Prices)
			m.tokenCost[w] = append(m.tokenCost[w], c)
			m.tokenSold[w] = append(m.tokenSold[w], ok)
		}
	}
}

// setPreemption precomputes the draw threshold for probability q = rate·h:
// u < q with u = X/2^64 ⇔ X < ceil(q·2^64) for integer X.
func (m *Market) setPreemption(q Money) {
	switch {
	case q.Sign() <= 0:
		m.preemptNever = true
		return
	case q.GreaterThanOrEqual(decimal.NewFromInt(1)):
		m.preemptAlways = true
		return
	}
	two64 := new(big.Int).Lsh(big.NewInt(1), 64)
	t := q.Mul(decimal.NewFromBigInt(two64, 0)).Ceil().BigInt()
	if t.Cmp(two64) >= 0 { // q within 2^-64 of 1: every draw is below it
		m.preemptAlways = true
		return
	}
	m.preemptBelow = t.Uint64()
}

// PreemptionDraw returns u of DESIGN §7.5 as the integer X = u·2^64: the
// first 8 bytes, big-endian, of SHA-256 of "{seed}|{provider}|{gpu}|{k}".
func PreemptionDraw(seed int64, provider, gpu string, k int) uint64 {
	b := make([]byte, 0, 64)
	b = strconv.AppendInt(b, seed, 10)
	b = append(b, '|')
	b = append(b, provider...)
	b = append(b, '|')
	b = append(b, gpu...)
	b = append(b, '|')
	b = strconv.AppendInt(b, int64(k), 10)
	sum := sha256.Sum256(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// Preempted reports whether the spot rows of provider and gpu are preempted
// in step k.
func (m *Market) Preempted(provider, gpu string, k int) bool {
	if m.preemptNever {
		return false
	}
	if m.preemptAlways {
		return true
	}
	key := preemptKey{provider, gpu, k}
	m.preemptMu.Lock()
	defer m.preemptMu.Unlock()
	if v, ok := m.preemptCache[key]; ok {
		return v
	}
	v := PreemptionDraw(m.sc.Seed, provider, gpu, k) < m.preemptBelow
	m.preemptCache[key] = v
	return v
}

// Steps returns the number of steps of the window.
func (m *Market) Steps() int { return m.k }

// Power returns site s's power price at step k (USD/MWh).
func (m *Market) Power(s, k int) Money { return m.power[s][k] }

// Book returns the offers in force at step k.
func (m *Market) Book(k int) []procurebot.Offer {
	i := m.bookIdx[k]
	if i < 0 {
		return nil
	}
	return m.ds.GPU[i].Offers
}

// Tokens returns the token prices in force at step k.
func (m *Market) Tokens(k int) []procurebot.TokenPrice {
	i := m.tokIdx[k]
	if i < 0 {
		return nil
	}
	return m.ds.Tokens[i].Prices
}

// TokenCost returns workload w's token cost per hour at step k and whether
// its model is sold then.
func (m *Market) TokenCost(w, k int) (Money, bool) {
	i := m.tokIdx[k]
	if i < 0 {
		return Money{}, false
	}
	return m.tokenCost[w][i], m.tokenSold[w][i]
}

// TokenSeller returns the provider of the cheapest token row for workload
// w's model at step k ("" when none sells it).
func (m *Market) TokenSeller(w, k int) string {
	seller, _, _ := m.sc.Inference[w].TokenSeller(m.Tokens(k))
	return seller
}

// LeasePrice returns m_g(k) of DESIGN §7.4: the lowest per-GPU price among
// the book's rows of class gpu from allowed providers (spot included), and
// false when the book has none.
func (m *Market) LeasePrice(gpu string, k int) (Money, bool) {
	key := leaseKey{m.bookIdx[k], gpu}
	m.preemptMu.Lock()
	defer m.preemptMu.Unlock()
	if v, ok := m.leaseCache[key]; ok {
		return v.price, v.ok
	}
	p, ok := procurebot.LeasePrice(m.Book(k), gpu, &m.sc.Market)
	if m.leaseCache == nil {
		m.leaseCache = map[leaseKey]leaseVal{}
	}
	m.leaseCache[key] = leaseVal{p, ok}
	return p, ok
}

// visibleUntil returns the first hour of site s's market not visible at t.
func (m *Market) visibleUntil(s int, t time.Time) time.Time {
	hour := t.UTC().Truncate(time.Hour)
	if m.sc.Sites[s].PowerVisibility == procurebot.VisibilityDayAhead {
		day := time.Date(hour.Year(), hour.Month(), hour.Day(), 0, 0, 0, 0, time.UTC)
		if hour.Hour() >= 12 {
			return day.AddDate(0, 0, 2)
		}
		return day.AddDate(0, 0, 1)
	}
	return hour.Add(time.Hour)
}

// foresight adapts Market to procurebot.Foresight.
type foresight struct{ m *Market }

func (f foresight) Power(s, k int) Money                 { return f.m.Power(s, k) }
func (f foresight) Book(k int) []procurebot.Offer        { return f.m.Book(k) }
func (f foresight) Tokens(k int) []procurebot.TokenPrice { return f.m.Tokens(k) }
func (f foresight) Preempted(p, g string, k int) bool    { return f.m.Preempted(p, g, k) }

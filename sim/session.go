package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/procurebot/procurebot"
)

// Session is a backtest stepped from outside: Decide asks the strategy for
// the next step's decision under the visibility rules, Quote prices a
// decision without committing it, Apply commits it. Run is a Session
// stepped to the end; the agent's paper mode steps one too, between
// policy, approvals, payments and the ledger, so that a paper run and a
// backtest share one accounting path.
type Session struct {
	r  *run
	st procurebot.Strategy
	k  int
}

// NewSession starts a run of st on sc over ds (sc validated against ds). A
// Hindsight strategy is given the whole market first.
func NewSession(ctx context.Context, sc *procurebot.Scenario, ds *procurebot.Dataset, st procurebot.Strategy) (*Session, error) {
	m, err := NewMarket(sc, ds)
	if err != nil {
		return nil, err
	}
	r := newRun(sc, ds, m, st)
	if h, ok := st.(procurebot.Hindsight); ok {
		r.oracle = true
		if err := h.Foresee(ctx, foresight{m}); err != nil {
			return nil, fmt.Errorf("strategy %s: %w", st.Name(), err)
		}
	}
	return &Session{r: r, st: st}, nil
}

// NewLiveSession starts a run whose market data arrives as it goes: the
// caller appends to ds what the feeds saw (a GPU snapshot, token prices,
// power hours) and calls Prepare before each step. Preemptions are not
// drawn (a live venue reports its own). st must not be a Hindsight.
func NewLiveSession(sc *procurebot.Scenario, ds *procurebot.Dataset, st procurebot.Strategy) (*Session, error) {
	if _, ok := st.(procurebot.Hindsight); ok {
		return nil, procurebot.Invalidf("strategy %s needs hindsight; it cannot run live", st.Name())
	}
	m := newMarket(sc, ds)
	m.preemptNever, m.live = true, true
	for k := range m.k {
		m.bookIdx[k], m.tokIdx[k] = -1, -1
	}
	return &Session{r: newRun(sc, ds, m, st), st: st}, nil
}

// Prepare fixes the next step's market from the data set as it is now: each
// site's power price of the step's hour (the gap rule of §5 applies), the
// book and the token prices in force. Only live sessions need it; it is an
// EUNAVAILABLE error when a site's market has no price for the hour.
func (s *Session) Prepare() error {
	m, k := s.r.m, s.k
	if !m.live || k >= m.k {
		return nil
	}
	if site, err := m.fillStep(k); err != nil {
		name := s.r.sc.Sites[site].Name
		if errors.Is(err, errNoMarket) {
			return procurebot.Errorf(procurebot.EUNAVAILABLE, "site %s: no power price of %s yet", name, s.r.sc.Sites[site].PowerMarket)
		}
		return &procurebot.Error{Code: procurebot.EUNAVAILABLE, Message: fmt.Sprintf("site %s", name), Err: err}
	}
	m.costTokens()
	return nil
}

// Steps is the number of steps of the scenario.
func (s *Session) Steps() int { return s.r.m.Steps() }

// Next is the index of the next step to decide (Steps when done).
func (s *Session) Next() int { return s.k }

// Time is the start of step k.
func (s *Session) Time(k int) time.Time { return s.r.sc.StepTime(k) }

// Scenario is the scenario being run (read-only).
func (s *Session) Scenario() *procurebot.Scenario { return s.r.sc }

// BookNow is the GPU book in force at the next step (what JobAlloc.Offer
// indexes).
func (s *Session) BookNow() []procurebot.Offer {
	if s.k >= s.Steps() {
		return nil
	}
	return s.r.m.Book(s.k)
}

// BookAge is how old the GPU book in force at the step just applied was
// when the step began (its snapshot's age).
func (s *Session) BookAge() time.Duration {
	k := s.k - 1
	if k < 0 {
		k = 0
	}
	i := s.r.m.bookIdx[k]
	if i < 0 {
		return 0
	}
	return s.r.sc.StepTime(k).Sub(s.r.ds.GPU[i].Time)
}

// Clock is the session's virtual clock: it reads the start of the step
// being decided.
func (s *Session) Clock() *VirtualClock { return s.r.clock }

// Decide asks the strategy for the decision of the next step.
func (s *Session) Decide(ctx context.Context) (procurebot.Decision, error) {
	k := s.k
	if k >= s.Steps() {
		return procurebot.Decision{}, procurebot.Errorf(procurebot.EINTERNAL, "session: all %d steps are done", s.Steps())
	}
	s.r.clock.Set(s.r.sc.StepTime(k))
	d, err := s.st.Decide(ctx, &view{r: s.r, k: k})
	if err != nil {
		return procurebot.Decision{}, fmt.Errorf("strategy %s, step %d (%s): %w", s.st.Name(), k, s.r.sc.StepTime(k).Format(time.RFC3339), err)
	}
	return d, nil
}

// Quote prices d for the next step without committing it.
func (s *Session) Quote(d procurebot.Decision) (*Bill, error) {
	c, err := s.r.price(s.k, d)
	if err != nil {
		return nil, s.stepErr(err)
	}
	return s.bill(c, false), nil
}

// Apply commits d as the next step's decision (the budget of §7.10 may
// block it) and returns what the step cost.
func (s *Session) Apply(d procurebot.Decision) (*Bill, error) {
	c, blocked, err := s.r.apply(s.k, d)
	if err != nil {
		return nil, s.stepErr(err)
	}
	b := s.bill(c, blocked)
	s.k++
	return b, nil
}

func (s *Session) stepErr(err error) error {
	return fmt.Errorf("strategy %s, step %d (%s): %w", s.st.Name(), s.k, s.r.sc.StepTime(s.k).Format(time.RFC3339), err)
}

// Result closes the books (call once, after the last Apply).
func (s *Session) Result() *Result { return s.r.finish() }

// Charge is one venue's part of a step's bill.
type Charge struct {
	Venue string // provider, token seller or power market
	Job   string // rentals: the job served
	Site  string // energy, other and leases: the site
	GPU   string
	GPUs  Money
	// MaxUSDPerGPUHour is the dearest per-GPU price among the rows rented
	// (rentals), for per-class price limits.
	MaxUSDPerGPUHour Money
	AmountUSD        Money
}

// Bill is what one step cost, per venue: the money the agent pays (rentals
// per provider and job, tokens per seller, energy per site's power market),
// what it only accounts (other costs per site) and what it earns (lease
// income per site). Its totals are the step's figures of the §8 JSON.
type Bill struct {
	Step    int
	Time    time.Time
	Hours   Money
	Blocked bool // the budget stopped the step: nothing bought
	Rentals []Charge
	Tokens  []Charge // per inference workload with tokens bought
	Energy  []Charge // per site with energy charged
	Other   []Charge // per site with other costs
	Leases  []Charge // per site with lease income
	// Totals of the step.
	RentalUSD, TokenUSD, EnergyUSD, OtherUSD, IncomeUSD Money
}

func (s *Session) bill(c *stepCost, blocked bool) *Bill {
	sc := s.r.sc
	b := &Bill{Step: s.k, Time: sc.StepTime(s.k), Hours: s.r.m.h, Blocked: blocked, Rentals: c.rentals,
		RentalUSD: c.rental, TokenUSD: c.inference, EnergyUSD: c.energy, OtherUSD: c.other, IncomeUSD: c.revenue}
	for w, amt := range c.tokensBy {
		if amt.Sign() > 0 {
			b.Tokens = append(b.Tokens, Charge{Venue: c.sellers[w], Job: sc.Inference[w].ID, AmountUSD: amt})
		}
	}
	for i := range sc.Sites {
		site := &sc.Sites[i]
		if c.energyBy[i].Sign() != 0 {
			b.Energy = append(b.Energy, Charge{Venue: site.PowerMarket, Site: site.Name, GPU: site.GPU, AmountUSD: c.energyBy[i]})
		}
		if c.otherBy[i].Sign() != 0 {
			b.Other = append(b.Other, Charge{Venue: site.Name, Site: site.Name, GPU: site.GPU, AmountUSD: c.otherBy[i]})
		}
		if c.incomeBy[i].Sign() != 0 {
			b.Leases = append(b.Leases, Charge{Venue: "lease:" + site.GPU, Site: site.Name, GPU: site.GPU, GPUs: c.leasedBy[i], AmountUSD: c.incomeBy[i]})
		}
	}
	return b
}

// Package sim replays recorded market history under the cost model of
// DESIGN §7: a virtual clock steps through the scenario window, a Market
// enforces what a strategy may see (§7.6), simulated venues fill, preempt
// (§7.5) and switch, and one accounting path produces every figure of the
// §8 JSON, per step and per job. The same strategies run live; sim only
// replaces the clock and the venues.
package sim

import (
	"context"
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
)

// Options tunes a run.
type Options struct {
	// Progress, when set, is called after every step with the number of
	// steps done and the total.
	Progress func(done, total int)
}

// Run backtests strategy st on scenario sc over data ds. sc must have been
// validated against ds. A Hindsight strategy (the oracle) is given the whole
// market first and runs without switching losses or budget cap (§7.9).
func Run(ctx context.Context, sc *procurebot.Scenario, ds *procurebot.Dataset, st procurebot.Strategy, opt Options) (*Result, error) {
	began := time.Now()
	s, err := NewSession(ctx, sc, ds, st)
	if err != nil {
		return nil, err
	}
	K := s.Steps()
	for s.Next() < K {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := s.Decide(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := s.Apply(d); err != nil {
			return nil, err
		}
		if opt.Progress != nil {
			opt.Progress(s.Next(), K)
		}
	}
	res := s.Result()
	res.Elapsed = time.Since(began)
	return res, nil
}

// jobState is a job's progress during a run.
type jobState struct {
	need      Money
	delivered Money
	finished  time.Time
	done      bool
	first     int
	end       int
	prev      map[venueKey]int // GPUs per venue in the previous step
}

type venueKey struct {
	site     int    // -1 for a provider
	provider string // rentals
}

// run is the state of one backtest: the accounting of §7 applied step by
// step.
type run struct {
	sc     *procurebot.Scenario
	ds     *procurebot.Dataset
	m      *Market
	name   string
	oracle bool
	jobs   []jobState
	prev   procurebot.Decision
	res    *Result
	spent  Money // gross spend so far
	clock  *VirtualClock
}

func newRun(sc *procurebot.Scenario, ds *procurebot.Dataset, m *Market, st procurebot.Strategy) *run {
	r := &run{sc: sc, ds: ds, m: m, name: st.Name(), res: &Result{Strategy: st.Name()}, clock: NewVirtualClock(sc.Start)}
	r.jobs = make([]jobState, len(sc.Jobs))
	for j := range sc.Jobs {
		f, e := sc.Window(&sc.Jobs[j])
		r.jobs[j] = jobState{need: sc.Jobs[j].GPUHours, first: f, end: e, prev: map[venueKey]int{}}
	}
	return r
}

// stepCost is what one decision costs and delivers in one step.
type stepCost struct {
	energy, other, rental, inference, revenue Money
	switching, preempted, leased, selfHosted  Money
	unserved                                  Money
	delivered                                 []Money // per job, before capping at need
	venueGPUs                                 []map[venueKey]int
	venues                                    []VenueUse
	leasedTotal                               Money

	// Per-venue breakdown, for the agent's payments and ledger (Bill).
	rentals  []Charge // per (provider, job), in order of first use
	energyBy []Money  // per site
	otherBy  []Money  // per site
	incomeBy []Money  // per site: lease income
	leasedBy []Money  // per site: GPUs leased
	tokensBy []Money  // per inference workload
	sellers  []string // per inference workload: who sold the tokens
}

func (c *stepCost) gross() Money {
	return c.energy.Add(c.other).Add(c.rental).Add(c.inference)
}

func (c *stepCost) total() Money {
	return c.gross().Sub(c.revenue)
}

var thousand = decimal.NewFromInt(1000)

// price validates d for step k and computes its cost and deliveries without
// changing the run's state.
func (r *run) price(k int, d procurebot.Decision) (*stepCost, error) {
	return r.priceStep(k, d, false)
}

// priceStep prices d; blocked is a step the budget stopped: it buys
// nothing, not even tokens, so its inference goes unserved.
func (r *run) priceStep(k int, d procurebot.Decision, blocked bool) (*stepCost, error) {
	sc, m := r.sc, r.m
	h := m.h
	book := m.Book(k)
	nS := len(sc.Sites)
	c := &stepCost{delivered: make([]Money, len(sc.Jobs)), venueGPUs: make([]map[venueKey]int, len(sc.Jobs)),
		energyBy: make([]Money, nS), otherBy: make([]Money, nS), incomeBy: make([]Money, nS), leasedBy: make([]Money, nS),
		tokensBy: make([]Money, len(sc.Inference)), sellers: make([]string, len(sc.Inference))}
	rentIdx := map[[2]string]int{}

	jobOnSite := make([]int, nS)
	selfOnSite := make([]Money, nS)
	perJob := make([]int, len(sc.Jobs))
	rowUse := map[int]int{}
	preemptedGPUs := make([]map[venueKey]int, len(sc.Jobs))

	for _, a := range d.Jobs {
		if a.Job < 0 || a.Job >= len(sc.Jobs) {
			return nil, procurebot.Errorf(procurebot.EINTERNAL, "allocation to unknown job %d", a.Job)
		}
		job := &sc.Jobs[a.Job]
		js := &r.jobs[a.Job]
		if a.GPUs < 0 {
			return nil, procurebot.Errorf(procurebot.EINTERNAL, "job %s: negative GPUs %d", job.ID, a.GPUs)
		}
		if a.GPUs == 0 {
			continue
		}
		if k < js.first || k >= js.end {
			return nil, procurebot.Errorf(procurebot.EINTERNAL, "job %s: GPUs outside its window", job.ID)
		}
		if js.done {
			return nil, procurebot.Errorf(procurebot.EINTERNAL, "job %s: GPUs after it finished", job.ID)
		}
		perJob[a.Job] += a.GPUs
		if perJob[a.Job] > job.MaxGPUs {
			return nil, procurebot.Errorf(procurebot.EINTERNAL, "job %s: %d GPUs > max_gpus %d", job.ID, perJob[a.Job], job.MaxGPUs)
		}
		if c.venueGPUs[a.Job] == nil {
			c.venueGPUs[a.Job] = map[venueKey]int{}
		}
		if a.Site < -1 {
			return nil, procurebot.Errorf(procurebot.EINTERNAL, "job %s: site index %d", job.ID, a.Site)
		}
		if a.Site >= 0 {
			if a.Site >= nS {
				return nil, procurebot.Errorf(procurebot.EINTERNAL, "job %s: unknown site %d", job.ID, a.Site)
			}
			if sc.Sites[a.Site].GPU != job.GPU {
				return nil, procurebot.Errorf(procurebot.EINTERNAL, "job %s (%s) on site %s of class %s", job.ID, job.GPU, sc.Sites[a.Site].Name, sc.Sites[a.Site].GPU)
			}
			jobOnSite[a.Site] += a.GPUs
			c.venueGPUs[a.Job][venueKey{site: a.Site}] += a.GPUs
			continue
		}
		if a.Offer < 0 || a.Offer >= len(book) {
			return nil, procurebot.Errorf(procurebot.EINTERNAL, "job %s: no offer %d in the book", job.ID, a.Offer)
		}
		o := &book[a.Offer]
		if o.GPU != job.GPU || !sc.Market.AllowsProvider(o.Provider) {
			return nil, procurebot.Errorf(procurebot.EINTERNAL, "job %s: offer %s %s not eligible", job.ID, o.Provider, o.GPU)
		}
		if job.MaxUSDPerGPUHour != nil && o.PerGPU.GreaterThan(*job.MaxUSDPerGPUHour) {
			return nil, procurebot.Errorf(procurebot.EINTERNAL, "job %s: offer %s at %s above max_usd_per_gpu_hour", job.ID, o.Provider, o.PerGPU)
		}
		spot := o.IsSpot(sc.Market.OnDemandProviders)
		if spot && !job.Interruptible {
			return nil, procurebot.Errorf(procurebot.EINTERNAL, "job %s: spot offer %s for a non-interruptible job", job.ID, o.Provider)
		}
		rowUse[a.Offer] += a.GPUs
		if rowUse[a.Offer] > sc.Market.MaxGPUsPerOffer {
			return nil, procurebot.Errorf(procurebot.EINTERNAL, "offer %d (%s) over max_gpus_per_offer: %d", a.Offer, o.Provider, rowUse[a.Offer])
		}
		cost := o.PerGPU.Mul(decimal.NewFromInt(int64(a.GPUs))).Mul(h)
		c.rental = c.rental.Add(cost)
		rk := [2]string{o.Provider, job.ID}
		i, ok := rentIdx[rk]
		if !ok {
			i = len(c.rentals)
			rentIdx[rk] = i
			c.rentals = append(c.rentals, Charge{Venue: o.Provider, Job: job.ID, GPU: job.GPU})
		}
		ch := &c.rentals[i]
		ch.GPUs = ch.GPUs.Add(decimal.NewFromInt(int64(a.GPUs)))
		ch.AmountUSD = ch.AmountUSD.Add(cost)
		if ch.MaxUSDPerGPUHour.LessThan(o.PerGPU) {
			ch.MaxUSDPerGPUHour = o.PerGPU
		}
		vk := venueKey{site: -1, provider: o.Provider}
		c.venueGPUs[a.Job][vk] += a.GPUs
		if spot && m.Preempted(o.Provider, o.GPU, k) {
			if preemptedGPUs[a.Job] == nil {
				preemptedGPUs[a.Job] = map[venueKey]int{}
			}
			preemptedGPUs[a.Job][vk] += a.GPUs
		}
	}

	// Inference: self-hosted share, tokens for the rest.
	served := make([]Money, len(sc.Inference))
	for _, a := range d.SelfHost {
		if a.Workload < 0 || a.Workload >= len(sc.Inference) || a.Site < 0 || a.Site >= nS {
			return nil, procurebot.Errorf(procurebot.EINTERNAL, "self-host allocation %+v out of range", a)
		}
		inf := &sc.Inference[a.Workload]
		if a.GPUs.Sign() < 0 {
			return nil, procurebot.Errorf(procurebot.EINTERNAL, "inference %s: negative GPUs", inf.ID)
		}
		if a.GPUs.Sign() == 0 {
			continue
		}
		if inf.SelfHost == nil || inf.SelfHost.GPU != sc.Sites[a.Site].GPU {
			return nil, procurebot.Errorf(procurebot.EINTERNAL, "inference %s cannot be served on site %s", inf.ID, sc.Sites[a.Site].Name)
		}
		selfOnSite[a.Site] = selfOnSite[a.Site].Add(a.GPUs)
		served[a.Workload] = served[a.Workload].Add(a.GPUs.Mul(inf.SelfHost.MTokPerGPUHour))
	}
	noTokens := make([]bool, len(sc.Inference))
	for _, w := range d.NoTokens {
		if w < 0 || w >= len(sc.Inference) {
			return nil, procurebot.Errorf(procurebot.EINTERNAL, "no-tokens workload %d out of range", w)
		}
		noTokens[w] = true
	}
	for w := range sc.Inference {
		inf := &sc.Inference[w]
		demand := inf.MTokInPerHour.Add(inf.MTokOutPerHour) // Mtok per hour
		x := served[w].Div(demand)
		if x.GreaterThan(procurebot.One) {
			x = procurebot.One
		}
		rest := procurebot.One.Sub(x)
		if rest.Sign() == 0 {
			continue
		}
		cost, sold := m.TokenCost(w, k)
		if sold && !blocked && !noTokens[w] {
			amt := cost.Mul(rest).Mul(h)
			c.inference = c.inference.Add(amt)
			c.tokensBy[w] = amt
			c.sellers[w] = m.TokenSeller(w, k)
		} else {
			c.unserved = c.unserved.Add(demand.Mul(rest).Mul(h))
		}
	}

	if len(d.Leased) > nS {
		return nil, procurebot.Errorf(procurebot.EINTERNAL, "leased GPUs for %d sites, the scenario has %d", len(d.Leased), nS)
	}
	// Own sites: running, leased, idle.
	for s := 0; s < nS; s++ {
		site := &sc.Sites[s]
		var leased Money
		if s < len(d.Leased) {
			leased = d.Leased[s]
		}
		if leased.Sign() < 0 {
			return nil, procurebot.Errorf(procurebot.EINTERNAL, "site %s: negative leased GPUs", site.Name)
		}
		var income Money
		if leased.Sign() > 0 {
			if !site.SellSpare {
				return nil, procurebot.Errorf(procurebot.EINTERNAL, "site %s may not lease (sell_spare false)", site.Name)
			}
			mg, ok := m.LeasePrice(site.GPU, k)
			if !ok {
				return nil, procurebot.Errorf(procurebot.EINTERNAL, "site %s: no %s market to lease into", site.Name, site.GPU)
			}
			income = leased.Mul(site.SellPriceRatio).Mul(mg).Mul(h)
		}
		running := decimal.NewFromInt(int64(jobOnSite[s])).Add(selfOnSite[s])
		active := running.Add(leased)
		gpus := decimal.NewFromInt(int64(site.GPUs))
		if active.GreaterThan(gpus) {
			return nil, procurebot.Errorf(procurebot.EINTERNAL, "site %s: %s GPUs in use > %d", site.Name, active, site.GPUs)
		}
		e := site.KWPerGPU.Mul(site.PUEOrDefault()).Mul(m.Power(s, k)).Div(thousand) // USD per GPU-hour
		powered := active
		if !site.Curtailable {
			powered = gpus
		}
		c.energyBy[s] = powered.Mul(e).Mul(h)
		c.otherBy[s] = active.Mul(site.OtherUSDPerGPUHour).Mul(h)
		c.incomeBy[s], c.leasedBy[s] = income, leased
		c.energy = c.energy.Add(c.energyBy[s])
		c.other = c.other.Add(c.otherBy[s])
		c.revenue = c.revenue.Add(income)
		c.leased = c.leased.Add(leased.Mul(h))
		c.leasedTotal = c.leasedTotal.Add(leased)
		c.selfHosted = c.selfHosted.Add(selfOnSite[s].Mul(h))
		if running.Sign() > 0 {
			c.venues = append(c.venues, VenueUse{Venue: site.Name, Own: true, GPUs: running})
		}
	}

	// Work delivered per job (§7.5).
	sw := sc.Market.SwitchCostGPUHours
	if r.oracle {
		sw = Money{}
	}
	provGPUs := map[string]int{}
	var provOrder []string
	for j := range sc.Jobs {
		for vk, n := range c.venueGPUs[j] {
			pre := preemptedGPUs[j][vk]
			if vk.site < 0 {
				if _, ok := provGPUs[vk.provider]; !ok {
					provOrder = append(provOrder, vk.provider)
				}
				provGPUs[vk.provider] += n
			}
			if pre > 0 {
				c.preempted = c.preempted.Add(decimal.NewFromInt(int64(pre)).Mul(h))
			}
			live := n - pre
			if live <= 0 {
				continue
			}
			started := n - r.jobs[j].prev[vk]
			if started > live {
				started = live
			}
			got := decimal.NewFromInt(int64(live)).Mul(h)
			if started > 0 && sw.Sign() > 0 {
				loss := sw.Mul(decimal.NewFromInt(int64(started)))
				c.switching = c.switching.Add(loss)
				got = got.Sub(loss)
			}
			c.delivered[j] = c.delivered[j].Add(got)
		}
	}
	sort.Strings(provOrder)
	for _, p := range provOrder {
		c.venues = append(c.venues, VenueUse{Venue: p, GPUs: decimal.NewFromInt(int64(provGPUs[p]))})
	}
	return c, nil
}

// apply prices d for step k, enforces the budget (§7.10) and commits it,
// returning what the step cost and whether the budget blocked it.
func (r *run) apply(k int, d procurebot.Decision) (*stepCost, bool, error) {
	c, err := r.price(k, d)
	if err != nil {
		return nil, false, err
	}
	blocked := false
	if b := r.sc.BudgetUSD; b != nil && !r.oracle && r.spent.Add(c.gross()).GreaterThan(*b) {
		r.res.BudgetBinding = true
		blocked = true
		d = procurebot.Decision{}
		if c, err = r.priceStep(k, d, true); err != nil {
			return nil, false, err
		}
	}
	res := r.res
	res.EnergyCostUSD = res.EnergyCostUSD.Add(c.energy)
	res.OtherCostUSD = res.OtherCostUSD.Add(c.other)
	res.RentalCostUSD = res.RentalCostUSD.Add(c.rental)
	res.InferenceCostUSD = res.InferenceCostUSD.Add(c.inference)
	res.RevenueUSD = res.RevenueUSD.Add(c.revenue)
	res.SwitchingGPUHours = res.SwitchingGPUHours.Add(c.switching)
	res.PreemptedGPUHours = res.PreemptedGPUHours.Add(c.preempted)
	res.LeasedGPUHours = res.LeasedGPUHours.Add(c.leased)
	res.SelfHostedGPUHours = res.SelfHostedGPUHours.Add(c.selfHosted)
	res.UnservedMTok = res.UnservedMTok.Add(c.unserved)
	r.spent = r.spent.Add(c.gross())
	stepEnd := r.sc.StepTime(k + 1)
	for j := range r.jobs {
		js := &r.jobs[j]
		if !js.done && c.delivered[j].Sign() > 0 {
			js.delivered = js.delivered.Add(c.delivered[j])
			if !js.delivered.LessThan(js.need) {
				js.delivered = js.need
				js.done = true
				js.finished = stepEnd
			}
		}
		js.prev = c.venueGPUs[j]
		if js.prev == nil {
			js.prev = map[venueKey]int{}
		}
	}
	res.Steps = append(res.Steps, StepRecord{Time: r.sc.StepTime(k), Cost: c.total(), Venues: c.venues, Leased: c.leasedTotal})
	res.Decisions++
	r.prev = d
	return c, blocked, nil
}

// finish closes the books: totals, per-job outcomes, budget flag.
func (r *run) finish() *Result {
	res := r.res
	res.GrossSpendUSD = res.EnergyCostUSD.Add(res.OtherCostUSD).Add(res.RentalCostUSD).Add(res.InferenceCostUSD)
	res.TotalCostUSD = res.GrossSpendUSD.Sub(res.RevenueUSD)
	for j := range r.jobs {
		js := &r.jobs[j]
		res.GPUHoursRequired = res.GPUHoursRequired.Add(js.need)
		res.GPUHoursDelivered = res.GPUHoursDelivered.Add(js.delivered)
		jr := JobResult{ID: r.sc.Jobs[j].ID, GPUHoursRequired: js.need, GPUHoursDelivered: js.delivered, Finished: js.finished, Missed: !js.done}
		if jr.Missed {
			res.DeadlineMisses++
		}
		res.Jobs = append(res.Jobs, jr)
	}
	if r.oracle && r.sc.BudgetUSD != nil && res.GrossSpendUSD.GreaterThan(*r.sc.BudgetUSD) {
		res.BudgetBinding = true
	}
	return res
}

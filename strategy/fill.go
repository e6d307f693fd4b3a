package strategy

import (
	"sort"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
)

type money = procurebot.Money

var thousand = decimal.NewFromInt(1000)

// stepMarket is what a strategy knows of the current step's prices, exactly.
type stepMarket struct {
	power  []money // per site, USD/MWh
	lease  map[string]money
	tokens []money // per workload, USD per hour; valid where sold
	sold   []bool
}

// siteEcon is the per GPU-hour economics of one site in one step.
type siteEcon struct {
	e        money // energy per GPU-hour
	run      money // e + other: a running or leased GPU
	idle     money // an idle GPU: 0 if curtailable, else e
	income   money // lease income per GPU-hour (when canLease)
	canLease bool
}

func econOf(site *procurebot.Site, power money, lease money, leaseOK bool) siteEcon {
	e := site.KWPerGPU.Mul(site.PUEOrDefault()).Mul(power).Div(thousand)
	ec := siteEcon{e: e, run: e.Add(site.OtherUSDPerGPUHour)}
	if !site.Curtailable {
		ec.idle = e
	}
	if site.SellSpare && leaseOK {
		ec.canLease = true
		ec.income = site.SellPriceRatio.Mul(lease)
	}
	return ec
}

// base is the cost per GPU-hour of a GPU nothing uses: idle or leased,
// whichever is cheaper.
func (ec siteEcon) base() money {
	if ec.canLease {
		if l := ec.run.Sub(ec.income); l.LessThan(ec.idle) {
			return l
		}
	}
	return ec.idle
}

func (sm *stepMarket) econ(sc *procurebot.Scenario, s int) siteEcon {
	site := &sc.Sites[s]
	l, ok := sm.lease[site.GPU]
	return econOf(site, sm.power[s], l, ok)
}

// leaseMemo caches the lease prices m_g of the book in force.
type leaseMemo struct {
	first *procurebot.Offer
	lease map[string]money
}

// observe reads the current step's prices from v.
func observe(v procurebot.View, memo *leaseMemo) (*stepMarket, error) {
	sc := v.Scenario()
	sm := &stepMarket{power: make([]money, len(sc.Sites))}
	for s := range sc.Sites {
		p, err := v.Power(s, v.Now())
		if err != nil {
			return nil, err
		}
		sm.power[s] = p
	}
	book, err := v.Book(v.Now())
	if err != nil {
		return nil, err
	}
	if len(book) == 0 || memo.lease == nil || memo.first != &book[0] {
		memo.lease = map[string]money{}
		memo.first = nil
		if len(book) > 0 {
			memo.first = &book[0]
		}
		for s := range sc.Sites {
			g := sc.Sites[s].GPU
			if _, done := memo.lease[g]; done {
				continue
			}
			if m, ok := procurebot.LeasePrice(book, g, &sc.Market); ok {
				memo.lease[g] = m
			}
		}
	}
	sm.lease = memo.lease
	var prices []procurebot.TokenPrice
	if ts := v.TokenSnapshots(); len(ts) > 0 {
		prices = ts[len(ts)-1].Prices
	}
	sm.tokens = make([]money, len(sc.Inference))
	sm.sold = make([]bool, len(sc.Inference))
	for w := range sc.Inference {
		sm.tokens[w], sm.sold[w] = sc.Inference[w].TokenCostPerHour(prices)
	}
	return sm, nil
}

// fillRule says how free own GPUs are priced when filling a step.
type fillRule int

const (
	// fillOptimal self-hosts a workload where the tokens it saves exceed the
	// GPU's marginal cost over its best alternative (idle or leased), and
	// leases a free GPU where that costs less than leaving it idle.
	fillOptimal fillRule = iota
	// fillGreedy is DESIGN §2's baseline: own GPUs cost e + other plus the
	// lease income they give up; leasing where income exceeds e + other.
	fillGreedy
	// fillNone buys tokens unless the model is not sold, and never leases.
	fillNone
)

// fillSites decides, given the GPUs jobs use on each site this step, how
// much inference to self-host where, and how many free GPUs to lease out.
// Models that are not sold are self-hosted as far as free GPUs allow.
func fillSites(sc *procurebot.Scenario, sm *stepMarket, jobGPUs []int, rule fillRule) ([]procurebot.SelfHostAlloc, []money) {
	nS := len(sc.Sites)
	free := make([]money, nS)
	ecs := make([]siteEcon, nS)
	cost := make([]money, nS) // marginal cost per GPU-hour of serving on the site
	for s := range sc.Sites {
		free[s] = decimal.NewFromInt(int64(sc.Sites[s].GPUs - jobGPUs[s]))
		ecs[s] = sm.econ(sc, s)
		switch rule {
		case fillGreedy:
			cost[s] = ecs[s].run
			if ecs[s].canLease {
				cost[s] = cost[s].Add(ecs[s].income)
			}
		default:
			cost[s] = ecs[s].run.Sub(ecs[s].base())
		}
	}
	type cand struct {
		w      int
		value  money // token cost saved per GPU-hour
		unsold bool
		need   money // GPUs to serve all of it
	}
	var cands []cand
	for w := range sc.Inference {
		inf := &sc.Inference[w]
		if inf.SelfHost == nil {
			continue
		}
		demand := inf.MTokInPerHour.Add(inf.MTokOutPerHour)
		need := demand.DivRound(inf.SelfHost.MTokPerGPUHour, 16)
		c := cand{w: w, need: need, unsold: !sm.sold[w]}
		if sm.sold[w] {
			c.value = sm.tokens[w].Mul(inf.SelfHost.MTokPerGPUHour).DivRound(demand, 16)
		}
		cands = append(cands, c)
	}
	sort.SliceStable(cands, func(a, b int) bool {
		if cands[a].unsold != cands[b].unsold {
			return cands[a].unsold
		}
		return cands[a].value.GreaterThan(cands[b].value)
	})
	order := make([]int, nS)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return cost[order[a]].LessThan(cost[order[b]]) })
	var self []procurebot.SelfHostAlloc
	{
		for _, c := range cands {
			if rule == fillNone && !c.unsold {
				continue
			}
			need := c.need
			g := sc.Inference[c.w].SelfHost.GPU
			for _, s := range order {
				if need.Sign() <= 0 {
					break
				}
				if sc.Sites[s].GPU != g || free[s].Sign() <= 0 {
					continue
				}
				if !c.unsold && !c.value.GreaterThan(cost[s]) {
					continue
				}
				take := decimal.Min(need, free[s])
				free[s] = free[s].Sub(take)
				need = need.Sub(take)
				self = append(self, procurebot.SelfHostAlloc{Workload: c.w, Site: s, GPUs: take})
			}
		}
	}
	var leased []money
	for s := range sc.Sites {
		ec := ecs[s]
		if !ec.canLease || free[s].Sign() <= 0 || rule == fillNone {
			continue
		}
		var lease bool
		if rule == fillGreedy {
			lease = ec.income.GreaterThan(ec.run)
		} else {
			lease = ec.run.Sub(ec.income).LessThan(ec.idle)
		}
		if lease {
			if leased == nil {
				leased = make([]money, nS)
			}
			leased[s] = free[s]
		}
	}
	return self, leased
}

// remainingUnits returns the whole GPU-steps job j still needs: ceil of
// what remains over h.
func remainingUnits(need, delivered, h money) int {
	rest := need.Sub(delivered)
	if rest.Sign() <= 0 {
		return 0
	}
	return int(rest.Div(h).Ceil().IntPart())
}

// wantNow returns the GPUs job j could use in the current step of v: none
// outside its window, else min(max_gpus, ceil(what it still needs / h)).
func wantNow(v procurebot.View, j int) int {
	sc := v.Scenario()
	job := &sc.Jobs[j]
	first, end := sc.Window(job)
	if k := v.Step(); k < first || k >= end {
		return 0
	}
	return min(job.MaxGPUs, remainingUnits(job.GPUHours, v.Delivered(j), sc.StepHours()))
}

// siteGPUs sums the GPUs jobs take on each own site.
func siteGPUs(sc *procurebot.Scenario, jobs []procurebot.JobAlloc) []int {
	out := make([]int, len(sc.Sites))
	for _, a := range jobs {
		if a.Site >= 0 {
			out[a.Site] += a.GPUs
		}
	}
	return out
}

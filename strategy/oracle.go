package strategy

import (
	"context"
	"math"
	"sort"

	"github.com/procurebot/procurebot"
)

// Oracle is the hindsight limit of DESIGN §7.9: with every price and every
// preemption draw known, it solves the whole window at once — whole GPUs for
// jobs, no switching losses, budget ignored — placing as much of the work as
// can be placed, at least cost. Preempted spot rows deliver nothing, so it
// never rents them. Inference and leasing of each step are then filled
// exactly for the GPUs jobs leave free.
//
// Exactness: the job allocation is the exact optimum of the combinatorial
// problem (see Solve); costs enter it rounded to 1e-12 USD. docs/model.md
// lists the known limits (corner cases the tests count).
type Oracle struct {
	memo  leaseMemo
	f     procurebot.Foresight
	plan  *plan
	sol   Solution
	rows  [][]planRow // per step
	steps int
}

// NewOracle returns the hindsight oracle.
func NewOracle() *Oracle { return &Oracle{} }

// Name implements procurebot.Strategy.
func (o *Oracle) Name() string { return "oracle" }

// Foresee implements procurebot.Hindsight: it solves the whole window.
func (o *Oracle) Foresee(ctx context.Context, f procurebot.Foresight) error {
	o.f, o.plan = f, nil
	return nil
}

// solve builds and solves the whole window's plan. It needs the scenario,
// which Foresee does not carry, so it runs on the first Decide.
func (o *Oracle) solve(sc *procurebot.Scenario, f procurebot.Foresight) {
	K := sc.Steps()
	steps := make([]planStep, K)
	o.rows = make([][]planRow, K)
	cache := rowCache{}
	for k := 0; k < K; k++ {
		st := &steps[k]
		st.power = make([]float64, len(sc.Sites))
		for s := range sc.Sites {
			st.power[s] = f.Power(s, k).InexactFloat64()
		}
		book := f.Book(k)
		st.lease = leaseFloats(sc, book)
		tok := f.Tokens(k)
		st.tokens = make([]float64, len(sc.Inference))
		for w := range sc.Inference {
			if c, ok := sc.Inference[w].TokenCostPerHour(tok); ok {
				st.tokens[w] = c.InexactFloat64()
			} else {
				st.tokens[w] = math.NaN()
			}
		}
		all := cache.rows(sc, book)
		rows := make([]planRow, 0, len(all))
		for _, r := range all {
			if r.spot && f.Preempted(r.provider, r.gpu, k) {
				continue
			}
			rows = append(rows, r)
		}
		rows = pruneRows(sc, rows)
		st.rows = rows
		o.rows[k] = rows
	}
	jobs := make([]planJob, len(sc.Jobs))
	h := sc.StepHours()
	for j := range sc.Jobs {
		first, end := sc.Window(&sc.Jobs[j])
		jobs[j] = planJob{need: remainingUnits(sc.Jobs[j].GPUHours, procurebot.Zero, h), first: first, end: end}
	}
	o.plan = buildPlan(sc, steps, jobs, nil)
	o.sol = solveFinishableFirst(&o.plan.pr)
	o.steps = K
}

// Decide implements procurebot.Strategy: the planned allocation of the step,
// then inference and leasing filled exactly.
func (o *Oracle) Decide(ctx context.Context, v procurebot.View) (procurebot.Decision, error) {
	sc := v.Scenario()
	if o.plan == nil {
		if o.f == nil {
			return procurebot.Decision{}, procurebot.Errorf(procurebot.EINTERNAL, "oracle run without foresight")
		}
		o.solve(sc, o.f)
	}
	sm, err := observe(v, &o.memo)
	if err != nil {
		return procurebot.Decision{}, err
	}
	k := v.Step()
	d := procurebot.Decision{Jobs: o.plan.allocations(o.sol, k, o.rows[k])}
	d.SelfHost, d.Leased = fillSites(sc, sm, siteGPUs(sc, d.Jobs), fillOptimal)
	return d, nil
}

// rowCache converts a book's offers to plan rows once per book.
type rowCache struct {
	first *procurebot.Offer
	out   []planRow
}

func (c *rowCache) rows(sc *procurebot.Scenario, book []procurebot.Offer) []planRow {
	if len(book) == 0 {
		return nil
	}
	if c.first == &book[0] {
		return c.out
	}
	need := map[string]bool{}
	for j := range sc.Jobs {
		need[sc.Jobs[j].GPU] = true
	}
	out := make([]planRow, 0, 64)
	for i := range book {
		o := &book[i]
		if !need[o.GPU] || !sc.Market.AllowsProvider(o.Provider) {
			continue
		}
		out = append(out, planRow{offer: i, provider: o.Provider, gpu: o.GPU, price: o.PerGPU.InexactFloat64(), spot: o.IsSpot(sc.Market.OnDemandProviders)})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].price < out[b].price })
	c.first, c.out = &book[0], out
	return out
}

// leaseFloats returns m_g per class of the scenario's sites.
func leaseFloats(sc *procurebot.Scenario, book []procurebot.Offer) map[string]float64 {
	out := map[string]float64{}
	for s := range sc.Sites {
		g := sc.Sites[s].GPU
		if _, ok := out[g]; ok {
			continue
		}
		if m, ok := procurebot.LeasePrice(book, g, &sc.Market); ok {
			out[g] = m.InexactFloat64()
		}
	}
	return out
}

// pruneRows keeps, of rows sorted by price, per GPU class only the cheapest
// until both all rows and the on-demand rows kept could serve every job of
// the class at once; no plan can use more.
func pruneRows(sc *procurebot.Scenario, rows []planRow) []planRow {
	bound := map[string]int{}
	for j := range sc.Jobs {
		bound[sc.Jobs[j].GPU] += sc.Jobs[j].MaxGPUs
	}
	capRow := sc.Market.MaxGPUsPerOffer
	all, od := map[string]int{}, map[string]int{}
	out := rows[:0:0]
	for _, r := range rows {
		b := bound[r.gpu]
		if all[r.gpu] >= b && od[r.gpu] >= b {
			continue
		}
		if r.spot && all[r.gpu] >= b {
			continue
		}
		all[r.gpu] += capRow
		if !r.spot {
			od[r.gpu] += capRow
		}
		out = append(out, r)
	}
	return out
}

// solveFinishableFirst is Solve, except that a job that cannot finish even
// with all the supply to itself does not take GPUs a finishable job needs:
// the finishable jobs are placed first; then, on the same residual network,
// the hopeless ones get all they can, re-routing finishable jobs' GPUs where
// that helps but never taking any away. (Minimising the number of missed
// jobs exactly is NP-hard in general; this settles the case where some jobs
// are out of reach on their own.)
func solveFinishableFirst(pr *Problem) Solution {
	sol := Solve(pr)
	var hopeless []int
	for j, short := range sol.Short {
		if short == 0 {
			continue
		}
		alone := *pr
		alone.Need = make([]int, len(pr.Need))
		alone.Need[j] = pr.Need[j]
		if Solve(&alone).Short[j] > 0 {
			hopeless = append(hopeless, j)
		}
	}
	if len(hopeless) == 0 {
		return sol
	}
	need := pr.Need
	first := *pr
	first.Need = append([]int(nil), need...)
	for _, j := range hopeless {
		first.Need[j] = 0
	}
	s := newSolver(&first)
	s.run()
	// Phase two: the hopeless jobs' needs back on the same flow. Augmenting
	// paths end at a job below its need, so no job loses GPUs.
	first.Need = need
	s.needSum = 0
	for _, v := range need {
		if v > 0 {
			s.needSum += v
		}
	}
	clear(s.dead)
	s.run()
	short := make([]int, len(need))
	for j := range need {
		short[j] = need[j] - s.z[j]
	}
	return Solution{Flow: s.x, Short: short}
}

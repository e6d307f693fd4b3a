package strategy_test

// Oracle exactness: on many small random scenarios, the hindsight oracle run
// through sim.Run must reach the optimum of DESIGN §7.9 that an independent
// brute force finds by dynamic programming over steps, with exact rational
// arithmetic (math/big.Rat) and an accounting of §7 written from the design,
// not from the strategy package.

import (
	"context"
	"fmt"
	"math/big"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/sim"
	"github.com/procurebot/procurebot/strategy"
)

var exT0 = time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC)

const exGPU = "H100"

var exProviders = []string{"lambdalabs", "runpod", "vastai"}

func dec(v int64, exp int32) decimal.Decimal { return decimal.New(v, exp) }

func decPtr(d decimal.Decimal) *decimal.Decimal { return &d }

// randOffer returns a GPU row of class gpu at per-GPU price p, in one of the
// three shapes of DESIGN §5 (per-GPU column, instance price / gpu_count,
// unknown shape), with PerGPU filled as the loader does.
func randOffer(rng *rand.Rand, provider, gpu string, p decimal.Decimal) procurebot.Offer {
	o := procurebot.Offer{Provider: provider, GPU: gpu, Region: "r", Instance: "i"}
	switch rng.Intn(3) {
	case 0:
		o.USDPerGPUHour, o.HasPerGPU = p, true
		o.GPUCount = 1 + rng.Intn(8)
		o.USDPerHour = p.Mul(decimal.NewFromInt(int64(o.GPUCount)))
	case 1:
		o.GPUCount = []int{1, 2, 4, 8}[rng.Intn(4)]
		o.USDPerHour = p.Mul(decimal.NewFromInt(int64(o.GPUCount)))
	default:
		o.USDPerHour = p
	}
	if rng.Intn(10) == 0 { // recorded spot flag, overriding the provider default
		if rng.Intn(2) == 0 {
			o.Spot = procurebot.SpotTrue
		} else {
			o.Spot = procurebot.SpotFalse
		}
	}
	o.PerGPU = o.PerGPUPrice()
	return o
}

// exCase is one generated scenario with its data.
type exCase struct {
	sc *procurebot.Scenario
	ds *procurebot.Dataset
	// exact is false when a self-host ratio ((in+out)/mtok_per_gpu_hour, or
	// k·mtok_per_gpu_hour/(in+out)) does not terminate as a decimal: the
	// accounting then rounds at 16 places.
	exact bool
}

// Demands and throughputs whose every quotient k·a/b terminates.
var (
	exDemands = []int64{5, 8, 10, 16, 20, 25, 40, 50, 80} // tenths of Mtok/h
	exTputs   = []int64{4, 5, 8, 10, 20, 25, 40, 50}      // tenths of Mtok per GPU-hour
)

// genExact builds a small random scenario (DESIGN §2, §7) and its data.
func genExact(rng *rand.Rand) exCase {
	K := 2 + rng.Intn(4)
	sc := &procurebot.Scenario{
		Start: exT0, End: exT0.Add(time.Duration(K) * time.Hour), Step: time.Hour,
		Seed: rng.Int63n(1000),
	}
	ds := &procurebot.Dataset{Power: map[string]*procurebot.PowerSeries{}}
	c := exCase{sc: sc, ds: ds, exact: true}
	hasSite := rng.Intn(5) != 0
	if hasSite {
		st := procurebot.Site{
			Name: "site", PowerMarket: "M1", GPU: exGPU, GPUs: 1 + rng.Intn(3),
			KWPerGPU:           dec(1+rng.Int63n(15), -1),
			OtherUSDPerGPUHour: dec(max(rng.Int63n(76)-25, 0), -2), // 0 a third of the time
			Curtailable:        rng.Intn(2) == 0,
			SellSpare:          rng.Intn(2) == 0,
			SellPriceRatio:     dec(rng.Int63n(101), -2),
		}
		if rng.Intn(3) > 0 {
			st.PUE = decPtr(dec(100+rng.Int63n(60), -2))
		}
		sc.Sites = append(sc.Sites, st)
	}
	ps := &procurebot.PowerSeries{Market: "M1", Start: exT0}
	for k := 0; k < K; k++ {
		var p decimal.Decimal
		switch rng.Intn(4) {
		case 0:
			p = dec(-rng.Int63n(21)*10, 0) // negative or zero
		case 1:
			p = dec(rng.Int63n(31)*10, 0)
		default:
			p = dec(rng.Int63n(38001)-8000, -2)
		}
		ps.Prices = append(ps.Prices, p)
		ps.Present = append(ps.Present, true)
	}
	ds.Power["M1"] = ps

	nJobs := 1 + rng.Intn(2)
	for j := 0; j < nJobs; j++ {
		r := rng.Intn(K)
		d := r + 1 + rng.Intn(K-r)
		job := procurebot.Job{
			ID: fmt.Sprintf("j%d", j), GPU: exGPU, MaxGPUs: 1 + rng.Intn(3),
			GPUHours:      dec(1+rng.Int63n(6), 0), // 1–6
			Release:       exT0.Add(time.Duration(r) * time.Hour),
			Deadline:      exT0.Add(time.Duration(d) * time.Hour),
			Interruptible: rng.Intn(2) == 0,
		}
		if most := int64(job.MaxGPUs * (d - r)); rng.Intn(3) > 0 && job.GPUHours.IntPart() > most {
			job.GPUHours = dec(1+rng.Int63n(most), 0) // one the job's window can hold
		}
		if rng.Intn(6) == 0 {
			job.GPUHours = job.GPUHours.Sub(dec(5, -1)) // x.5: a partial last GPU-step
		}
		if rng.Intn(8) == 0 {
			job.Release = job.Release.Add(30 * time.Minute)
		}
		if rng.Intn(8) == 0 {
			job.Deadline = job.Deadline.Add(-30 * time.Minute)
		}
		if rng.Intn(5) < 2 {
			job.MaxUSDPerGPUHour = decPtr(dec(100+rng.Int63n(301), -2))
		}
		sc.Jobs = append(sc.Jobs, job)
	}

	sc.Market.MaxGPUsPerOffer = 1 + rng.Intn(3)
	if rng.Intn(2) == 0 {
		sc.Market.SpotPreemptionPerHour = dec(3, -1)
	}
	if rng.Intn(5) == 0 {
		for _, p := range exProviders {
			if rng.Intn(2) == 0 {
				sc.Market.Providers = append(sc.Market.Providers, p)
			}
		}
		if len(sc.Market.Providers) == 0 {
			sc.Market.Providers = []string{exProviders[rng.Intn(3)]}
		}
	}
	for k := 0; k < K; k++ {
		if rng.Intn(7) == 0 {
			continue // no snapshot: the previous book stays in force
		}
		snap := procurebot.Snapshot{Time: sc.StepTime(k)}
		for n := rng.Intn(4); n > 0; n-- {
			p := dec((16+rng.Int63n(65))*5, -2) // 0.80 … 4.00 by 0.05
			snap.Offers = append(snap.Offers, randOffer(rng, exProviders[rng.Intn(3)], exGPU, p))
		}
		if rng.Intn(10) == 0 {
			snap.Offers = append(snap.Offers, randOffer(rng, exProviders[rng.Intn(3)], "A100", dec(30+rng.Int63n(100), -2)))
		}
		ds.GPU = append(ds.GPU, snap)
	}

	if hasSite && rng.Intn(2) == 0 {
		demand := dec(exDemands[rng.Intn(len(exDemands))], -1)
		tput := dec(exTputs[rng.Intn(len(exTputs))], -1)
		if rng.Intn(6) == 0 { // a ratio that does not terminate
			if rng.Intn(2) == 0 {
				tput = dec(3, 0)
			} else {
				demand = dec(3, 0)
			}
			c.exact = false
		}
		in := demand.Mul(dec(int64(rng.Intn(6))*2, -1)) // 0, 0.2, …, 1.0 of it
		sc.Inference = append(sc.Inference, procurebot.Inference{
			ID: "chat", Model: "m1", MTokInPerHour: in, MTokOutPerHour: demand.Sub(in),
			SelfHost: &procurebot.SelfHost{GPU: exGPU, MTokPerGPUHour: tput},
		})
		for k := 0; k < K; k++ {
			if rng.Intn(7) == 0 {
				continue
			}
			ts := procurebot.TokenSnapshot{Time: sc.StepTime(k)}
			if rng.Intn(10) < 7 {
				for n := 1 + rng.Intn(2); n > 0; n-- {
					ts.Prices = append(ts.Prices, procurebot.TokenPrice{
						Provider: fmt.Sprintf("tp%d", n), Model: "m1",
						USDPerMTokIn: dec(5+rng.Int63n(300), -2), USDPerMTokOut: dec(10+rng.Int63n(600), -2),
					})
				}
			} else if rng.Intn(2) == 0 {
				ts.Prices = append(ts.Prices, procurebot.TokenPrice{Provider: "tp1", Model: "other", USDPerMTokIn: procurebot.One, USDPerMTokOut: procurebot.One})
			}
			ds.Tokens = append(ds.Tokens, ts)
		}
	}
	return c
}

// valid applies the defaults and the validation of a scenario file; a
// generated scenario that fails them is not a test case.
func (c exCase) valid() bool {
	c.sc.SetDefaults()
	return c.sc.Validate() == nil && c.sc.ValidateData(c.ds) == nil
}

// ---------------------------------------------------------------------------
// Brute force.

func rat(d decimal.Decimal) *big.Rat { return d.Rat() }

func ratInt(n int) *big.Rat { return new(big.Rat).SetInt64(int64(n)) }

func radd(a, b *big.Rat) *big.Rat { return new(big.Rat).Add(a, b) }
func rsub(a, b *big.Rat) *big.Rat { return new(big.Rat).Sub(a, b) }
func rmul(a, b *big.Rat) *big.Rat { return new(big.Rat).Mul(a, b) }
func rquo(a, b *big.Rat) *big.Rat { return new(big.Rat).Quo(a, b) }
func rmin(a, b *big.Rat) *big.Rat {
	if a.Cmp(b) <= 0 {
		return a
	}
	return b
}

// bfVal is a lexicographic value: unserved Mtok first, then cost.
type bfVal struct{ unserved, cost *big.Rat }

func (a bfVal) less(b bfVal) bool {
	if c := a.unserved.Cmp(b.unserved); c != 0 {
		return c < 0
	}
	return a.cost.Cmp(b.cost) < 0
}

func (a bfVal) add(b bfVal) bfVal {
	return bfVal{radd(a.unserved, b.unserved), radd(a.cost, b.cost)}
}

// bookAt is the book in force at t: the latest snapshot at or before t.
func bookAt(ds *procurebot.Dataset, t time.Time) []procurebot.Offer {
	var out []procurebot.Offer
	for _, s := range ds.GPU {
		if !s.Time.After(t) {
			out = s.Offers
		}
	}
	return out
}

func tokensAt(ds *procurebot.Dataset, t time.Time) []procurebot.TokenPrice {
	var out []procurebot.TokenPrice
	for _, s := range ds.Tokens {
		if !s.Time.After(t) {
			out = s.Prices
		}
	}
	return out
}

func allowed(m *procurebot.Market, p string) bool {
	if len(m.Providers) == 0 {
		return true
	}
	for _, q := range m.Providers {
		if q == p {
			return true
		}
	}
	return false
}

func isSpot(m *procurebot.Market, o *procurebot.Offer) bool {
	switch o.Spot {
	case procurebot.SpotTrue:
		return true
	case procurebot.SpotFalse:
		return false
	}
	for _, p := range m.OnDemandProviders {
		if p == o.Provider {
			return false
		}
	}
	return true
}

// preempted is §7.5 from the draw: u < rate·h with u = X / 2^64, exactly.
func preempted(sc *procurebot.Scenario, provider, gpu string, k int) bool {
	q := rmul(rat(sc.Market.SpotPreemptionPerHour), rat(sc.StepHours()))
	if q.Sign() <= 0 {
		return false
	}
	x := new(big.Int).SetUint64(sim.PreemptionDraw(sc.Seed, provider, gpu, k))
	u := new(big.Rat).SetFrac(x, new(big.Int).Lsh(big.NewInt(1), 64))
	return u.Cmp(q) < 0
}

// window is §7's rule: release ≤ t_k and t_k + step ≤ deadline.
func window(sc *procurebot.Scenario, j *procurebot.Job) (first, end int) {
	first, end = -1, 0
	for k := 0; k < sc.Steps(); k++ {
		t := sc.StepTime(k)
		if !t.Before(j.Release) && !t.Add(sc.Step).After(j.Deadline) {
			if first < 0 {
				first = k
			}
			end = k + 1
		}
	}
	if first < 0 {
		first = end
	}
	return
}

// fillChoice is the best use of a site's free GPUs in one step.
type fillChoice struct {
	val    bfVal
	x      *big.Rat // self-hosted fraction of the workload
	leased *big.Rat
}

// siteStep is the per GPU-hour economics of §7.1–7.4 at one step.
type siteStep struct {
	run, idle, income *big.Rat
	canLease          bool
}

func siteEconomics(sc *procurebot.Scenario, ds *procurebot.Dataset, s, k int) siteStep {
	site := &sc.Sites[s]
	ps := ds.Power[site.PowerMarket]
	t := sc.StepTime(k).Truncate(time.Hour)
	i := int(t.Sub(ps.Start) / time.Hour)
	pue := procurebot.One
	if site.PUE != nil {
		pue = *site.PUE
	}
	e := rquo(rmul(rmul(rat(site.KWPerGPU), rat(pue)), rat(ps.Prices[i])), ratInt(1000))
	st := siteStep{run: radd(e, rat(site.OtherUSDPerGPUHour)), idle: new(big.Rat), income: new(big.Rat)}
	if !site.Curtailable {
		st.idle = e
	}
	if site.SellSpare {
		var mg *big.Rat
		for _, o := range bookAt(ds, sc.StepTime(k)) {
			if o.GPU == site.GPU && allowed(&sc.Market, o.Provider) {
				if p := rat(o.PerGPU); mg == nil || p.Cmp(mg) < 0 {
					mg = p
				}
			}
		}
		if mg != nil {
			st.canLease, st.income = true, rmul(rat(site.SellPriceRatio), mg)
		}
	}
	return st
}

// bestFill returns the best (least unserved, then least cost) use of free
// GPUs of the (only) site at step k: a self-hosted fraction x of the one
// workload and L GPUs leased, the rest idle. The cost is linear in (x, L)
// over a polygon, so one of its vertices is optimal.
func bestFill(sc *procurebot.Scenario, ds *procurebot.Dataset, k int, free int, ec siteStep) fillChoice {
	h := rat(sc.StepHours())
	F := ratInt(free)
	var w *procurebot.Inference
	if len(sc.Inference) > 0 {
		w = &sc.Inference[0]
	}
	type vertex struct{ x, used *big.Rat }
	verts := []vertex{{new(big.Rat), new(big.Rat)}}
	var demand, need, tok *big.Rat
	sold := false
	if w != nil {
		demand = radd(rat(w.MTokInPerHour), rat(w.MTokOutPerHour))
		for _, p := range tokensAt(ds, sc.StepTime(k)) {
			if p.Model != w.Model {
				continue
			}
			c := radd(rmul(rat(w.MTokInPerHour), rat(p.USDPerMTokIn)), rmul(rat(w.MTokOutPerHour), rat(p.USDPerMTokOut)))
			if !sold || c.Cmp(tok) < 0 {
				tok, sold = c, true
			}
		}
		if w.SelfHost != nil && w.SelfHost.GPU == sc.Sites[0].GPU {
			need = rquo(demand, rat(w.SelfHost.MTokPerGPUHour))
			x := rmin(big.NewRat(1, 1), rquo(F, need))
			verts = append(verts, vertex{x, rmul(x, need)})
		}
	}
	var best fillChoice
	first := true
	for _, v := range verts {
		rest := rsub(F, v.used)
		Ls := []*big.Rat{new(big.Rat)}
		if ec.canLease && rest.Sign() > 0 {
			Ls = append(Ls, rest)
		}
		for _, L := range Ls {
			idle := rsub(rest, L)
			cost := radd(rmul(radd(v.used, L), ec.run), rmul(idle, ec.idle))
			cost = rsub(cost, rmul(L, ec.income))
			unserved := new(big.Rat)
			if w != nil {
				left := rsub(big.NewRat(1, 1), v.x)
				if sold {
					cost = radd(cost, rmul(left, tok))
				} else {
					unserved = rmul(left, demand)
				}
			}
			val := bfVal{rmul(unserved, h), rmul(cost, h)}
			if first || val.less(best.val) {
				best, first = fillChoice{val, v.x, L}, false
			}
		}
	}
	return best
}

// bfOption is the best allocation of one step that delivers a given number
// of GPU-steps to each job.
type bfOption struct {
	delta []int
	val   bfVal
	desc  string
}

// stepOptions enumerates every integer allocation of step k's active jobs'
// GPUs to the site and the usable rows and keeps, per delivery vector, the
// best.
func stepOptions(sc *procurebot.Scenario, ds *procurebot.Dataset, k int) []bfOption {
	J := len(sc.Jobs)
	h := rat(sc.StepHours())
	book := bookAt(ds, sc.StepTime(k))
	hasSite := len(sc.Sites) > 0
	siteGPUs := 0
	var ec siteStep
	var fills []fillChoice
	if hasSite {
		siteGPUs = sc.Sites[0].GPUs
		ec = siteEconomics(sc, ds, 0, k)
		for n := 0; n <= siteGPUs; n++ {
			f := bestFill(sc, ds, k, siteGPUs-n, ec)
			f.val.cost = radd(f.val.cost, rmul(rmul(ratInt(n), ec.run), h))
			fills = append(fills, f)
		}
	}
	type venue struct {
		row   int // -1: the site
		price *big.Rat
	}
	type pair struct{ j, v int }
	var venues []venue
	var pairs []pair
	if hasSite {
		venues = append(venues, venue{row: -1})
	}
	for i := range book {
		venues = append(venues, venue{row: i, price: rat(book[i].PerGPU)})
	}
	for j := 0; j < J; j++ {
		job := &sc.Jobs[j]
		f, e := window(sc, job)
		if k < f || k >= e {
			continue
		}
		for v, vn := range venues {
			if vn.row < 0 {
				if sc.Sites[0].GPU != job.GPU {
					continue
				}
			} else {
				o := &book[vn.row]
				if o.GPU != job.GPU || !allowed(&sc.Market, o.Provider) {
					continue
				}
				if job.MaxUSDPerGPUHour != nil && o.PerGPU.GreaterThan(*job.MaxUSDPerGPUHour) {
					continue
				}
				spot := isSpot(&sc.Market, o)
				if spot && (!job.Interruptible || preempted(sc, o.Provider, o.GPU, k)) {
					continue // preempted rows are paid and deliver nothing
				}
			}
			pairs = append(pairs, pair{j, v})
		}
	}
	jobLeft := make([]int, J)
	for j := range jobLeft {
		jobLeft[j] = sc.Jobs[j].MaxGPUs
	}
	venueLeft := make([]int, len(venues))
	for v, vn := range venues {
		if vn.row < 0 {
			venueLeft[v] = siteGPUs
		} else {
			venueLeft[v] = sc.Market.MaxGPUsPerOffer
		}
	}
	take := make([]int, len(pairs))
	best := map[string]*bfOption{}
	var rec func(i int)
	rec = func(i int) {
		if i < len(pairs) {
			p := pairs[i]
			for n := 0; n <= min(jobLeft[p.j], venueLeft[p.v]); n++ {
				take[i] = n
				jobLeft[p.j] -= n
				venueLeft[p.v] -= n
				rec(i + 1)
				jobLeft[p.j] += n
				venueLeft[p.v] += n
			}
			take[i] = 0
			return
		}
		delta := make([]int, J)
		siteUsed := 0
		cost := new(big.Rat)
		var parts []string
		for i, p := range pairs {
			n := take[i]
			if n == 0 {
				continue
			}
			delta[p.j] += n
			vn := venues[p.v]
			if vn.row < 0 {
				siteUsed += n
				parts = append(parts, fmt.Sprintf("j%d:site×%d", p.j, n))
			} else {
				cost = radd(cost, rmul(rmul(ratInt(n), vn.price), h))
				parts = append(parts, fmt.Sprintf("j%d:row%d(%s %s)×%d", p.j, vn.row, book[vn.row].Provider, book[vn.row].PerGPU, n))
			}
		}
		val := bfVal{new(big.Rat), cost}
		if hasSite {
			f := fills[siteUsed]
			val = val.add(f.val)
			if len(sc.Inference) > 0 {
				parts = append(parts, "selfhost x="+f.x.FloatString(6))
			}
			if f.leased.Sign() > 0 {
				parts = append(parts, "lease "+f.leased.FloatString(6))
			}
		}
		key := fmt.Sprint(delta)
		if b, ok := best[key]; !ok || val.less(b.val) {
			best[key] = &bfOption{delta: delta, val: val, desc: strings.Join(parts, " ")}
		}
	}
	rec(0)
	out := make([]bfOption, 0, len(best))
	for _, o := range best {
		out = append(out, *o)
	}
	sort.Slice(out, func(a, b int) bool { return fmt.Sprint(out[a].delta) < fmt.Sprint(out[b].delta) })
	return out
}

// bfEnd is a reachable final state: GPU-steps delivered per job (capped
// at what each needs) and the best value of the plans that reach it.
type bfEnd struct {
	key   string
	units []int
	val   bfVal
}

// bfNode is a DP state at one step: its best value and how it was reached.
type bfNode struct {
	val   bfVal
	prev  string
	trace string
}

// bfPlan is the brute force's dynamic programme, solved.
type bfPlan struct {
	sc     *procurebot.Scenario
	need   []int // GPU-steps each job needs: ceil(gpu_hours / h)
	layers []map[string]*bfNode
	ends   []bfEnd
}

func (p *bfPlan) misses(e bfEnd) int {
	n := 0
	for j, u := range e.units {
		if u < p.need[j] {
			n++
		}
	}
	return n
}

func (p *bfPlan) steps(e bfEnd) int {
	n := 0
	for _, u := range e.units {
		n += u
	}
	return n
}

// hours is the GPU-hours delivered: each job's GPU-steps times h, capped at
// its gpu_hours.
func (p *bfPlan) hours(e bfEnd) *big.Rat {
	h := rat(p.sc.StepHours())
	w := new(big.Rat)
	for j, u := range e.units {
		w = radd(w, rmin(rmul(ratInt(u), h), rat(p.sc.Jobs[j].GPUHours)))
	}
	return w
}

// best returns the final state first in the order better.
func (p *bfPlan) best(better func(a, b bfEnd) bool) bfEnd {
	b := p.ends[0]
	for _, e := range p.ends[1:] {
		if better(e, b) {
			b = e
		}
	}
	return b
}

// byGPUSteps is the oracle's stated objective: most GPU-steps placed, then
// least unserved inference, then least cost.
func (p *bfPlan) byGPUSteps(a, b bfEnd) bool {
	if x, y := p.steps(a), p.steps(b); x != y {
		return x > y
	}
	return a.val.less(b.val)
}

// byMisses: fewest deadline misses, then most GPU-steps, then least
// unserved inference, then least cost.
func (p *bfPlan) byMisses(a, b bfEnd) bool {
	if x, y := p.misses(a), p.misses(b); x != y {
		return x < y
	}
	return p.byGPUSteps(a, b)
}

func (p *bfPlan) minMisses() int { return p.misses(p.best(p.byMisses)) }

// trace returns the plan that reaches e, step by step.
func (p *bfPlan) trace(e bfEnd) string {
	var out []string
	key := e.key
	for l := len(p.layers) - 1; l > 0; l-- {
		nd := p.layers[l][key]
		out = append([]string{nd.trace}, out...)
		key = nd.prev
	}
	return strings.Join(out, " | ")
}

// bruteForce solves the scenario by dynamic programming over steps; the
// state is the GPU-steps delivered so far per job, capped at the need.
// tight forbids a step from giving a job more GPUs than it still needs
// (the finishing step of a job then takes no GPUs beyond its need).
func bruteForce(sc *procurebot.Scenario, ds *procurebot.Dataset, tight bool) *bfPlan {
	J := len(sc.Jobs)
	h := rat(sc.StepHours())
	p := &bfPlan{sc: sc, need: make([]int, J)}
	for j := range sc.Jobs {
		u := rquo(rat(sc.Jobs[j].GPUHours), h)
		p.need[j] = int(new(big.Int).Quo(new(big.Int).Add(u.Num(), new(big.Int).Sub(u.Denom(), big.NewInt(1))), u.Denom()).Int64())
	}
	key := func(u []int) string { return fmt.Sprint(u) }
	parse := func(s string) []int {
		var u []int
		for _, f := range strings.Fields(strings.Trim(s, "[]")) {
			var n int
			fmt.Sscan(f, &n)
			u = append(u, n)
		}
		return u
	}
	zero := make([]int, J)
	p.layers = []map[string]*bfNode{{key(zero): {val: bfVal{new(big.Rat), new(big.Rat)}}}}
	for k := 0; k < sc.Steps(); k++ {
		opts := stepOptions(sc, ds, k)
		cur := p.layers[len(p.layers)-1]
		next := map[string]*bfNode{}
		for ks, nd := range cur {
			u := parse(ks)
		opt:
			for _, o := range opts {
				nu := make([]int, J)
				for j := 0; j < J; j++ {
					if o.delta[j] > 0 && (u[j] >= p.need[j] || (tight && o.delta[j] > p.need[j]-u[j])) {
						continue opt
					}
					nu[j] = min(u[j]+o.delta[j], p.need[j])
				}
				v := nd.val.add(o.val)
				nk := key(nu)
				if b, ok := next[nk]; !ok || v.less(b.val) {
					next[nk] = &bfNode{val: v, prev: ks, trace: fmt.Sprintf("k=%d %s", k, o.desc)}
				}
			}
		}
		p.layers = append(p.layers, next)
	}
	last := p.layers[len(p.layers)-1]
	keys := make([]string, 0, len(last))
	for ks := range last {
		keys = append(keys, ks)
	}
	sort.Strings(keys) // deterministic ties
	for _, ks := range keys {
		p.ends = append(p.ends, bfEnd{key: ks, units: parse(ks), val: last[ks].val})
	}
	return p
}

// hopeless reports whether job j cannot be finished even with all supply
// to itself.
func hopeless(sc *procurebot.Scenario, ds *procurebot.Dataset, j int) bool {
	alone := *sc
	alone.Jobs = []procurebot.Job{sc.Jobs[j]}
	return bruteForce(&alone, ds, true).minMisses() > 0
}

// ---------------------------------------------------------------------------
// Printing a scenario for a counterexample.

func describe(sc *procurebot.Scenario, ds *procurebot.Dataset) string {
	var b strings.Builder
	fmt.Fprintf(&b, "start %s end %s step %s seed %d", sc.Start.Format(time.RFC3339), sc.End.Format(time.RFC3339), sc.Step, sc.Seed)
	if sc.BudgetUSD != nil {
		fmt.Fprintf(&b, " budget %s", sc.BudgetUSD)
	}
	b.WriteString("\n")
	for _, s := range sc.Sites {
		pue := "1"
		if s.PUE != nil {
			pue = s.PUE.String()
		}
		fmt.Fprintf(&b, "site %s market %s (%s) %s×%d kw %s pue %s other %s curtailable %v sell_spare %v ratio %s\n",
			s.Name, s.PowerMarket, s.PowerVisibility, s.GPU, s.GPUs, s.KWPerGPU, pue, s.OtherUSDPerGPUHour, s.Curtailable, s.SellSpare, s.SellPriceRatio)
	}
	for _, j := range sc.Jobs {
		cap := "-"
		if j.MaxUSDPerGPUHour != nil {
			cap = j.MaxUSDPerGPUHour.String()
		}
		fmt.Fprintf(&b, "job %s %s max_gpus %d gpu_hours %s release %s deadline %s interruptible %v max_usd %s\n",
			j.ID, j.GPU, j.MaxGPUs, j.GPUHours, j.Release.Format(time.RFC3339), j.Deadline.Format(time.RFC3339), j.Interruptible, cap)
	}
	for _, w := range sc.Inference {
		fmt.Fprintf(&b, "inference %s model %s in %s out %s", w.ID, w.Model, w.MTokInPerHour, w.MTokOutPerHour)
		if w.SelfHost != nil {
			fmt.Fprintf(&b, " self_host %s %s", w.SelfHost.GPU, w.SelfHost.MTokPerGPUHour)
		}
		b.WriteString("\n")
	}
	m := sc.Market
	fmt.Fprintf(&b, "market providers %v on_demand %v max_gpus_per_offer %d switch %s preemption %s\n",
		m.Providers, m.OnDemandProviders, m.MaxGPUsPerOffer, m.SwitchCostGPUHours, m.SpotPreemptionPerHour)
	markets := ds.Markets()
	for _, mk := range markets {
		ps := ds.Power[mk]
		var xs []string
		for k := 0; k < sc.Steps(); k++ {
			p, _ := ps.At(sc.StepTime(k))
			xs = append(xs, p.String())
		}
		fmt.Fprintf(&b, "power %s per step: %s\n", mk, strings.Join(xs, " "))
	}
	for _, s := range ds.GPU {
		if !s.Time.Before(sc.End) {
			continue
		}
		var xs []string
		for i, o := range s.Offers {
			xs = append(xs, fmt.Sprintf("%d:%s/%s/%s spot=%v", i, o.Provider, o.GPU, o.PerGPU, o.IsSpot(m.OnDemandProviders)))
		}
		fmt.Fprintf(&b, "book %s: %s\n", s.Time.Format("01-02T15:04"), strings.Join(xs, ", "))
	}
	for _, s := range ds.Tokens {
		if !s.Time.Before(sc.End) {
			continue
		}
		var xs []string
		for _, p := range s.Prices {
			xs = append(xs, fmt.Sprintf("%s/%s in %s out %s", p.Provider, p.Model, p.USDPerMTokIn, p.USDPerMTokOut))
		}
		fmt.Fprintf(&b, "tokens %s: %s\n", s.Time.Format("01-02T15:04"), strings.Join(xs, ", "))
	}
	if m.SpotPreemptionPerHour.Sign() > 0 {
		type pg struct{ p, g string }
		seen := map[pg]bool{}
		var pgs []pg
		for _, s := range ds.GPU {
			for _, o := range s.Offers {
				if k := (pg{o.Provider, o.GPU}); !seen[k] && o.IsSpot(m.OnDemandProviders) {
					seen[k] = true
					pgs = append(pgs, k)
				}
			}
		}
		sort.Slice(pgs, func(a, b int) bool { return pgs[a].p+pgs[a].g < pgs[b].p+pgs[b].g })
		var xs []string
		for k := 0; k < sc.Steps(); k++ {
			for _, x := range pgs {
				if preempted(sc, x.p, x.g, k) {
					xs = append(xs, fmt.Sprintf("%s/%s@%d", x.p, x.g, k))
				}
			}
		}
		fmt.Fprintf(&b, "preempted spot rows (provider/class@step): %v\n", xs)
	}
	return b.String()
}

// ---------------------------------------------------------------------------

// oracleSteps is the GPU-steps the oracle delivered per job, as the
// brute force counts them: ceil(delivered / h), the need when finished.
func oracleSteps(sc *procurebot.Scenario, p *bfPlan, res *sim.Result) int {
	h := rat(sc.StepHours())
	n := 0
	for j, jr := range res.Jobs {
		if !jr.Missed {
			n += p.need[j]
			continue
		}
		u := rquo(rat(jr.GPUHoursDelivered), h)
		n += int(new(big.Int).Quo(new(big.Int).Add(u.Num(), new(big.Int).Sub(u.Denom(), big.NewInt(1))), u.Denom()).Int64())
	}
	return n
}

// overAllocationCanPay reports whether some step has a site GPU that costs
// less running than doing nothing — curtailable, e + other < 0 and no lease
// market to give up — the only case where a finishing step that takes more
// GPUs than the job still needs can lower the total (see the report).
func overAllocationCanPay(sc *procurebot.Scenario, ds *procurebot.Dataset) bool {
	for s := range sc.Sites {
		if !sc.Sites[s].Curtailable {
			continue
		}
		for k := 0; k < sc.Steps(); k++ {
			if ec := siteEconomics(sc, ds, s, k); ec.run.Sign() < 0 && (!ec.canLease || ec.income.Sign() == 0) {
				return true
			}
		}
	}
	return false
}

// TestOracleExactSmall runs the oracle on small random scenarios and
// compares it with the brute force. The oracle's objective (strategy/
// oracle.go) is: most GPU-steps placed, then inference whose model is not
// sold served as far as free GPUs allow, then least total cost; it must
// reach that optimum exactly. Known departures from DESIGN §7.9, reported
// and left out of the assertions, are counted and logged:
//   - a job that cannot be finished at all still takes GPUs a finishable
//     job needed, so the oracle may miss more deadlines than necessary
//     (misses are asserted minimal only without such a job);
//   - a finishing step may pay off by taking more GPUs than the job still
//     needs where a running GPU costs less than an idle one; the oracle
//     never does (asserted against the optimum without that, and the two
//     optima asserted equal wherever it cannot pay).
func TestOracleExactSmall(t *testing.T) {
	want := 1000
	if testing.Short() {
		want = 300
	}
	if n := os.Getenv("ORACLE_EXACT_N"); n != "" {
		want, _ = strconv.Atoi(n)
	}
	rng := rand.New(rand.NewSource(20241001))
	ctx := context.Background()
	var n, inexact, complete, preemptedCases, negPower, selfHost, twoJobs int
	var missBug, overAlloc, fewerHours int
	for tries := 0; n < want; tries++ {
		if tries > 50*want {
			t.Fatalf("generated only %d valid scenarios", n)
		}
		c := genExact(rng)
		if !c.valid() {
			continue
		}
		n++
		sc, ds := c.sc, c.ds
		res, err := sim.Run(ctx, sc, ds, strategy.NewOracle(), sim.Options{})
		if err != nil {
			t.Fatalf("case %d: oracle run: %v\n%s", n, err, describe(sc, ds))
		}
		tight := bruteForce(sc, ds, true)
		full := bruteForce(sc, ds, false)
		opt := tight.best(tight.byGPUSteps)
		fopt := full.best(full.byGPUSteps)
		minMisses := tight.minMisses()
		if !c.exact {
			inexact++
		}
		if sc.Market.SpotPreemptionPerHour.Sign() > 0 {
			preemptedCases++
		}
		if len(sc.Inference) > 0 {
			selfHost++
		}
		if len(sc.Jobs) > 1 {
			twoJobs++
		}
		if minMisses == 0 {
			complete++
		}
		for _, p := range ds.Power["M1"].Prices {
			if p.Sign() < 0 {
				negPower++
				break
			}
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Errorf("case %d: %s\noracle: %s\nbrute force plan: %s\nscenario:\n%s",
				n, fmt.Sprintf(format, args...), summary(res), tight.trace(opt), describe(sc, ds))
		}
		if full.minMisses() != minMisses || full.steps(fopt) != tight.steps(opt) {
			t.Fatalf("case %d: brute force: over-allocation changed what can be delivered", n)
		}

		// (1) Work: the most GPU-steps that can be placed.
		if got := oracleSteps(sc, tight, res); got != tight.steps(opt) {
			fail("oracle placed %d GPU-steps, brute force %d", got, tight.steps(opt))
			continue
		}
		if max := tight.hours(tight.best(func(a, b bfEnd) bool { return tight.hours(a).Cmp(tight.hours(b)) > 0 })); res.GPUHoursDelivered.Rat().Cmp(max) < 0 {
			fewerHours++ // GPU-steps, not GPU-hours, are maximised (report)
		}
		// Deadline misses: the least possible.
		if res.DeadlineMisses != minMisses {
			hope := false
			for j := range sc.Jobs {
				hope = hope || hopeless(sc, ds, j)
			}
			if !hope {
				fail("deadline misses %d, brute force minimum %d", res.DeadlineMisses, minMisses)
				continue
			}
			if missBug++; missBug == 1 {
				t.Logf("known: oracle misses %d deadlines, %d possible (a job that cannot finish takes the GPUs), case %d:\n%s\nplan with fewest misses: %s",
					res.DeadlineMisses, minMisses, n, describe(sc, ds), tight.trace(tight.best(tight.byMisses)))
			}
		}
		// (2) and (3): unserved inference, then total cost.
		cost, unserved := res.TotalCostUSD.Rat(), res.UnservedMTok.Rat()
		if c.exact {
			if unserved.Cmp(opt.val.unserved) != 0 {
				fail("unserved %s Mtok, brute force %s", res.UnservedMTok, opt.val.unserved.FloatString(12))
				continue
			}
			if cost.Cmp(opt.val.cost) != 0 {
				fail("total cost %s, brute force optimum %s", res.TotalCostUSD, opt.val.cost.FloatString(14))
				continue
			}
		} else {
			// Self-hosted shares that do not terminate as decimals are
			// rounded at 16 places by the fill (DivRound) and by the
			// accounting (Div): differences of about 1e-16 per step.
			tol := big.NewRat(1, 1_000_000_000)
			if d := new(big.Rat).Abs(rsub(unserved, opt.val.unserved)); d.Cmp(tol) > 0 {
				fail("unserved %s Mtok, brute force %s", res.UnservedMTok, opt.val.unserved.FloatString(12))
				continue
			}
			if d := new(big.Rat).Abs(rsub(cost, opt.val.cost)); d.Cmp(tol) > 0 {
				fail("total cost %s, brute force optimum %s", res.TotalCostUSD, opt.val.cost.FloatString(14))
				continue
			}
		}
		// Over-allocation in a finishing step.
		if fopt.val.less(opt.val) {
			if !overAllocationCanPay(sc, ds) {
				fail("brute force: over-allocation lowers the optimum to %s where it cannot pay", fopt.val.cost.FloatString(12))
				continue
			}
			if overAlloc++; overAlloc == 1 {
				t.Logf("known: taking more GPUs than needed in a finishing step costs %s, the oracle %s, case %d:\n%s\nplan: %s",
					fopt.val.cost.FloatString(6), res.TotalCostUSD, n, describe(sc, ds), full.trace(fopt))
			}
		}
	}
	t.Logf("%d scenarios (%d with two jobs, %d where all jobs can finish, %d with spot preemption, %d with negative power, %d with self-hosted inference, %d with non-terminating self-host shares)",
		n, twoJobs, complete, preemptedCases, negPower, selfHost, inexact)
	t.Logf("known departures: oracle misses above the minimum %d; over-allocation would lower the optimum %d; fewer GPU-hours than possible (GPU-steps are maximised) %d",
		missBug, overAlloc, fewerHours)
}

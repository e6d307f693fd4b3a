package strategy

import (
	"encoding/binary"
	"math"
	"sort"

	"github.com/procurebot/procurebot"
)

// planStep is what a plan assumes of one step's prices: known exactly, or
// forecast. Planning arithmetic is float64 USD, rounded to integer pico-USD
// for the solver; money is accounted exactly by the simulator.
type planStep struct {
	power  []float64          // per site, USD/MWh
	lease  map[string]float64 // per GPU class: m_g; absent = no market to lease into
	tokens []float64          // per workload: USD per hour; NaN = not sold
	rows   []planRow          // rental supply, sorted by price

	// at is the plan-relative index of the (first) real step this stands
	// for, for job windows; n > 1 merges n identical steps (0 means 1).
	at, n int
	// src identifies where rows and lease came from (steps with the same
	// src and power merge).
	src int
}

// planRow is a rental offer in a plan.
type planRow struct {
	offer    int // index in the real book (the current step), or -1 for a forecast row
	provider string
	gpu      string
	price    float64 // USD per GPU-hour
	spot     bool
	loss     float64 // expected share of the step lost to preemption
}

// unservedValue is the value the plan puts on a GPU-step of inference whose
// model is not sold: high enough that jobs displace it only to finish.
const unservedValue = 1e5

// pieceMeta says what venue a solver piece stands for.
type pieceMeta struct {
	site int // own site, or -1
	row  int // index in planStep.rows when site < 0
}

// planJob is a job as a plan sees it.
type planJob struct {
	need  int // GPU-steps still needed
	first int // first plan step it may run in
	end   int // one past the last plan step it may run in
}

// plan is a built allocation problem over plan steps 0..len(steps)-1.
type plan struct {
	pr   Problem
	meta []pieceMeta
}

func pico(usd float64) int64 { return int64(math.Round(usd * procurebot.PicoPerUSD)) }

type siteF struct {
	c0   float64 // marginal cost per GPU-step of a job unit over the best alternative use
	segs []seg   // inference hosted in the ideal fill, by increasing value
}

type seg struct {
	len, cost float64
}

// buildPlan turns prices and job states into the solver's problem.
func buildPlan(sc *procurebot.Scenario, steps []planStep, jobs []planJob, cache poolCache) *plan {
	h := sc.Step.Hours()
	pl := &plan{}
	pl.pr.Steps = len(steps)
	pl.pr.Need = make([]int, len(jobs))
	pl.pr.MaxPer = make([]int, len(jobs))
	pl.pr.Pieces = make([]Piece, 0, len(steps)*(len(sc.Sites)+4))
	pl.meta = make([]pieceMeta, 0, cap(pl.pr.Pieces))
	eligBuf := make([]int, 0, len(steps)*(len(sc.Sites)+4)*len(jobs))
	// elig returns the active jobs that pass keep, in a slice carved from
	// one buffer (pieces keep it).
	elig := func(active []int, keep func(j int) bool) []int {
		start := len(eligBuf)
		for _, j := range active {
			if keep(j) {
				eligBuf = append(eligBuf, j)
			}
		}
		return eligBuf[start:len(eligBuf):len(eligBuf)]
	}
	for j := range jobs {
		pl.pr.Need[j] = jobs[j].need
		pl.pr.MaxPer[j] = sc.Jobs[j].MaxGPUs
	}
	capRow := sc.Market.MaxGPUsPerOffer
	nS := len(sc.Sites)
	sites := make([]siteF, nS)
	type siteK struct{ kwpue, other, ratio float64 }
	sk := make([]siteK, nS)
	for s := range sc.Sites {
		site := &sc.Sites[s]
		sk[s] = siteK{site.KWPerGPU.Mul(site.PUEOrDefault()).InexactFloat64(), site.OtherUSDPerGPUHour.InexactFloat64(), site.SellPriceRatio.InexactFloat64()}
	}
	maxPrice := make([]float64, len(jobs))
	for j := range jobs {
		maxPrice[j] = math.Inf(1)
		if p := sc.Jobs[j].MaxUSDPerGPUHour; p != nil {
			maxPrice[j] = p.InexactFloat64() + 1e-12
		}
	}
	var active []int
	var rows []int
	shared := selfHostPools(sc)
	for t := range steps {
		st := &steps[t]
		at, n := t, 1
		if st.n > 0 {
			at, n = st.at, st.n
			if pl.pr.Mult == nil {
				pl.pr.Mult = make([]int, len(steps))
			}
		}
		if pl.pr.Mult != nil {
			pl.pr.Mult[t] = n
		}
		active = active[:0]
		for j := range jobs {
			if jobs[j].need > 0 && at >= jobs[j].first && at < jobs[j].end {
				active = append(active, j)
			}
		}
		if len(active) == 0 {
			continue
		}
		// Own sites.
		for s := range sc.Sites {
			site := &sc.Sites[s]
			e := sk[s].kwpue * st.power[s] / 1000
			run := e + sk[s].other
			idle := 0.0
			if !site.Curtailable {
				idle = e
			}
			base := idle
			if m, ok := st.lease[site.GPU]; ok && site.SellSpare {
				if l := run - sk[s].ratio*m; l < base {
					base = l
				}
			}
			sites[s] = siteF{c0: (run - base) * h}
		}
		idealInference(sc, st, sites, h)
		for s := range sc.Sites {
			pool := shared[s]
			if pool != nil && pool[0] != s {
				continue // a pool's pieces are added once, at its first site
			}
			g := sc.Sites[s].GPU
			es := elig(active, func(j int) bool { return sc.Jobs[j].GPU == g })
			if len(es) == 0 {
				continue
			}
			if pool != nil {
				poolPieces(pl, t, sc, st, pool, sites, es, n, h, cache)
				continue
			}
			sitePieces(pl, t, s, float64(sc.Sites[s].GPUs), sites[s], es, n)
		}
		// Rentals (rows come sorted by price): cheapest rows until both the
		// spot-ok and the on-demand supply cover what the active jobs of the
		// class could take.
		rows = rows[:0]
		for i := range st.rows {
			rows = append(rows, i)
		}
		bound := map[string]int{}
		for _, j := range active {
			bound[sc.Jobs[j].GPU] += sc.Jobs[j].MaxGPUs
		}
		cumAll, cumOD := map[string]int{}, map[string]int{}
		for _, i := range rows {
			r := &st.rows[i]
			b, ok := bound[r.gpu]
			if !ok || (cumAll[r.gpu] >= b && cumOD[r.gpu] >= b) {
				continue
			}
			if r.spot && cumAll[r.gpu] >= b {
				continue
			}
			es := elig(active, func(j int) bool {
				job := &sc.Jobs[j]
				return job.GPU == r.gpu && (!r.spot || job.Interruptible) && r.price <= maxPrice[j]
			})
			if len(es) == 0 {
				continue
			}
			cumAll[r.gpu] += capRow
			if !r.spot {
				cumOD[r.gpu] += capRow
			}
			cost := r.price * h
			if r.loss > 0 && r.loss < 1 {
				cost /= 1 - r.loss
			}
			pl.pr.Pieces = append(pl.pr.Pieces, Piece{Step: t, Cost: pico(cost), Cap: capRow * n, Jobs: es})
			pl.meta = append(pl.meta, pieceMeta{site: -1, row: i})
		}
	}
	return pl
}

// workload is a self-hostable inference workload as a plan sees it.
type workload struct {
	value float64 // tokens saved per GPU-step (unservedValue if not sold)
	need  float64 // GPUs that serve all of it
	gpu   string  // self_host class
}

// selfHostWorkloads returns the workloads that may be self-hosted (on class
// gpu; "" = any), most valuable first.
func selfHostWorkloads(sc *procurebot.Scenario, st *planStep, h float64, gpu string) []workload {
	var ws []workload
	for w := range sc.Inference {
		inf := &sc.Inference[w]
		if inf.SelfHost == nil || (gpu != "" && inf.SelfHost.GPU != gpu) {
			continue
		}
		demand := inf.MTokInPerHour.Add(inf.MTokOutPerHour).InexactFloat64()
		tput := inf.SelfHost.MTokPerGPUHour.InexactFloat64()
		c := workload{need: demand / tput, gpu: inf.SelfHost.GPU, value: unservedValue}
		if tc := st.tokens[w]; !math.IsNaN(tc) {
			c.value = tc * h * tput / demand
		}
		ws = append(ws, c)
	}
	sort.SliceStable(ws, func(a, b int) bool { return ws[a].value > ws[b].value })
	return ws
}

// idealInference fills sites[].segs with the inference each site would host
// if jobs took none of it: workloads by value, sites by marginal cost.
func idealInference(sc *procurebot.Scenario, st *planStep, sites []siteF, h float64) {
	for s := range sites {
		sites[s].segs = sites[s].segs[:0]
	}
	if len(sc.Inference) == 0 {
		return
	}
	cs := selfHostWorkloads(sc, st, h, "")
	free := make([]float64, len(sites))
	for s := range sites {
		free[s] = float64(sc.Sites[s].GPUs)
	}
	for _, c := range cs {
		need := c.need
		for need > 1e-12 {
			best := -1
			for s := range sites {
				if sc.Sites[s].GPU != c.gpu || free[s] <= 1e-12 || c.value <= sites[s].c0 {
					continue
				}
				if best < 0 || sites[s].c0 < sites[best].c0 {
					best = s
				}
			}
			if best < 0 {
				break
			}
			take := math.Min(need, free[best])
			free[best] -= take
			need -= take
			sites[best].segs = append(sites[best].segs, seg{len: take, cost: c.value})
		}
	}
	for s := range sites {
		sg := sites[s].segs
		sort.SliceStable(sg, func(a, b int) bool { return sg[a].cost < sg[b].cost })
	}
}

// sitePieces adds the pieces of site s in plan step t: units taken first
// from free GPUs at c0, then from hosted inference, least valuable first (a
// job unit that displaces inference costs the tokens then bought).
func sitePieces(pl *plan, t, s int, gpus float64, sf siteF, elig []int, mult int) {
	var hosted float64
	for _, g := range sf.segs {
		hosted += g.len
	}
	segs := make([]seg, 0, len(sf.segs)+1)
	if f := gpus - hosted; f > 1e-12 {
		segs = append(segs, seg{len: f, cost: sf.c0})
	}
	segs = append(segs, sf.segs...)
	add := func(n int, cost float64) {
		if n <= 0 {
			return
		}
		n *= mult
		c := pico(cost)
		if last := len(pl.pr.Pieces) - 1; last >= 0 && pl.meta[last].site == s && pl.pr.Pieces[last].Step == t && pl.pr.Pieces[last].Cost == c {
			pl.pr.Pieces[last].Cap += n
			return
		}
		pl.pr.Pieces = append(pl.pr.Pieces, Piece{Step: t, Cost: c, Cap: n, Jobs: elig})
		pl.meta = append(pl.meta, pieceMeta{site: s})
	}
	total := int(gpus)
	u := 0     // next unit
	pos := 0.0 // start of segment i in GPU units
	i := 0
	for u < total && i < len(segs) {
		end := pos + segs[i].len
		if float64(u)+1 <= end+1e-9 {
			n := int(math.Floor(end + 1e-9 - float64(u)))
			if u+n > total {
				n = total - u
			}
			add(n, segs[i].cost)
			u += n
			if float64(u) >= end-1e-9 {
				pos = end
				i++
			}
			continue
		}
		// unit u straddles segments: integrate cost over [u, u+1]
		var c float64
		lo := float64(u)
		for lo < float64(u)+1-1e-12 && i < len(segs) {
			end = pos + segs[i].len
			hi := math.Min(end, float64(u)+1)
			c += (hi - lo) * segs[i].cost
			lo = hi
			if hi >= end-1e-12 {
				pos = end
				i++
			}
		}
		add(1, c)
		u++
	}
	if u < total && len(segs) > 0 { // float rounding left a unit out
		add(total-u, segs[len(segs)-1].cost)
	}
}

// allocations returns the job allocations the solution gives plan step t.
func (pl *plan) allocations(sol Solution, t int, rows []planRow) []procurebot.JobAlloc {
	var out []procurebot.JobAlloc
	for p := range pl.pr.Pieces {
		pc := &pl.pr.Pieces[p]
		if pc.Step != t {
			continue
		}
		for i, j := range pc.Jobs {
			n := sol.Flow[p][i]
			if n == 0 {
				continue
			}
			m := pl.meta[p]
			if m.site >= 0 {
				out = append(out, procurebot.JobAlloc{Job: j, Site: m.site, GPUs: n})
			} else {
				out = append(out, procurebot.JobAlloc{Job: j, Site: -1, Offer: rows[m.row].offer, GPUs: n})
			}
		}
	}
	return mergeAllocs(out)
}

// mergeAllocs merges allocations of one job to one venue.
func mergeAllocs(in []procurebot.JobAlloc) []procurebot.JobAlloc {
	type key struct{ j, s, o int }
	idx := map[key]int{}
	var out []procurebot.JobAlloc
	for _, a := range in {
		k := key{a.Job, a.Site, a.Offer}
		if a.Site >= 0 {
			k.o = -1
		}
		if i, ok := idx[k]; ok {
			out[i].GPUs += a.GPUs
			continue
		}
		idx[k] = len(out)
		out = append(out, a)
	}
	return out
}

// selfHostPools returns, per site, the sites of its class when that class
// has two sites or more and self-hosts some inference (nil otherwise).
// Their GPUs are planned as one pool: see poolPieces.
func selfHostPools(sc *procurebot.Scenario) [][]int {
	out := make([][]int, len(sc.Sites))
	for w := range sc.Inference {
		sh := sc.Inference[w].SelfHost
		if sh == nil {
			continue
		}
		var pool []int
		for s := range sc.Sites {
			if sc.Sites[s].GPU == sh.GPU {
				pool = append(pool, s)
			}
		}
		if len(pool) < 2 {
			continue
		}
		for _, s := range pool {
			out[s] = pool
		}
	}
	return out
}

// poolPieces adds the job pieces of a class whose sites share self-hosted
// inference. Every GPU of the class serves jobs and inference alike, at its
// site's marginal cost c0; the cheapest use of k job GPUs is the k cheapest
// whole GPUs for the jobs and, after them, inference on the next cheapest
// capacity while a workload's value exceeds the capacity's cost. With C(k)
// that total, the k-th job GPU costs C(k) − C(k−1) (non-decreasing: C is
// convex) and sits at the site of the k-th cheapest GPU. This is exact where
// per-site pieces would price a displaced workload at its tokens although it
// could move to another site's free GPU.
func poolPieces(pl *plan, t int, sc *procurebot.Scenario, st *planStep, pool []int, sites []siteF, elig []int, mult int, h float64, cache poolCache) {
	for _, pp := range poolCurve(sc, st, pool, sites, h, cache) {
		if last := len(pl.pr.Pieces) - 1; last >= 0 && pl.meta[last].site == pp.site && pl.pr.Pieces[last].Step == t && pl.pr.Pieces[last].Cost == pp.cost {
			pl.pr.Pieces[last].Cap += pp.n * mult
			continue
		}
		pl.pr.Pieces = append(pl.pr.Pieces, Piece{Step: t, Cost: pp.cost, Cap: pp.n * mult, Jobs: elig})
		pl.meta = append(pl.meta, pieceMeta{site: pp.site})
	}
}

// poolPiece is a run of n job GPUs at one site and one cost.
type poolPiece struct {
	site, n int
	cost    int64
}

// poolCache memoises poolCurve by its inputs (nil: no memo). Forecast steps
// repeat from one plan to the next, so a planner keeps one across steps.
type poolCache map[string][]poolPiece

// poolCurve computes the job GPUs of a pool in order of cost (see
// poolPieces).
func poolCurve(sc *procurebot.Scenario, st *planStep, pool []int, sites []siteF, h float64, cache poolCache) []poolPiece {
	order := append([]int(nil), pool...)
	sort.SliceStable(order, func(a, b int) bool { return sites[order[a]].c0 < sites[order[b]].c0 })
	ws := selfHostWorkloads(sc, st, h, sc.Sites[pool[0]].GPU)
	var key string
	if cache != nil {
		kb := make([]byte, 0, 8*(len(pool)+2*len(ws)))
		for _, s := range pool {
			kb = binary.LittleEndian.AppendUint64(kb, math.Float64bits(sites[s].c0))
		}
		for _, w := range ws {
			kb = binary.LittleEndian.AppendUint64(kb, math.Float64bits(w.value))
			kb = binary.LittleEndian.AppendUint64(kb, math.Float64bits(w.need))
		}
		key = string(kb)
		if out, ok := cache[key]; ok {
			return out
		}
	}
	total := 0
	for _, s := range order {
		total += sc.Sites[s].GPUs
	}
	// inference cost (cost − value, summed) on the pool after its first k
	// whole GPUs
	inf := func(k int) float64 {
		var c float64
		oi, used := 0, k // site index in order, GPUs of it already taken
		for used >= sc.Sites[order[oi]].GPUs {
			used -= sc.Sites[order[oi]].GPUs
			oi++
			if oi == len(order) {
				return 0
			}
		}
		left := float64(sc.Sites[order[oi]].GPUs - used)
		for _, w := range ws {
			need := w.need
			for need > 1e-12 && oi < len(order) {
				cost := sites[order[oi]].c0
				if w.value <= cost {
					need = 0
					break
				}
				take := math.Min(need, left)
				c += take * (cost - w.value)
				need -= take
				left -= take
				if left <= 1e-12 {
					oi++
					if oi < len(order) {
						left = float64(sc.Sites[order[oi]].GPUs)
					}
				}
			}
		}
		return c
	}
	prev := inf(0)
	var out []poolPiece
	oi, used := 0, 0
	for k := 1; k <= total; k++ {
		for used >= sc.Sites[order[oi]].GPUs {
			used -= sc.Sites[order[oi]].GPUs
			oi++
		}
		used++
		s := order[oi]
		cur := inf(k)
		c := pico(sites[s].c0 + cur - prev)
		prev = cur
		if last := len(out) - 1; last >= 0 && out[last].site == s && out[last].cost == c {
			out[last].n++
			continue
		}
		out = append(out, poolPiece{site: s, n: 1, cost: c})
	}
	if cache != nil {
		if len(cache) > 1<<14 {
			clear(cache)
		}
		cache[key] = out
	}
	return out
}

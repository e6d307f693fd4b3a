package strategy

import (
	"context"
	"encoding/binary"
	"math"
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
)

// Arbitrage is procurebot's own strategy. Every step it plans the rest of
// the horizon with the same exact solver as the oracle, over the prices it
// may see (DESIGN §7.6) and forecasts of everything it cannot see yet —
// power by an hour-of-day/-week profile of the visible history, GPU offers
// by rolling medians of each provider's ranked prices — then commits only
// the current step and re-plans when the next prices arrive.
//
// Safety: spot rows are priced up by their expected preemption loss; jobs
// are planned to finish a margin of steps before their deadline (falling
// back to the real deadline when the margin makes them infeasible);
// interruptible jobs are planned at (1 − q) of max_gpus in later steps; the
// need carries one full restart's switching loss and a finishing step is
// trimmed to what the job needs. docs/model.md has the details.
type Arbitrage struct {
	// Power forecasts power beyond the visible window.
	Power PowerForecaster
	// Window is how many past GPU snapshots the rolling medians use.
	Window int
	// Margin is the share of each job's window kept as slack before its
	// deadline (at least one step when positive).
	Margin float64
	// GPUForecast is how future GPU books are forecast: "median" (each
	// provider's ranked prices at their rolling median over Window
	// snapshots), "meanrev" (the latest snapshot's prices reverting to that
	// median by Persistence per day) or "replay" (the coming days look like
	// the last Window snapshots, cycled).
	GPUForecast string
	// Persistence is the day-to-day persistence of GPU price deviations
	// from their median, for "meanrev".
	Persistence float64

	memo    leaseMemo
	pools   poolCache
	hist    []*hourly // per site: visible power history
	gpu     gpuHistory
	cache   rowCache
	current []planRow // pruned rows of the current book
}

// NewArbitrage returns the arbitrage strategy with its default settings.
func NewArbitrage() *Arbitrage {
	return &Arbitrage{Power: HourOfDay{Days: 7}, Window: 14, Margin: 0.01, GPUForecast: "median", Persistence: 0.6}
}

// Name implements procurebot.Strategy.
func (a *Arbitrage) Name() string { return "arbitrage" }

// historyDays is how much power history before the window start it reads.
const historyDays = 28

// observePower extends each site's visible power history up to what is
// visible now.
func (a *Arbitrage) observePower(v procurebot.View) {
	sc := v.Scenario()
	if a.hist == nil {
		a.hist = make([]*hourly, len(sc.Sites))
		start := sc.Start.UTC().Truncate(time.Hour).Add(-historyDays * 24 * time.Hour)
		for s := range a.hist {
			a.hist[s] = &hourly{start: start}
		}
	}
	for s, h := range a.hist {
		until := v.PowerVisibleUntil(s)
		for t := h.end(); t.Before(until); t = t.Add(time.Hour) {
			p, err := v.Power(s, t)
			if err != nil {
				h.prices = append(h.prices, math.NaN())
				continue
			}
			h.prices = append(h.prices, p.InexactFloat64())
		}
	}
}

// Decide implements procurebot.Strategy.
func (a *Arbitrage) Decide(ctx context.Context, v procurebot.View) (procurebot.Decision, error) {
	sc := v.Scenario()
	sm, err := observe(v, &a.memo)
	if err != nil {
		return procurebot.Decision{}, err
	}
	a.observePower(v)
	if a.pools == nil {
		a.pools = poolCache{}
	}
	snaps := v.Snapshots()
	a.gpu.observe(sc, snaps, a.Window)
	book, _ := v.Book(v.Now())
	if len(book) == 0 || a.cache.first != &book[0] {
		a.current = pruneRows(sc, a.cache.rows(sc, book))
	}

	k := v.Step()
	K := sc.Steps()
	h := sc.StepHours()
	hf := sc.Step.Hours()
	loss := math.Min(sc.Market.SpotPreemptionPerHour.InexactFloat64()*hf, 0.99)

	// Jobs as the plan sees them, with the deadline margin.
	jobs := make([]planJob, len(sc.Jobs))
	full := make([]planJob, len(sc.Jobs))
	horizon := k
	sw := sc.Market.SwitchCostGPUHours
	for j := range sc.Jobs {
		first, end := sc.Window(&sc.Jobs[j])
		need := remainingUnits(sc.Jobs[j].GPUHours, v.Delivered(j), h)
		if need > 0 && sw.Sign() > 0 {
			// Restarts lose switch_cost per GPU: plan for one more full
			// restart than has happened, so the last steps still finish.
			buffer := sw.Mul(decimal.NewFromInt(int64(min(sc.Jobs[j].MaxGPUs, need))))
			need = remainingUnits(sc.Jobs[j].GPUHours.Add(buffer), v.Delivered(j), h)
		}
		if end <= k {
			need = 0
		}
		full[j] = planJob{need: need, first: max(first-k, 0), end: max(end-k, 0)}
		jobs[j] = full[j]
		if a.Margin > 0 && need > 0 {
			m := int(math.Ceil(a.Margin * float64(end-first)))
			if e := jobs[j].end - m; e > jobs[j].first {
				jobs[j].end = e
			}
		}
		if need > 0 && end > horizon {
			horizon = end
		}
	}
	var d procurebot.Decision
	if horizon > k {
		steps := mergeSteps(a.planSteps(sc, v, sm, k, min(horizon, K), loss), jobs, full)
		pl := buildPlan(sc, steps, jobs, a.pools)
		a.derate(sc, pl, loss)
		sol := solveFinishableFirst(&pl.pr)
		for j := range sol.Short {
			if sol.Short[j] > 0 && jobs[j].end != full[j].end {
				pl = buildPlan(sc, steps, full, a.pools)
				a.derate(sc, pl, loss)
				sol = solveFinishableFirst(&pl.pr)
				break
			}
		}
		d.Jobs = trimFinishing(v, pl.allocations(sol, 0, steps[0].rows), steps[0].rows)
	}
	d.SelfHost, d.Leased = fillSites(sc, sm, siteGPUs(sc, d.Jobs), fillOptimal)
	return d, nil
}

// planSteps assembles the prices of steps k..end-1: the current step
// exactly, visible power exactly, the current book until the next snapshot
// is due, forecasts after.
func (a *Arbitrage) planSteps(sc *procurebot.Scenario, v procurebot.View, sm *stepMarket, k, end int, loss float64) []planStep {
	steps := make([]planStep, end-k)
	tokens := make([]float64, len(sc.Inference))
	for w := range tokens {
		tokens[w] = math.NaN()
		if sm.sold[w] {
			tokens[w] = sm.tokens[w].InexactFloat64()
		}
	}
	lease := map[string]float64{}
	for g, m := range sm.lease {
		lease[g] = m.InexactFloat64()
	}
	cur := make([]planRow, len(a.current))
	copy(cur, a.current)
	for i := range cur {
		if cur[i].spot {
			cur[i].loss = loss
		}
	}
	// Rental supply and lease price per future step: the current book until
	// the next snapshot is due, then the forecast.
	curSrc := rowSource{id: 1, rows: cur, lease: lease}
	nowSrc := rowSource{id: 2, rows: forecastRows(cur), lease: lease}
	// synthetic books by day ahead: day 1 … maxDays, then the median
	synth := map[int]rowSource{}
	synthDay := func(d int) rowSource {
		if a.GPUForecast != "meanrev" || d > maxDays {
			d = maxDays + 1
		}
		if src, ok := synth[d]; ok {
			return src
		}
		phi := 0.0
		if d <= maxDays {
			phi = a.Persistence
		}
		rows, l := a.gpu.synth(sc, loss, d, phi)
		src := rowSource{id: 3 + d, rows: rows, lease: l}
		synth[d] = src
		return src
	}
	replay := a.gpu.replay(loss)
	due, gap := a.gpu.nextDue()
	type key struct {
		s      int
		bucket int64
	}
	memo := map[key]float64{}
	periodH := int64(a.Power.Period() / time.Hour)
	nS := len(sc.Sites)
	power := make([]float64, len(steps)*nS)
	for i := range steps {
		t := sc.StepTime(k + i)
		st := &steps[i]
		st.tokens = tokens
		st.power = power[i*nS : (i+1)*nS : (i+1)*nS]
		for s := range sc.Sites {
			if i == 0 {
				st.power[s] = sm.power[s].InexactFloat64()
				continue
			}
			hr := t.Truncate(time.Hour)
			p := a.hist[s].at(hr)
			if math.IsNaN(p) {
				var b int64
				if periodH > 0 {
					b = (hr.Unix()/3600)%periodH + 1
				}
				if !hr.Before(a.hist[s].end()) {
					// beyond the history the forecast repeats with the period
				} else {
					b = -hr.Unix() // a gap inside the history: its own key
				}
				if m, ok := memo[key{s, b}]; ok {
					p = m
				} else {
					p = a.Power.Forecast(a.hist[s], hr)
					if math.IsNaN(p) {
						p = a.hist[s].last()
					}
					memo[key{s, b}] = p
				}
			}
			st.power[s] = p
		}
		src := nowSrc
		switch {
		case i == 0:
			src = curSrc
		case t.Before(due):
		case a.GPUForecast == "replay" && len(replay) > 0:
			day := int(t.Sub(due) / gap)
			src = replay[len(replay)-1-day%len(replay)]
		default:
			if fc := synthDay(int(t.Sub(due)/gap) + 1); len(fc.rows) > 0 {
				src = fc
			}
		}
		st.rows, st.lease, st.src = src.rows, src.lease, src.id
	}
	return steps
}

// rowSource is one set of rental rows and lease prices a plan step may
// assume; id tells sources apart when merging steps.
type rowSource struct {
	id    int
	rows  []planRow
	lease map[string]float64
}

// forecastRows returns a copy of rows for future steps: a future step
// cannot rent a row of today's book by index.
func forecastRows(rows []planRow) []planRow {
	out := make([]planRow, len(rows))
	copy(out, rows)
	for i := range out {
		out[i].offer = -1
	}
	return out
}

// mergeSteps merges plan steps after the first whose prices and active jobs
// (under both job windows) are identical into one step of multiplicity n —
// forecasts repeat by hour of day, so a month's plan shrinks to a few dozen
// distinct steps without changing its optimum.
func mergeSteps(steps []planStep, jobs, full []planJob) []planStep {
	if len(steps) < 3 {
		return steps
	}
	out := make([]planStep, 1, 64)
	out[0] = steps[0]
	out[0].at, out[0].n = 0, 1
	idx := map[string]int{}
	var kb []byte
	for t := 1; t < len(steps); t++ {
		st := &steps[t]
		kb = kb[:0]
		for _, p := range st.power {
			kb = binary.LittleEndian.AppendUint64(kb, math.Float64bits(p))
		}
		kb = binary.LittleEndian.AppendUint64(kb, uint64(st.src))
		for j := range jobs {
			a := jobs[j].need > 0 && t >= jobs[j].first && t < jobs[j].end
			f := full[j].need > 0 && t >= full[j].first && t < full[j].end
			kb = append(kb, b2(a)|b2(f)<<1)
		}
		if i, ok := idx[string(kb)]; ok {
			out[i].n++
			continue
		}
		idx[string(kb)] = len(out)
		m := *st
		m.at, m.n = t, 1
		out = append(out, m)
	}
	return out
}

func b2(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// gpuHistory keeps, per (class, provider, spot), the ranked prices of the
// last snapshots, for rolling-median forecasts of the book.
type gpuHistory struct {
	seen   int // snapshots processed
	times  []time.Time
	books  []histBook // the last window snapshots, as plan rows
	groups map[groupKey]*groupHist
	window int
}

// histBook is a past snapshot as plan rows (offers cleared) and lease
// prices.
type histBook struct {
	seq   int
	rows  []planRow
	lease map[string]float64
}

type groupKey struct {
	gpu, provider string
	spot          bool
}

type groupHist struct {
	ranks [][]float64 // per snapshot (last window), sorted prices (up to maxRanks)
	at    []int       // snapshot sequence numbers of ranks entries
}

const maxRanks = 4

// maxDays is how many days ahead meanrev forecasts differ from the median.
const maxDays = 7

func (g *gpuHistory) observe(sc *procurebot.Scenario, snaps []procurebot.Snapshot, window int) {
	if g.groups == nil {
		g.groups = map[groupKey]*groupHist{}
		g.window = window
		// start from at most window snapshots back
		if len(snaps) > window {
			g.seen = len(snaps) - window
		}
	}
	classes := map[string]bool{}
	for j := range sc.Jobs {
		classes[sc.Jobs[j].GPU] = true
	}
	for s := range sc.Sites {
		classes[sc.Sites[s].GPU] = true
	}
	for ; g.seen < len(snaps); g.seen++ {
		snap := &snaps[g.seen]
		g.times = append(g.times, snap.Time)
		var rc rowCache
		hb := histBook{seq: g.seen, rows: forecastRows(pruneRows(sc, rc.rows(sc, snap.Offers))), lease: leaseFloats(sc, snap.Offers)}
		g.books = append(g.books, hb)
		if len(g.books) > g.window {
			g.books = g.books[1:]
		}
		byGroup := map[groupKey][]float64{}
		for i := range snap.Offers {
			o := &snap.Offers[i]
			if !classes[o.GPU] || !sc.Market.AllowsProvider(o.Provider) {
				continue
			}
			k := groupKey{o.GPU, o.Provider, o.IsSpot(sc.Market.OnDemandProviders)}
			byGroup[k] = append(byGroup[k], o.PerGPU.InexactFloat64())
		}
		for k, ps := range byGroup {
			sort.Float64s(ps)
			if len(ps) > maxRanks {
				ps = ps[:maxRanks]
			}
			gh := g.groups[k]
			if gh == nil {
				gh = &groupHist{}
				g.groups[k] = gh
			}
			gh.ranks = append(gh.ranks, ps)
			gh.at = append(gh.at, g.seen)
			if len(gh.ranks) > g.window {
				gh.ranks, gh.at = gh.ranks[1:], gh.at[1:]
			}
		}
	}
}

// synth returns a synthetic book and its lease prices for the d-th day
// after the next snapshot is due: per (class, provider, spot) group present
// in at least half of the window's snapshots and per price rank, the
// rolling median, pulled towards the latest snapshot's price by phi^d
// (phi = 0: the median alone). A group missing from the latest snapshot
// counts at its median; one present now but too rarely in the window is
// kept only while phi^d is above one half.
func (g *gpuHistory) synth(sc *procurebot.Scenario, loss float64, d int, phi float64) ([]planRow, map[string]float64) {
	if g.seen == 0 {
		return nil, nil
	}
	w := math.Pow(phi, float64(d))
	oldest := g.seen - g.window
	n := min(g.window, len(g.times))
	keys := make([]groupKey, 0, len(g.groups))
	for k := range g.groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].gpu != keys[b].gpu {
			return keys[a].gpu < keys[b].gpu
		}
		if keys[a].provider != keys[b].provider {
			return keys[a].provider < keys[b].provider
		}
		return !keys[a].spot && keys[b].spot
	})
	var out []planRow
	lease := map[string]float64{}
	for _, k := range keys {
		gh := g.groups[k]
		var rs [][]float64
		var latest []float64
		for i, at := range gh.at {
			if at >= oldest {
				rs = append(rs, gh.ranks[i])
			}
			if at == g.seen-1 {
				latest = gh.ranks[i]
			}
		}
		frequent := 2*len(rs) >= n && len(rs) > 0
		for r := 0; r < maxRanks; r++ {
			var xs []float64
			for _, ps := range rs {
				if r < len(ps) {
					xs = append(xs, ps[r])
				}
			}
			var price float64
			switch {
			case frequent && 2*len(xs) >= n && len(xs) > 0:
				price = median(xs)
				if r < len(latest) {
					price += (latest[r] - price) * w
				}
			case r < len(latest) && w > 0.5:
				price = latest[r]
			default:
				continue
			}
			row := planRow{offer: -1, provider: k.provider, gpu: k.gpu, price: price, spot: k.spot}
			if k.spot {
				row.loss = loss
			}
			out = append(out, row)
			if m, ok := lease[k.gpu]; !ok || price < m {
				lease[k.gpu] = price
			}
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].price < out[b].price })
	return pruneRows(sc, out), lease
}

// nextDue estimates when the next snapshot arrives: the last one's time
// plus the median interval between recent snapshots (a day if unknown).
func (g *gpuHistory) nextDue() (time.Time, time.Duration) {
	n := len(g.times)
	if n == 0 {
		return time.Time{}, 24 * time.Hour
	}
	var gaps []float64
	for i := max(1, n-g.window); i < n; i++ {
		gaps = append(gaps, g.times[i].Sub(g.times[i-1]).Hours())
	}
	gap := 24.0
	if len(gaps) > 0 {
		gap = median(gaps)
	}
	d := time.Duration(gap * float64(time.Hour))
	if d < time.Hour {
		d = time.Hour
	}
	return g.times[n-1].Add(d), d
}

// replay returns the last window snapshots as row sources, oldest first:
// the forecast that the coming days look like the recent ones, each with
// its own spread of prices (a cheap day stays cheap, a dear day dear).
func (g *gpuHistory) replay(loss float64) []rowSource {
	out := make([]rowSource, 0, len(g.books))
	for i := range g.books {
		b := &g.books[i]
		rows := b.rows
		if loss > 0 {
			rows = make([]planRow, len(b.rows))
			copy(rows, b.rows)
			for r := range rows {
				if rows[r].spot {
					rows[r].loss = loss
				}
			}
		}
		out = append(out, rowSource{id: 10 + b.seq, rows: rows, lease: b.lease})
	}
	return out
}

// trimFinishing drops, for a job whose allocation this step delivers more
// than it still needs, the GPUs it does not need, most expensive first (the
// plan's need carries a buffer for switching losses). Delivery is counted
// as the simulator does, switching losses included, preemption excluded.
func trimFinishing(v procurebot.View, allocs []procurebot.JobAlloc, rows []planRow) []procurebot.JobAlloc {
	sc := v.Scenario()
	h := sc.StepHours()
	sw := sc.Market.SwitchCostGPUHours
	book, _ := v.Book(v.Now())
	prevVenue := previousVenues(v)
	venue := func(a procurebot.JobAlloc) string {
		if a.Site >= 0 {
			return "site:" + sc.Sites[a.Site].Name
		}
		return book[a.Offer].Provider
	}
	price := func(a procurebot.JobAlloc) float64 {
		if a.Site >= 0 {
			return -1 // own GPUs are kept: their cost is mostly sunk
		}
		return book[a.Offer].PerGPU.InexactFloat64()
	}
	delivers := func(job int, as []procurebot.JobAlloc) money {
		per := map[string]int{}
		for _, a := range as {
			if a.Job == job {
				per[venue(a)] += a.GPUs
			}
		}
		var got money
		for ven, n := range per {
			got = got.Add(decimal.NewFromInt(int64(n)).Mul(h))
			if started := n - prevVenue[job][ven]; started > 0 {
				got = got.Sub(sw.Mul(decimal.NewFromInt(int64(started))))
			}
		}
		return got
	}
	out := append([]procurebot.JobAlloc(nil), allocs...)
	for j := range sc.Jobs {
		rest := sc.Jobs[j].GPUHours.Sub(v.Delivered(j))
		if !delivers(j, out).GreaterThan(rest) {
			continue
		}
		// try removing GPUs one by one from the dearest venue
		for {
			best := -1
			for i, a := range out {
				if a.Job != j || a.GPUs == 0 {
					continue
				}
				if best < 0 || price(a) > price(out[best]) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			out[best].GPUs--
			if delivers(j, out).LessThan(rest) {
				out[best].GPUs++
				break
			}
		}
	}
	kept := out[:0]
	for _, a := range out {
		if a.GPUs > 0 {
			kept = append(kept, a)
		}
	}
	return kept
}

// previousVenues returns, per job, the GPUs it had on each venue in the
// previous step (venue keys as in trimFinishing).
func previousVenues(v procurebot.View) []map[string]int {
	sc := v.Scenario()
	out := make([]map[string]int, len(sc.Jobs))
	for j := range out {
		out[j] = map[string]int{}
	}
	prev := v.Previous()
	if v.Step() == 0 || len(prev.Jobs) == 0 {
		return out
	}
	book, _ := v.Book(sc.StepTime(v.Step() - 1))
	for _, a := range prev.Jobs {
		if a.Site >= 0 {
			out[a.Job]["site:"+sc.Sites[a.Site].Name] += a.GPUs
		} else if a.Offer < len(book) {
			out[a.Job][book[a.Offer].Provider] += a.GPUs
		}
	}
	return out
}

// derate lowers, for steps after the current one, the GPUs per step an
// interruptible job is planned to get to (1 − q) of its max_gpus: spot GPUs
// deliver that share on average, so a plan that needs the full rate in its
// last steps would miss its deadline at the first preemption. Where
// capacity is not binding this costs nothing.
func (a *Arbitrage) derate(sc *procurebot.Scenario, pl *plan, loss float64) {
	if loss <= 0 {
		return
	}
	later := make([]int, len(sc.Jobs))
	for j := range sc.Jobs {
		later[j] = sc.Jobs[j].MaxGPUs
		if sc.Jobs[j].Interruptible {
			later[j] = max(1, int(math.Floor(float64(later[j])*(1-loss))))
		}
	}
	pl.pr.MaxPerLater = later
}

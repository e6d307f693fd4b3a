package strategy

import (
	"context"
	"sort"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
)

// Greedy is the SkyPilot-like baseline of DESIGN §2: every step, jobs in
// earliest-deadline-first order each take up to max_gpus whole GPUs (no more
// than they still need) from the cheapest eligible supply now — an own GPU
// priced at e + other plus the lease income it gives up, own GPUs winning
// ties — then inference goes to the cheaper of tokens and own GPUs, then
// every remaining own GPU is leased out where allowed and its income
// exceeds e + other. It knows nothing of preemptions in advance.
type Greedy struct {
	memo   leaseMemo
	book   *procurebot.Offer // first offer of the cached book
	sorted []int             // offer indices of allowed providers, by per-GPU price
}

// NewGreedy returns the greedy baseline.
func NewGreedy() *Greedy { return &Greedy{} }

// Name implements procurebot.Strategy.
func (g *Greedy) Name() string { return "greedy" }

// supply is one source of GPUs in a step, for the baselines.
type supply struct {
	site  int // -1 for an offer
	offer int
	price money
	left  int
}

// sortedOffers returns the allowed offers of book ordered by per-GPU price,
// cached per book.
func sortedOffers(cache **procurebot.Offer, sorted *[]int, book []procurebot.Offer, mk *procurebot.Market) []int {
	if len(book) == 0 {
		return nil
	}
	if *cache == &book[0] {
		return *sorted
	}
	idx := make([]int, 0, len(book))
	for i := range book {
		if mk.AllowsProvider(book[i].Provider) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return book[idx[a]].PerGPU.LessThan(book[idx[b]].PerGPU) })
	*cache, *sorted = &book[0], idx
	return idx
}

// eligible reports whether offer o may serve job j (DESIGN §7.3).
func eligible(sc *procurebot.Scenario, j *procurebot.Job, o *procurebot.Offer) bool {
	if o.GPU != j.GPU {
		return false
	}
	if j.MaxUSDPerGPUHour != nil && o.PerGPU.GreaterThan(*j.MaxUSDPerGPUHour) {
		return false
	}
	return j.Interruptible || !o.IsSpot(sc.Market.OnDemandProviders)
}

// edfOrder returns job indices by deadline, then scenario order.
func edfOrder(sc *procurebot.Scenario) []int {
	order := make([]int, len(sc.Jobs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return sc.Jobs[order[a]].Deadline.Before(sc.Jobs[order[b]].Deadline) })
	return order
}

// Decide implements procurebot.Strategy.
func (g *Greedy) Decide(ctx context.Context, v procurebot.View) (procurebot.Decision, error) {
	sc := v.Scenario()
	sm, err := observe(v, &g.memo)
	if err != nil {
		return procurebot.Decision{}, err
	}
	book, _ := v.Book(v.Now())

	// Own sites: e + other + lease income given up.
	siteLeft := make([]int, len(sc.Sites))
	sitePrice := make([]money, len(sc.Sites))
	for s := range sc.Sites {
		ec := sm.econ(sc, s)
		sitePrice[s] = ec.run
		if ec.canLease {
			sitePrice[s] = sitePrice[s].Add(ec.income)
		}
		siteLeft[s] = sc.Sites[s].GPUs
	}
	rows := sortedOffers(&g.book, &g.sorted, book, &sc.Market)
	rowLeft := map[int]int{}

	var d procurebot.Decision
	jobGPUs := make([]int, len(sc.Sites))
	for _, j := range edfOrder(sc) {
		job := &sc.Jobs[j]
		want := wantNow(v, j)
		if want <= 0 {
			continue
		}
		// Merge own sites (sorted by price, winning ties) with sorted rows.
		var sites []supply
		for s := range sc.Sites {
			if sc.Sites[s].GPU == job.GPU && siteLeft[s] > 0 {
				sites = append(sites, supply{site: s, price: sitePrice[s]})
			}
		}
		sort.SliceStable(sites, func(a, b int) bool { return sites[a].price.LessThan(sites[b].price) })
		si := 0
		for ri := 0; want > 0; {
			var rowPrice decimal.Decimal
			haveRow := false
			for ri < len(rows) {
				o := &book[rows[ri]]
				left, seen := rowLeft[rows[ri]]
				if !seen {
					left = sc.Market.MaxGPUsPerOffer
				}
				if left > 0 && eligible(sc, job, o) {
					rowPrice, haveRow = o.PerGPU, true
					break
				}
				ri++
			}
			if si < len(sites) && (!haveRow || !sites[si].price.GreaterThan(rowPrice)) {
				s := sites[si].site
				n := min(want, siteLeft[s])
				siteLeft[s] -= n
				jobGPUs[s] += n
				want -= n
				d.Jobs = append(d.Jobs, procurebot.JobAlloc{Job: j, Site: s, GPUs: n})
				si++
				continue
			}
			if !haveRow {
				break
			}
			left, seen := rowLeft[rows[ri]]
			if !seen {
				left = sc.Market.MaxGPUsPerOffer
			}
			n := min(want, left)
			rowLeft[rows[ri]] = left - n
			want -= n
			d.Jobs = append(d.Jobs, procurebot.JobAlloc{Job: j, Site: -1, Offer: rows[ri], GPUs: n})
			ri++
		}
	}
	d.SelfHost, d.Leased = fillSites(sc, sm, jobGPUs, fillGreedy)
	return d, nil
}

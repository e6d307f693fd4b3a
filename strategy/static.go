package strategy

import (
	"context"
	"sort"

	"github.com/procurebot/procurebot"
)

// Static is the "set and forget" baseline of DESIGN §2: at each job's
// release it ranks the eligible on-demand supply by its price then — own
// sites of the job's class (priced at e + other) and on-demand providers
// (their cheapest eligible row) — and keeps that ranking to the end: every
// step the job takes up to max_gpus GPUs (no more than it still needs) from
// the first venues of the ranking that have room. On a provider it rents
// that provider's cheapest eligible on-demand row of the step. Inference is
// bought as tokens (self-hosted only when the model is not sold); nothing
// is leased out; spot offers are never used.
type Static struct {
	memo   leaseMemo
	venues map[int][]staticVenue // per job, in the order fixed at release
	book   *procurebot.Offer
	rows   []int
}

type staticVenue struct {
	site     int // -1 for a provider
	provider string
}

// NewStatic returns the static baseline.
func NewStatic() *Static { return &Static{venues: map[int][]staticVenue{}} }

// Name implements procurebot.Strategy.
func (st *Static) Name() string { return "static" }

// Decide implements procurebot.Strategy.
func (st *Static) Decide(ctx context.Context, v procurebot.View) (procurebot.Decision, error) {
	sc := v.Scenario()
	sm, err := observe(v, &st.memo)
	if err != nil {
		return procurebot.Decision{}, err
	}
	book, _ := v.Book(v.Now())
	rows := sortedOffers(&st.book, &st.rows, book, &sc.Market)
	siteLeft := make([]int, len(sc.Sites))
	for s := range sc.Sites {
		siteLeft[s] = sc.Sites[s].GPUs
	}
	rowLeft := map[int]int{}
	left := func(i int) int {
		if n, ok := rowLeft[i]; ok {
			return n
		}
		return sc.Market.MaxGPUsPerOffer
	}
	// onDemandRow returns the cheapest eligible on-demand row with room, of
	// provider p ("" = any).
	onDemandRow := func(job *procurebot.Job, p string) int {
		for _, i := range rows {
			o := &book[i]
			if (p == "" || o.Provider == p) && left(i) > 0 && eligible(sc, job, o) && !o.IsSpot(sc.Market.OnDemandProviders) {
				return i
			}
		}
		return -1
	}
	var d procurebot.Decision
	jobGPUs := make([]int, len(sc.Sites))
	for _, j := range edfOrder(sc) {
		job := &sc.Jobs[j]
		want := wantNow(v, j)
		if want <= 0 {
			continue
		}
		vens, chosen := st.venues[j]
		if !chosen {
			vens = st.rank(sc, sm, book, job, onDemandRow)
			st.venues[j] = vens
		}
		for _, ven := range vens {
			if want <= 0 {
				break
			}
			if ven.site >= 0 {
				n := min(want, siteLeft[ven.site])
				if n > 0 {
					siteLeft[ven.site] -= n
					jobGPUs[ven.site] += n
					want -= n
					d.Jobs = append(d.Jobs, procurebot.JobAlloc{Job: j, Site: ven.site, GPUs: n})
				}
				continue
			}
			for want > 0 {
				i := onDemandRow(job, ven.provider)
				if i < 0 {
					break
				}
				n := min(want, left(i))
				rowLeft[i] = left(i) - n
				want -= n
				d.Jobs = append(d.Jobs, procurebot.JobAlloc{Job: j, Site: -1, Offer: i, GPUs: n})
			}
		}
	}
	d.SelfHost, d.Leased = fillSites(sc, sm, jobGPUs, fillNone)
	return d, nil
}

// rank orders the job's eligible on-demand venues by their price now.
func (st *Static) rank(sc *procurebot.Scenario, sm *stepMarket, book []procurebot.Offer, job *procurebot.Job, onDemandRow func(*procurebot.Job, string) int) []staticVenue {
	type cand struct {
		v     staticVenue
		price money
	}
	var cs []cand
	for s := range sc.Sites {
		if sc.Sites[s].GPU == job.GPU {
			cs = append(cs, cand{staticVenue{site: s}, sm.econ(sc, s).run})
		}
	}
	seen := map[string]bool{}
	for i := range book {
		o := &book[i]
		if seen[o.Provider] || !sc.Market.AllowsProvider(o.Provider) {
			continue
		}
		if r := onDemandRow(job, o.Provider); r >= 0 {
			seen[o.Provider] = true
			cs = append(cs, cand{staticVenue{site: -1, provider: o.Provider}, book[r].PerGPU})
		}
	}
	sort.SliceStable(cs, func(a, b int) bool { return cs[a].price.LessThan(cs[b].price) })
	out := make([]staticVenue, len(cs))
	for i := range cs {
		out[i] = cs[i].v
	}
	return out
}

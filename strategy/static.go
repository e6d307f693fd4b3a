package strategy

import (
	"context"
	"sort"

	"github.com/procurebot/procurebot"
)

// Static is the "set and forget" baseline of DESIGN §2: at each job's
// release it picks the cheapest eligible on-demand supply — an own site
// (priced at e + other) or an on-demand offer — with room for the job's
// max_gpus (or, failing that, the cheapest at all), and keeps that venue to
// the end, taking up to max_gpus GPUs every step. On a provider it rents that
// provider's cheapest eligible on-demand row of each step; if the provider
// stops selling one, it picks again. Inference is bought as tokens (self-
// hosted only when the model is not sold); nothing is leased out.
type Static struct {
	venue map[int]staticVenue // per job
	book  *procurebot.Offer
	rows  []int
}

type staticVenue struct {
	site     int // -1 for a provider
	provider string
}

// NewStatic returns the static baseline.
func NewStatic() *Static { return &Static{venue: map[int]staticVenue{}} }

// Name implements procurebot.Strategy.
func (st *Static) Name() string { return "static" }

// Decide implements procurebot.Strategy.
func (st *Static) Decide(ctx context.Context, v procurebot.View) (procurebot.Decision, error) {
	sc := v.Scenario()
	sm, err := observe(v)
	if err != nil {
		return procurebot.Decision{}, err
	}
	book, _ := v.Book(v.Now())
	rows := sortedOffers(&st.book, &st.rows, book, &sc.Market)
	h := sc.StepHours()
	k := v.Step()
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
		first, end := sc.Window(job)
		if k < first || k >= end {
			continue
		}
		want := min(job.MaxGPUs, remainingUnits(job.GPUHours, v.Delivered(j), h))
		if want <= 0 {
			continue
		}
		ven, chosen := st.venue[j]
		if chosen && ven.site < 0 && onDemandRow(job, ven.provider) < 0 {
			chosen = false // the provider no longer sells an eligible row
		}
		if !chosen {
			ven = st.choose(sc, sm, book, job, want, siteLeft, onDemandRow)
			st.venue[j] = ven
		}
		if ven.site >= 0 {
			n := min(want, siteLeft[ven.site])
			if n > 0 {
				siteLeft[ven.site] -= n
				jobGPUs[ven.site] += n
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
	d.SelfHost, d.Leased = fillSites(sc, sm, jobGPUs, fillNone)
	return d, nil
}

func (st *Static) choose(sc *procurebot.Scenario, sm *stepMarket, book []procurebot.Offer, job *procurebot.Job, want int, siteLeft []int, onDemandRow func(*procurebot.Job, string) int) staticVenue {
	type cand struct {
		v     staticVenue
		price money
		room  bool
	}
	var cs []cand
	for s := range sc.Sites {
		if sc.Sites[s].GPU == job.GPU {
			cs = append(cs, cand{staticVenue{site: s}, sm.econ(sc, s).run, siteLeft[s] >= want})
		}
	}
	if i := onDemandRow(job, ""); i >= 0 {
		cs = append(cs, cand{staticVenue{site: -1, provider: book[i].Provider}, book[i].PerGPU, true})
	}
	if len(cs) == 0 {
		return staticVenue{site: -1}
	}
	sort.SliceStable(cs, func(a, b int) bool {
		if cs[a].room != cs[b].room {
			return cs[a].room
		}
		return cs[a].price.LessThan(cs[b].price)
	})
	return cs[0].v
}

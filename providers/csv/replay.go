package csv

import (
	"context"
	"time"

	"github.com/procurebot/procurebot"
)

// Replay is recorded history served as a live feed: at its clock's time it
// quotes the GPU book and token prices in force and the power prices of the
// hours asked for. It is how paper mode and `procurebot quotes` without
// configured venues see a market, through the same interfaces as a venue
// (providers/feed).
type Replay struct {
	ds     *procurebot.Dataset
	clock  procurebot.Clock
	name   string
	maxAge time.Duration
}

// NewReplay serves ds at clock's time under the venue name (e.g.
// "history"). A snapshot's quotes are fetched at the snapshot's time, so
// the staleness watchdog sees the age of the book in force; maxAge is how
// old a book may be (zero: no bound, as for a backtest).
func NewReplay(ds *procurebot.Dataset, clock procurebot.Clock, name string, maxAge time.Duration) *Replay {
	if maxAge <= 0 {
		maxAge = 100 * 365 * 24 * time.Hour
	}
	return &Replay{ds: ds, clock: clock, name: name, maxAge: maxAge}
}

// Name is the venue name given to NewReplay.
func (r *Replay) Name() string { return r.name }

// MaxAge is the bound given to NewReplay.
func (r *Replay) MaxAge() time.Duration { return r.maxAge }

// GPUQuotes returns the book in force now, each offer as a quote billed in
// USD per GPU-hour at its recorded per-GPU price.
func (r *Replay) GPUQuotes(ctx context.Context) ([]procurebot.Quote, error) {
	i := r.ds.BookIndex(r.clock.Now())
	if i < 0 {
		return nil, nil
	}
	s := r.ds.GPU[i]
	out := make([]procurebot.Quote, 0, len(s.Offers))
	for _, o := range s.Offers {
		n := o.GPUCount
		if n == 0 {
			n = 1 // unknown shape counts as one GPU (§5)
			o.GPUCount = 1
		}
		kind := procurebot.SpotNone
		if o.Spot == procurebot.SpotTrue {
			kind = procurebot.SpotFixed
		}
		out = append(out, procurebot.Quote{
			Offer: o, Venue: r.name, FetchedAt: s.Time, SpotKind: kind, Available: -1, Ref: o.Instance,
			Billing: procurebot.Billing{Unit: procurebot.BillUSDPerGPUHour, Raw: o.PerGPU.String(), Denom: "USD", Amount: o.PerGPU, ToUSDPerGPUHour: procurebot.One},
		})
	}
	return out, nil
}

// TokenQuotes returns the token prices in force now.
func (r *Replay) TokenQuotes(ctx context.Context) ([]procurebot.TokenQuote, error) {
	i := r.ds.TokenIndex(r.clock.Now())
	if i < 0 {
		return nil, nil
	}
	s := r.ds.Tokens[i]
	out := make([]procurebot.TokenQuote, 0, len(s.Prices))
	for _, p := range s.Prices {
		out = append(out, procurebot.TokenQuote{TokenPrice: p, Venue: r.name, FetchedAt: s.Time, Up: true,
			RawIn: p.USDPerMTokIn.String(), RawOut: p.USDPerMTokOut.String()})
	}
	return out, nil
}

// PowerQuotes returns the recorded hours starting in [from, to) of every
// market,
// each published at the end of its hour (recorded history carries no
// publication time; the visibility rule of a scenario's market type is the
// simulator's business).
func (r *Replay) PowerQuotes(ctx context.Context, from, to time.Time) ([]procurebot.PowerQuote, error) {
	var out []procurebot.PowerQuote
	now := r.clock.Now()
	for _, m := range r.ds.Markets() {
		s := r.ds.Power[m]
		for h := from.UTC().Truncate(time.Hour); h.Before(to) && h.Before(s.End()); h = h.Add(time.Hour) {
			i := int(h.Sub(s.Start) / time.Hour)
			if h.Before(from) || h.Before(s.Start) || !s.Present[i] {
				continue // only recorded hours are quoted
			}
			p := s.Prices[i]
			out = append(out, procurebot.PowerQuote{Market: m, Start: h, Resolution: time.Hour, USDPerMWh: p, Raw: p.String(), Orig: p,
				Currency: "USD", Published: h.Add(time.Hour), Venue: r.name, FetchedAt: now})
		}
	}
	return out, nil
}

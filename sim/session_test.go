package sim_test

import (
	"context"
	"testing"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/csv"
	"github.com/procurebot/procurebot/sampledata"
	"github.com/procurebot/procurebot/scenario"
	"github.com/procurebot/procurebot/sim"
	"github.com/procurebot/procurebot/strategy"
)

// A session's per-venue bills add up, step by step, to the run's §8
// figures, and Run equals a session stepped by hand.
func TestSessionBillsAddUp(t *testing.T) {
	ds, err := csv.LoadFS(sampledata.FS())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scenario.Load("../testdata/scenarios/ercot-oct-two-sites.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.ValidateData(ds); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want, err := sim.Run(ctx, sc, ds, strategy.NewGreedy(), sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.NewSession(ctx, sc, ds, strategy.NewGreedy())
	if err != nil {
		t.Fatal(err)
	}
	var rent, tok, energy, other, income procurebot.Money
	for s.Next() < s.Steps() {
		d, err := s.Decide(ctx)
		if err != nil {
			t.Fatal(err)
		}
		q, err := s.Quote(d)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.Apply(d)
		if err != nil {
			t.Fatal(err)
		}
		if !b.Blocked && !q.RentalUSD.Equal(b.RentalUSD) {
			t.Fatalf("step %d: quote %s, applied %s", b.Step, q.RentalUSD, b.RentalUSD)
		}
		sum := func(cs []sim.Charge) procurebot.Money {
			var m procurebot.Money
			for _, c := range cs {
				m = m.Add(c.AmountUSD)
			}
			return m
		}
		for _, p := range []struct {
			name       string
			part, want procurebot.Money
		}{{"rentals", sum(b.Rentals), b.RentalUSD}, {"tokens", sum(b.Tokens), b.TokenUSD}, {"energy", sum(b.Energy), b.EnergyUSD},
			{"other", sum(b.Other), b.OtherUSD}, {"leases", sum(b.Leases), b.IncomeUSD}} {
			if !p.part.Equal(p.want) {
				t.Fatalf("step %d: %s charges sum to %s, step total %s", b.Step, p.name, p.part, p.want)
			}
		}
		for _, c := range b.Tokens {
			if c.Venue == "" {
				t.Fatalf("step %d: tokens bought from no seller", b.Step)
			}
		}
		rent, tok, energy, other, income = rent.Add(b.RentalUSD), tok.Add(b.TokenUSD), energy.Add(b.EnergyUSD), other.Add(b.OtherUSD), income.Add(b.IncomeUSD)
	}
	got := s.Result()
	if !got.TotalCostUSD.Equal(want.TotalCostUSD) || !rent.Equal(want.RentalCostUSD) || !tok.Equal(want.InferenceCostUSD) ||
		!energy.Equal(want.EnergyCostUSD) || !other.Equal(want.OtherCostUSD) || !income.Equal(want.RevenueUSD) {
		t.Errorf("session %s (rent %s tokens %s energy %s other %s income %s), Run %s", got.TotalCostUSD, rent, tok, energy, other, income, want.TotalCostUSD)
	}
}

// NoTokens leaves a workload's tokens unbought: unserved, not paid.
func TestSessionNoTokens(t *testing.T) {
	ds, err := csv.LoadFS(sampledata.FS())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scenario.Load("../testdata/scenarios/ercot-oct-two-sites.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := sim.NewSession(ctx, sc, ds, strategy.NewStatic())
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Decide(ctx)
	if err != nil {
		t.Fatal(err)
	}
	full, err := s.Quote(d)
	if err != nil || full.TokenUSD.Sign() <= 0 {
		t.Fatalf("tokens %s %v", full.TokenUSD, err)
	}
	d.NoTokens = []int{0}
	none, err := s.Quote(d)
	if err != nil || none.TokenUSD.Sign() != 0 || len(none.Tokens) != 0 {
		t.Fatalf("with NoTokens: tokens %s %v", none.TokenUSD, err)
	}
}

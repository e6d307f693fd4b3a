package agent_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/agent"
	"github.com/procurebot/procurebot/policy"
	"github.com/procurebot/procurebot/providers/csv"
	"github.com/procurebot/procurebot/providers/feed"
	"github.com/procurebot/procurebot/sim"
	"github.com/procurebot/procurebot/store/bolt"
	"github.com/procurebot/procurebot/strategy"
)

// TestLiveMarket runs the agent in live mode on a feed (the recorded
// history served as a venue, on a virtual clock that the market sleeps
// on): it waits for each step, observes, plans and records; stopped half
// way and started again on the same store, it re-plays the steps done on
// what it saw then and finishes the run with a charge for every step.
func TestLiveMarket(t *testing.T) {
	sc := loadScenario(t)
	path := filepath.Join(t.TempDir(), "live.db")
	clock := sim.NewVirtualClock(sc.Start.Add(-30 * time.Minute))
	run := func(stop int) (*bolt.Store, error) {
		st, err := bolt.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		fd, err := feed.New(clock, feed.Options{}, csv.NewReplay(dataset(t), clock, "history", 2*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		m, err := agent.NewLiveMarket(sc, strategy.NewArbitrage(), fd, st, "live", clock, zerolog.Nop(), nil)
		if err != nil {
			t.Fatal(err)
		}
		pol, _ := policy.New(policy.Config{}, st, nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var market agent.Market = m
		if stop > 0 {
			market = &cancelAt{Market: m, n: stop, cancel: cancel}
		}
		a, err := agent.New(agent.Config{RunID: "live"}, agent.Deps{Market: market, Policy: pol, Ledger: st, State: st, Approvals: st, Clock: clock, Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		return st, a.Run(ctx)
	}
	st, err := run(30)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := st.List(context.Background(), procurebot.LedgerFilter{})
	st.Close()
	if len(first) == 0 {
		t.Fatal("nothing recorded before the stop")
	}
	if !clock.Now().After(sc.Start.Add(28 * time.Hour)) {
		t.Errorf("the market did not wait for the steps: clock at %s", clock.Now())
	}
	st, err = run(0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	es, _ := st.List(context.Background(), procurebot.LedgerFilter{Kinds: []procurebot.EntryKind{procurebot.KindEnergy}})
	steps := map[time.Time]bool{}
	for _, e := range es {
		steps[e.Time] = true
	}
	if len(steps) != 72 {
		t.Errorf("energy recorded for %d of 72 steps", len(steps))
	}
	all, _ := st.List(context.Background(), procurebot.LedgerFilter{})
	for i, e := range first {
		if all[i].Note != e.Note || !all[i].AmountUSD.Equal(e.AmountUSD) {
			t.Fatalf("entry %d changed across the restart: %+v vs %+v", i, e, all[i])
		}
	}
	var rent procurebot.Money
	for _, e := range all {
		if e.Kind == procurebot.KindRental {
			rent = rent.Add(e.AmountUSD)
		}
	}
	if rent.Sign() <= 0 {
		t.Error("no rental in a scenario the sites cannot finish alone")
	}
	t.Logf("live run on the feed: %d entries (%d before the stop), rentals %s USD", len(all), len(first), rent)
}

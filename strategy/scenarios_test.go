package strategy_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	csvdata "github.com/procurebot/procurebot/providers/csv"
	"github.com/procurebot/procurebot/sampledata"
	"github.com/procurebot/procurebot/scenario"
	"github.com/procurebot/procurebot/sim"
	"github.com/procurebot/procurebot/strategy"
)

// TestScenariosOnRealData runs every scenario of testdata/scenarios on the
// bundled real data and holds the targets: arbitrage strictly
// cheaper than greedy, no deadline missed, capture of the greedy→oracle gap
// at least 0.75, and the oracle no dearer than any strategy.
func TestScenariosOnRealData(t *testing.T) {
	if testing.Short() {
		t.Skip("month-long backtests")
	}
	ds, err := csvdata.LoadFS(sampledata.FS())
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../testdata/scenarios/*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("want at least 4 scenarios, got %d (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			sc, err := scenario.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := sc.ValidateData(ds); err != nil {
				t.Fatal(err)
			}
			res := map[string]*sim.Result{}
			for _, st := range []procurebot.Strategy{strategy.NewStatic(), strategy.NewGreedy(), strategy.NewArbitrage(), strategy.NewOracle()} {
				r, err := sim.Run(context.Background(), sc, ds, st, sim.Options{})
				if err != nil {
					t.Fatal(err)
				}
				res[st.Name()] = r
			}
			g, a, o := res["greedy"].TotalCostUSD, res["arbitrage"].TotalCostUSD, res["oracle"].TotalCostUSD
			if res["arbitrage"].DeadlineMisses != 0 {
				t.Errorf("arbitrage missed %d deadlines", res["arbitrage"].DeadlineMisses)
			}
			if !a.LessThan(g) {
				t.Errorf("arbitrage %s not cheaper than greedy %s", a, g)
			}
			for name, r := range res {
				if r.TotalCostUSD.LessThan(o) {
					t.Errorf("%s %s below the oracle %s", name, r.TotalCostUSD, o)
				}
			}
			capture := g.Sub(a).Div(g.Sub(o))
			t.Logf("greedy %s arbitrage %s oracle %s capture %s", g.StringFixed(2), a.StringFixed(2), o.StringFixed(2), capture.StringFixed(3))
			if capture.LessThan(decimal.RequireFromString("0.75")) {
				t.Errorf("capture %s < 0.75", capture.StringFixed(3))
			}
		})
	}
}

package strategy_test

import (
	"context"
	"testing"

	"github.com/procurebot/procurebot"
	csvdata "github.com/procurebot/procurebot/providers/csv"
	"github.com/procurebot/procurebot/sampledata"
	"github.com/procurebot/procurebot/scenario"
	"github.com/procurebot/procurebot/sim"
	"github.com/procurebot/procurebot/strategy"
)

// benchScenario is the speed target: one month hourly, two sites,
// three jobs (and one inference workload).
const benchScenario = "../testdata/scenarios/ercot-oct-two-sites.yaml"

func loadBench(b *testing.B) (*procurebot.Scenario, *procurebot.Dataset) {
	b.Helper()
	ds, err := csvdata.LoadFS(sampledata.FS())
	if err != nil {
		b.Fatal(err)
	}
	sc, err := scenario.Load(benchScenario)
	if err != nil {
		b.Fatal(err)
	}
	if err := sc.ValidateData(ds); err != nil {
		b.Fatal(err)
	}
	return sc, ds
}

func benchStrategy(b *testing.B, mk func() procurebot.Strategy) {
	sc, ds := loadBench(b)
	b.ResetTimer()
	var res *sim.Result
	for i := 0; i < b.N; i++ {
		r, err := sim.Run(context.Background(), sc, ds, mk(), sim.Options{})
		if err != nil {
			b.Fatal(err)
		}
		res = r
	}
	b.ReportMetric(res.TotalCostUSD.InexactFloat64(), "usd")
}

func BenchmarkStatic(b *testing.B) {
	benchStrategy(b, func() procurebot.Strategy { return strategy.NewStatic() })
}

func BenchmarkGreedy(b *testing.B) {
	benchStrategy(b, func() procurebot.Strategy { return strategy.NewGreedy() })
}

func BenchmarkOracle(b *testing.B) {
	benchStrategy(b, func() procurebot.Strategy { return strategy.NewOracle() })
}

func BenchmarkArbitrage(b *testing.B) {
	benchStrategy(b, func() procurebot.Strategy { return strategy.NewArbitrage() })
}

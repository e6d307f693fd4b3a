package strategy_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/sim"
	"github.com/procurebot/procurebot/strategy"
)

// TestOracleSharedSelfHostPool: two sites of one class share self-hosted
// inference. Site a (other 0.05) and b (other 0.28), 2 H100 each, power 0,
// kept powered; job j needs 1 GPU-hour; workload w needs 1.5 GPUs (1.5 Mtok
// an hour at 1 Mtok per GPU-hour), tokens 1.00 per Mtok in. Best: the job
// and 1 GPU of inference on a (2 × 0.05), the other 0.5 GPU of inference on
// b (0.5 × 0.28): 0.10 + 0.14 = 0.24. Pricing the job's GPU on a at the
// tokens it displaces would put the job on b instead: 0.28 + 1.5 × 0.05 =
// 0.355.
func TestOracleSharedSelfHostPool(t *testing.T) {
	t0 := time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC)
	d := decimal.RequireFromString
	sc := &procurebot.Scenario{
		Start: t0, End: t0.Add(time.Hour),
		Sites: []procurebot.Site{
			{Name: "a", PowerMarket: "P", GPU: "H100", GPUs: 2, KWPerGPU: d("1"), OtherUSDPerGPUHour: d("0.05")},
			{Name: "b", PowerMarket: "P", GPU: "H100", GPUs: 2, KWPerGPU: d("1"), OtherUSDPerGPUHour: d("0.28")},
		},
		Jobs: []procurebot.Job{{ID: "j", GPU: "H100", MaxGPUs: 1, GPUHours: d("1"), Release: t0, Deadline: t0.Add(time.Hour)}},
		Inference: []procurebot.Inference{{ID: "w", Model: "m", MTokInPerHour: d("1.5"), MTokOutPerHour: d("0"),
			SelfHost: &procurebot.SelfHost{GPU: "H100", MTokPerGPUHour: d("1")}}},
	}
	sc.SetDefaults()
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	ds := &procurebot.Dataset{
		Power: map[string]*procurebot.PowerSeries{"P": {Market: "P", Start: t0, Prices: []procurebot.Money{d("0")}, Present: []bool{true}}},
		GPU: []procurebot.Snapshot{{Time: t0, Offers: []procurebot.Offer{
			{Provider: "lambdalabs", GPU: "H100", USDPerGPUHour: d("3"), HasPerGPU: true, PerGPU: d("3")}}}},
		Tokens: []procurebot.TokenSnapshot{{Time: t0, Prices: []procurebot.TokenPrice{
			{Provider: "openrouter", Model: "m", USDPerMTokIn: d("1"), USDPerMTokOut: d("1")}}}},
	}
	if err := sc.ValidateData(ds); err != nil {
		t.Fatal(err)
	}
	for _, st := range []procurebot.Strategy{strategy.NewOracle(), strategy.NewArbitrage()} {
		res, err := sim.Run(context.Background(), sc, ds, st, sim.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.DeadlineMisses != 0 || !res.TotalCostUSD.Equal(d("0.24")) {
			t.Errorf("%s: total %s, misses %d; want 0.24, 0", st.Name(), res.TotalCostUSD, res.DeadlineMisses)
		}
	}
}

package agent_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/agent"
	"github.com/procurebot/procurebot/policy"
	"github.com/procurebot/procurebot/scenario"
	"github.com/procurebot/procurebot/sim"
	"github.com/procurebot/procurebot/store/bolt"
	"github.com/procurebot/procurebot/strategy"
)

// bigBook returns ds with every GPU snapshot grown to n offers: the
// recorded rows, then copies of them in 40 regions at prices spread ±30 %
// (same providers, so every row stays eligible for the planner).
func bigBook(ds *procurebot.Dataset, n int) *procurebot.Dataset {
	out := *ds
	out.GPU = make([]procurebot.Snapshot, len(ds.GPU))
	for i, s := range ds.GPU {
		offers := make([]procurebot.Offer, 0, n)
		offers = append(offers, s.Offers...)
		for j := 0; len(offers) < n; j++ {
			o := s.Offers[j%len(s.Offers)]
			o.Region = fmt.Sprintf("r%d", j%40)
			f := decimal.NewFromInt(int64(70 + (j*37)%61)).Div(decimal.NewFromInt(100))
			o.USDPerHour, o.USDPerGPUHour = o.USDPerHour.Mul(f), o.USDPerGPUHour.Mul(f)
			o.PerGPU = o.PerGPUPrice()
			offers = append(offers, o)
		}
		out.GPU[i] = procurebot.Snapshot{Time: s.Time, Offers: offers}
	}
	return &out
}

// BenchmarkDecisionPath10k measures, over the embedded October example
// (744 hourly steps, two sites, three jobs, inference), the agent's decision path — the
// planner over a book of 10,000 quotes, then spend policy on a bbolt store
// (caps on every window, provider and job), approvals, and the durable
// decision — step after step, and reports its p50 and p99 (issue target:
// p99 under 50 ms). Payments are left out: they wait for the chain.
func BenchmarkDecisionPath10k(b *testing.B) {
	for _, name := range []string{"greedy", "arbitrage"} {
		b.Run(name, func(b *testing.B) {
			t := &testing.T{}
			ds := bigBook(dataset(t), 10000)
			sc, err := scenario.Load(filepath.Join("testdata", "october.yaml"))
			if err != nil {
				b.Fatal(err)
			}
			pcfg, err := policy.Parse("p.yaml", []byte(`
policy:
  caps: {hour: "100000", day: "1000000", month: "10000000"}
  providers: {default: {day: "100000"}}
  jobs: {default: {total: "1000000"}}
  max_usd_per_gpu_hour: {H100: "8"}
  approval: {above_usd: "100000"}
`))
			if err != nil {
				b.Fatal(err)
			}
			var durs []time.Duration
			for b.Loop() {
				b.StopTimer()
				st, err := bolt.Open(filepath.Join(b.TempDir(), "p.db"))
				if err != nil {
					b.Fatal(err)
				}
				var s procurebot.Strategy = strategy.NewGreedy()
				if name == "arbitrage" {
					s = strategy.NewArbitrage()
				}
				sess, err := sim.NewSession(context.Background(), sc, ds, s)
				if err != nil {
					b.Fatal(err)
				}
				pol, _ := policy.New(pcfg, st, nil)
				a, err := agent.New(agent.Config{RunID: "bench"}, agent.Deps{Market: &timed{Market: sess, durs: &durs, b: b}, Policy: pol,
					Ledger: st, State: st, Approvals: st, Log: zerolog.Nop()})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := a.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				st.Close()
				b.StartTimer()
			}
			if testing.Verbose() && len(durs) > 5 {
				b.Logf("first steps: %v", durs[:5])
			}
			sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
			if testing.Verbose() && len(durs) > 5 {
				b.Logf("slowest: %v", durs[len(durs)-5:])
			}
			if len(durs) > 0 {
				b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, "p50_ms")
				b.ReportMetric(float64(durs[len(durs)*99/100].Microseconds())/1000, "p99_ms")
				b.ReportMetric(float64(durs[len(durs)-1].Microseconds())/1000, "max_ms")
				b.ReportMetric(float64(len(ds.Book(sc.Start))), "quotes")
			}
		})
	}
}

// timed measures each step from Decide (quotes in) to Apply (actions out,
// after policy and the durable decision).
type timed struct {
	agent.Market
	durs  *[]time.Duration
	start time.Time
	b     *testing.B
}

func (m *timed) Decide(ctx context.Context) (procurebot.Decision, error) {
	m.start = time.Now()
	return m.Market.Decide(ctx)
}

func (m *timed) Apply(d procurebot.Decision) (*sim.Bill, error) {
	*m.durs = append(*m.durs, time.Since(m.start))
	return m.Market.Apply(d)
}

// Scenario and BookNow pass through for the agent's drop.
func (m *timed) Scenario() *procurebot.Scenario {
	return m.Market.(agent.Scenarioed).Scenario()
}

func (m *timed) BookNow() []procurebot.Offer { return m.Market.(agent.Scenarioed).BookNow() }

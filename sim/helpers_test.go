package sim_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/sim"
)

// d parses an exact decimal; test constants only.
func d(s string) procurebot.Money { return decimal.RequireFromString(s) }

// n is a whole number of GPUs as Money.
func n(i int64) procurebot.Money { return decimal.NewFromInt(i) }

// t0 is the start of every test window: 2024-03-10T00:00:00Z (a Sunday; no
// DST matters, all times are UTC).
var t0 = time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)

// at returns t0 + h hours.
func at(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }

// hourly builds a market's hourly power series from start; an empty string
// is a missing hour (Present false).
func hourly(market string, start time.Time, prices ...string) *procurebot.PowerSeries {
	ps := &procurebot.PowerSeries{Market: market, Start: start}
	for _, p := range prices {
		if p == "" {
			ps.Prices = append(ps.Prices, procurebot.Zero)
			ps.Present = append(ps.Present, false)
			continue
		}
		ps.Prices = append(ps.Prices, d(p))
		ps.Present = append(ps.Present, true)
	}
	return ps
}

// flat is n hours of the same price from start.
func flat(market string, start time.Time, hours int, price string) *procurebot.PowerSeries {
	p := make([]string, hours)
	for i := range p {
		p[i] = price
	}
	return hourly(market, start, p...)
}

// perGPU is a book row priced per GPU; PerGPU is filled by the §5 rule.
func perGPU(provider, gpu, price string, spot procurebot.Spot) procurebot.Offer {
	o := procurebot.Offer{Provider: provider, GPU: gpu, USDPerGPUHour: d(price), HasPerGPU: true, Spot: spot}
	o.PerGPU = o.PerGPUPrice()
	return o
}

// perInstance is a book row priced per instance of count GPUs.
func perInstance(provider, gpu, usdPerHour string, count int, spot procurebot.Spot) procurebot.Offer {
	o := procurebot.Offer{Provider: provider, GPU: gpu, USDPerHour: d(usdPerHour), GPUCount: count, Spot: spot}
	o.PerGPU = o.PerGPUPrice()
	return o
}

// tokens is one token price row.
func tokens(provider, model, in, out string) procurebot.TokenPrice {
	return procurebot.TokenPrice{Provider: provider, Model: model, USDPerMTokIn: d(in), USDPerMTokOut: d(out)}
}

// dataset assembles a Dataset from power series and snapshots.
func dataset(power []*procurebot.PowerSeries, gpu []procurebot.Snapshot, tok []procurebot.TokenSnapshot) *procurebot.Dataset {
	ds := &procurebot.Dataset{Power: map[string]*procurebot.PowerSeries{}, GPU: gpu, Tokens: tok}
	for _, p := range power {
		ds.Power[p.Market] = p
	}
	return ds
}

// prepare applies the scenario defaults and validates it against ds, as the
// CLI does before a run.
func prepare(t *testing.T, sc *procurebot.Scenario, ds *procurebot.Dataset) {
	t.Helper()
	sc.SetDefaults()
	if err := sc.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if err := sc.ValidateData(ds); err != nil {
		t.Fatalf("ValidateData: %v", err)
	}
}

// run backtests st and fails the test on an error.
func run(t *testing.T, sc *procurebot.Scenario, ds *procurebot.Dataset, st procurebot.Strategy) *sim.Result {
	t.Helper()
	res, err := runErr(t, sc, ds, st)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkInvariants(t, res)
	return res
}

// runErr backtests st and returns its error.
func runErr(t *testing.T, sc *procurebot.Scenario, ds *procurebot.Dataset, st procurebot.Strategy) (*sim.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return sim.Run(ctx, sc, ds, st, sim.Options{})
}

// scripted is a Strategy that returns a fixed decision per step (the zero
// decision past the end of its script) and runs an optional check of the
// view first; a check error is returned as the strategy's error.
type scripted struct {
	name  string
	steps []procurebot.Decision
	check func(v procurebot.View) error
	calls []int // steps decided, in order
}

func (s *scripted) Name() string {
	if s.name == "" {
		return "scripted"
	}
	return s.name
}

func (s *scripted) Decide(_ context.Context, v procurebot.View) (procurebot.Decision, error) {
	s.calls = append(s.calls, v.Step())
	if s.check != nil {
		if err := s.check(v); err != nil {
			return procurebot.Decision{}, err
		}
	}
	if k := v.Step(); k < len(s.steps) {
		return s.steps[k], nil
	}
	return procurebot.Decision{}, nil
}

// hindsight is a scripted strategy that is also a procurebot.Hindsight, so
// the simulator runs it as the oracle (§7.9).
type hindsight struct {
	scripted
	foreseen procurebot.Foresight
	before   int // len(calls) when Foresee was called
}

func (h *hindsight) Foresee(_ context.Context, f procurebot.Foresight) error {
	h.foreseen = f
	h.before = len(h.calls)
	return nil
}

var _ procurebot.Hindsight = (*hindsight)(nil)

// checkInvariants asserts what every result must satisfy: total = energy +
// other + rental + inference − revenue exactly, gross = the sum without
// revenue, the step costs sum to the total, one record per decision.
func checkInvariants(t *testing.T, res *sim.Result) {
	t.Helper()
	gross := res.EnergyCostUSD.Add(res.OtherCostUSD).Add(res.RentalCostUSD).Add(res.InferenceCostUSD)
	if !res.GrossSpendUSD.Equal(gross) {
		t.Errorf("GrossSpendUSD = %s, want energy+other+rental+inference = %s", res.GrossSpendUSD, gross)
	}
	if total := gross.Sub(res.RevenueUSD); !res.TotalCostUSD.Equal(total) {
		t.Errorf("TotalCostUSD = %s, want energy+other+rental+inference−revenue = %s", res.TotalCostUSD, total)
	}
	sum := procurebot.Zero
	for _, s := range res.Steps {
		sum = sum.Add(s.Cost)
	}
	if !res.TotalCostUSD.Equal(sum) {
		t.Errorf("TotalCostUSD = %s, but the steps' costs sum to %s", res.TotalCostUSD, sum)
	}
	if res.Decisions != len(res.Steps) {
		t.Errorf("Decisions = %d, but %d step records", res.Decisions, len(res.Steps))
	}
	req, del := procurebot.Zero, procurebot.Zero
	misses := 0
	for _, j := range res.Jobs {
		req, del = req.Add(j.GPUHoursRequired), del.Add(j.GPUHoursDelivered)
		if j.GPUHoursDelivered.GreaterThan(j.GPUHoursRequired) {
			t.Errorf("job %s: delivered %s > required %s", j.ID, j.GPUHoursDelivered, j.GPUHoursRequired)
		}
		if j.Missed {
			misses++
		}
	}
	if !res.GPUHoursRequired.Equal(req) || !res.GPUHoursDelivered.Equal(del) || res.DeadlineMisses != misses {
		t.Errorf("job totals: required %s delivered %s misses %d; jobs sum to %s, %s, %d",
			res.GPUHoursRequired, res.GPUHoursDelivered, res.DeadlineMisses, req, del, misses)
	}
}

// diffResult lists every field of got that differs from want (decimals by
// value, not representation), one line each; Elapsed is not compared.
func diffResult(got, want *sim.Result) []string {
	var out []string
	money := func(name string, g, w procurebot.Money) {
		if !g.Equal(w) {
			out = append(out, fmt.Sprintf("%s = %s, want %s", name, g, w))
		}
	}
	if got.Strategy != want.Strategy {
		out = append(out, fmt.Sprintf("Strategy = %q, want %q", got.Strategy, want.Strategy))
	}
	money("EnergyCostUSD", got.EnergyCostUSD, want.EnergyCostUSD)
	money("OtherCostUSD", got.OtherCostUSD, want.OtherCostUSD)
	money("RentalCostUSD", got.RentalCostUSD, want.RentalCostUSD)
	money("InferenceCostUSD", got.InferenceCostUSD, want.InferenceCostUSD)
	money("RevenueUSD", got.RevenueUSD, want.RevenueUSD)
	money("TotalCostUSD", got.TotalCostUSD, want.TotalCostUSD)
	money("GrossSpendUSD", got.GrossSpendUSD, want.GrossSpendUSD)
	money("GPUHoursRequired", got.GPUHoursRequired, want.GPUHoursRequired)
	money("GPUHoursDelivered", got.GPUHoursDelivered, want.GPUHoursDelivered)
	if got.DeadlineMisses != want.DeadlineMisses {
		out = append(out, fmt.Sprintf("DeadlineMisses = %d, want %d", got.DeadlineMisses, want.DeadlineMisses))
	}
	money("SwitchingGPUHours", got.SwitchingGPUHours, want.SwitchingGPUHours)
	money("PreemptedGPUHours", got.PreemptedGPUHours, want.PreemptedGPUHours)
	money("LeasedGPUHours", got.LeasedGPUHours, want.LeasedGPUHours)
	money("SelfHostedGPUHours", got.SelfHostedGPUHours, want.SelfHostedGPUHours)
	money("UnservedMTok", got.UnservedMTok, want.UnservedMTok)
	if got.BudgetBinding != want.BudgetBinding {
		out = append(out, fmt.Sprintf("BudgetBinding = %v, want %v", got.BudgetBinding, want.BudgetBinding))
	}
	if got.Decisions != want.Decisions {
		out = append(out, fmt.Sprintf("Decisions = %d, want %d", got.Decisions, want.Decisions))
	}
	if len(got.Jobs) != len(want.Jobs) {
		out = append(out, fmt.Sprintf("len(Jobs) = %d, want %d", len(got.Jobs), len(want.Jobs)))
	} else {
		for i := range got.Jobs {
			g, w := got.Jobs[i], want.Jobs[i]
			p := fmt.Sprintf("Jobs[%d]", i)
			if g.ID != w.ID {
				out = append(out, fmt.Sprintf("%s.ID = %q, want %q", p, g.ID, w.ID))
			}
			money(p+".GPUHoursRequired", g.GPUHoursRequired, w.GPUHoursRequired)
			money(p+".GPUHoursDelivered", g.GPUHoursDelivered, w.GPUHoursDelivered)
			if !g.Finished.Equal(w.Finished) {
				out = append(out, fmt.Sprintf("%s.Finished = %s, want %s", p, g.Finished, w.Finished))
			}
			if g.Missed != w.Missed {
				out = append(out, fmt.Sprintf("%s.Missed = %v, want %v", p, g.Missed, w.Missed))
			}
		}
	}
	if len(got.Steps) != len(want.Steps) {
		out = append(out, fmt.Sprintf("len(Steps) = %d, want %d", len(got.Steps), len(want.Steps)))
		return out
	}
	for i := range got.Steps {
		g, w := got.Steps[i], want.Steps[i]
		p := fmt.Sprintf("Steps[%d]", i)
		if !g.Time.Equal(w.Time) {
			out = append(out, fmt.Sprintf("%s.Time = %s, want %s", p, g.Time, w.Time))
		}
		money(p+".Cost", g.Cost, w.Cost)
		money(p+".Leased", g.Leased, w.Leased)
		if len(g.Venues) != len(w.Venues) {
			out = append(out, fmt.Sprintf("%s.Venues = %v, want %v", p, venues(g.Venues), venues(w.Venues)))
			continue
		}
		for v := range g.Venues {
			if g.Venues[v].Venue != w.Venues[v].Venue || g.Venues[v].Own != w.Venues[v].Own || !g.Venues[v].GPUs.Equal(w.Venues[v].GPUs) {
				out = append(out, fmt.Sprintf("%s.Venues = %v, want %v", p, venues(g.Venues), venues(w.Venues)))
				break
			}
		}
	}
	return out
}

func venues(vs []sim.VenueUse) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		own := ""
		if v.Own {
			own = "(own)"
		}
		parts[i] = fmt.Sprintf("%s%s:%s", v.Venue, own, v.GPUs)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// assertResult fails the test for every field of got that differs from want.
func assertResult(t *testing.T, got, want *sim.Result) {
	t.Helper()
	for _, line := range diffResult(got, want) {
		t.Error(line)
	}
}

// wantCode fails unless err carries the given procurebot error code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want code %q", code)
	}
	if got := procurebot.ErrorCode(err); got != code {
		t.Fatalf("ErrorCode(%v) = %q, want %q", err, got, code)
	}
}

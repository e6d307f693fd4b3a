package sim_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/sim"
)

// budgetScenario: 4 hourly steps; site "kept" (2 × H100, kw 0.5, pue 1,
// other 0, not curtailable) at 100 USD/MWh → e = 0.05, so its 2 GPUs cost
// 0.10 per step whatever they do; one job; lambdalabs on-demand at 2.00;
// switch cost 0.25.
func budgetScenario(budget string) (*procurebot.Scenario, *procurebot.Dataset) {
	sc := &procurebot.Scenario{
		Start: t0, End: at(4),
		Sites: []procurebot.Site{{Name: "kept", PowerMarket: "P", GPU: "H100", GPUs: 2, KWPerGPU: d("0.5")}},
		Jobs:  []procurebot.Job{{ID: "train", GPU: "H100", MaxGPUs: 2, GPUHours: d("100"), Release: t0, Deadline: at(4)}},
		Market: procurebot.Market{
			SwitchCostGPUHours: d("0.25"),
		},
	}
	if budget != "" {
		b := d(budget)
		sc.BudgetUSD = &b
	}
	ds := dataset(
		[]*procurebot.PowerSeries{flat("P", t0, 4, "100")},
		[]procurebot.Snapshot{{Time: t0, Offers: []procurebot.Offer{perGPU("lambdalabs", "H100", "2.00", procurebot.SpotUnknown)}}},
		nil)
	return sc, ds
}

// budgetSteps rents 1, 1, 2, 1 GPUs of lambdalabs in steps 0…3. Gross
// spend per step = idle-or-not energy 0.10 + rental: 2.10, 2.10, 4.10, 2.10.
func budgetSteps() []procurebot.Decision {
	rent := func(g int) procurebot.Decision {
		return procurebot.Decision{Jobs: []procurebot.JobAlloc{{Job: 0, Site: -1, Offer: 0, GPUs: g}}}
	}
	return []procurebot.Decision{rent(1), rent(1), rent(2), rent(1)}
}

// TestBudget: with budget 7, steps 0 and 1 spend 4.20; step 2 would take
// gross spend to 8.30 > 7, so it buys nothing (no rental, the job gets
// nothing) but the kept-powered site's idle energy 0.10 is still paid
// (spent 4.30); step 3 fits (6.40 ≤ 7) and is bought; its GPU counts as
// started against step 2's applied (empty) decision.
//
//	energy    4 · 0.10                 = 0.40
//	rental    2.00 + 2.00 + 0 + 2.00   = 6.00
//	delivered 0.75 + 1 + 0 + 0.75      = 2.50 (switching 0.50)
func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		budget string
		want   *sim.Result
	}{
		{"binding", "7", &sim.Result{
			EnergyCostUSD: d("0.40"), RentalCostUSD: d("6.00"), GrossSpendUSD: d("6.40"), TotalCostUSD: d("6.40"),
			GPUHoursDelivered: d("2.5"), SwitchingGPUHours: d("0.5"), BudgetBinding: true,
			Steps: []sim.StepRecord{
				{Time: at(0), Cost: d("2.10"), Venues: []sim.VenueUse{{Venue: "lambdalabs", GPUs: n(1)}}},
				{Time: at(1), Cost: d("2.10"), Venues: []sim.VenueUse{{Venue: "lambdalabs", GPUs: n(1)}}},
				{Time: at(2), Cost: d("0.10")},
				{Time: at(3), Cost: d("2.10"), Venues: []sim.VenueUse{{Venue: "lambdalabs", GPUs: n(1)}}},
			},
		}},
		// Exactly reaching the budget is not crossing it: 2.10 + 2.10 +
		// 4.10 + 2.10 = 10.40; delivered 0.75 + 1 + (2 − 0.25) + 1 = 4.50.
		{"reached exactly", "10.40", &sim.Result{
			EnergyCostUSD: d("0.40"), RentalCostUSD: d("10.00"), GrossSpendUSD: d("10.40"), TotalCostUSD: d("10.40"),
			GPUHoursDelivered: d("4.5"), SwitchingGPUHours: d("0.5"), BudgetBinding: false,
			Steps: []sim.StepRecord{
				{Time: at(0), Cost: d("2.10"), Venues: []sim.VenueUse{{Venue: "lambdalabs", GPUs: n(1)}}},
				{Time: at(1), Cost: d("2.10"), Venues: []sim.VenueUse{{Venue: "lambdalabs", GPUs: n(1)}}},
				{Time: at(2), Cost: d("4.10"), Venues: []sim.VenueUse{{Venue: "lambdalabs", GPUs: n(2)}}},
				{Time: at(3), Cost: d("2.10"), Venues: []sim.VenueUse{{Venue: "lambdalabs", GPUs: n(1)}}},
			},
		}},
		// One cent less: step 3 (10.40 > 10.39) buys nothing; 0.75 + 1 + 1.75.
		{"one cent short", "10.39", &sim.Result{
			EnergyCostUSD: d("0.40"), RentalCostUSD: d("8.00"), GrossSpendUSD: d("8.40"), TotalCostUSD: d("8.40"),
			GPUHoursDelivered: d("3.5"), SwitchingGPUHours: d("0.5"), BudgetBinding: true,
			Steps: []sim.StepRecord{
				{Time: at(0), Cost: d("2.10"), Venues: []sim.VenueUse{{Venue: "lambdalabs", GPUs: n(1)}}},
				{Time: at(1), Cost: d("2.10"), Venues: []sim.VenueUse{{Venue: "lambdalabs", GPUs: n(1)}}},
				{Time: at(2), Cost: d("4.10"), Venues: []sim.VenueUse{{Venue: "lambdalabs", GPUs: n(2)}}},
				{Time: at(3), Cost: d("0.10")},
			},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, ds := budgetScenario(tc.budget)
			prepare(t, sc, ds)
			st := &scripted{steps: budgetSteps(), check: func(v procurebot.View) error {
				// The view reports what was applied, not what was asked.
				if v.Step() == 3 && tc.name == "binding" {
					if p := v.Previous(); len(p.Jobs) != 0 {
						return fmt.Errorf("step 3: Previous() = %+v, want the empty decision applied at step 2", p)
					}
					if got := v.Delivered(0); !got.Equal(d("1.75")) {
						return fmt.Errorf("step 3: Delivered(0) = %s, want 1.75", got)
					}
				}
				return nil
			}}
			res := run(t, sc, ds, st)
			want := tc.want
			want.Strategy, want.Decisions = "scripted", 4
			want.GPUHoursRequired = d("100")
			want.DeadlineMisses = 1
			want.Jobs = []sim.JobResult{{ID: "train", GPUHoursRequired: d("100"), GPUHoursDelivered: want.GPUHoursDelivered, Missed: true}}
			assertResult(t, res, want)

			b, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			for _, part := range []string{
				`"jobs":[{"id":"train","gpu_hours_delivered":"` + want.GPUHoursDelivered.String() + `","finished":null,"missed":true}]`,
				fmt.Sprintf(`"budget_binding":%v`, want.BudgetBinding),
				`"gross_spend_usd":"` + procurebot.Cents(want.GrossSpendUSD) + `"`,
			} {
				if !strings.Contains(string(b), part) {
					t.Errorf("JSON %s lacks %s", b, part)
				}
			}
		})
	}
}

// TestBudgetOracle: a Hindsight strategy runs with no budget cap and no
// switching losses (§7.9); BudgetBinding reports whether its gross spend
// exceeded the budget.
func TestBudgetOracle(t *testing.T) {
	for _, tc := range []struct {
		budget  string
		binding bool
	}{
		{"7", true},      // gross 10.40 > 7
		{"10.39", true},  // 10.40 > 10.39
		{"10.40", false}, // reached, not exceeded
		{"100", false},   // far above
		{"", false},      // no budget
	} {
		t.Run("budget "+tc.budget, func(t *testing.T) {
			sc, ds := budgetScenario(tc.budget)
			prepare(t, sc, ds)
			o := &hindsight{scripted: scripted{name: "oracle", steps: budgetSteps()}}
			o.before = -1
			res := run(t, sc, ds, o)
			if o.before != 0 {
				t.Errorf("Foresee called after %d decisions, want before the first", o.before)
			}
			// Everything bought: 2.10 + 2.10 + 4.10 + 2.10; no switching
			// loss: 1 + 1 + 2 + 1 = 5 GPU-hours.
			assertResult(t, res, &sim.Result{
				Strategy: "oracle", EnergyCostUSD: d("0.40"), RentalCostUSD: d("10.00"),
				GrossSpendUSD: d("10.40"), TotalCostUSD: d("10.40"),
				GPUHoursRequired: d("100"), GPUHoursDelivered: d("5"), DeadlineMisses: 1,
				BudgetBinding: tc.binding, Decisions: 4,
				Jobs: []sim.JobResult{{ID: "train", GPUHoursRequired: d("100"), GPUHoursDelivered: d("5"), Missed: true}},
				Steps: []sim.StepRecord{
					{Time: at(0), Cost: d("2.10"), Venues: []sim.VenueUse{{Venue: "lambdalabs", GPUs: n(1)}}},
					{Time: at(1), Cost: d("2.10"), Venues: []sim.VenueUse{{Venue: "lambdalabs", GPUs: n(1)}}},
					{Time: at(2), Cost: d("4.10"), Venues: []sim.VenueUse{{Venue: "lambdalabs", GPUs: n(2)}}},
					{Time: at(3), Cost: d("2.10"), Venues: []sim.VenueUse{{Venue: "lambdalabs", GPUs: n(1)}}},
				},
			})
		})
	}
}

// TestForesight: the oracle's Foresight shows every step's power, book and
// tokens from the start, and the same preemption draws as the run.
func TestForesight(t *testing.T) {
	sc := &procurebot.Scenario{
		Start: t0, End: at(3), Seed: 7,
		Sites:     []procurebot.Site{{Name: "s", PowerMarket: "P", GPU: "H100", GPUs: 1, KWPerGPU: d("1")}},
		Jobs:      []procurebot.Job{{ID: "j", GPU: "H100", MaxGPUs: 1, GPUHours: d("1"), Release: t0, Deadline: at(3), Interruptible: true}},
		Inference: []procurebot.Inference{{ID: "w", Model: "m", MTokInPerHour: d("1")}},
		Market:    procurebot.Market{SpotPreemptionPerHour: d("0.05")},
	}
	ds := dataset(
		[]*procurebot.PowerSeries{hourly("P", t0, "10", "-5", "30")},
		[]procurebot.Snapshot{
			{Time: t0, Offers: []procurebot.Offer{perGPU("runpod", "H100", "1", procurebot.SpotTrue)}},
			{Time: at(2), Offers: []procurebot.Offer{perGPU("runpod", "H100", "3", procurebot.SpotTrue)}},
		},
		[]procurebot.TokenSnapshot{{Time: at(1), Prices: []procurebot.TokenPrice{tokens("p", "m", "4", "0")}}},
	)
	prepare(t, sc, ds)
	o := &hindsight{scripted: scripted{name: "oracle"}}
	var errs []error
	o.check = func(v procurebot.View) error {
		if v.Step() != 0 {
			return nil
		}
		f := o.foreseen
		if f == nil {
			return errors.New("Decide before Foresee")
		}
		for k, want := range []string{"10", "-5", "30"} {
			if got := f.Power(0, k); !got.Equal(d(want)) {
				errs = append(errs, fmt.Errorf("Foresight.Power(0, %d) = %s, want %s", k, got, want))
			}
		}
		if b := f.Book(2); len(b) != 1 || !b[0].PerGPU.Equal(d("3")) {
			errs = append(errs, fmt.Errorf("Foresight.Book(2) = %v, want the 02:00 book", b))
		}
		if tp := f.Tokens(0); tp != nil {
			errs = append(errs, fmt.Errorf("Foresight.Tokens(0) = %v, want nil before the first token snapshot", tp))
		}
		if tp := f.Tokens(2); len(tp) != 1 {
			errs = append(errs, fmt.Errorf("Foresight.Tokens(2) = %v, want the 01:00 prices", tp))
		}
		// Seed 7, rate 0.05, h 1: runpod|H100 preempted at k = 0, 1, not 2.
		for k, want := range []bool{true, true, false} {
			if got := f.Preempted("runpod", "H100", k); got != want {
				errs = append(errs, fmt.Errorf("Foresight.Preempted(runpod, H100, %d) = %v, want %v", k, got, want))
			}
		}
		return nil
	}
	run(t, sc, ds, o)
	for _, err := range errs {
		t.Error(err)
	}
}

// TestBudgetBlockedStepBuysNoTokens: a step the budget stops buys nothing,
// tokens included; its inference counts as unserved. Budget 7, tokens 3.00
// per hour (1 Mtok in at 1.00 + 1 Mtok out at 2.00), steps renting 1 GPU:
// step 0 spends 0.10 + 2.00 + 3.00 = 5.10; step 1 would reach 10.20 > 7,
// so steps 1–3 are blocked and pay only the idle energy 0.10 each; their
// 2 Mtok per hour go unserved: 3 × 2 = 6.
func TestBudgetBlockedStepBuysNoTokens(t *testing.T) {
	sc, ds := budgetScenario("7")
	sc.Inference = []procurebot.Inference{{ID: "chat", Model: "m/x", MTokInPerHour: d("1"), MTokOutPerHour: d("1")}}
	ds.Tokens = []procurebot.TokenSnapshot{{Time: t0, Prices: []procurebot.TokenPrice{tokens("openrouter", "m/x", "1", "2")}}}
	prepare(t, sc, ds)
	rent := procurebot.Decision{Jobs: []procurebot.JobAlloc{{Job: 0, Site: -1, Offer: 0, GPUs: 1}}}
	res := run(t, sc, ds, &scripted{name: "s", steps: []procurebot.Decision{rent, rent, rent, rent}})
	if !res.InferenceCostUSD.Equal(d("3")) || !res.UnservedMTok.Equal(d("6")) || !res.GrossSpendUSD.Equal(d("5.40")) {
		t.Errorf("inference %s unserved %s gross %s, want 3, 6, 5.40", res.InferenceCostUSD, res.UnservedMTok, res.GrossSpendUSD)
	}
	if !res.BudgetBinding || res.GrossSpendUSD.GreaterThan(*sc.BudgetUSD) {
		t.Errorf("budget not held: binding %v gross %s", res.BudgetBinding, res.GrossSpendUSD)
	}
}

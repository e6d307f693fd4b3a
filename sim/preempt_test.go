package sim_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/sim"
)

// The expected draws below were computed independently of the Go code with
// Python's hashlib:
//
//	int.from_bytes(hashlib.sha256(f"{seed}|{P}|{g}|{k}".encode()).digest()[:8], "big")
func TestPreemptionDraw(t *testing.T) {
	for _, tc := range []struct {
		seed     int64
		provider string
		gpu      string
		k        int
		want     uint64
		u        float64 // want / 2^64, for the reader
	}{
		{7, "runpod", "H100", 0, 849395921730917260, 0.0460458451820494},
		{7, "runpod", "H100", 13, 16249565182435887886, 0.88089069363709},
		{1, "vastai", "H200", 100, 7575335393769050693, 0.41065975456153697},
		{7, "runpod", "H100", 1, 549634015453226841, 0.0298},
		{7, "runpod", "H100", 2, 4371218098322082719, 0.2370},
		{7, "lambdalabs", "H100", 7, 914136446176900744, 0.0496},
		{0, "lambdalabs", "A100", 0, 10642639749042106768, 0.5769386568446018},
		{-3, "runpod", "H100", 5, 13759029229414539204, 0.74587846909114},         // negative seed printed with its sign
		{42, "Vast.ai", "MI300X", 9999, 12333745233682408783, 0.6686136688620602}, // names exactly as in the CSV
		{7, "RunPod", "H100", 0, 17650449401964412379, 0.9568327793477645},        // case matters
		{7, "runpod", "h100", 0, 11257590622344862324, 0.610275210484937},
	} {
		name := fmt.Sprintf("%d|%s|%s|%d", tc.seed, tc.provider, tc.gpu, tc.k)
		t.Run(name, func(t *testing.T) {
			got := sim.PreemptionDraw(tc.seed, tc.provider, tc.gpu, tc.k)
			if got != tc.want {
				t.Errorf("PreemptionDraw(%s) = %d, want %d", name, got, tc.want)
			}
			u := float64(got) / (1 << 64)
			if diff := u - tc.u; diff > 1e-4 || diff < -1e-4 {
				t.Errorf("u = %.6f, want ≈ %.6f", u, tc.u)
			}
		})
	}
}

// preemptMarket builds a one-step-per-hour market whose scenario has the
// given rate, step and seed, for Market.Preempted.
func preemptMarket(t *testing.T, rate string, step time.Duration, seed int64) *sim.Market {
	t.Helper()
	sc := &procurebot.Scenario{
		Start: t0, End: at(32), Step: step, Seed: seed,
		Jobs:   []procurebot.Job{{ID: "j", GPU: "H100", MaxGPUs: 1, GPUHours: d("1"), Release: t0, Deadline: at(32), Interruptible: true}},
		Market: procurebot.Market{SpotPreemptionPerHour: d(rate)},
	}
	ds := dataset(nil, []procurebot.Snapshot{{Time: t0, Offers: []procurebot.Offer{
		perGPU("runpod", "H100", "1", procurebot.SpotTrue),
	}}}, nil)
	prepare(t, sc, ds)
	m, err := sim.NewMarket(sc, ds)
	if err != nil {
		t.Fatalf("NewMarket: %v", err)
	}
	return m
}

// TestMarketPreempted checks u < rate × h on runpod|H100 at seed 7. Python
// gives, for k = 0…30: preempted at q = 0.05 → k ∈ {0, 1, 23, 27, 29};
// q = 0.025 → {23, 27, 29}; q = 0.1 → {0, 1, 9, 23, 27, 29}.
func TestMarketPreempted(t *testing.T) {
	for _, tc := range []struct {
		name string
		rate string
		step time.Duration
		want []int
	}{
		{"rate 0.05, h 1", "0.05", time.Hour, []int{0, 1, 23, 27, 29}},
		{"rate 0.05, h 0.5", "0.05", 30 * time.Minute, []int{23, 27, 29}},
		{"rate 0.05, h 2", "0.05", 2 * time.Hour, []int{0, 1, 9}}, // only 16 steps
		{"rate 0.1, h 1", "0.1", time.Hour, []int{0, 1, 9, 23, 27, 29}},
		{"rate 0", "0", time.Hour, nil},
		{"rate 1", "1", time.Hour, allK(31)},
		// u of step 0 exactly: 849395921730917260 / 2^64 is not below itself…
		{"rate = u(0) exactly", "0.04604584518204939895362481916407659809920005500316619873046875", time.Hour, []int{1, 23, 27, 29}},
		// …but is below (X + ½)/2^64, where X·2^-64 < q but X = floor(q·2^64)…
		{"rate = u(0) + 2^-65", "0.04604584518204939898072987347621420894938637502491474151611328125", time.Hour, []int{0, 1, 23, 27, 29}},
		// …and below (X+1)/2^64.
		{"rate = u(0) + 2^-64", "0.0460458451820493990078349277883518197995726950466632843017578125", time.Hour, []int{0, 1, 23, 27, 29}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := preemptMarket(t, tc.rate, tc.step, 7)
			var got []int
			for k := 0; k < m.Steps() && k <= 30; k++ {
				if m.Preempted("runpod", "H100", k) {
					got = append(got, k)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("preempted steps %v, want %v", got, tc.want)
			}
		})
	}
}

func allK(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestPreemptionRun drives a run through preempted and live steps of
// runpod|H100 at seed 7, rate 0.05 per hour, h = 1, switch cost 0.25.
//
// Draws (Python): runpod|H100 preempted at k ∈ {0, 1} among k = 0…8;
// lambdalabs|H100 draws fall below 0.05 at k = 7 (u ≈ 0.0496), so a
// lambdalabs spot row is preempted at k = 7, an on-demand one never.
//
// Job "spot" (interruptible) rents 2 GPUs of runpod's spot row every step
// k = 0…8 and, at k = 7 and 8, 1 GPU of lambdalabs' spot row:
//
//	k = 0, 1: runpod preempted → 2 GPU-h preempted each, nothing delivered,
//	          no switching loss (a preempted venue has none)
//	k = 2:    previous step had 2 on runpod (preempted counts) → 0 started
//	          → 2 delivered, no switching loss
//	k = 3…6:  2 each
//	k = 7:    runpod 2; lambdalabs spot preempted → 1 GPU-h preempted
//	k = 8:    runpod 2; lambdalabs 1, previous 1 → 0 started → 1
//	total:    delivered 2·7 + 1 = 15, preempted 2 + 2 + 1 = 5, switching 0
//
// Job "steady" (not interruptible) rents 1 GPU of lambdalabs' on-demand row
// every step: 1 − 0.25 at k = 0, then 1 for k = 1…8 → 8.75, switching 0.25;
// never preempted, not even at k = 7.
//
// Every rented GPU is paid: runpod 2·1.00·9 = 18, lambdalabs spot
// 1·1.50·2 = 3, lambdalabs on-demand 1·2.00·9 = 18 → rental 39.
func TestPreemptionRun(t *testing.T) {
	sc := &procurebot.Scenario{
		Start: t0, End: at(9), Seed: 7,
		Jobs: []procurebot.Job{
			{ID: "spot", GPU: "H100", MaxGPUs: 4, GPUHours: d("100"), Release: t0, Deadline: at(9), Interruptible: true},
			{ID: "steady", GPU: "H100", MaxGPUs: 4, GPUHours: d("100"), Release: t0, Deadline: at(9)},
		},
		Market: procurebot.Market{SwitchCostGPUHours: d("0.25"), SpotPreemptionPerHour: d("0.05")},
	}
	ds := dataset(nil, []procurebot.Snapshot{{Time: t0, Offers: []procurebot.Offer{
		perGPU("runpod", "H100", "1.00", procurebot.SpotTrue),        // row 0
		perGPU("lambdalabs", "H100", "2.00", procurebot.SpotFalse),   // row 1: on-demand
		perGPU("lambdalabs", "H100", "1.50", procurebot.SpotTrue),    // row 2: lambdalabs spot
		perGPU("runpod", "H100", "0.90", procurebot.SpotUnknown),     // row 3: unknown → spot (runpod not on-demand)
		perGPU("lambdalabs", "H100", "2.10", procurebot.SpotUnknown), // row 4: unknown → on-demand (default list)
	}}}, nil)
	prepare(t, sc, ds)

	var steps []procurebot.Decision
	for k := 0; k < 9; k++ {
		dec := procurebot.Decision{Jobs: []procurebot.JobAlloc{
			{Job: 0, Site: -1, Offer: 0, GPUs: 2},
			{Job: 1, Site: -1, Offer: 1, GPUs: 1},
		}}
		if k >= 7 {
			dec.Jobs = append(dec.Jobs, procurebot.JobAlloc{Job: 0, Site: -1, Offer: 2, GPUs: 1})
		}
		steps = append(steps, dec)
	}
	res := run(t, sc, ds, &scripted{steps: steps})

	check := func(name string, got, want procurebot.Money) {
		t.Helper()
		if !got.Equal(want) {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	check("PreemptedGPUHours", res.PreemptedGPUHours, d("5"))
	check("SwitchingGPUHours", res.SwitchingGPUHours, d("0.25"))
	check("Jobs[spot].GPUHoursDelivered", res.Jobs[0].GPUHoursDelivered, d("15"))
	check("Jobs[steady].GPUHoursDelivered", res.Jobs[1].GPUHoursDelivered, d("8.75"))
	check("GPUHoursDelivered", res.GPUHoursDelivered, d("23.75"))
	check("RentalCostUSD", res.RentalCostUSD, d("39"))
	check("TotalCostUSD", res.TotalCostUSD, d("39"))
	if res.DeadlineMisses != 2 {
		t.Errorf("DeadlineMisses = %d, want 2 (both jobs need 100)", res.DeadlineMisses)
	}

	// Unknown spot: runpod row 3 (spot, preempted at k = 0) and lambdalabs
	// row 4 (on-demand, fine even at lambdalabs' k = 7 draw).
	t.Run("unknown spot", func(t *testing.T) {
		sc2 := *sc
		sc2.End, sc2.Jobs = at(8), []procurebot.Job{
			{ID: "a", GPU: "H100", MaxGPUs: 4, GPUHours: d("100"), Release: t0, Deadline: at(8), Interruptible: true},
		}
		sc2.Start = t0
		var steps []procurebot.Decision
		for k := 0; k < 8; k++ {
			steps = append(steps, procurebot.Decision{Jobs: []procurebot.JobAlloc{
				{Job: 0, Site: -1, Offer: 3, GPUs: 1},
				{Job: 0, Site: -1, Offer: 4, GPUs: 1},
			}})
		}
		ds2 := dataset([]*procurebot.PowerSeries{}, ds.GPU, nil)
		prepare(t, &sc2, ds2)
		res := run(t, &sc2, ds2, &scripted{steps: steps})
		// runpod: preempted at k = 0, 1 → 2 GPU-h lost; delivered k = 2…7 = 6,
		// no switching loss (previous steps had 1 there, preempted or not).
		// lambdalabs: 1 − 0.25 at k = 0, then 1 × 7 → 7.75.
		check("PreemptedGPUHours", res.PreemptedGPUHours, d("2"))
		check("SwitchingGPUHours", res.SwitchingGPUHours, d("0.25"))
		check("GPUHoursDelivered", res.GPUHoursDelivered, d("13.75"))
	})
}

// TestPreemptionCertain: with preemption certain (rate 1),
// an on-demand row still delivers every step.
func TestPreemptionCertain(t *testing.T) {
	sc := &procurebot.Scenario{
		Start: t0, End: at(3), Seed: 7,
		Jobs: []procurebot.Job{
			{ID: "a", GPU: "H100", MaxGPUs: 4, GPUHours: d("100"), Release: t0, Deadline: at(3), Interruptible: true},
		},
		Market: procurebot.Market{SpotPreemptionPerHour: d("1")},
	}
	ds := dataset(nil, []procurebot.Snapshot{{Time: t0, Offers: []procurebot.Offer{
		perGPU("runpod", "H100", "1", procurebot.SpotTrue),
		perGPU("lambdalabs", "H100", "2", procurebot.SpotFalse),
	}}}, nil)
	prepare(t, sc, ds)
	dec := procurebot.Decision{Jobs: []procurebot.JobAlloc{
		{Job: 0, Site: -1, Offer: 0, GPUs: 3},
		{Job: 0, Site: -1, Offer: 1, GPUs: 1},
	}}
	res := run(t, sc, ds, &scripted{steps: []procurebot.Decision{dec, dec, dec}})
	if want := decimal.NewFromInt(9); !res.PreemptedGPUHours.Equal(want) {
		t.Errorf("PreemptedGPUHours = %s, want %s", res.PreemptedGPUHours, want)
	}
	if want := decimal.NewFromInt(3); !res.GPUHoursDelivered.Equal(want) {
		t.Errorf("GPUHoursDelivered = %s, want %s", res.GPUHoursDelivered, want)
	}
	if want := decimal.NewFromInt(15); !res.RentalCostUSD.Equal(want) {
		t.Errorf("RentalCostUSD = %s, want %s (preempted GPUs are paid)", res.RentalCostUSD, want)
	}
}

// TestPreemptionMixedVenue documents how the simulator settles a corner §7
// leaves open: a job renting from one provider both a spot row (preempted)
// and an on-demand row in the same step. The venue is the provider, so
// GPUs started = 3 − 0 = 3, but only the live on-demand GPU can lose
// switching time: started is capped at the live count (1). Seed 7, rate
// 0.05: runpod|H100 is preempted at k = 0, not at k = 2.
//
//	k = 0: spot 2 preempted (2 GPU-h), on-demand 1 − 0.25 = 0.75
func TestPreemptionMixedVenue(t *testing.T) {
	sc := &procurebot.Scenario{
		Start: t0, End: at(1), Seed: 7,
		Jobs:   []procurebot.Job{{ID: "a", GPU: "H100", MaxGPUs: 4, GPUHours: d("100"), Release: t0, Deadline: at(1), Interruptible: true}},
		Market: procurebot.Market{SwitchCostGPUHours: d("0.25"), SpotPreemptionPerHour: d("0.05")},
	}
	ds := dataset(nil, []procurebot.Snapshot{{Time: t0, Offers: []procurebot.Offer{
		perGPU("runpod", "H100", "1", procurebot.SpotTrue),
		perGPU("runpod", "H100", "3", procurebot.SpotFalse),
	}}}, nil)
	prepare(t, sc, ds)
	res := run(t, sc, ds, &scripted{steps: []procurebot.Decision{{Jobs: []procurebot.JobAlloc{
		{Job: 0, Site: -1, Offer: 0, GPUs: 2},
		{Job: 0, Site: -1, Offer: 1, GPUs: 1},
	}}}})
	for _, c := range []struct {
		name      string
		got, want procurebot.Money
	}{
		{"PreemptedGPUHours", res.PreemptedGPUHours, d("2")},
		{"SwitchingGPUHours", res.SwitchingGPUHours, d("0.25")},
		{"GPUHoursDelivered", res.GPUHoursDelivered, d("0.75")},
		{"RentalCostUSD", res.RentalCostUSD, d("5")},
	} {
		if !c.got.Equal(c.want) {
			t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
		}
	}
}

// TestPreemptionRateJustBelowOne: q·2^64 rounds up to 2^64 itself, which
// must not wrap to 0 (never preempted) but preempt every step.
func TestPreemptionRateJustBelowOne(t *testing.T) {
	sc := &procurebot.Scenario{Start: t0, End: at(3), Step: time.Hour,
		Market: procurebot.Market{SpotPreemptionPerHour: d("0.9999999999999999999999")}}
	ds := dataset([]*procurebot.PowerSeries{flat("P", t0, 3, "1")}, nil, nil)
	m, err := sim.NewMarket(sc, ds)
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 3; k++ {
		if !m.Preempted("runpod", "H100", k) {
			t.Errorf("step %d not preempted at rate 1 − 1e-22", k)
		}
	}
}

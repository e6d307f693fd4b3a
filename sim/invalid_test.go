package sim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/procurebot/procurebot"
)

// invalidScenario: 2 steps; site "lease-ok" (H100 × 2, sell_spare) and site
// "no-lease" (H100 × 2, sell_spare false) and site "a100" (A100 × 1); jobs
// "flex" (interruptible, max 3, cap 2.50/GPU-h) and "firm" (not
// interruptible, max 4, released at step 1); max_gpus_per_offer 3; an
// inference workload self-hosted on H100.
func invalidScenario() (*procurebot.Scenario, *procurebot.Dataset) {
	capPrice := d("2.50")
	sc := &procurebot.Scenario{
		Start: t0, End: at(2),
		Sites: []procurebot.Site{
			{Name: "lease-ok", PowerMarket: "P", GPU: "H100", GPUs: 2, KWPerGPU: d("0.5"), SellSpare: true, SellPriceRatio: d("0.5")},
			{Name: "no-lease", PowerMarket: "P", GPU: "H100", GPUs: 2, KWPerGPU: d("0.5")},
			{Name: "a100", PowerMarket: "P", GPU: "A100", GPUs: 1, KWPerGPU: d("0.4")},
		},
		Jobs: []procurebot.Job{
			{ID: "flex", GPU: "H100", MaxGPUs: 3, GPUHours: d("2"), Release: t0, Deadline: at(2), Interruptible: true, MaxUSDPerGPUHour: &capPrice},
			{ID: "firm", GPU: "H100", MaxGPUs: 4, GPUHours: d("100"), Release: at(1), Deadline: at(2)},
		},
		Inference: []procurebot.Inference{{ID: "w", Model: "m", MTokInPerHour: d("1"), SelfHost: &procurebot.SelfHost{GPU: "H100", MTokPerGPUHour: d("1")}}},
		Market:    procurebot.Market{MaxGPUsPerOffer: 3},
	}
	ds := dataset(
		[]*procurebot.PowerSeries{flat("P", t0, 2, "40")},
		[]procurebot.Snapshot{{Time: t0, Offers: []procurebot.Offer{
			perGPU("lambdalabs", "H100", "2.00", procurebot.SpotFalse), // 0: on-demand
			perGPU("runpod", "H100", "1.00", procurebot.SpotTrue),      // 1: spot
			perGPU("aws", "H100", "6.00", procurebot.SpotFalse),        // 2: above flex's cap
			perGPU("lambdalabs", "A100", "1.20", procurebot.SpotFalse), // 3: other class
		}}},
		[]procurebot.TokenSnapshot{{Time: t0, Prices: []procurebot.TokenPrice{tokens("p", "m", "1", "1")}}},
	)
	return sc, ds
}

// TestInvalidDecisions: a decision that breaks a rule of §7 is an error from
// Run naming the step, never silently fixed.
func TestInvalidDecisions(t *testing.T) {
	job := func(j, site, offer, g int) procurebot.JobAlloc {
		return procurebot.JobAlloc{Job: j, Site: site, Offer: offer, GPUs: g}
	}
	for _, tc := range []struct {
		name string
		step int // the step the decision is given at (0 or 1)
		dec  procurebot.Decision
		msg  string // part of the error message
	}{
		{"over site capacity (jobs)", 1, procurebot.Decision{Jobs: []procurebot.JobAlloc{job(0, 0, 0, 1), job(1, 0, 0, 2)}}, "lease-ok"},
		{"over site capacity (job + lease)", 0, procurebot.Decision{Jobs: []procurebot.JobAlloc{job(0, 0, 0, 2)}, Leased: []procurebot.Money{d("0.5")}}, "lease-ok"},
		{"over site capacity (self-host)", 0, procurebot.Decision{Jobs: []procurebot.JobAlloc{job(0, 1, 0, 2)},
			SelfHost: []procurebot.SelfHostAlloc{{Workload: 0, Site: 1, GPUs: d("0.01")}}}, "no-lease"},
		{"over max_gpus on one venue", 0, procurebot.Decision{Jobs: []procurebot.JobAlloc{job(0, -1, 0, 4)}}, "max_gpus"},
		{"over max_gpus across venues", 0, procurebot.Decision{Jobs: []procurebot.JobAlloc{job(0, 0, 0, 2), job(0, -1, 0, 2)}}, "max_gpus"},
		{"over max_gpus_per_offer across jobs", 1, procurebot.Decision{Jobs: []procurebot.JobAlloc{job(0, -1, 0, 2), job(1, -1, 0, 2)}}, "max_gpus_per_offer"},
		{"over max_gpus_per_offer in one job", 1, procurebot.Decision{Jobs: []procurebot.JobAlloc{job(1, -1, 0, 4)}}, "max_gpus_per_offer"},
		{"spot row for a non-interruptible job", 1, procurebot.Decision{Jobs: []procurebot.JobAlloc{job(1, -1, 1, 1)}}, "spot"},
		{"row above max_usd_per_gpu_hour", 0, procurebot.Decision{Jobs: []procurebot.JobAlloc{job(0, -1, 2, 1)}}, "max_usd_per_gpu_hour"},
		{"row of another class", 0, procurebot.Decision{Jobs: []procurebot.JobAlloc{job(0, -1, 3, 1)}}, "not eligible"},
		{"site of another class", 0, procurebot.Decision{Jobs: []procurebot.JobAlloc{job(0, 2, 0, 1)}}, "a100"},
		{"row not in the book", 0, procurebot.Decision{Jobs: []procurebot.JobAlloc{job(0, -1, 4, 1)}}, "no offer"},
		{"unknown job", 0, procurebot.Decision{Jobs: []procurebot.JobAlloc{job(2, -1, 0, 1)}}, "unknown job"},
		{"unknown site", 0, procurebot.Decision{Jobs: []procurebot.JobAlloc{job(0, 3, 0, 1)}}, "unknown site"},
		{"negative GPUs", 0, procurebot.Decision{Jobs: []procurebot.JobAlloc{job(0, -1, 0, -1)}}, "negative"},
		{"before the job's release", 0, procurebot.Decision{Jobs: []procurebot.JobAlloc{job(1, -1, 0, 1)}}, "window"},
		{"leasing where sell_spare is false", 0, procurebot.Decision{Leased: []procurebot.Money{d("0"), d("1")}}, "sell_spare"},
		{"negative lease", 0, procurebot.Decision{Leased: []procurebot.Money{d("-0.5")}}, "negative"},
		{"self-host on a site of another class", 0, procurebot.Decision{SelfHost: []procurebot.SelfHostAlloc{{Workload: 0, Site: 2, GPUs: d("1")}}}, "a100"},
		{"negative self-host", 0, procurebot.Decision{SelfHost: []procurebot.SelfHostAlloc{{Workload: 0, Site: 0, GPUs: d("-1")}}}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, ds := invalidScenario()
			prepare(t, sc, ds)
			steps := make([]procurebot.Decision, 2)
			steps[tc.step] = tc.dec
			st := &scripted{steps: steps}
			res, err := runErr(t, sc, ds, st)
			if err == nil {
				t.Fatalf("Run accepted %+v (result total %s)", tc.dec, res.TotalCostUSD)
			}
			if res != nil {
				t.Errorf("Run returned a result with its error")
			}
			if code := procurebot.ErrorCode(err); code == procurebot.ENOTVISIBLE || code == "" {
				t.Errorf("ErrorCode = %q", code)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.msg) {
				t.Errorf("error %q does not mention %q", msg, tc.msg)
			}
			if want := "step " + string(rune('0'+tc.step)); !strings.Contains(msg, want) {
				t.Errorf("error %q does not name %s", msg, want)
			}
		})
	}
}

// TestValidDecisionsAtTheLimits is the control of TestInvalidDecisions:
// every limit reached exactly is accepted.
func TestValidDecisionsAtTheLimits(t *testing.T) {
	sc, ds := invalidScenario()
	prepare(t, sc, ds)
	st := &scripted{steps: []procurebot.Decision{
		{ // flex: 2 on lease-ok + 1 spot = max_gpus 3; no-lease: 1.5 self-host + 0.5 idle
			Jobs:     []procurebot.JobAlloc{{Job: 0, Site: 0, GPUs: 2}, {Job: 0, Site: -1, Offer: 1, GPUs: 1}},
			SelfHost: []procurebot.SelfHostAlloc{{Workload: 0, Site: 1, GPUs: d("1.5")}},
		},
		{ // firm: 3 on-demand (max_gpus_per_offer) + 1 on no-lease; lease-ok leases both GPUs
			Jobs:   []procurebot.JobAlloc{{Job: 1, Site: -1, Offer: 0, GPUs: 3}, {Job: 1, Site: 1, GPUs: 1}},
			Leased: []procurebot.Money{d("2")},
		},
	}}
	run(t, sc, ds, st)
}

// TestJobWindow: a job may run in step k only if release ≤ t_k and
// t_k + step ≤ deadline (§7), and not after it has finished. Release 00:30
// and deadline 03:30 over 4 hourly steps allow steps 1 and 2 only.
func TestJobWindow(t *testing.T) {
	for k, ok := range []bool{false, true, true, false} {
		t.Run("step "+string(rune('0'+k)), func(t *testing.T) {
			sc := &procurebot.Scenario{
				Start: t0, End: at(4),
				Jobs: []procurebot.Job{{ID: "j", GPU: "H100", MaxGPUs: 1, GPUHours: d("5"),
					Release: at(0).Add(30 * time.Minute), Deadline: at(3).Add(30 * time.Minute)}},
			}
			ds := dataset(nil, []procurebot.Snapshot{{Time: t0, Offers: []procurebot.Offer{perGPU("lambdalabs", "H100", "2", procurebot.SpotFalse)}}}, nil)
			prepare(t, sc, ds)
			steps := make([]procurebot.Decision, 4)
			steps[k] = procurebot.Decision{Jobs: []procurebot.JobAlloc{{Job: 0, Site: -1, Offer: 0, GPUs: 1}}}
			_, err := runErr(t, sc, ds, &scripted{steps: steps})
			if ok && err != nil {
				t.Errorf("step %d refused: %v", k, err)
			}
			if !ok && err == nil {
				t.Errorf("step %d accepted outside the job's window", k)
			}
		})
	}
	t.Run("after finishing", func(t *testing.T) {
		sc := &procurebot.Scenario{
			Start: t0, End: at(3),
			Jobs: []procurebot.Job{{ID: "j", GPU: "H100", MaxGPUs: 2, GPUHours: d("1.5"), Release: t0, Deadline: at(3)}},
		}
		ds := dataset(nil, []procurebot.Snapshot{{Time: t0, Offers: []procurebot.Offer{perGPU("lambdalabs", "H100", "2", procurebot.SpotFalse)}}}, nil)
		prepare(t, sc, ds)
		rent := procurebot.Decision{Jobs: []procurebot.JobAlloc{{Job: 0, Site: -1, Offer: 0, GPUs: 2}}}
		// Step 0 delivers 2 ≥ 1.5: finished at 01:00; step 1 may not allocate.
		_, err := runErr(t, sc, ds, &scripted{steps: []procurebot.Decision{rent, rent}})
		if err == nil || !strings.Contains(err.Error(), "step 1") {
			t.Errorf("Run = %v, want an error at step 1", err)
		}
		res := run(t, sc, ds, &scripted{steps: []procurebot.Decision{rent}})
		if j := res.Jobs[0]; !j.Finished.Equal(at(1)) || j.Missed || !j.GPUHoursDelivered.Equal(d("1.5")) {
			t.Errorf("job = %+v, want finished at %s with 1.5 delivered", j, at(1))
		}
	})
}

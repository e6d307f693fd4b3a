package sim_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/sim"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// tinyScenario is the hand-computed scenario of TestGoldenTiny (see the
// comment there): 3 hourly steps, one site, one job, one inference workload.
func tinyScenario(curtailable bool) (*procurebot.Scenario, *procurebot.Dataset) {
	pue := d("1.2")
	sc := &procurebot.Scenario{
		Start: t0,
		End:   at(3),
		Sites: []procurebot.Site{{
			Name: "own-1", PowerMarket: "TEST_HUB", GPU: "H100", GPUs: 2,
			KWPerGPU: d("0.5"), PUE: &pue, OtherUSDPerGPUHour: d("0.10"),
			Curtailable: curtailable, SellSpare: true, SellPriceRatio: d("0.5"),
		}},
		Jobs: []procurebot.Job{{
			ID: "train", GPU: "H100", MaxGPUs: 3, GPUHours: d("5"),
			Release: t0, Deadline: at(3), Interruptible: true,
		}},
		Inference: []procurebot.Inference{{
			ID: "chat", Model: "m1", MTokInPerHour: d("1"), MTokOutPerHour: d("1"),
			SelfHost: &procurebot.SelfHost{GPU: "H100", MTokPerGPUHour: d("2")},
		}},
		Market: procurebot.Market{
			Providers:          []string{"lambdalabs", "runpod"},
			SwitchCostGPUHours: d("0.25"),
		},
	}
	ds := dataset(
		// Hours −2 … 3; the window's hours 0, 1, 2 cost 100, −20, 50.
		[]*procurebot.PowerSeries{hourly("TEST_HUB", at(-2), "80", "90", "100", "-20", "50", "70")},
		[]procurebot.Snapshot{{Time: at(-1), Offers: []procurebot.Offer{
			perInstance("lambdalabs", "H100", "16", 8, procurebot.SpotUnknown), // row 0: 2.00/GPU-h, on-demand (default list)
			perGPU("runpod", "H100", "1.00", procurebot.SpotTrue),              // row 1: spot 1.00
			perGPU("vastai", "H100", "0.50", procurebot.SpotFalse),             // row 2: not an allowed provider
			perGPU("runpod", "H200", "0.10", procurebot.SpotTrue),              // row 3: other class
		}}},
		[]procurebot.TokenSnapshot{{Time: at(-1), Prices: []procurebot.TokenPrice{
			tokens("p2", "m1", "3", "0.5"), // 1·3 + 1·0.5 = 3.50 per hour
			tokens("p1", "m1", "1", "2"),   // 1·1 + 1·2   = 3.00 per hour: the cheapest
			tokens("p1", "m2", "0.01", "0.01"),
		}}},
	)
	return sc, ds
}

// tinyScript is the scripted strategy of TestGoldenTiny.
func tinyScript() *scripted {
	return &scripted{name: "scripted", steps: []procurebot.Decision{
		{ // step 0: 1 GPU on the site, 1 on lambdalabs; 0.5 GPU self-hosting; 0.5 leased
			Jobs: []procurebot.JobAlloc{
				{Job: 0, Site: 0, GPUs: 1},
				{Job: 0, Site: -1, Offer: 0, GPUs: 1},
			},
			SelfHost: []procurebot.SelfHostAlloc{{Workload: 0, Site: 0, GPUs: d("0.5")}},
			Leased:   []procurebot.Money{d("0.5")},
		},
		{ // step 1: 2 GPUs on the site, 1 on runpod (spot); tokens bought
			Jobs: []procurebot.JobAlloc{
				{Job: 0, Site: 0, GPUs: 2},
				{Job: 0, Site: -1, Offer: 1, GPUs: 1},
			},
		},
		{ // step 2: 2 GPUs on runpod; 1 site GPU self-hosts all tokens, 1 idle
			Jobs:     []procurebot.JobAlloc{{Job: 0, Site: -1, Offer: 1, GPUs: 2}},
			SelfHost: []procurebot.SelfHostAlloc{{Workload: 0, Site: 0, GPUs: d("1")}},
		},
	}}
}

// TestGoldenTiny runs a 3-step scenario whose every figure is computed by
// hand below from DESIGN §7.
//
// Site own-1: 2 × H100, e(k) = kw·pue·p/1000 = 0.5·1.2·p/1000 = 0.0006·p
// USD per GPU-hour: e0 = 0.06 (p = 100), e1 = −0.012 (p = −20), e2 = 0.03
// (p = 50); other 0.10; leasing at 0.5 × m_H100. m_H100 = the cheapest H100
// row of an allowed provider, spot included = runpod 1.00 (vastai 0.50 is
// not allowed, the H200 row is another class) → lease income 0.50 per GPU-h.
// Tokens of "chat": cheapest row p1, 1·1 + 1·2 = 3.00 USD per hour; self-host
// 2 Mtok per GPU-hour against a demand of 2 Mtok per hour, so g GPUs serve
// the share x = g. h = 1, switch cost 0.25 GPU-h per GPU started.
//
// Step 0 (p = 100): job 1 on own-1 + 1 on lambdalabs (2.00); self-host 0.5;
// leased 0.5 → own-1 active = 1 + 0.5 + 0.5 = 2.
//
//	energy  2 · 0.06        = 0.12
//	other   2 · 0.10        = 0.20
//	rental  1 · 2.00        = 2.00
//	tokens  (1 − 0.5) · 3   = 1.50
//	revenue 0.5 · 0.5 · 1.00 = 0.25
//	cost    0.12 + 0.20 + 2.00 + 1.50 − 0.25 = 3.57
//	work    own-1: 1 started → 1 − 0.25 = 0.75; lambdalabs: 1 started → 0.75
//	        delivered 1.50 (switching 0.50)
//
// Step 1 (p = −20): job 2 on own-1 + 1 on runpod (spot 1.00, rate 0 so never
// preempted); no self-host, no lease.
//
//	energy  2 · −0.012 = −0.024 (negative price: running earns)
//	other   2 · 0.10   = 0.20
//	rental  1 · 1.00   = 1.00
//	tokens  1 · 3      = 3.00
//	cost    −0.024 + 0.20 + 1.00 + 3.00 = 4.176
//	work    own-1: 2 − previous 1 = 1 started → 2 − 0.25 = 1.75;
//	        runpod: previous 0 on runpod (lambdalabs is another venue) → 1
//	        started → 0.75; delivered 2.50 (switching 0.50), cumulative 4.00
//
// Step 2 (p = 50): job 2 on runpod; self-host 1 (x = 1, no tokens); the other
// own GPU is idle.
//
//	energy  curtailable: 1 · 0.03 = 0.03 (idle GPU off)
//	        kept powered: 2 · 0.03 = 0.06 (idle GPU paid)
//	other   1 · 0.10 = 0.10 (only the active GPU)
//	rental  2 · 1.00 = 2.00 (both paid, though only 1 GPU-h was needed)
//	tokens  0
//	cost    curtailable 2.13, kept powered 2.16
//	work    runpod: 2 − previous 1 = 1 started → 2 − 0.25 = 1.75, of which
//	        only 1.00 counts (5 − 4): the overshoot 0.75 is paid, not
//	        counted; switching 0.25; finished = end of step 2 = t0 + 3h
//
// Totals (curtailable / kept powered):
//
//	energy     0.12 − 0.024 + 0.03 = 0.126  /  0.12 − 0.024 + 0.06 = 0.156
//	other      0.50      rental 5.00      inference 4.50      revenue 0.25
//	gross      10.126    /  10.156
//	total      9.876     /  9.906   (= 3.57 + 4.176 + 2.13  /  … + 2.16)
//	switching  1.25      preempted 0      leased 0.5      self-hosted 1.5
//	delivered  5 of 5, no miss
//
// JSON rounds half away from zero to cents: 0.126 → "0.13", 0.156 → "0.16",
// 9.876 → "9.88", 9.906 → "9.91".
func TestGoldenTiny(t *testing.T) {
	base := func(curtailable bool) *sim.Result {
		energy, gross, total, last := d("0.126"), d("10.126"), d("9.876"), d("2.13")
		if !curtailable {
			energy, gross, total, last = d("0.156"), d("10.156"), d("9.906"), d("2.16")
		}
		return &sim.Result{
			Strategy:           "scripted",
			EnergyCostUSD:      energy,
			OtherCostUSD:       d("0.50"),
			RentalCostUSD:      d("5.00"),
			InferenceCostUSD:   d("4.50"),
			RevenueUSD:         d("0.25"),
			TotalCostUSD:       total,
			GrossSpendUSD:      gross,
			GPUHoursRequired:   d("5"),
			GPUHoursDelivered:  d("5"),
			DeadlineMisses:     0,
			SwitchingGPUHours:  d("1.25"),
			PreemptedGPUHours:  d("0"),
			LeasedGPUHours:     d("0.5"),
			SelfHostedGPUHours: d("1.5"),
			UnservedMTok:       d("0"),
			BudgetBinding:      false,
			Decisions:          3,
			Jobs: []sim.JobResult{
				{ID: "train", GPUHoursRequired: d("5"), GPUHoursDelivered: d("5"), Finished: at(3), Missed: false},
			},
			Steps: []sim.StepRecord{
				{Time: at(0), Cost: d("3.57"), Leased: d("0.5"), Venues: []sim.VenueUse{
					{Venue: "own-1", Own: true, GPUs: d("1.5")},
					{Venue: "lambdalabs", GPUs: n(1)},
				}},
				{Time: at(1), Cost: d("4.176"), Leased: d("0"), Venues: []sim.VenueUse{
					{Venue: "own-1", Own: true, GPUs: n(2)},
					{Venue: "runpod", GPUs: n(1)},
				}},
				{Time: at(2), Cost: last, Leased: d("0"), Venues: []sim.VenueUse{
					{Venue: "own-1", Own: true, GPUs: n(1)},
					{Venue: "runpod", GPUs: n(2)},
				}},
			},
		}
	}
	for _, tc := range []struct {
		name        string
		curtailable bool
		golden      string
	}{
		{"curtailable", true, "tiny_curtailable.json"},
		{"kept_powered", false, "tiny_kept_powered.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, ds := tinyScenario(tc.curtailable)
			prepare(t, sc, ds)
			st := tinyScript()
			res := run(t, sc, ds, st)
			assertResult(t, res, base(tc.curtailable))
			if len(st.calls) != 3 {
				t.Errorf("strategy decided steps %v, want [0 1 2]", st.calls)
			}

			res.Elapsed = 0
			got, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			got = append(got, '\n')
			checkGolden(t, filepath.Join("testdata", "golden", tc.golden), got)
		})
	}
}

// checkGolden compares got with the golden file, or rewrites it under
// -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./sim/ -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update after checking the change)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestGoldenJSONKeys checks the §8 key order of the golden JSON (a CONTRACT)
// on the compact encoding, independent of the golden files.
func TestGoldenJSONKeys(t *testing.T) {
	sc, ds := tinyScenario(true)
	prepare(t, sc, ds)
	res := run(t, sc, ds, tinyScript())
	res.Elapsed = 0
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"strategy":"scripted","total_cost_usd":"9.88","energy_cost_usd":"0.13","other_cost_usd":"0.50",` +
		`"rental_cost_usd":"5.00","inference_cost_usd":"4.50","revenue_usd":"0.25",` +
		`"gpu_hours_required":"5","gpu_hours_delivered":"5","deadline_misses":0,` +
		`"switching_gpu_hours":"1.25","preempted_gpu_hours":"0","leased_gpu_hours":"0.5",` +
		`"decisions":3,"elapsed_ms":0,` +
		`"jobs":[{"id":"train","gpu_hours_delivered":"5","finished":"2024-03-10T03:00:00Z","missed":false}]`
	if !bytes.HasPrefix(b, []byte(want)) {
		t.Errorf("JSON\n got %s\nwant prefix %s", b, want)
	}
}

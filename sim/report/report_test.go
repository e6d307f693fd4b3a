package report

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/sim"
)

func d(s string) procurebot.Money { return decimal.RequireFromString(s) }

var t0 = time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)

func hour(k int) time.Time { return t0.Add(time.Duration(k) * time.Hour) }

func fixture() (*procurebot.Scenario, *procurebot.Dataset) {
	sc := &procurebot.Scenario{
		Start: t0,
		End:   hour(6),
		Step:  time.Hour,
		Seed:  7,
		Sites: []procurebot.Site{
			{Name: "site-alpha", PowerMarket: "ERCOT", GPU: "H100", GPUs: 8, KWPerGPU: d("0.7")},
			{Name: "site-beta", PowerMarket: "PJM", GPU: "H200", GPUs: 4, KWPerGPU: d("0.9"), SellSpare: true, SellPriceRatio: d("0.8")},
		},
		Jobs: []procurebot.Job{
			{ID: "train-a", GPU: "H100", MaxGPUs: 16, GPUHours: d("40"), Release: t0, Deadline: hour(6)},
			{ID: "train-b", GPU: "H200", MaxGPUs: 4, GPUHours: d("8"), Release: t0, Deadline: hour(6), Interruptible: true},
		},
		Market: procurebot.Market{
			Providers:         []string{"runpod", "lambdalabs"},
			OnDemandProviders: []string{"lambdalabs"},
		},
	}
	data := &procurebot.Dataset{
		Power: map[string]*procurebot.PowerSeries{
			"ERCOT": {Market: "ERCOT", Start: t0,
				Prices:  []procurebot.Money{d("31.5"), d("28"), d("-4.2"), d("0"), d("55.1"), d("60")},
				Present: []bool{true, true, true, false, true, true}},
			// PJM starts late: the first two steps have no price (skipped).
			"PJM": {Market: "PJM", Start: hour(2),
				Prices:  []procurebot.Money{d("40"), d("42.5"), d("39"), d("41")},
				Present: []bool{true, true, true, true}},
		},
		GPU: []procurebot.Snapshot{
			{Time: t0, Offers: []procurebot.Offer{
				{Provider: "runpod", GPU: "H100", PerGPU: d("2.39")},
				{Provider: "lambdalabs", GPU: "H100", PerGPU: d("2.99")},
				{Provider: "vastai", GPU: "H100", PerGPU: d("1.10")}, // not allowed
				{Provider: "runpod", GPU: "H200", PerGPU: d("3.59"), Spot: procurebot.SpotTrue},
			}},
			{Time: hour(3), Offers: []procurebot.Offer{
				{Provider: "runpod", GPU: "H100", PerGPU: d("2.19")},
				{Provider: "lambdalabs", GPU: "H100", PerGPU: d("2.49")},
				{Provider: "lambdalabs", GPU: "H200", PerGPU: d("3.29")},
			}},
		},
	}
	return sc, data
}

func result(name string, costs []string, rentalVenue string) *sim.Result {
	r := &sim.Result{Strategy: name, GPUHoursRequired: d("48"), Decisions: len(costs), Elapsed: 12 * time.Millisecond}
	total := procurebot.Zero
	for k, c := range costs {
		total = total.Add(d(c))
		r.Steps = append(r.Steps, sim.StepRecord{
			Time: hour(k),
			Cost: d(c),
			Venues: []sim.VenueUse{
				{Venue: "site-alpha", Own: true, GPUs: d("8")},
				{Venue: "site-beta", Own: true, GPUs: d("2")},
				{Venue: rentalVenue, GPUs: decimal.NewFromInt(int64(k % 3))},
			},
			Leased: d("1.5"),
		})
	}
	r.TotalCostUSD = total
	r.EnergyCostUSD = total.Sub(d("10"))
	r.RentalCostUSD = d("10")
	r.GrossSpendUSD = total
	r.GPUHoursDelivered = d("48")
	r.LeasedGPUHours = d("9")
	r.Jobs = []sim.JobResult{
		{ID: "train-a", GPUHoursRequired: d("40"), GPUHoursDelivered: d("40"), Finished: hour(5)},
		{ID: "train-b", GPUHoursRequired: d("8"), GPUHoursDelivered: d("7.5"), Missed: true},
	}
	return r
}

func render(t *testing.T, in Input) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, in); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.String()
}

// balanced checks that each listed element opens and closes equally often.
func balanced(t *testing.T, html string, tags ...string) {
	t.Helper()
	for _, tag := range tags {
		open := len(regexp.MustCompile(`<`+tag+`[\s>]`).FindAllStringIndex(html, -1))
		closing := strings.Count(html, "</"+tag+">")
		if open == 0 || open != closing {
			t.Errorf("<%s>: %d opened, %d closed", tag, open, closing)
		}
	}
}

func TestWrite(t *testing.T) {
	sc, data := fixture()
	greedy := result("greedy", []string{"25.00", "25.00", "20.00", "15.00", "10.00", "5.004"}, "runpod")     // 100.004
	arb := result("arbitrage", []string{"20.00", "15.00", "12.00", "10.00", "8.00", "5.00"}, "lambdalabs")   // 70.00
	oracle := result("oracle", []string{"15.00", "10.00", "10.00", "10.00", "10.00", "5.004"}, "lambdalabs") // 60.004
	out := render(t, Input{Scenario: sc, Data: data, Results: []*sim.Result{greedy, arb}, Oracle: oracle, Title: "Test <report>"})

	if !strings.HasPrefix(out, "<!DOCTYPE html>") || !strings.HasSuffix(strings.TrimSpace(out), "</html>") {
		t.Errorf("not an HTML document: %.80q … %.80q", out, out[len(out)-80:])
	}
	balanced(t, out, "html", "head", "body", "script", "table", "thead", "tbody", "tr", "div", "ul", "style", "title")
	if len(echartsJS) < 500_000 || !strings.Contains(out, echartsJS) {
		t.Errorf("echarts not inlined (embedded %d bytes)", len(echartsJS))
	}
	if !strings.Contains(echartsJS, "echarts") {
		t.Error("embedded asset does not look like echarts")
	}
	if len(out) < 500_000 {
		t.Errorf("output only %d bytes", len(out))
	}
	for _, bad := range []string{`<script src="http`, `<script src=`, "cdn", "CDN", "go-echarts-assets", "<link "} {
		if strings.Contains(out, bad) {
			t.Errorf("output contains %q", bad)
		}
	}
	if strings.Count(out, "<script") != 2 {
		t.Errorf("%d script elements, want 2 (library, charts)", strings.Count(out, "<script"))
	}
	if strings.Contains(out, "Test <report>") || !strings.Contains(out, "Test &lt;report&gt;") {
		t.Error("title not escaped")
	}
	for _, want := range []string{
		"site-alpha", "site-beta", "greedy", "arbitrage", "oracle",
		"100.00", "70.00", "60.00", // total costs via Cents
		"90.00", // greedy energy = 100.004 − 10
		"train-a", "train-b", "2024-10-01T05:00:00Z", "7.5",
		"H100 cheapest", "H100 cheapest on-demand", "H200 cheapest", "H200 cheapest on-demand",
		"leased out", "runpod", "lambdalabs",
		"Cumulative cost", "Allocation: greedy", "Allocation: arbitrage", "Allocation: oracle",
		"Power price per site",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "vastai") {
		t.Error("disallowed provider vastai shown")
	}
	// capture: greedy 0, arbitrage (100.004−70)/(100.004−60.004) = 0.7501, oracle 1
	for _, want := range []string{">0.000<", ">0.750<", ">1.000<"} {
		if !strings.Contains(out, want) {
			t.Errorf("capture %q missing", want)
		}
	}
	if n := strings.Count(out, `class="chart"`); n != 6 { // power, gpu, cumulative, 3 allocations
		t.Errorf("%d charts, want 6", n)
	}

	// Cheapest allowed H100 at t0 is runpod 2.39 (vastai 1.10 not allowed),
	// on-demand lambdalabs 2.99.
	for _, want := range []string{"2.39", "2.99", "2.19", "2.49", "3.59", "3.29", "-4.2", "31.5"} {
		if !strings.Contains(out, want) {
			t.Errorf("chart value %s missing", want)
		}
	}

	// Write the page for a manual look (see the package's tests' note).
	path := filepath.Join(t.TempDir(), "report.html")
	if dst := os.Getenv("REPORT_TEST_OUT"); dst != "" {
		path = dst
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %s (%d bytes)", path, len(out))
}

func TestCapture(t *testing.T) {
	mk := func(total string) *sim.Result { return &sim.Result{TotalCostUSD: d(total)} }
	cases := []struct {
		g, s, o *sim.Result
		want    string
	}{
		{mk("100"), mk("70"), mk("60"), "0.750"},
		{mk("100"), mk("100"), mk("60"), "0.000"},
		{mk("100"), mk("60"), mk("60"), "1.000"},
		{mk("100"), mk("110"), mk("60"), "-0.250"},
		{mk("-10"), mk("-25"), mk("-40"), "0.500"},
		{mk("3"), mk("1"), mk("0"), "0.667"},
		{mk("60"), mk("70"), mk("60"), "—"},
		{nil, mk("70"), mk("60"), "—"},
		{mk("100"), mk("70"), nil, "—"},
	}
	for i, c := range cases {
		if got := Capture(c.g, c.s, c.o); got != c.want {
			t.Errorf("case %d: got %s want %s", i, got, c.want)
		}
	}
}

func TestNoOracleNoGreedy(t *testing.T) {
	sc, data := fixture()
	a := result("static", []string{"1", "2"}, "runpod")
	out := render(t, Input{Scenario: sc, Data: data, Results: []*sim.Result{a}})
	if !strings.Contains(out, "procurebot backtest report") {
		t.Error("default title missing")
	}
	if !strings.Contains(out, "—") || strings.Contains(out, "(oracle)") {
		t.Error("capture should be — without greedy and oracle")
	}
	if !strings.Contains(out, ">3.00<") {
		t.Error("total 3.00 missing")
	}
}

func TestOracleAmongResults(t *testing.T) {
	sc, data := fixture()
	g := result("greedy", []string{"10", "10"}, "runpod")
	o := result("oracle", []string{"5", "5"}, "runpod")
	out := render(t, Input{Scenario: sc, Data: data, Results: []*sim.Result{g, o}, Oracle: o})
	if n := strings.Count(out, "Allocation: oracle"); n != 1 {
		t.Errorf("oracle shown %d times, want once", n)
	}
	if !strings.Contains(out, ">1.000<") || !strings.Contains(out, ">0.000<") {
		t.Error("capture values missing")
	}
}

func TestDownsample(t *testing.T) {
	sc, data := fixture()
	const K = 5000
	sc.End = hour(K)
	costs := make([]string, K)
	for i := range costs {
		costs[i] = "1"
	}
	r := result("greedy", costs, "runpod")
	out := render(t, Input{Scenario: sc, Data: data, Results: []*sim.Result{r}})
	if len(out) > 3_000_000 {
		t.Errorf("page %d bytes: not downsampled?", len(out))
	}
	// The cumulative series ends at the exact total.
	if !strings.Contains(out, `"value":5000}`) {
		t.Error("cumulative total 5000 not the last point")
	}
	b := buckets(K)
	if n := len(b) - 1; n > MaxPoints || n < MaxPoints/2 {
		t.Errorf("%d buckets", n)
	}
	if b[0] != 0 || b[len(b)-1] != K {
		t.Errorf("bucket bounds %d…%d", b[0], b[len(b)-1])
	}
	if got := averaged([]float64{1, 2, 3, 4, 5}, []int{0, 2, 5}, 3); got[0].Value != 1.5 || got[1].Value != 4.0 {
		t.Errorf("averaged: %v", got)
	}
}

func TestNoScenario(t *testing.T) {
	if err := Write(&bytes.Buffer{}, Input{}); err == nil {
		t.Error("want error without a scenario")
	}
}

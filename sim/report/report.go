// Package report renders a self-contained HTML backtest report: summary and
// per-job tables of sim.Result values and go-echarts charts of power prices,
// GPU prices, allocations and cumulative costs. The page inlines ECharts and
// references nothing outside itself, so it opens offline.
package report

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/sim"
)

// echartsJS is Apache ECharts 5 (dist/echarts.min.js from the npm package
// echarts@5.6.0, Apache-2.0), inlined into every report.
//
//go:embed assets/echarts.min.js
var echartsJS string

// MaxPoints is the most points a chart series gets; longer runs are
// downsampled by averaging consecutive steps.
const MaxPoints = 2000

// timeLayout labels chart x axes (all times UTC).
const timeLayout = "2006-01-02 15:04"

// Input is what a report shows.
type Input struct {
	Scenario *procurebot.Scenario
	Data     *procurebot.Dataset
	Results  []*sim.Result // one per strategy run, in display order
	Oracle   *sim.Result   // may be nil; also may be one of Results
	Title    string
}

// Write renders the report of in as one self-contained HTML page.
func Write(w io.Writer, in Input) error {
	if in.Scenario == nil {
		return errors.New("report: no scenario")
	}
	p, err := build(in)
	if err != nil {
		return err
	}
	return pageTpl.Execute(w, p)
}

// page is the data of the HTML template.
type page struct {
	Title    string
	ECharts  template.JS
	Scenario scenarioInfo
	Summary  summaryTable
	Jobs     []jobTable
	Charts   []chartBlock
}

type scenarioInfo struct {
	Start, End, Step string
	Steps            int
	Seed             int64
	Budget           string
	Sites            []string
	Jobs, Inference  int
	Providers        string
}

type summaryTable struct {
	Headers []string // strategy names, "(oracle)" appended to an oracle not so named
	Oracle  []bool   // column is the oracle
	Rows    []summaryRow
}

type summaryRow struct {
	Name  string
	Cells []string
}

type jobTable struct {
	Strategy string
	Rows     []jobRow
}

type jobRow struct {
	ID, Required, Delivered, Finished string
	Missed                            bool
}

type chartBlock struct {
	ID      string
	Heading string
	Note    string
	Option  template.JS // ECharts option object (JSON, HTML-escaped)
}

// build gathers everything the page shows.
func build(in Input) (*page, error) {
	sc := in.Scenario
	results := make([]*sim.Result, 0, len(in.Results)+1)
	for _, r := range in.Results {
		if r != nil {
			results = append(results, r)
		}
	}
	all := results // every result shown: Results, then the oracle if separate
	if in.Oracle != nil && !contains(results, in.Oracle) {
		all = append(append([]*sim.Result(nil), results...), in.Oracle)
	}

	title := in.Title
	if title == "" {
		title = "procurebot backtest report"
	}
	p := &page{
		Title:    title,
		ECharts:  template.JS(echartsJS),
		Scenario: describeScenario(sc),
		Summary:  summarize(all, in.Oracle),
	}
	for _, r := range all {
		p.Jobs = append(p.Jobs, jobsOf(r))
	}

	var blocks []chartBlock
	add := func(heading, note string, c *charts.Line) error {
		if c == nil {
			return nil
		}
		c.Validate()
		b, err := json.Marshal(c.JSON()) // escapes <, >, & for the script context
		if err != nil {
			return fmt.Errorf("report: chart %q: %w", heading, err)
		}
		blocks = append(blocks, chartBlock{
			ID:      fmt.Sprintf("chart-%d", len(blocks)+1),
			Heading: heading,
			Note:    note,
			Option:  template.JS(b),
		})
		return nil
	}

	grid := stepGrid(sc)
	if err := add("Power price per site", "USD/MWh, price of the UTC hour containing each step's start.",
		powerChart(sc, in.Data, grid)); err != nil {
		return nil, err
	}
	if err := add("Cheapest GPU price per class", "USD per GPU-hour: lowest per-GPU price in the book from allowed providers (spot included), and the lowest on-demand one.",
		gpuChart(sc, in.Data, grid)); err != nil {
		return nil, err
	}
	if err := add("Cumulative cost", "USD, running sum of each step's total cost (energy + other + rental + inference − revenue).",
		cumulativeChart(all, in.Oracle)); err != nil {
		return nil, err
	}
	for _, r := range all {
		if err := add("Allocation: "+r.Strategy, "GPUs in use per step by venue (own sites, then providers) and own GPUs leased out.",
			allocationChart(sc, r)); err != nil {
			return nil, err
		}
	}
	p.Charts = blocks
	return p, nil
}

func contains(rs []*sim.Result, r *sim.Result) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

func describeScenario(sc *procurebot.Scenario) scenarioInfo {
	info := scenarioInfo{
		Start:     sc.Start.UTC().Format(time.RFC3339),
		End:       sc.End.UTC().Format(time.RFC3339),
		Step:      fmtDuration(sc.Step),
		Steps:     sc.Steps(),
		Seed:      sc.Seed,
		Budget:    "no budget",
		Jobs:      len(sc.Jobs),
		Inference: len(sc.Inference),
		Providers: "all",
	}
	if sc.BudgetUSD != nil {
		info.Budget = "budget " + procurebot.Cents(*sc.BudgetUSD) + " USD"
	}
	if len(sc.Market.Providers) > 0 {
		info.Providers = strings.Join(sc.Market.Providers, ", ")
	}
	for _, s := range sc.Sites {
		info.Sites = append(info.Sites, fmt.Sprintf("%s (%d × %s, power market %s)", s.Name, s.GPUs, s.GPU, s.PowerMarket))
	}
	return info
}

// fmtDuration prints d without zero trailing units: "1h", "15m", "1h30m".
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ---- tables ----

// summarize builds the figures table, one column per result.
func summarize(all []*sim.Result, oracle *sim.Result) summaryTable {
	var t summaryTable
	var greedy *sim.Result
	for _, r := range all {
		h := r.Strategy
		if r == oracle && !strings.EqualFold(h, "oracle") {
			h += " (oracle)"
		}
		t.Headers = append(t.Headers, h)
		t.Oracle = append(t.Oracle, r == oracle)
		if greedy == nil && strings.EqualFold(r.Strategy, "greedy") && r != oracle {
			greedy = r
		}
	}
	q := func(m procurebot.Money) string { return m.String() }
	rows := []struct {
		name string
		f    func(r *sim.Result) string
	}{
		{"total_cost_usd", func(r *sim.Result) string { return procurebot.Cents(r.TotalCostUSD) }},
		{"energy_cost_usd", func(r *sim.Result) string { return procurebot.Cents(r.EnergyCostUSD) }},
		{"other_cost_usd", func(r *sim.Result) string { return procurebot.Cents(r.OtherCostUSD) }},
		{"rental_cost_usd", func(r *sim.Result) string { return procurebot.Cents(r.RentalCostUSD) }},
		{"inference_cost_usd", func(r *sim.Result) string { return procurebot.Cents(r.InferenceCostUSD) }},
		{"revenue_usd", func(r *sim.Result) string { return procurebot.Cents(r.RevenueUSD) }},
		{"gross_spend_usd", func(r *sim.Result) string { return procurebot.Cents(r.GrossSpendUSD) }},
		{"gpu_hours_required", func(r *sim.Result) string { return q(r.GPUHoursRequired) }},
		{"gpu_hours_delivered", func(r *sim.Result) string { return q(r.GPUHoursDelivered) }},
		{"deadline_misses", func(r *sim.Result) string { return fmt.Sprint(r.DeadlineMisses) }},
		{"switching_gpu_hours", func(r *sim.Result) string { return q(r.SwitchingGPUHours) }},
		{"preempted_gpu_hours", func(r *sim.Result) string { return q(r.PreemptedGPUHours) }},
		{"leased_gpu_hours", func(r *sim.Result) string { return q(r.LeasedGPUHours.Round(6)) }},
		{"self_hosted_gpu_hours", func(r *sim.Result) string { return q(r.SelfHostedGPUHours.Round(6)) }},
		{"unserved_mtok", func(r *sim.Result) string { return q(r.UnservedMTok.Round(6)) }},
		{"budget_binding", func(r *sim.Result) string { return fmt.Sprint(r.BudgetBinding) }},
		{"decisions", func(r *sim.Result) string { return fmt.Sprint(r.Decisions) }},
		{"elapsed_ms", func(r *sim.Result) string { return fmt.Sprint(r.Elapsed.Milliseconds()) }},
		{"capture", func(r *sim.Result) string { return Capture(greedy, r, oracle) }},
	}
	for _, row := range rows {
		sr := summaryRow{Name: row.name}
		for _, r := range all {
			sr.Cells = append(sr.Cells, row.f(r))
		}
		t.Rows = append(t.Rows, sr)
	}
	return t
}

// Capture returns (greedy − strategy)/(greedy − oracle) of total costs with 3
// decimals (DESIGN §7.11), or "—" when greedy or oracle is missing or their
// totals are equal.
func Capture(greedy, strategy, oracle *sim.Result) string {
	if greedy == nil || oracle == nil || strategy == nil {
		return "—"
	}
	den := greedy.TotalCostUSD.Sub(oracle.TotalCostUSD)
	if den.IsZero() {
		return "—"
	}
	num := greedy.TotalCostUSD.Sub(strategy.TotalCostUSD)
	return num.DivRound(den, 12).StringFixed(3)
}

func jobsOf(r *sim.Result) jobTable {
	t := jobTable{Strategy: r.Strategy}
	for _, j := range r.Jobs {
		row := jobRow{
			ID:        j.ID,
			Required:  j.GPUHoursRequired.String(),
			Delivered: j.GPUHoursDelivered.String(),
			Finished:  "—",
			Missed:    j.Missed,
		}
		if !j.Finished.IsZero() {
			row.Finished = j.Finished.UTC().Format(time.RFC3339)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// ---- series helpers ----

// stepGrid returns the scenario's step times t_0…t_{K−1}.
func stepGrid(sc *procurebot.Scenario) []time.Time {
	k := sc.Steps()
	out := make([]time.Time, k)
	for i := range out {
		out[i] = sc.StepTime(i)
	}
	return out
}

// buckets splits n points into at most MaxPoints runs of consecutive points:
// bucket i is [b[i], b[i+1]).
func buckets(n int) []int {
	size := 1
	if n > MaxPoints {
		size = (n + MaxPoints - 1) / MaxPoints
	}
	b := make([]int, 0, n/size+2)
	for i := 0; i < n; i += size {
		b = append(b, i)
	}
	return append(b, n)
}

// labels returns one x-axis label per bucket: the UTC time of its first point.
func labels(times []time.Time, b []int) []string {
	out := make([]string, 0, len(b))
	for i := 0; i+1 < len(b); i++ {
		out = append(out, times[b[i]].UTC().Format(timeLayout))
	}
	return out
}

// averaged reduces vals (NaN = missing) to one point per bucket, the mean of
// its present values, or a gap ("-") when none is present.
func averaged(vals []float64, b []int, digits int) []opts.LineData {
	out := make([]opts.LineData, 0, len(b))
	for i := 0; i+1 < len(b); i++ {
		sum, n := 0.0, 0
		for _, v := range vals[b[i]:b[i+1]] {
			if !math.IsNaN(v) {
				sum += v
				n++
			}
		}
		if n == 0 {
			out = append(out, opts.LineData{Value: "-"})
			continue
		}
		out = append(out, opts.LineData{Value: round(sum/float64(n), digits)})
	}
	return out
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	r := math.Round(v*p) / p
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return v
	}
	return r
}

func f64(m procurebot.Money) float64 { return m.InexactFloat64() }

// newLine returns a line chart with the report's common options.
func newLine(yName string, xLabels []string, scale bool) *charts.Line {
	c := charts.NewLine()
	c.SetGlobalOptions(
		charts.WithAnimation(false),
		charts.WithInitializationOpts(opts.Initialization{Width: "100%", Height: "420px"}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Type: "scroll", Top: "0"}),
		charts.WithGridOpts(opts.Grid{Left: "70", Right: "40", Top: "40", Bottom: "80"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Name: "UTC", NameLocation: "end"}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: yName, Scale: opts.Bool(scale)}),
		charts.WithDataZoomOpts(
			opts.DataZoom{Type: "inside", XAxisIndex: []int{0}},
			opts.DataZoom{Type: "slider", XAxisIndex: []int{0}},
		),
	)
	c.SetXAxis(xLabels)
	return c
}

func plainLine() charts.SeriesOpts {
	return charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(false)})
}

// ---- charts ----

// powerChart draws each site's power price at each step (chart 1).
func powerChart(sc *procurebot.Scenario, data *procurebot.Dataset, grid []time.Time) *charts.Line {
	if data == nil || len(grid) == 0 || len(sc.Sites) == 0 {
		return nil
	}
	b := buckets(len(grid))
	c := newLine("USD/MWh", labels(grid, b), true)
	n := 0
	for _, s := range sc.Sites {
		ps := data.Power[s.PowerMarket]
		if ps == nil {
			continue
		}
		vals := make([]float64, len(grid))
		for k, t := range grid {
			p, err := ps.At(t)
			if err != nil {
				vals[k] = math.NaN()
				continue
			}
			vals[k] = f64(p)
		}
		c.AddSeries(fmt.Sprintf("%s (%s)", s.Name, s.PowerMarket), averaged(vals, b, 2), plainLine())
		n++
	}
	if n == 0 {
		return nil
	}
	return c
}

// gpuClasses returns the GPU classes the scenario's jobs, sites and
// self-hosted workloads use, in first-use order.
func gpuClasses(sc *procurebot.Scenario) []string {
	var out []string
	seen := map[string]bool{}
	add := func(g string) {
		if g != "" && !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	for _, j := range sc.Jobs {
		add(j.GPU)
	}
	for _, s := range sc.Sites {
		add(s.GPU)
	}
	for _, w := range sc.Inference {
		if w.SelfHost != nil {
			add(w.SelfHost.GPU)
		}
	}
	return out
}

// gpuChart draws, per GPU class, the cheapest allowed per-GPU price and the
// cheapest allowed on-demand one at each step (chart 2).
func gpuChart(sc *procurebot.Scenario, data *procurebot.Dataset, grid []time.Time) *charts.Line {
	classes := gpuClasses(sc)
	if data == nil || len(grid) == 0 || len(classes) == 0 {
		return nil
	}
	onDemand := sc.Market.OnDemandProviders
	if onDemand == nil {
		onDemand = procurebot.DefaultOnDemandProviders
	}
	type mins struct{ any, od []float64 } // per class index; NaN = none
	cache := map[int]mins{}
	minsAt := func(t time.Time) mins {
		i := data.BookIndex(t)
		if m, ok := cache[i]; ok {
			return m
		}
		m := mins{any: make([]float64, len(classes)), od: make([]float64, len(classes))}
		for c, g := range classes {
			var lo, loOD *decimal.Decimal
			if i >= 0 {
				for _, o := range data.GPU[i].Offers {
					if o.GPU != g || !sc.Market.AllowsProvider(o.Provider) {
						continue
					}
					p := o.PerGPU
					if lo == nil || p.LessThan(*lo) {
						lo = &p
					}
					if !o.IsSpot(onDemand) && (loOD == nil || p.LessThan(*loOD)) {
						loOD = &p
					}
				}
			}
			m.any[c], m.od[c] = math.NaN(), math.NaN()
			if lo != nil {
				m.any[c] = f64(*lo)
			}
			if loOD != nil {
				m.od[c] = f64(*loOD)
			}
		}
		cache[i] = m
		return m
	}
	anyVals := make([][]float64, len(classes))
	odVals := make([][]float64, len(classes))
	for c := range classes {
		anyVals[c] = make([]float64, len(grid))
		odVals[c] = make([]float64, len(grid))
	}
	for k, t := range grid {
		m := minsAt(t)
		for c := range classes {
			anyVals[c][k], odVals[c][k] = m.any[c], m.od[c]
		}
	}
	b := buckets(len(grid))
	ch := newLine("USD/GPU-hour", labels(grid, b), true)
	n := 0
	for c, g := range classes {
		if hasValue(anyVals[c]) {
			ch.AddSeries(g+" cheapest", averaged(anyVals[c], b, 4), plainLine())
			n++
		}
		if hasValue(odVals[c]) {
			ch.AddSeries(g+" cheapest on-demand", averaged(odVals[c], b, 4), plainLine(),
				charts.WithLineStyleOpts(opts.LineStyle{Type: "dashed"}))
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return ch
}

func hasValue(vals []float64) bool {
	for _, v := range vals {
		if !math.IsNaN(v) {
			return true
		}
	}
	return false
}

// cumulativeChart draws each result's running total cost (chart 4). The x
// axis is the union of the results' step times; a bucket shows the running
// total at its last step.
func cumulativeChart(all []*sim.Result, oracle *sim.Result) *charts.Line {
	seen := map[time.Time]bool{}
	var times []time.Time
	for _, r := range all {
		for _, s := range r.Steps {
			t := s.Time.UTC()
			if !seen[t] {
				seen[t] = true
				times = append(times, t)
			}
		}
	}
	if len(times) == 0 {
		return nil
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	index := make(map[time.Time]int, len(times))
	for i, t := range times {
		index[t] = i
	}
	b := buckets(len(times))
	c := newLine("USD", labels(times, b), false)
	for _, r := range all {
		// cost per axis time, then running sum carried forward
		step := make([]procurebot.Money, len(times))
		has := make([]bool, len(times))
		for _, s := range r.Steps {
			i := index[s.Time.UTC()]
			step[i] = step[i].Add(s.Cost)
			has[i] = true
		}
		vals := make([]float64, len(times))
		sum, started := procurebot.Zero, false
		for i := range times {
			if has[i] {
				sum = sum.Add(step[i])
				started = true
			}
			if started {
				vals[i] = f64(sum)
			} else {
				vals[i] = math.NaN()
			}
		}
		data := make([]opts.LineData, 0, len(b))
		for i := 0; i+1 < len(b); i++ {
			v := vals[b[i+1]-1]
			if math.IsNaN(v) {
				data = append(data, opts.LineData{Value: "-"})
			} else {
				data = append(data, opts.LineData{Value: round(v, 2)})
			}
		}
		so := []charts.SeriesOpts{plainLine()}
		if r == oracle {
			so = append(so, charts.WithLineStyleOpts(opts.LineStyle{Type: "dashed", Width: 2}))
		}
		c.AddSeries(r.Strategy, data, so...)
	}
	return c
}

// venueKey names a venue: own site or provider.
type venueKey struct {
	own  bool
	name string
}

// allocationChart draws one result's GPUs per venue per step, stacked, and
// its leased-out GPUs (chart 3).
func allocationChart(sc *procurebot.Scenario, r *sim.Result) *charts.Line {
	if len(r.Steps) == 0 {
		return nil
	}
	seen := map[venueKey]bool{}
	for _, s := range r.Steps {
		for _, v := range s.Venues {
			seen[venueKey{v.Own, v.Venue}] = true
		}
	}
	siteOrder := map[string]int{}
	for i, s := range sc.Sites {
		siteOrder[s.Name] = i
	}
	keys := make([]venueKey, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.own != b.own {
			return a.own
		}
		if a.own {
			ia, oka := siteOrder[a.name]
			ib, okb := siteOrder[b.name]
			switch {
			case oka && okb:
				return ia < ib
			case oka != okb:
				return oka
			}
		}
		return a.name < b.name
	})
	idx := make(map[venueKey]int, len(keys))
	for i, k := range keys {
		idx[k] = i
	}
	vals := make([][]float64, len(keys)+1) // last: leased out
	for i := range vals {
		vals[i] = make([]float64, len(r.Steps))
	}
	times := make([]time.Time, len(r.Steps))
	for k, s := range r.Steps {
		times[k] = s.Time
		for _, v := range s.Venues {
			vals[idx[venueKey{v.Own, v.Venue}]][k] += f64(v.GPUs)
		}
		vals[len(keys)][k] = f64(s.Leased)
	}
	b := buckets(len(r.Steps))
	c := newLine("GPUs", labels(times, b), false)
	stacked := func() []charts.SeriesOpts {
		return []charts.SeriesOpts{
			charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(false), Stack: "gpus"}),
			charts.WithAreaStyleOpts(opts.AreaStyle{Opacity: opts.Float(0.6)}),
			charts.WithLineStyleOpts(opts.LineStyle{Width: 1}),
		}
	}
	for i, k := range keys {
		name := k.name
		if seen[venueKey{!k.own, k.name}] {
			if k.own {
				name += " (own)"
			} else {
				name += " (rented)"
			}
		}
		c.AddSeries(name, averaged(vals[i], b, 3), stacked()...)
	}
	c.AddSeries("leased out", averaged(vals[len(keys)], b, 3), stacked()...)
	return c
}

// ---- page ----

var pageTpl = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1400px; padding: 0 16px; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.4em; }
.meta { color: #555; font-size: 0.92em; line-height: 1.5; }
.meta ul { margin: 0.2em 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.4em 0; }
th, td { border: 1px solid #ddd; padding: 4px 10px; }
th { background: #f4f5f7; text-align: left; }
td.num { text-align: right; font-family: ui-monospace, Menlo, Consolas, monospace; white-space: nowrap; }
td.key { font-family: ui-monospace, Menlo, Consolas, monospace; }
th.oracle, td.oracle { background: #f7f3e8; }
td.missed { color: #b00020; font-weight: bold; }
.chart { width: 100%; height: 420px; }
.note { color: #666; font-size: 0.88em; margin: 0.2em 0 0.4em; }
</style>
<script>{{.ECharts}}</script>
</head>
<body>
<h1>{{.Title}}</h1>
<div class="meta">
Window {{.Scenario.Start}} – {{.Scenario.End}}, step {{.Scenario.Step}} ({{.Scenario.Steps}} steps), seed {{.Scenario.Seed}}, {{.Scenario.Budget}}, providers: {{.Scenario.Providers}}; {{.Scenario.Jobs}} job(s), {{.Scenario.Inference}} inference workload(s).
{{- if .Scenario.Sites}}
<ul>{{range .Scenario.Sites}}<li>{{.}}</li>{{end}}</ul>
{{- end}}
</div>

<h2>Results</h2>
<p class="note">Money in USD rounded half away from zero to cents; quantities exact. capture = (greedy − strategy)/(greedy − oracle).</p>
<div class="scroll">
<table id="summary">
<thead><tr><th>strategy</th>{{range $i, $h := .Summary.Headers}}<th{{if index $.Summary.Oracle $i}} class="oracle"{{end}}>{{$h}}</th>{{end}}</tr></thead>
<tbody>
{{- range .Summary.Rows}}
<tr><td class="key">{{.Name}}</td>{{range $i, $c := .Cells}}<td class="num{{if index $.Summary.Oracle $i}} oracle{{end}}">{{$c}}</td>{{end}}</tr>
{{- end}}
</tbody>
</table>
</div>

<h2>Jobs</h2>
{{- range .Jobs}}
<h3>{{.Strategy}}</h3>
{{- if .Rows}}
<table class="jobs">
<thead><tr><th>id</th><th>gpu_hours_required</th><th>gpu_hours_delivered</th><th>finished</th><th>missed</th></tr></thead>
<tbody>
{{- range .Rows}}
<tr><td class="key">{{.ID}}</td><td class="num">{{.Required}}</td><td class="num">{{.Delivered}}</td><td class="num">{{.Finished}}</td>{{if .Missed}}<td class="missed">yes</td>{{else}}<td>no</td>{{end}}</tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p class="note">No jobs.</p>
{{- end}}
{{- end}}

<h2>Charts</h2>
{{- if not .Charts}}
<p class="note">Nothing to chart.</p>
{{- end}}
{{- range .Charts}}
<h3>{{.Heading}}</h3>
<p class="note">{{.Note}}</p>
<div class="chart" id="{{.ID}}"></div>
{{- end}}
<script>
"use strict";
(function () {
  var all = [];
  function draw(id, option) {
    var c = echarts.init(document.getElementById(id), null, { renderer: "canvas" });
    c.setOption(option);
    all.push(c);
  }
{{- range .Charts}}
  draw({{.ID}}, {{.Option}});
{{- end}}
  window.addEventListener("resize", function () { all.forEach(function (c) { c.resize(); }); });
})();
</script>
</body>
</html>
`))

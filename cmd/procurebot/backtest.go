package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/schollz/progressbar/v3"
	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/procurebot/procurebot"
	csvdata "github.com/procurebot/procurebot/providers/csv"
	"github.com/procurebot/procurebot/sampledata"
	"github.com/procurebot/procurebot/scenario"
	"github.com/procurebot/procurebot/sim"
	"github.com/procurebot/procurebot/sim/report"
	"github.com/procurebot/procurebot/strategy"
)

//go:embed example.yaml
var exampleScenario []byte

// strategyNames are the strategies of `backtest --strategy`, in display order.
var strategyNames = []string{"static", "greedy", "arbitrage", "oracle"}

type backtestFlags struct {
	data, scenario, strategy, report string
	json                             bool
	forecast, gpuForecast            string
	margin, persistence              float64
	window                           int
	quiet                            bool
}

func newBacktestCmd(stdout, stderr io.Writer) *cobra.Command {
	var f backtestFlags
	cmd := &cobra.Command{
		Use:   "backtest [--data DIR] [--scenario FILE] [--strategy NAME] [--json] [--report FILE.html]",
		Short: "Replay a scenario on recorded prices and account every dollar",
		Long: `backtest runs a strategy over recorded price history under the cost model of
DESIGN §7 and prints what it cost: energy, other site costs, rentals, tokens,
lease revenue, GPU-hours delivered, deadline misses.

Strategies:
  static     on-demand venues ranked by price at each job's release, kept
  greedy     every step, cheapest eligible supply now (SkyPilot-like baseline)
  arbitrage  plans the rest of the horizon on visible prices plus forecasts,
             commits one step, re-plans (procurebot's own strategy)
  oracle     exact optimum with hindsight: the limit no strategy can beat
  all        the four side by side, with each one's capture of the
             greedy→oracle gap: (greedy − s) / (greedy − oracle)

With no --data and no --scenario it runs the embedded real sample (GPU offers
2024-09-24..2025-01-31, ERCOT North 2024, ENTSO-E Belgium 2025, OpenRouter
token prices) on the embedded example scenario (October 2024, two ERCOT
sites, three jobs, one inference workload).

Exit status: 0 success, 2 bad input (the message names the file, line, key or
flag), 1 anything else.`,
		Example: `  # the embedded sample, all strategies, with an HTML report
  procurebot backtest --strategy all --report report.html

  # your own data and scenario, one strategy, machine-readable
  procurebot backtest --data ./data --scenario ./oct.yaml --strategy arbitrage --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBacktest(cmd.Context(), f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "data directory (power/*.csv, gpu/offers.csv, inference/models.csv); default: the embedded sample")
	fl.StringVar(&f.scenario, "scenario", "", "scenario YAML file; default: the embedded example")
	fl.StringVar(&f.strategy, "strategy", "arbitrage", "static | greedy | arbitrage | oracle | all")
	fl.BoolVar(&f.json, "json", false, "print exactly one JSON object on stdout (logs go to stderr)")
	fl.StringVar(&f.report, "report", "", "write a self-contained HTML report to this file")
	fl.StringVar(&f.forecast, "forecast", "hod", "arbitrage power forecaster: persist | hod | how | blend")
	fl.Float64Var(&f.margin, "margin", 0.01, "arbitrage deadline slack, as a share of each job's window")
	fl.StringVar(&f.gpuForecast, "gpu-forecast", "median", "arbitrage GPU book forecast: median (rolling median per provider and rank) | meanrev (latest prices reverting to the median) | replay (recent days cycled)")
	fl.Float64Var(&f.persistence, "persistence", 0.6, "arbitrage meanrev: day-to-day persistence of GPU price deviations from their median, in [0, 1)")
	fl.IntVar(&f.window, "gpu-window", 14, "arbitrage GPU forecast: how many past snapshots it draws on")
	fl.BoolVar(&f.quiet, "quiet", false, "no logs and no progress bar")
	return cmd
}

// loadInputs loads the data directory (default: the embedded sample) and
// the scenario (default: the embedded example) and checks one against the
// other.
func loadInputs(data, scenarioFile string, log zerolog.Logger) (*procurebot.Scenario, *procurebot.Dataset, error) {
	began := time.Now()
	var ds *procurebot.Dataset
	var err error
	if data == "" {
		ds, err = csvdata.LoadFS(sampledata.FS())
	} else {
		ds, err = csvdata.Load(data)
	}
	if err != nil {
		return nil, nil, err
	}
	log.Info().Str("data", orDefault(data, "embedded sample")).Int("gpu_snapshots", len(ds.GPU)).
		Int("token_snapshots", len(ds.Tokens)).Strs("markets", ds.Markets()).
		Dur("load", time.Since(began)).Msg("data loaded")
	var sc *procurebot.Scenario
	if scenarioFile == "" {
		sc, err = scenario.Parse("example.yaml (embedded)", exampleScenario)
	} else {
		sc, err = scenario.Load(scenarioFile)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := sc.ValidateData(ds); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", orDefault(scenarioFile, "example.yaml (embedded)"), err)
	}
	log.Info().Str("scenario", orDefault(scenarioFile, "example.yaml (embedded)")).Time("start", sc.Start).
		Time("end", sc.End).Int("steps", sc.Steps()).Int("sites", len(sc.Sites)).Int("jobs", len(sc.Jobs)).
		Msg("scenario loaded")
	return sc, ds, nil
}

// defaultArbitrage is the arbitrage strategy with the backtest's default
// flags.
func defaultArbitrage() backtestFlags {
	return backtestFlags{forecast: "hod", margin: 0.01, gpuForecast: "median", persistence: 0.6, window: 14}
}

// newStrategy returns the strategy called name.
func newStrategy(name string, f backtestFlags) (procurebot.Strategy, error) {
	switch name {
	case "static":
		return strategy.NewStatic(), nil
	case "greedy":
		return strategy.NewGreedy(), nil
	case "oracle":
		return strategy.NewOracle(), nil
	case "arbitrage":
		a := strategy.NewArbitrage()
		fc, ok := strategy.PowerForecasters()[f.forecast]
		if !ok {
			return nil, usageError{fmt.Errorf("--forecast: unknown forecaster %q (want persist, hod, how or blend)", f.forecast)}
		}
		switch f.gpuForecast {
		case "median", "meanrev", "replay":
		default:
			return nil, usageError{fmt.Errorf("--gpu-forecast: unknown forecaster %q (want median, meanrev or replay)", f.gpuForecast)}
		}
		a.Power, a.Margin, a.Window, a.GPUForecast, a.Persistence = fc, f.margin, f.window, f.gpuForecast, f.persistence
		return a, nil
	}
	return nil, usageError{fmt.Errorf("--strategy: unknown strategy %q (want static, greedy, arbitrage, oracle or all)", name)}
}

// newLogger logs to stderr at info level (debug when PROCUREBOT_LOG=debug,
// warnings only with PROCUREBOT_LOG=warn), as text on a terminal and JSON
// otherwise; quiet logs nothing.
func newLogger(stderr io.Writer, quiet bool) zerolog.Logger {
	if quiet {
		return zerolog.Nop()
	}
	level := zerolog.InfoLevel
	if l, err := zerolog.ParseLevel(os.Getenv("PROCUREBOT_LOG")); err == nil && l != zerolog.NoLevel {
		level = l
	}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return zerolog.New(zerolog.ConsoleWriter{Out: stderr, TimeFormat: "15:04:05"}).Level(level).With().Timestamp().Logger()
	}
	return zerolog.New(stderr).Level(level).With().Timestamp().Logger()
}

func runBacktest(ctx context.Context, f backtestFlags, stdout, stderr io.Writer) error {
	log := newLogger(stderr, f.quiet)
	if f.margin < 0 || f.margin >= 1 {
		return usageError{fmt.Errorf("--margin: must be in [0, 1), got %v", f.margin)}
	}
	if f.persistence < 0 || f.persistence >= 1 {
		return usageError{fmt.Errorf("--persistence: must be in [0, 1), got %v", f.persistence)}
	}
	if f.window < 1 {
		return usageError{fmt.Errorf("--gpu-window: must be at least 1, got %d", f.window)}
	}
	names := []string{f.strategy}
	if f.strategy == "all" {
		names = strategyNames
	}
	strats := make([]procurebot.Strategy, len(names))
	for i, n := range names {
		s, err := newStrategy(n, f)
		if err != nil {
			return err
		}
		strats[i] = s
	}

	sc, ds, err := loadInputs(f.data, f.scenario, log)
	if err != nil {
		return err
	}

	// The report compares against the oracle: run it too when asked for one.
	if f.report != "" && !contains(names, "oracle") {
		names = append(names, "oracle")
		strats = append(strats, strategy.NewOracle())
	}

	prog := newProgress(stderr, f.quiet, len(strats)*sc.Steps())
	results := make([]*sim.Result, len(strats))
	errs := make([]error, len(strats))
	var wg sync.WaitGroup
	for i := range strats {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i], errs[i] = sim.Run(ctx, sc, ds, strats[i], sim.Options{Progress: prog.step})
		}(i)
	}
	wg.Wait()
	prog.finish()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for _, r := range results {
		log.Info().Str("strategy", r.Strategy).Str("total_cost_usd", procurebot.Cents(r.TotalCostUSD)).
			Int("deadline_misses", r.DeadlineMisses).Dur("elapsed", r.Elapsed).Msg("backtest done")
	}

	byName := map[string]*sim.Result{}
	for _, r := range results {
		byName[r.Strategy] = r
	}
	if f.report != "" {
		if err := writeReport(f.report, sc, ds, results, byName["oracle"]); err != nil {
			return err
		}
		log.Info().Str("file", f.report).Msg("report written")
	}

	shown := results
	if f.strategy != "all" {
		shown = results[:1]
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		if f.strategy != "all" {
			return enc.Encode(shown[0])
		}
		out := struct {
			Results []*sim.Result     `json:"results"`
			Capture map[string]string `json:"capture"`
		}{Results: shown, Capture: map[string]string{}}
		for _, r := range shown {
			if c, ok := capture(byName["greedy"], r, byName["oracle"]); ok {
				out.Capture[r.Strategy] = c.StringFixed(4)
			}
		}
		return enc.Encode(out)
	}
	printTable(stdout, shown, byName)
	return nil
}

// capture is DESIGN §7.11: (greedy − s) / (greedy − oracle).
func capture(greedy, s, oracle *sim.Result) (decimal.Decimal, bool) {
	if greedy == nil || oracle == nil || s == nil {
		return decimal.Decimal{}, false
	}
	gap := greedy.TotalCostUSD.Sub(oracle.TotalCostUSD)
	if gap.Sign() == 0 {
		return decimal.Decimal{}, false
	}
	return greedy.TotalCostUSD.Sub(s.TotalCostUSD).DivRound(gap, 6), true
}

func printTable(w io.Writer, results []*sim.Result, byName map[string]*sim.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "strategy\ttotal_usd\tenergy\tother\trental\tinference\trevenue\tdelivered_gpu_h\tmisses\tcapture\ttime\t")
	for _, r := range results {
		c := "—"
		if v, ok := capture(byName["greedy"], r, byName["oracle"]); ok {
			c = v.StringFixed(3)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t\n", r.Strategy,
			procurebot.Cents(r.TotalCostUSD), procurebot.Cents(r.EnergyCostUSD), procurebot.Cents(r.OtherCostUSD),
			procurebot.Cents(r.RentalCostUSD), procurebot.Cents(r.InferenceCostUSD), procurebot.Cents(r.RevenueUSD),
			r.GPUHoursDelivered.StringFixed(2), r.DeadlineMisses, c, r.Elapsed.Round(time.Millisecond))
	}
	tw.Flush()
}

func writeReport(path string, sc *procurebot.Scenario, ds *procurebot.Dataset, results []*sim.Result, oracle *sim.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return &procurebot.Error{Code: procurebot.EINVALID, Message: "--report " + path, Err: err}
	}
	title := fmt.Sprintf("procurebot backtest %s → %s", sc.Start.Format("2006-01-02"), sc.End.Format("2006-01-02"))
	if err := report.Write(f, report.Input{Scenario: sc, Data: ds, Results: results, Oracle: oracle, Title: title}); err != nil {
		f.Close()
		return fmt.Errorf("report %s: %w", path, err)
	}
	return f.Close()
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// progress shows a bar on stderr when it is a terminal and the run has
// taken more than a second.
type progress struct {
	mu    sync.Mutex
	total int
	done  int
	start time.Time
	bar   *progressbar.ProgressBar
	w     io.Writer
	on    bool
}

func newProgress(stderr io.Writer, quiet bool, total int) *progress {
	p := &progress{total: total, start: time.Now(), w: stderr}
	if f, ok := stderr.(*os.File); ok && !quiet && term.IsTerminal(int(f.Fd())) {
		p.on = true
	}
	return p
}

func (p *progress) step(done, total int) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if p.bar == nil {
		if time.Since(p.start) < time.Second {
			return
		}
		p.bar = progressbar.NewOptions(p.total, progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription("backtest"), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
		_ = p.bar.Set(p.done)
		return
	}
	_ = p.bar.Add(1)
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

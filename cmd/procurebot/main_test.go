package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runCLI runs the command line and returns exit status, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tinyData writes a valid data directory: one market, one GPU snapshot, one
// token snapshot.
func tinyData(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var power strings.Builder
	power.WriteString("time_utc,market,usd_per_mwh\n")
	t0 := time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)
	for h := 0; h < 48; h++ {
		fmt.Fprintf(&power, "%s,TEST,%d\n", t0.Add(time.Duration(h)*time.Hour).Format(time.RFC3339), 20+h%24)
	}
	writeFile(t, dir, "power/test.csv", power.String())
	writeFile(t, dir, "gpu/offers.csv", "time_utc,provider,gpu,gpu_count,usd_per_hour,usd_per_gpu_hour,spot,region,instance\n"+
		"2024-09-30T00:00:00Z,lambdalabs,H100,1,2.49,,,,\n"+
		"2024-09-30T00:00:00Z,vastai,H100,,1.10,,,,\n")
	writeFile(t, dir, "inference/models.csv", "time_utc,provider,model,usd_per_mtok_in,usd_per_mtok_out,context_length\n"+
		"2024-09-30T00:00:00Z,openrouter,m/x,1,2,1000\n")
	return dir
}

const tinyScenario = `start: 2024-10-01T00:00:00Z
end: 2024-10-02T00:00:00Z
seed: 1
sites:
  - {name: s1, power_market: TEST, gpu: H100, gpus: 4, kw_per_gpu: "0.7", curtailable: true, sell_spare: true, sell_price_ratio: "0.5"}
jobs:
  - {id: j1, gpu: H100, max_gpus: 6, gpu_hours: "60", release: 2024-10-01T00:00:00Z, deadline: 2024-10-02T00:00:00Z, interruptible: true}
inference:
  - {id: w, model: m/x, mtok_in_per_hour: "1", mtok_out_per_hour: "1", self_host: {gpu: H100, mtok_per_gpu_hour: "2"}}
`

func TestBacktestJSONContract(t *testing.T) {
	dir := tinyData(t)
	sc := writeFile(t, t.TempDir(), "s.yaml", tinyScenario)
	for _, name := range []string{"static", "greedy", "arbitrage", "oracle"} {
		t.Run(name, func(t *testing.T) {
			code, out, errs := runCLI(t, "backtest", "--data", dir, "--scenario", sc, "--strategy", name, "--json", "--quiet")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			dec := json.NewDecoder(strings.NewReader(out))
			var obj map[string]json.RawMessage
			if err := dec.Decode(&obj); err != nil {
				t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
			}
			if dec.More() {
				t.Fatalf("more than one JSON value on stdout:\n%s", out)
			}
			for _, k := range []string{"strategy", "total_cost_usd", "energy_cost_usd", "other_cost_usd", "rental_cost_usd",
				"inference_cost_usd", "revenue_usd", "gpu_hours_required", "gpu_hours_delivered", "deadline_misses",
				"switching_gpu_hours", "preempted_gpu_hours", "leased_gpu_hours", "decisions", "elapsed_ms", "jobs"} {
				if _, ok := obj[k]; !ok {
					t.Errorf("missing key %q", k)
				}
			}
			var s string
			if err := json.Unmarshal(obj["strategy"], &s); err != nil || s != name {
				t.Errorf("strategy = %s, want %q", obj["strategy"], name)
			}
			if err := json.Unmarshal(obj["total_cost_usd"], &s); err != nil || !strings.Contains(s, ".") || len(s)-strings.Index(s, ".") != 3 {
				t.Errorf("total_cost_usd = %s, want a decimal string with cents", obj["total_cost_usd"])
			}
			var decisions int
			if err := json.Unmarshal(obj["decisions"], &decisions); err != nil || decisions != 24 {
				t.Errorf("decisions = %s, want 24", obj["decisions"])
			}
			var jobs []map[string]any
			if err := json.Unmarshal(obj["jobs"], &jobs); err != nil || len(jobs) != 1 || jobs[0]["id"] != "j1" {
				t.Errorf("jobs = %s", obj["jobs"])
			}
		})
	}
}

func TestBacktestAllTableAndReport(t *testing.T) {
	dir := tinyData(t)
	sc := writeFile(t, t.TempDir(), "s.yaml", tinyScenario)
	rep := filepath.Join(t.TempDir(), "r.html")
	code, out, errs := runCLI(t, "backtest", "--data", dir, "--scenario", sc, "--strategy", "all", "--report", rep, "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, s := range []string{"static", "greedy", "arbitrage", "oracle", "capture", "1.000"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	b, err := os.ReadFile(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("<html")) || bytes.Contains(b, []byte("<script src=\"http")) {
		t.Errorf("report is not a self-contained HTML page")
	}
}

func TestExitStatusNamesTheProblem(t *testing.T) {
	dir := tinyData(t)
	tmp := t.TempDir()
	good := writeFile(t, tmp, "good.yaml", tinyScenario)
	unknownKey := writeFile(t, tmp, "unknown.yaml", strings.Replace(tinyScenario, "seed: 1", "seed: 1\ncolour: blue", 1))
	badRatio := writeFile(t, tmp, "ratio.yaml", strings.Replace(tinyScenario, `sell_price_ratio: "0.5"`, `sell_price_ratio: "1.5"`, 1))
	badMarket := writeFile(t, tmp, "market.yaml", strings.Replace(tinyScenario, "power_market: TEST", "power_market: NOPE", 1))
	badCSV := t.TempDir()
	writeFile(t, badCSV, "power/p.csv", "time_utc,market,usd_per_mwh\n2024-10-01T00:00:00Z,TEST,abc\n")
	writeFile(t, badCSV, "gpu/offers.csv", "time_utc,provider,gpu,gpu_count,usd_per_hour,usd_per_gpu_hour,spot,region,instance\n")
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"unknown flag", []string{"backtest", "--nope"}, 2, []string{"--nope"}},
		{"unknown strategy", []string{"backtest", "--data", dir, "--scenario", good, "--strategy", "magic"}, 2, []string{"--strategy", "magic"}},
		{"bad margin", []string{"backtest", "--margin", "2"}, 2, []string{"--margin"}},
		{"unknown key", []string{"backtest", "--data", dir, "--scenario", unknownKey}, 2, []string{"unknown.yaml", "colour"}},
		{"bad ratio", []string{"backtest", "--data", dir, "--scenario", badRatio}, 2, []string{"sell_price_ratio"}},
		{"market not in data", []string{"backtest", "--data", dir, "--scenario", badMarket}, 2, []string{"power_market", "NOPE"}},
		{"malformed csv", []string{"backtest", "--data", badCSV, "--scenario", good}, 2, []string{"power/p.csv", "2", "usd_per_mwh"}},
		{"missing scenario", []string{"backtest", "--data", dir, "--scenario", filepath.Join(tmp, "none.yaml")}, 2, []string{"none.yaml"}},
		{"missing data dir", []string{"backtest", "--data", filepath.Join(tmp, "nodata"), "--scenario", good}, 2, []string{"nodata"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := runCLI(t, append(c.args, "--quiet")...)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, c.code, errs)
			}
			for _, w := range c.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q does not name %q", errs, w)
				}
			}
		})
	}
}

func TestEmbeddedDefaultsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a month-long backtest")
	}
	code, out, errs := runCLI(t, "backtest", "--strategy", "greedy", "--json", "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		t.Fatal(err)
	}
	if obj["deadline_misses"].(float64) != 0 || obj["decisions"].(float64) != 744 {
		t.Errorf("embedded example: %v", obj)
	}
}

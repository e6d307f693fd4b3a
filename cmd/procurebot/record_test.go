package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/procurebot/procurebot/config"
	"github.com/procurebot/procurebot/sim"
	"github.com/procurebot/procurebot/store/bolt"
	"github.com/procurebot/procurebot/wallet"
	"github.com/procurebot/procurebot/wallet/gethtest"
)

// replayServer serves recorded venue responses: Lambda and RunPod books
// and OpenRouter's model list from the adapters' fixtures, and ERCOT's
// real-time prices generated in the API's shape for whatever days are
// asked, published as the shared virtual clock passes each interval's end.
func replayServer(t *testing.T, clock *sim.VirtualClock) *httptest.Server {
	t.Helper()
	fixture := func(pkg, name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "providers", pkg, "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	lambda := fixture("lambda", "instance_types.json")
	secure, community := fixture("runpod", "secure.json"), fixture("runpod", "community.json")
	models := fixture("openrouter", "models.json")
	token := fixture("ercot", "token.json")
	mux := http.NewServeMux()
	mux.HandleFunc("/lambda/instance-types", func(w http.ResponseWriter, r *http.Request) { w.Write(lambda) })
	mux.HandleFunc("/runpod/graphql", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(`"secureCloud":true`)) {
			w.Write(secure)
		} else {
			w.Write(community)
		}
	})
	mux.HandleFunc("/openrouter/models", func(w http.ResponseWriter, r *http.Request) { w.Write(models) })
	mux.HandleFunc("/ercot-token", func(w http.ResponseWriter, r *http.Request) { w.Write(token) })
	mux.HandleFunc("/ercot/np6-905-cd/spp_node_zone_hub", func(w http.ResponseWriter, r *http.Request) {
		ercotPage(t, w, r, clock.Now())
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// ercotPage answers one page of NP6-905-CD for the requested days: every
// 15-minute interval that has ended by now, priced 20 + hour + interval/4
// USD/MWh (so each hour's mean is known: 20.625 + hour).
func ercotPage(t *testing.T, w http.ResponseWriter, r *http.Request, now time.Time) {
	chicago, _ := time.LoadLocation("America/Chicago")
	q := r.URL.Query()
	from, err1 := time.ParseInLocation(time.DateOnly, q.Get("deliveryDateFrom"), chicago)
	to, err2 := time.ParseInLocation(time.DateOnly, q.Get("deliveryDateTo"), chicago)
	size, _ := strconv.Atoi(q.Get("size"))
	page, _ := strconv.Atoi(q.Get("page"))
	if err1 != nil || err2 != nil || size <= 0 || page <= 0 || q.Get("settlementPoint") != "HB_NORTH" {
		http.Error(w, `{"statusCode":400,"message":"bad query"}`, http.StatusBadRequest)
		return
	}
	var rows [][]any
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		for he := 1; he <= 24; he++ {
			for iv := 1; iv <= 4; iv++ {
				start := time.Date(d.Year(), d.Month(), d.Day(), he-1, (iv-1)*15, 0, 0, chicago)
				if start.Add(15 * time.Minute).After(now) {
					continue
				}
				cents := (20+start.UTC().Hour())*100 + iv*25
				price := fmt.Sprintf("%d.%02d", cents/100, cents%100)
				rows = append(rows, []any{d.Format(time.DateOnly), he, iv, "HB_NORTH", "HU", json.Number(price), false})
			}
		}
	}
	pages := max(1, (len(rows)+size-1)/size)
	lo, hi := min((page-1)*size, len(rows)), min(page*size, len(rows))
	out := map[string]any{
		"_meta":  map[string]any{"totalRecords": len(rows), "pageSize": size, "totalPages": pages, "currentPage": page},
		"report": map[string]any{"reportEMIL": "NP6-905-CD"},
		"fields": []map[string]string{{"name": "deliveryDate"}, {"name": "deliveryHour"}, {"name": "deliveryInterval"},
			{"name": "settlementPoint"}, {"name": "settlementPointType"}, {"name": "settlementPointPrice"}, {"name": "DSTFlag"}},
		"data": rows[lo:hi],
	}
	json.NewEncoder(w).Encode(out)
}

// TestRecordThenBacktest records three days of polls from replay servers
// in the venues' real shapes, on a virtual clock, and backtests on the
// recording: the proof that `record` writes what `backtest` reads.
func TestRecordThenBacktest(t *testing.T) {
	start := time.Date(2026, 10, 12, 0, 0, 0, 0, time.UTC)
	clock := sim.NewVirtualClock(start)
	srv := replayServer(t, clock)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "procurebot.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
providers:
  lambda: {base_url: %[1]s/lambda, api_key: {value: lambda-key}, rate_per_second: 1000}
  runpod: {base_url: %[1]s/runpod, rate_per_second: 1000}
  openrouter: {base_url: %[1]s/openrouter, rate_per_second: 1000}
  ercot:
    base_url: %[1]s/ercot
    rate_per_second: 1000
    token_url: %[1]s/ercot-token
    subscription_key: {value: sub-key}
    username: {value: user}
    password: {value: pass}
    settlement_points: [HB_NORTH]
`, srv.URL)), 0o600)
	cfg, err := loadConfig(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := zerolog.New(&logs)
	fd, names, err := liveFeed(cfg, clock, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "lambda,runpod,openrouter,ercot" {
		t.Fatalf("venues %v", names)
	}
	data := filepath.Join(dir, "history")
	f := recordFlags{dataDir: data, every: time.Hour, polls: 72, timeout: time.Minute}
	if err := recordLoop(context.Background(), fd, clock, f, log); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	if n := strings.Count(logs.String(), `"message":"recorded"`); n != 72 {
		t.Fatalf("%d polls recorded, want 72\n%s", n, logs.String())
	}
	for _, secret := range []string{"lambda-key", "sub-key", "ID-TOKEN-SECRET"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("credential %s reached the log", secret)
		}
	}
	// Recording again over the same hours adds nothing: restart safety.
	offers, _ := os.ReadFile(filepath.Join(data, "gpu/offers.csv"))
	power, _ := os.ReadFile(filepath.Join(data, "power/ercot_hb_north.csv"))
	// The first poll brings the day before (the feed looks 24 h back); the
	// hour in progress at the last poll is not complete: 24 + 71 hours.
	if got := strings.Count(string(power), "\n") - 1; got != 95 {
		t.Errorf("%d power hours recorded over 72 polls, want 95", got)
	}
	if !strings.Contains(string(power), "2026-10-12T05:00:00Z,ERCOT_HB_NORTH,25.625,25.625,USD,2026-10-12T06:00:00Z,ercot\n") {
		t.Errorf("power hour 05:00 is not the mean of its intervals:\n%.400s", power)
	}

	scenario := filepath.Join(dir, "s.yaml")
	os.WriteFile(scenario, []byte(`
start: 2026-10-12T01:00:00Z
end:   2026-10-14T20:00:00Z
step: 1h
sites:
  - name: tx
    power_market: ERCOT_HB_NORTH
    power_visibility: realtime
    gpu: H100
    gpus: 8
    kw_per_gpu: "0.7"
    other_usd_per_gpu_hour: "0.10"
    curtailable: true
jobs:
  - id: train
    gpu: H100
    max_gpus: 24
    gpu_hours: "1500"
    release: 2026-10-12T01:00:00Z
    deadline: 2026-10-14T20:00:00Z
    interruptible: false
inference:
  - id: chat
    model: meta-llama/llama-3.3-70b-instruct
    mtok_in_per_hour: "2"
    mtok_out_per_hour: "1"
market:
  on_demand_providers: [lambdalabs, runpod]
`), 0o600)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"backtest", "--data", data, "--scenario", scenario, "--strategy", "all", "--json", "--quiet"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("backtest on the recording: exit %d: %s", code, stderr.String())
	}
	var out struct {
		Results []struct {
			Strategy       string `json:"strategy"`
			TotalCostUSD   string `json:"total_cost_usd"`
			DeadlineMisses int    `json:"deadline_misses"`
			Delivered      string `json:"gpu_hours_delivered"`
		} `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if len(out.Results) != 4 {
		t.Fatalf("results %+v", out.Results)
	}
	for _, r := range out.Results {
		if r.DeadlineMisses != 0 || r.Delivered != "1500" {
			t.Errorf("%s on the recording: %d misses, %s GPU-hours delivered", r.Strategy, r.DeadlineMisses, r.Delivered)
		}
	}
	t.Logf("recorded %d bytes of offers; backtest: %+v", len(offers), out.Results)
}

// TestRunLive runs the bot in live mode (shadow orders) for three 2-second
// steps on venues replayed in their real shapes: it waits for each step,
// plans on the live book, records a shadow ledger entry for every charge
// and pays nothing.
func TestRunLive(t *testing.T) {
	dir := t.TempDir()
	cfg := liveConfig(t, dir, "")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"run", "--config", cfg, "--data-dir", filepath.Join(dir, "state"), "--listen", "127.0.0.1:0"}, &stdout, &stderr)
	liveChecks(t, dir, code, &stdout, &stderr)
}

// liveConfig writes a live config for three 2-second steps on replayed
// venues, with extra appended, and returns its path.
func liveConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	clock := sim.NewVirtualClock(time.Now())
	srv := replayServer(t, clock)
	start := time.Now().UTC().Truncate(2 * time.Second).Add(4 * time.Second)
	end := start.Add(6 * time.Second)
	cfg := filepath.Join(dir, "live.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
providers:
  lambda: {base_url: %[1]s/lambda, api_key: {value: lambda-key}, rate_per_second: 1000}
  runpod: {base_url: %[1]s/runpod, rate_per_second: 1000}
  openrouter: {base_url: %[1]s/openrouter, rate_per_second: 1000}
  ercot:
    base_url: %[1]s/ercot
    rate_per_second: 1000
    token_url: %[1]s/ercot-token
    subscription_key: {value: sub-key}
    username: {value: user}
    password: {value: pass}
fleet:
  step: 2s
  sites:
    - {name: tx, power_market: ERCOT_HB_NORTH, power_visibility: realtime, gpu: H100, gpus: 4, kw_per_gpu: "0.7", curtailable: true}
  jobs:
    - {id: train, gpu: H100, max_gpus: 16, gpu_hours: "0.02", release: %[2]s, deadline: %[3]s, interruptible: false}
  inference:
    - {id: chat, model: meta-llama/llama-3.3-70b-instruct, mtok_in_per_hour: "2", mtok_out_per_hour: "1"}
  market: {on_demand_providers: [lambdalabs, runpod]}
live: {start: %[2]s, end: %[3]s}
%[4]s`, srv.URL, start.Format(time.RFC3339), end.Format(time.RFC3339), extra)), 0o600)
	return cfg
}

// liveChecks checks a live run: exit 0, shadow entries for three steps,
// no payment, no credential in the logs.
func liveChecks(t *testing.T, dir string, code int, stdout, stderr *bytes.Buffer) {
	t.Helper()
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "shadow orders") || strings.Contains(stderr.String(), "lambda-key") {
		t.Errorf("logs:\n%.3000s", stderr.String())
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"ledger", "--data-dir", filepath.Join(dir, "state"), "--json"}, stdout, stderr); code != 0 {
		t.Fatal(stderr.String())
	}
	var led struct {
		Entries []struct {
			Kind string `json:"kind"`
			Time string `json:"time"`
			Note string `json:"note"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &led); err != nil {
		t.Fatal(err)
	}
	steps := map[string]bool{}
	for _, e := range led.Entries {
		if e.Kind == "payment" {
			t.Errorf("a shadow run paid: %+v", e)
		}
		if !strings.Contains(e.Note, "(shadow") {
			t.Errorf("entry not marked shadow: %+v", e)
		}
		steps[e.Time] = true
	}
	if len(steps) != 3 {
		t.Errorf("entries for %d steps, want 3: %+v", len(steps), led.Entries)
	}
}

// TestRunLiveWallet adds a real chain (geth --dev) and a keystore account
// holding 5 USD of a token: the balance feeds the policy's wallet reserve,
// which refuses what would take it below 4.999.
func TestRunLiveWallet(t *testing.T) {
	walletEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	ks, err := wallet.OpenKeystore(filepath.Join(dir, "state", "keystore"), "pw", wallet.LightScrypt())
	if err != nil {
		t.Fatal(err)
	}
	acct, err := ks.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	chain := gethtest.Start(t)
	tok, err := chain.DeployToken(ctx, "Test Dollar", "TUSD", 6, big.NewInt(5_000_000), acct)
	if err != nil {
		t.Fatal(err)
	}
	cfg := liveConfig(t, dir, fmt.Sprintf("chain: {rpc: %q, token: %q}\npolicy:\n  min_wallet_reserve_usd: \"4.999\"\n", chain.URL, tok.Hex()))
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"run", "--config", cfg, "--data-dir", filepath.Join(dir, "state"), "--listen", "127.0.0.1:0"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	logs := stderr.String()
	if !strings.Contains(logs, `"balance":"5"`) || !strings.Contains(logs, acct.Hex()) {
		t.Errorf("no wallet balance logged:\n%.3000s", logs)
	}
	if !strings.Contains(logs, `"rule":"reserve"`) {
		t.Errorf("the reserve never refused:\n%.3000s", logs)
	}
}

// Live mode's window starts at the next step after the run's first start
// and stays there across restarts (kept in the store).
func TestLiveWindowKept(t *testing.T) {
	cfg, err := config.Parse("c.yaml", []byte(`
fleet:
  step: 1h
  sites: [{name: tx, power_market: ERCOT_HB_NORTH, gpu: H100, gpus: 4, kw_per_gpu: "0.7"}]
  jobs: [{id: j, gpu: H100, max_gpus: 4, gpu_hours: "10", release: 2026-12-01T00:00:00Z, deadline: 2026-12-03T00:00:00Z}]
`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	first := time.Date(2026, 11, 30, 21, 17, 0, 0, time.UTC)
	a, err := liveScenario(context.Background(), cfg, "c.yaml", st, "live", first)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Live.Start = time.Time{}
	b, err := liveScenario(context.Background(), cfg, "c.yaml", st, "live", first.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)
	if !a.Start.Equal(want) || !b.Start.Equal(want) || !a.End.Equal(time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("window %s–%s, after a restart %s–%s; want it to start %s", a.Start, a.End, b.Start, b.End, want)
	}
}

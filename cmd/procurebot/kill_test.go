package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/agent"
	"github.com/procurebot/procurebot/providers/csv"
	"github.com/procurebot/procurebot/sampledata"
	"github.com/procurebot/procurebot/scenario"
	"github.com/procurebot/procurebot/sim"
	"github.com/procurebot/procurebot/store/bolt"
	"github.com/procurebot/procurebot/strategy"
)

// TestMain lets the kill test run this test binary as procurebot itself.
func TestMain(m *testing.M) {
	if os.Getenv("PROCUREBOT_MAIN") == "1" {
		main() // exits
	}
	os.Exit(m.Run())
}

// TestPaperKill9 runs the bot in paper mode and SIGKILLs it at random
// moments of its loop, PROCUREBOT_PAPER_KILLS times (default 50), then
// lets it finish. Across every restart: the run resumes from its
// checkpoint, no payment is made twice (one payment per intent id, one
// intent per spending charge, every intent confirmed with its own nonce),
// no ledger entry is lost or doubled (the ledger equals a backtest of the
// same scenario, charge by charge), and no spend cap is exceeded.
func TestPaperKill9(t *testing.T) {
	kills := 50
	if s := os.Getenv("PROCUREBOT_PAPER_KILLS"); s != "" {
		kills, _ = strconv.Atoi(s)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "policy.yaml")
	// An hour cap the planner meets now and then, so that refusals happen
	// under kills too.
	os.WriteFile(cfg, []byte("policy:\n  caps: {hour: \"12\"}\n"), 0o600)
	scen, _ := filepath.Abs(filepath.Join("..", "..", "agent", "testdata", "three-days.yaml"))
	data := filepath.Join(dir, "paper")
	args := []string{"run", "--config", cfg, "--data-dir", data, "--speed", "0", "--scenario", scen, "--listen", "127.0.0.1:0", "--quiet"}
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "PROCUREBOT_MAIN=1")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	rng := rand.New(rand.NewPCG(11, 5))
	began := time.Now()
	finished := 0
	for i := 0; i < kills; i++ {
		cmd := start()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done: // the run ended before the kill
			if err != nil {
				t.Fatalf("run %d: %v", i, err)
			}
			finished++
		case <-time.After(time.Duration(80+rng.IntN(500)) * time.Millisecond):
			cmd.Process.Kill()
			<-done
		}
	}
	// The last run finishes.
	cmd := start()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("final run: %v", err)
	}

	st, err := bolt.Open(filepath.Join(data, bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	es, err := st.List(ctx, procurebot.LedgerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	charges := map[string]procurebot.LedgerEntry{}
	payments := map[string]procurebot.LedgerEntry{}
	totals := map[procurebot.EntryKind]procurebot.Money{}
	perHour := map[string]procurebot.Money{}
	dups := 0
	for _, e := range es {
		switch e.Kind {
		case procurebot.KindPayment:
			if _, ok := payments[e.IntentID]; ok {
				dups++
			}
			payments[e.IntentID] = e
		default:
			id, _, _ := strings.Cut(e.Note, " ")
			if _, ok := charges[id]; ok {
				dups++
			}
			charges[id] = e
			totals[e.Kind] = totals[e.Kind].Add(e.AmountUSD)
		}
	}
	// Spend per hour: what was paid, by the hour of the step it paid for.
	owed := 0
	for id, p := range payments {
		c, ok := charges[id]
		if !ok {
			t.Errorf("payment %s pays no charge", id)
			continue
		}
		h := c.Time.Format("2006-01-02T15")
		perHour[h] = perHour[h].Add(p.AmountUSD)
	}
	if dups != 0 {
		t.Errorf("%d duplicated ledger entries", dups)
	}
	// Every spending charge was paid, once, and each payment is a charge.
	paidCharges := 0
	for note, e := range charges {
		if e.Kind == procurebot.KindLeaseIncome || e.AmountUSD.Sign() <= 0 {
			continue
		}
		if strings.Contains(e.Note, "(owed") {
			owed++
			continue
		}
		paidCharges++
		p, ok := payments[note]
		if !ok {
			t.Errorf("charge %s (%s USD) has no payment", note, e.AmountUSD)
			continue
		}
		if p.AmountUSD.LessThan(e.AmountUSD) || p.AmountUSD.Sub(e.AmountUSD).GreaterThan(decimal.New(1, -6)) {
			t.Errorf("charge %s of %s USD paid %s", note, e.AmountUSD, p.AmountUSD)
		}
	}
	if len(payments) != paidCharges {
		t.Errorf("%d payments for %d spending charges", len(payments), paidCharges)
	}
	intents, err := st.ListIntents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nonces := map[uint64]string{}
	for _, in := range intents {
		if in.State != procurebot.IntentConfirmed {
			t.Errorf("intent %s ended %s", in.ID, in.State)
		}
		if other, ok := nonces[in.Nonce]; ok {
			t.Errorf("intents %s and %s share nonce %d", other, in.ID, in.Nonce)
		}
		nonces[in.Nonce] = in.ID
		if p, ok := payments[in.ID]; !ok || p.TxHash != in.Mined {
			t.Errorf("intent %s mined %s, ledger payment %+v", in.ID, in.Mined, p)
		}
	}
	for h, m := range perHour {
		if m.GreaterThan(decimal.NewFromInt(12)) {
			t.Errorf("hour %s paid %s USD, over the 12 USD cap", h, m)
		}
	}

	// Nothing lost: every step's recorded decision, priced again on the
	// simulator, gives exactly the step's ledger entries.
	expected := expectedCharges(t, st, scen)
	if len(expected) != len(charges) {
		t.Errorf("%d charges in the ledger, %d in the 72 recorded decisions", len(charges), len(expected))
	}
	for note, amt := range expected {
		e, ok := charges[note]
		if !ok {
			t.Errorf("charge %s (%s USD) lost", note, amt)
		} else if !e.AmountUSD.Equal(amt) {
			t.Errorf("charge %s: ledger %s, decision %s", note, e.AmountUSD, amt)
		}
	}
	msg := fmt.Sprintf("%d kills (%d runs ended before their kill), %d charges (%d owed: refused by policy, unavoidable), %d payments, %d intents confirmed, 0 duplicates, 0 lost, no hour's payments over the cap, in %s",
		kills, finished, len(charges), owed, len(payments), len(intents), time.Since(began).Round(time.Second))
	t.Log(msg)
	if f := os.Getenv("PROCUREBOT_KILL_REPORT"); f != "" && !t.Failed() {
		fh, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(fh, "paper bot: "+msg)
			fh.Close()
		}
	}
}

// expectedCharges prices the decisions the run recorded for each step
// and returns every charge by its action id.
func expectedCharges(t *testing.T, st *bolt.Store, scen string) map[string]procurebot.Money {
	t.Helper()
	ctx := context.Background()
	ds, err := csv.LoadFS(sampledata.FS())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scenario.Load(scen)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := sim.NewSession(ctx, sc, ds, strategy.NewArbitrage())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]procurebot.Money{}
	for k := 0; k < sess.Steps(); k++ {
		b, ok, err := st.GetState(ctx, fmt.Sprintf("agent/paper/decision/%d", k))
		if err != nil || !ok {
			t.Fatalf("step %d: no recorded decision (%v)", k, err)
		}
		var d procurebot.Decision
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		if _, err := sess.Decide(ctx); err != nil {
			t.Fatal(err)
		}
		bill, err := sess.Apply(d)
		if err != nil {
			t.Fatal(err)
		}
		id := func(kind procurebot.ActionKind, venue, subject string) string {
			return agent.ActionID("paper", k, kind, venue, subject)
		}
		for _, c := range bill.Rentals {
			out[id(procurebot.ActRent, c.Venue, c.Job)] = c.AmountUSD
		}
		for _, c := range bill.Tokens {
			out[id(procurebot.ActTokens, c.Venue, c.Job)] = c.AmountUSD
		}
		for _, c := range bill.Energy {
			out[id(procurebot.ActEnergy, c.Venue, c.Site)] = c.AmountUSD
		}
		for _, c := range bill.Leases {
			out[id(procurebot.ActLease, c.Venue, c.Site)] = c.AmountUSD
		}
	}
	return out
}

// TestPaperSIGTERM stops the bot with SIGTERM mid-run: it finishes the step
// in flight and exits 0, leaving no step half done; a restart resumes
// where it stopped and completes the run.
func TestPaperSIGTERM(t *testing.T) {
	dir := t.TempDir()
	scen, _ := filepath.Abs(filepath.Join("..", "..", "agent", "testdata", "three-days.yaml"))
	args := []string{"run", "--data-dir", dir, "--speed", "20ms", "--scenario", scen, "--listen", "127.0.0.1:0"}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PROCUREBOT_MAIN=1")
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Stop it once a few steps are done (it reports them on /metrics).
	deadline := time.Now().Add(60 * time.Second)
	for !stepsDone(dir, 3) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no 3 steps done in 60 s:\n%.2000s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("still running 30 s after SIGTERM")
	}
	if !strings.Contains(logs.String(), "stopped; run again to resume") {
		t.Errorf("no stop message:\n%.2000s", logs.String())
	}
	st, err := bolt.Open(filepath.Join(dir, bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	b, ok, err := st.GetState(context.Background(), "agent/paper/cursor")
	st.Close()
	var c struct {
		Next     int  `json:"next"`
		InFlight bool `json:"in_flight"`
	}
	if err != nil || !ok || json.Unmarshal(b, &c) != nil {
		t.Fatalf("checkpoint: %s %v %v", b, ok, err)
	}
	if c.InFlight || c.Next <= 0 || c.Next >= 72 {
		t.Errorf("checkpoint after SIGTERM %+v: want a finished step part-way through the run", c)
	}
	cmd = exec.Command(os.Args[0], append(args[:len(args):len(args)], "--speed", "0", "--quiet")...)
	cmd.Env = append(os.Environ(), "PROCUREBOT_MAIN=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	t.Logf("stopped cleanly after step %d of 72, resumed and finished", c.Next)
}

// stepsDone reports whether the bot of dataDir has done n steps, from its
// /metrics.
func stepsDone(dataDir string, n int) bool {
	url, _, ok := botAPI(dataDir)
	if !ok {
		return false
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "procurebot_step "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return err == nil && f >= float64(n)
		}
	}
	return false
}

// A data directory's run is resumed only with what started it: another
// scenario on the same run id is refused, a new run id is fine.
func TestRunRefusesAnotherRun(t *testing.T) {
	dir := t.TempDir()
	scen, _ := filepath.Abs(filepath.Join("..", "..", "agent", "testdata", "three-days.yaml"))
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"run", "--data-dir", dir, "--speed", "0", "--scenario", scen, "--listen", "127.0.0.1:0", "--quiet"}, &stdout, &stderr); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr.String())
	}
	stderr.Reset()
	code := run(context.Background(), []string{"run", "--data-dir", dir, "--speed", "0", "--strategy", "greedy", "--scenario", scen, "--listen", "127.0.0.1:0", "--quiet"}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "run paper in this store was started with another scenario, data or planner") {
		t.Fatalf("another planner on run paper: exit %d: %s", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"run", "--data-dir", dir, "--speed", "0", "--strategy", "greedy", "--scenario", scen, "--run-id", "greedy", "--listen", "127.0.0.1:0", "--quiet"}, &stdout, &stderr); code != 0 {
		t.Fatalf("a new run id: exit %d: %s", code, stderr.String())
	}
}

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

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot/sim"
)

func TestQuotesHistory(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"quotes", "--gpu", "h100", "--limit", "5", "--quiet"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	if !strings.HasPrefix(out, "# no venues configured: embedded price history as of 2025-01-31T00:01:02Z") {
		t.Errorf("header:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 || !strings.Contains(lines[1], "usd_per_gpu_h") {
		t.Fatalf("want header, column names and 5 rows:\n%s", out)
	}
	for _, l := range lines[2:] {
		if !strings.Contains(l, " H100 ") {
			t.Errorf("--gpu h100 let through %q", l)
		}
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"quotes", "--provider", "runpod", "--quiet"}, &stdout, &stderr); code != 0 {
		t.Fatalf("history --provider runpod: exit %d: %s", code, stderr.String())
	}
	rows := strings.Split(strings.TrimSpace(stdout.String()), "\n")[2:]
	if len(rows) == 0 {
		t.Fatal("no runpod rows in the history")
	}
	for _, l := range rows {
		if !strings.HasPrefix(strings.TrimSpace(l), "runpod ") {
			t.Errorf("--provider runpod let through %q", l)
		}
	}
}

func TestQuotesLive(t *testing.T) {
	clock := sim.NewVirtualClock(time.Now())
	srv := replayServer(t, clock)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
providers:
  lambda: {base_url: %[1]s/lambda, api_key: {value: k}}
  runpod: {base_url: %[1]s/runpod}
`, srv.URL)), 0o600)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"quotes", "--config", cfg, "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var out quotesOut
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.Source != "live" || len(out.Venues) != 2 || len(out.GPU) == 0 {
		t.Fatalf("%+v", out)
	}
	seen := map[string]bool{}
	for i, q := range out.GPU {
		seen[q.Venue] = true
		if i > 0 && decimal.RequireFromString(q.USDPerGPUHour).LessThan(decimal.RequireFromString(out.GPU[i-1].USDPerGPUHour)) {
			t.Errorf("row %d not sorted by per-GPU price", i)
		}
		if q.BillingUnit == "" || q.BilledRaw == "" || q.FetchedAt == "" {
			t.Errorf("row %d lacks its billing: %+v", i, q)
		}
	}
	if !seen["lambda"] || !seen["runpod"] {
		t.Errorf("venues seen %v", seen)
	}

	// --provider narrows to one venue; an unconfigured or unknown one is bad input.
	stdout.Reset()
	if code := run(context.Background(), []string{"quotes", "--config", cfg, "--provider", "runpod", "--quiet"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if strings.Contains(stdout.String(), "lambda") || !strings.Contains(stdout.String(), "# live quotes at") {
		t.Errorf("--provider runpod:\n%s", stdout.String())
	}
	for _, p := range []string{"vastai", "nosuch"} {
		stderr.Reset()
		if code := run(context.Background(), []string{"quotes", "--config", cfg, "--provider", p}, &stdout, &stderr); code != 2 {
			t.Errorf("--provider %s: exit %d, want 2: %s", p, code, stderr.String())
		}
		if !strings.Contains(stderr.String(), "--provider "+p) {
			t.Errorf("--provider %s: %s", p, stderr.String())
		}
	}
}

func TestQuotesBadConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("providers:\n  lambda:\n    api_kee: {env: X}\n"), 0o600)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"quotes", "--config", cfg}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "line 3: unknown key api_kee") {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
}

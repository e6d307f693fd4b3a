package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/store/bolt"
)

func TestLedgerCommand(t *testing.T) {
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)
	for i, e := range []procurebot.LedgerEntry{
		{Time: t0, Kind: procurebot.KindRental, AmountUSD: decimal.RequireFromString("12.50"), Venue: "runpod"},
		{Time: t0.Add(time.Hour), Kind: procurebot.KindPayment, AmountUSD: decimal.RequireFromString("12.5"), Venue: "runpod",
			IntentID: "pay-1", TxHash: "0xabc"},
		{Time: t0.Add(2 * time.Hour), Kind: procurebot.KindEnergy, AmountUSD: decimal.RequireFromString("0.731"), Venue: "tx-1"},
	} {
		e := e
		if err := st.Append(context.Background(), &e); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	code, out, errs := runCLI(t, "ledger", "--data-dir", dir, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Entries []map[string]any `json:"entries"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	if len(got.Entries) != 3 {
		t.Fatalf("entries = %d, want 3", len(got.Entries))
	}
	pay := got.Entries[1]
	if pay["kind"] != "payment" || pay["intent_id"] != "pay-1" || pay["tx_hash"] != "0xabc" || pay["amount_usd"] != "12.5" ||
		pay["time"] != "2024-10-01T01:00:00Z" || pay["venue"] != "runpod" {
		t.Errorf("payment entry = %v", pay)
	}

	code, out, _ = runCLI(t, "ledger", "--data-dir", dir, "--since", "2024-10-01T01:00:00Z", "--kind", "energy")
	if code != 0 || !strings.Contains(out, "0.731") || strings.Contains(out, "runpod") {
		t.Errorf("filtered table (exit %d):\n%s", code, out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ledger", "--data-dir", filepath.Join(dir, "none")}, "no store"},
		{[]string{"ledger", "--data-dir", dir, "--since", "yesterday"}, "--since"},
		{[]string{"ledger", "--data-dir", dir, "--kind", "bribe"}, "bribe"},
	} {
		code, _, errs := runCLI(t, c.args...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming %q", c.args, code, errs, c.want)
		}
	}
}

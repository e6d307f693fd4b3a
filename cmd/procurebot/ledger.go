package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/agent"
)

// defaultDataDir is where the bot keeps its store when --data-dir is not
// given: $PROCUREBOT_DATA_DIR, else $XDG_DATA_HOME/procurebot, else
// ~/.local/share/procurebot.
func defaultDataDir() string {
	if d := os.Getenv("PROCUREBOT_DATA_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "procurebot")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "procurebot")
	}
	return "procurebot-data"
}

type ledgerFlags struct {
	dataDir      string
	since, until string
	kinds        []string
	limit        int
	json         bool
}

func newLedgerCmd(stdout io.Writer) *cobra.Command {
	var f ledgerFlags
	cmd := &cobra.Command{
		Use:   "ledger [--data-dir DIR] [--since T] [--until T] [--kind K]... [--json]",
		Short: "List the ledger: every payment, rental, lease income and energy charge",
		Long: `ledger lists the append-only ledger of the bot's store (the bbolt file
procurebot.db in the data directory), oldest first.

Kinds: reservation, rental, payment, lease_income, energy, inference, approval.
A payment entry carries its intent_id (the idempotency key: it never appears
on two payment entries) and tx_hash.

--json prints one object {"entries":[…]} (DESIGN §8): time (RFC 3339), kind,
amount_usd (decimal string), venue, and intent_id and tx_hash for payments.`,
		Example: `  procurebot ledger --data-dir ./state --since 2024-10-01T00:00:00Z --kind payment --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLedger(cmd.Context(), f, stdout)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", defaultDataDir(), "the bot's data directory (holds procurebot.db)")
	fl.StringVar(&f.since, "since", "", "only entries at or after this time (RFC 3339)")
	fl.StringVar(&f.until, "until", "", "only entries before this time (RFC 3339)")
	fl.StringSliceVar(&f.kinds, "kind", nil, "only entries of these kinds (repeat or comma-separate)")
	fl.IntVar(&f.limit, "limit", 0, "at most this many entries (0: all)")
	fl.BoolVar(&f.json, "json", false, `print one JSON object {"entries":[…]}`)
	return cmd
}

func parseFlagTime(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("--%s: %q is not an RFC 3339 time (e.g. 2024-10-01T00:00:00Z)", flag, v)}
	}
	return t.UTC(), nil
}

func runLedger(ctx context.Context, f ledgerFlags, stdout io.Writer) error {
	var filter procurebot.LedgerFilter
	var err error
	if filter.Since, err = parseFlagTime("since", f.since); err != nil {
		return err
	}
	if filter.Until, err = parseFlagTime("until", f.until); err != nil {
		return err
	}
	if f.limit < 0 {
		return usageError{fmt.Errorf("--limit: must not be negative, got %d", f.limit)}
	}
	filter.Limit = f.limit
	for _, k := range f.kinds {
		e := procurebot.LedgerEntry{Time: time.Unix(0, 0), Kind: procurebot.EntryKind(k), IntentID: "x", TxHash: "x"}
		if err := e.Validate(); err != nil {
			return usageError{fmt.Errorf("--kind: unknown kind %q (want reservation, rental, payment, lease_income, energy, inference or approval)", k)}
		}
		filter.Kinds = append(filter.Kinds, procurebot.EntryKind(k))
	}
	entries, err := ledgerEntries(ctx, f.dataDir, filter)
	if err != nil {
		return err
	}
	if f.json {
		out := struct {
			Entries []agent.LedgerJSON `json:"entries"`
		}{Entries: []agent.LedgerJSON{}}
		for _, e := range entries {
			out.Entries = append(out.Entries, agent.ToLedgerJSON(e))
		}
		return json.NewEncoder(stdout).Encode(out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "seq\ttime\tkind\tamount_usd\tvenue\tintent_id\ttx_hash\tnote")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.UTC().Format(time.RFC3339), e.Kind,
			e.AmountUSD.String(), e.Venue, e.IntentID, e.TxHash, e.Note)
	}
	return tw.Flush()
}

// ledgerEntries reads the ledger of dataDir: through the running bot's
// admin API when a bot holds the store, else from the store file.
func ledgerEntries(ctx context.Context, dataDir string, filter procurebot.LedgerFilter) ([]procurebot.LedgerEntry, error) {
	q := url.Values{}
	if !filter.Since.IsZero() {
		q.Set("since", filter.Since.Format(time.RFC3339Nano))
	}
	if !filter.Until.IsZero() {
		q.Set("until", filter.Until.Format(time.RFC3339Nano))
	}
	for _, k := range filter.Kinds {
		q.Add("kind", string(k))
	}
	if filter.Limit > 0 {
		q.Set("limit", strconv.Itoa(filter.Limit))
	}
	var out struct {
		Entries []agent.LedgerJSON `json:"entries"`
	}
	ok, err := apiCall(ctx, dataDir, http.MethodGet, "/api/ledger?"+q.Encode(), nil, &out)
	if err != nil {
		return nil, err
	}
	if ok {
		entries := make([]procurebot.LedgerEntry, 0, len(out.Entries))
		for _, e := range out.Entries {
			t, _ := time.Parse(time.RFC3339, e.Time)
			amt, _ := decimal.NewFromString(e.AmountUSD)
			entries = append(entries, procurebot.LedgerEntry{Seq: e.Seq, Time: t, Kind: procurebot.EntryKind(e.Kind), AmountUSD: amt,
				Venue: e.Venue, IntentID: e.IntentID, TxHash: e.TxHash, Note: e.Note})
		}
		return entries, nil
	}
	st, err := openStore(dataDir)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.List(ctx, filter)
}

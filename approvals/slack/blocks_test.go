package slack

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/procurebot/procurebot"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func blocksJSON(t *testing.T, blocks []slack.Block) []byte {
	t.Helper()
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false) // readable golden files; Slack reads either
	e.SetIndent("", "  ")
	if err := e.Encode(blocks); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestBlocksGolden(t *testing.T) {
	a := sampleApproval()
	tokens := sampleApproval()
	tokens.Action.Kind = procurebot.ActTokens
	tokens.Action.Venue = "openrouter <llama & co>"
	tokens.Action.GPU, tokens.Action.Job = "", ""
	tokens.Action.GPUs, tokens.Action.USDPerGPUHour, tokens.Action.CheapestUSDPerGPUHour = procurebot.Zero, procurebot.Zero, procurebot.Zero
	tokens.Action.AmountUSD = dec("12345.6")
	for _, tc := range []struct {
		name string
		a    procurebot.Approval
	}{
		{"pending", a},
		{"approved", decided(a, procurebot.ApprovalApproved, testUser)},
		{"rejected_cli", decided(a, procurebot.ApprovalRejected, "cli:alice")},
		{"expired", expired(a)},
		{"tokens_pending", tokens},
	} {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, "blocks_"+tc.name+".json", blocksJSON(t, Blocks(tc.a)))
			golden(t, "text_"+tc.name+".txt", []byte(Text(tc.a)+"\n"))
		})
	}
}

func expired(a procurebot.Approval) procurebot.Approval {
	a = decided(a, procurebot.ApprovalExpired, "expiry")
	a.Decided = a.Expires
	return a
}

// TestBlocksShape checks what the golden files hold, so that a careless
// -update cannot bless a message without buttons.
func TestBlocksShape(t *testing.T) {
	a := sampleApproval()
	pending := string(blocksJSON(t, Blocks(a)))
	for _, want := range []string{
		`"type": "header"`,
		`"action_id": "approve"`, `"action_id": "reject"`,
		`"style": "primary"`, `"style": "danger"`,
		`"value": "` + a.ID + `"`,
		"*Venue*\\nrunpod", "*GPUs*\\n8 × H100", "*Price*\\n$2.49/GPU-h", "*Term*\\n24 h",
		"*Total*\\n$478.08", "*vs cheapest*\\n1.12× cheapest", "2026-03-02 14:28 UTC",
	} {
		if !strings.Contains(pending, want) {
			t.Errorf("pending blocks lack %s", want)
		}
	}
	if n := strings.Count(pending, `"value": "`+a.ID+`"`); n != 2 {
		t.Errorf("%d buttons carry the approval id, want 2", n)
	}
	done := string(blocksJSON(t, Blocks(decided(a, procurebot.ApprovalApproved, testUser))))
	if strings.Contains(done, `"type": "actions"`) || strings.Contains(done, `"action_id"`) {
		t.Error("a decided message still has buttons")
	}
	if !strings.Contains(done, "*Approved* by <@"+testUser+">") {
		t.Errorf("decided message does not say who approved:\n%s", done)
	}
	// Slack limits: header ≤ 150 chars, ≤ 10 section fields.
	long := a
	long.Action.Venue = strings.Repeat("v", 300)
	for _, b := range Blocks(long) {
		if h, ok := b.(*slack.HeaderBlock); ok && len([]rune(h.Text.Text)) > 150 {
			t.Errorf("header has %d chars", len([]rune(h.Text.Text)))
		}
		if s, ok := b.(*slack.SectionBlock); ok && len(s.Fields) > 10 {
			t.Errorf("section has %d fields", len(s.Fields))
		}
	}
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{usd(dec("478.08")), "$478.08"},
		{usd(dec("1234567.891")), "$1,234,567.89"},
		{usd(dec("-1000")), "-$1,000.00"},
		{usd(dec("0")), "$0.00"},
		{price(dec("2.49")), "$2.49"},
		{price(dec("0.125")), "$0.125"},
		{price(dec("3")), "$3.00"},
		{ratio(procurebot.Action{USDPerGPUHour: dec("2.22"), CheapestUSDPerGPUHour: dec("2.22")}), "1.00× cheapest"},
		{ratio(procurebot.Action{USDPerGPUHour: dec("2.49")}), "—"},
		{gpus(procurebot.Action{GPUs: dec("0.5"), GPU: "A100"}), "0.5 × A100"},
		{who("U2CERLKJA"), "<@U2CERLKJA>"},
		{who("cli:<b>"), "`cli:&lt;b&gt;`"},
		{escape("a & <b>"), "a &amp; &lt;b&gt;"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

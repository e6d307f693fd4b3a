package slack

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/procurebot/procurebot"
)

func newTestNotifier(t *testing.T, f *fakeSlack, channel string) (*Notifier, *logBuffer) {
	t.Helper()
	env, logs := testEnv(t)
	n, err := NewNotifier(Config{Channel: channel, APIURL: f.url()}, env)
	if err != nil {
		t.Fatal(err)
	}
	return n, logs
}

// authedWith reports which credential a call carried, as Slack reads it.
func authedWith(c apiCall) string {
	if tok, ok := strings.CutPrefix(c.Auth, "Bearer "); ok {
		return tok
	}
	return c.Form.Get("token")
}

// buttons returns the (action_id, value, style) of every button in a
// blocks JSON form field.
func buttons(t *testing.T, blocksJSON string) [][3]string {
	t.Helper()
	var blocks []struct {
		Type     string `json:"type"`
		Elements []struct {
			Type     string `json:"type"`
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
			Style    string `json:"style"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(blocksJSON), &blocks); err != nil {
		t.Fatalf("blocks are not JSON: %v\n%s", err, blocksJSON)
	}
	var out [][3]string
	for _, b := range blocks {
		if b.Type != "actions" {
			continue
		}
		for _, e := range b.Elements {
			if e.Type == "button" {
				out = append(out, [3]string{e.ActionID, e.Value, e.Style})
			}
		}
	}
	return out
}

// unescapeJSON undoes encoding/json's HTML escaping, for string checks.
func unescapeJSON(s string) string {
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(s)
}

func TestNotifierAskAndResolve(t *testing.T) {
	f := newFakeSlack(t)
	n, logs := newTestNotifier(t, f, "#approvals")
	a := sampleApproval()
	ctx := context.Background()

	channel, ts, err := n.Ask(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if channel != testChannel || ts != "1772459910.000100" {
		t.Fatalf("Ask = %q, %q; want the channel ID and ts Slack answered", channel, ts)
	}
	calls := f.Calls()
	if len(calls) != 1 || calls[0].Method != "chat.postMessage" {
		t.Fatalf("calls %+v, want one chat.postMessage", calls)
	}
	post := calls[0]
	if got := authedWith(post); got != testBotToken {
		t.Fatalf("chat.postMessage authenticated with %q…, want the bot token", got[:min(6, len(got))])
	}
	if post.Form.Get("channel") != "#approvals" {
		t.Fatalf("channel %q", post.Form.Get("channel"))
	}
	want := [][3]string{{ActionApprove, a.ID, "primary"}, {ActionReject, a.ID, "danger"}}
	if got := buttons(t, post.Form.Get("blocks")); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("buttons %v, want %v", got, want)
	}
	if !strings.Contains(post.Form.Get("text"), "Approval needed: rent on runpod, $478.08") {
		t.Fatalf("fallback text %q", post.Form.Get("text"))
	}

	a = decided(a, procurebot.ApprovalApproved, testUser)
	a.Channel, a.MessageTS = channel, ts
	if err := n.Resolve(ctx, a); err != nil {
		t.Fatal(err)
	}
	calls = f.Calls()
	if len(calls) != 2 || calls[1].Method != "chat.update" {
		t.Fatalf("calls %+v, want chat.update second", calls)
	}
	upd := calls[1]
	if upd.Form.Get("channel") != testChannel || upd.Form.Get("ts") != ts || authedWith(upd) != testBotToken {
		t.Fatalf("chat.update channel %q ts %q", upd.Form.Get("channel"), upd.Form.Get("ts"))
	}
	if b := buttons(t, upd.Form.Get("blocks")); len(b) != 0 {
		t.Fatalf("the updated message keeps buttons %v", b)
	}
	if !strings.Contains(unescapeJSON(upd.Form.Get("blocks")), "*Approved* by <@"+testUser+">") || !strings.Contains(upd.Form.Get("text"), "Approved by "+testUser) {
		t.Fatalf("update does not show the outcome: %s / %s", upd.Form.Get("blocks"), upd.Form.Get("text"))
	}
	if !strings.Contains(logs.String(), "approval requested") {
		t.Errorf("Ask not logged:\n%s", logs)
	}
}

func TestNotifierErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		setup    func(*fakeSlack)
		call     func(*Notifier) error
		code     string
		contains []string
	}{
		{
			name:  "channel_not_found",
			setup: func(f *fakeSlack) { f.fail["chat.postMessage"] = "channel_not_found" },
			call:  func(n *Notifier) error { _, _, err := n.Ask(ctx, sampleApproval()); return err },
			code:  procurebot.EINVALID,
			contains: []string{"chat.postMessage", testChannel, "channel_not_found",
				"check approvals.slack.channel"},
		},
		{
			name:     "not_in_channel",
			setup:    func(f *fakeSlack) { f.fail["chat.postMessage"] = "not_in_channel" },
			call:     func(n *Notifier) error { _, _, err := n.Ask(ctx, sampleApproval()); return err },
			code:     procurebot.EINVALID,
			contains: []string{"not_in_channel", "/invite"},
		},
		{
			name:     "transient Slack error",
			setup:    func(f *fakeSlack) { f.fail["chat.postMessage"] = "service_unavailable" },
			call:     func(n *Notifier) error { _, _, err := n.Ask(ctx, sampleApproval()); return err },
			code:     procurebot.EUNAVAILABLE,
			contains: []string{"service_unavailable"},
		},
		{
			name:     "HTTP 503",
			setup:    func(f *fakeSlack) { f.status["chat.postMessage"] = http.StatusServiceUnavailable },
			call:     func(n *Notifier) error { _, _, err := n.Ask(ctx, sampleApproval()); return err },
			code:     procurebot.EUNAVAILABLE,
			contains: []string{"503"},
		},
		{
			name:  "update of a deleted message",
			setup: func(f *fakeSlack) { f.fail["chat.update"] = "message_not_found" },
			call: func(n *Notifier) error {
				return n.Resolve(ctx, decided(sampleApproval(), procurebot.ApprovalRejected, testUser))
			},
			code:     procurebot.EINVALID,
			contains: []string{"chat.update", "message_not_found", "deleted"},
		},
		{
			name: "Ask a decided approval",
			call: func(n *Notifier) error {
				_, _, err := n.Ask(ctx, decided(sampleApproval(), procurebot.ApprovalApproved, testUser))
				return err
			},
			code:     procurebot.EINVALID,
			contains: []string{"not pending"},
		},
		{
			name: "Ask an invalid approval",
			call: func(n *Notifier) error {
				a := sampleApproval()
				a.ID = "other"
				_, _, err := n.Ask(ctx, a)
				return err
			},
			code: procurebot.EINVALID,
		},
		{
			name:     "Resolve a pending approval",
			call:     func(n *Notifier) error { return n.Resolve(ctx, sampleApproval()) },
			code:     procurebot.EINVALID,
			contains: []string{"still pending"},
		},
		{
			name: "Resolve without a message",
			call: func(n *Notifier) error {
				a := decided(sampleApproval(), procurebot.ApprovalApproved, testUser)
				a.MessageTS = ""
				return n.Resolve(ctx, a)
			},
			code:     procurebot.EINVALID,
			contains: []string{"no Slack message"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSlack(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			n, _ := newTestNotifier(t, f, testChannel)
			err := tc.call(n)
			if err == nil {
				t.Fatal("no error")
			}
			if c := procurebot.ErrorCode(err); c != tc.code {
				t.Errorf("code %q, want %q (%v)", c, tc.code, err)
			}
			for _, s := range tc.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			assertNoSecrets(t, "error", err.Error())
			if tc.setup == nil && len(f.Calls()) != 0 {
				t.Errorf("a refused call reached Slack: %+v", f.Calls())
			}
		})
	}
}

func TestNotifierSlackErrorUnwraps(t *testing.T) {
	f := newFakeSlack(t)
	f.fail["chat.postMessage"] = "channel_not_found"
	n, _ := newTestNotifier(t, f, testChannel)
	_, _, err := n.Ask(context.Background(), sampleApproval())
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != "channel_not_found" {
		t.Fatalf("err %v does not unwrap to slack.SlackErrorResponse", err)
	}
}

// TestNotifierWrongToken: Slack's invalid_auth is reported without the
// token.
func TestNotifierWrongToken(t *testing.T) {
	f := newFakeSlack(t)
	env, _ := testEnv(t)
	env.Getenv = func(k string) string {
		if k == EnvBotToken {
			return "xoxb-9999-sEcReTwRoNg"
		}
		return ""
	}
	n, err := NewNotifier(Config{Channel: testChannel, APIURL: f.url()}, env)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = n.Ask(context.Background(), sampleApproval())
	if procurebot.ErrorCode(err) != procurebot.EINVALID || !strings.Contains(err.Error(), "invalid_auth") || !strings.Contains(err.Error(), "token is wrong") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "sEcReTwRoNg") {
		t.Fatalf("error holds the token: %v", err)
	}
}

func TestNotifierContextCanceled(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := newTestNotifier(t, f, testChannel)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := n.Ask(ctx, sampleApproval())
	if !errors.Is(err, context.Canceled) || procurebot.ErrorCode(err) != procurebot.EUNAVAILABLE {
		t.Fatalf("err = %v (code %s)", err, procurebot.ErrorCode(err))
	}
}

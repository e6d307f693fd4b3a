package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/procurebot/procurebot"
)

// envelope is a Socket Mode message as Slack sends it.
func envelope(typ, id string, retry int, payload []byte) map[string]any {
	return map[string]any{
		"type":                     typ,
		"envelope_id":              id,
		"payload":                  json.RawMessage(payload),
		"accepts_response_payload": false,
		"retry_attempt":            retry,
		"retry_reason":             "",
	}
}

// TestSocketMode runs RunSocketMode against a fake Slack: it opens the
// connection with the app token, acknowledges each envelope, decides the
// button press once although Slack delivers it twice, and returns nil when
// its context ends.
func TestSocketMode(t *testing.T) {
	f := newFakeSlack(t)
	a := sampleApproval()
	store := newMemStore(a)
	rec := &recordingDecider{next: StoreDecider{Store: store}}

	press := blockActions(ActionApprove, a.ID, testUser, "1772460000.777777")
	script := make(chan error, 1)
	f.ws = func(conn *websocket.Conn) {
		script <- func() error {
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if err := conn.WriteJSON(map[string]any{"type": "hello", "num_connections": 1,
				"debug_info": map[string]any{"host": "applink-test"}, "connection_info": map[string]any{"app_id": "A0APP"}}); err != nil {
				return err
			}
			// The press, then Slack's redelivery of it under a new envelope,
			// then an event that is not ours (it must be acknowledged too).
			for _, env := range []map[string]any{
				envelope("interactive", "env-1", 0, press),
				envelope("interactive", "env-2", 1, press),
				envelope("slash_commands", "env-3", 0, []byte(`{"command":"/procurebot","text":"status","user_id":"U2CERLKJA"}`)),
			} {
				if err := conn.WriteJSON(env); err != nil {
					return err
				}
				var ack struct {
					EnvelopeID string `json:"envelope_id"`
				}
				if err := conn.ReadJSON(&ack); err != nil {
					return fmt.Errorf("waiting for the ack of %s: %w", env["envelope_id"], err)
				}
				if ack.EnvelopeID != env["envelope_id"] {
					return fmt.Errorf("ack for %q, want %q", ack.EnvelopeID, env["envelope_id"])
				}
			}
			return nil
		}()
		// Hold the connection until the client closes it.
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}

	env, logs := testEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- RunSocketMode(ctx, Config{Channel: testChannel, APIURL: f.url(), SocketMode: true}, rec, env)
	}()

	select {
	case err := <-script:
		if err != nil {
			t.Fatal(err)
		}
	case err := <-done:
		t.Fatalf("RunSocketMode returned early: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no Socket Mode exchange within 5 s")
	}
	// Acks are sent before the decision is made; the third ack means the
	// second envelope was handled, since the loop handles them in order.
	calls := rec.Calls()
	if len(calls) != 1 || calls[0] != (decideCall{a.ID, true, testUser}) {
		t.Fatalf("Decide calls %+v, want one approve by %s", calls, testUser)
	}
	if got := store.get(a.ID); got.State != procurebot.ApprovalApproved || got.By != testUser {
		t.Fatalf("stored %s by %q", got.State, got.By)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunSocketMode after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RunSocketMode did not return after cancel")
	}

	open := f.Calls()[0]
	if open.Method != "apps.connections.open" || open.Auth != "Bearer "+testAppToken {
		t.Fatalf("first call %s, authorization %q…; want apps.connections.open with the app token", open.Method, open.Auth[:min(12, len(open.Auth))])
	}
	if !strings.Contains(logs.String(), "replayed callback ignored") {
		t.Errorf("redelivery not logged as a replay:\n%s", logs)
	}
}

func TestSocketModeRefusedToken(t *testing.T) {
	f := newFakeSlack(t)
	env, _ := testEnv(t)
	env.Getenv = func(k string) string {
		return map[string]string{EnvBotToken: testBotToken, EnvAppToken: "xapp-1-sEcReTwRoNg"}[k]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := RunSocketMode(ctx, Config{Channel: testChannel, APIURL: f.url(), SocketMode: true}, StoreDecider{Store: newMemStore()}, env)
	if procurebot.ErrorCode(err) != procurebot.EINVALID || !strings.Contains(err.Error(), "invalid_auth") {
		t.Fatalf("err = %v, want EINVALID invalid_auth", err)
	}
	if ctx.Err() != nil {
		t.Fatal("RunSocketMode kept retrying a refused token")
	}
	assertNoSecrets(t, "error", err.Error())
}

func TestSocketModeNeedsAppToken(t *testing.T) {
	env, _ := testEnv(t)
	env.Getenv = func(k string) string { return map[string]string{EnvBotToken: testBotToken}[k] }
	err := RunSocketMode(context.Background(), Config{Channel: testChannel, SocketMode: true}, StoreDecider{Store: newMemStore()}, env)
	if procurebot.ErrorCode(err) != procurebot.EINVALID || !strings.Contains(err.Error(), "approvals.slack.app_token") {
		t.Fatalf("err = %v", err)
	}
}

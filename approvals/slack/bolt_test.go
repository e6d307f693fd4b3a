package slack

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/store/bolt"
)

// TestHandlerWithBoltStore runs the whole path on a real bbolt store: the
// notifier asks, the handler takes the click and the store records it;
// a replay to a restarted handler (its replay memory empty) and a late
// click the other way both find the approval decided (ECONFLICT), are
// answered 200 and change nothing; the message is then resolved.
func TestHandlerWithBoltStore(t *testing.T) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "procurebot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	a := sampleApproval()
	if _, created, err := st.CreateApproval(ctx, &a); err != nil || !created {
		t.Fatalf("create: %v (created %v)", err, created)
	}
	f := newFakeSlack(t)
	env, _ := testEnv(t)
	cfg := Config{Channel: testChannel, APIURL: f.url()}
	n, err := NewNotifier(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	channel, ts, err := n.Ask(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetApprovalMessage(ctx, a.ID, channel, ts); err != nil {
		t.Fatal(err)
	}

	var resolved []procurebot.Approval
	dec := StoreDecider{Store: st, Decided: func(p procurebot.Approval) { resolved = append(resolved, p) }}
	newHandler := func() *Handler {
		h, err := NewHandler(cfg, dec, env)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	now := time.Now()
	click := formBody(blockActions(ActionApprove, a.ID, testUser, "1772460000.424242"))
	for i, step := range []struct {
		h    *Handler
		body []byte
	}{
		{newHandler(), click},
		{newHandler(), click}, // replayed to a restarted handler
		{newHandler(), formBody(blockActions(ActionReject, a.ID, "U0LATE", "1772460100.000001"))},
	} {
		w := httpRecorder()
		step.h.ServeHTTP(w, signedRequest(step.body, now, testSecret))
		if w.Code != http.StatusOK {
			t.Fatalf("request %d: status %d (%s)", i, w.Code, w.Body)
		}
	}
	got, err := st.GetApproval(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != procurebot.ApprovalApproved || got.By != testUser {
		t.Fatalf("stored %s by %q, want approved by %s", got.State, got.By, testUser)
	}
	if len(resolved) != 1 {
		t.Fatalf("Decided hook called %d times, want once", len(resolved))
	}
	if err := n.Resolve(ctx, resolved[0]); err != nil {
		t.Fatal(err)
	}
	calls := f.Calls()
	if last := calls[len(calls)-1]; last.Method != "chat.update" || last.Form.Get("ts") != ts {
		t.Fatalf("last call %s ts %q, want chat.update of %s", last.Method, last.Form.Get("ts"), ts)
	}
}

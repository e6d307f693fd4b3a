package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/agent"
	slackapprovals "github.com/procurebot/procurebot/approvals/slack"
	"github.com/procurebot/procurebot/policy"
	"github.com/procurebot/procurebot/providers/venuehttp"
	"github.com/procurebot/procurebot/sim"
	"github.com/procurebot/procurebot/store/bolt"
	"github.com/procurebot/procurebot/strategy"
)

func approvalPolicy(t *testing.T, expire string) policy.Config {
	t.Helper()
	c, err := policy.Parse("p.yaml", []byte("policy:\n  approval: {above_usd: \"8\", expire_after: "+expire+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type clock struct{ t time.Time }

func (c *clock) Now() time.Time                                   { return c.t }
func (c *clock) Sleep(ctx context.Context, d time.Duration) error { c.t = c.t.Add(d); return nil }

// An action above the threshold waits: it is left out of the decision, a
// request is stored once per grant key, it expires to rejected; once
// approved, later actions within the approved amount and price go through.
func TestApprovals(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, filepath.Join(t.TempDir(), "p.db"), approvalPolicy(t, "10m"), nil, agent.Config{})
	// Ten steps: the planner rents runpod GPUs above 8 USD a step.
	for i := 0; i < 10; i++ {
		if err := w.agent.Step(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := w.store.ListApprovals(ctx, procurebot.ApprovalPending)
	if err != nil || len(ps) == 0 {
		t.Fatalf("no pending approval after 10 steps (%v)", err)
	}
	keys := map[string]bool{}
	for _, p := range ps {
		k := string(p.Action.Kind) + p.Action.Venue + p.Action.Job
		if keys[k] {
			t.Errorf("two pending requests for %s", k)
		}
		keys[k] = true
		if !p.Action.AmountUSD.GreaterThan(procurebot.NewMoneyFrac(8, 1)) {
			t.Errorf("request for %s USD, not above the threshold", p.Action.AmountUSD)
		}
	}
	es, _ := w.store.List(ctx, procurebot.LedgerFilter{Kinds: []procurebot.EntryKind{procurebot.KindRental}})
	for _, e := range es {
		if e.AmountUSD.GreaterThan(procurebot.NewMoneyFrac(8, 1)) {
			t.Errorf("a rental of %s USD went through without approval: %s", e.AmountUSD, e.Note)
		}
	}
	// Approve the first: the next steps rent within it without asking.
	p := ps[0]
	d := slackapprovals.StoreDecider{Store: w.store}
	if _, err := d.Decide(ctx, p.ID, true, "U123"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decide(ctx, p.ID, false, "U456"); procurebot.ErrorCode(err) != procurebot.ECONFLICT {
		t.Fatalf("second answer: %v, want ECONFLICT", err)
	}
	before := len(es)
	for i := 0; i < 5; i++ {
		if err := w.agent.Step(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	es, _ = w.store.List(ctx, procurebot.LedgerFilter{Kinds: []procurebot.EntryKind{procurebot.KindRental}})
	granted := 0
	for _, e := range es[before:] {
		if e.Venue == p.Action.Venue && e.AmountUSD.GreaterThan(procurebot.NewMoneyFrac(8, 1)) {
			granted++
			if e.AmountUSD.GreaterThan(p.Action.AmountUSD) {
				t.Errorf("rental %s USD above the approved %s", e.AmountUSD, p.Action.AmountUSD)
			}
		}
	}
	if granted == 0 {
		all, _ := w.store.ListApprovals(ctx)
		for _, a := range all {
			t.Logf("%s %s %s", a.ID, a.State, a.Action.AmountUSD)
		}
		for _, e := range es[before:] {
			t.Logf("rental %s %s", e.Note, e.AmountUSD)
		}
		t.Errorf("no rental under the approved grant in 5 steps")
	}
}

func TestApprovalExpires(t *testing.T) {
	ctx := context.Background()
	st := newWorld(t, filepath.Join(t.TempDir(), "p.db"), approvalPolicy(t, "1ms"), nil, agent.Config{})
	for i := 0; i < 3; i++ {
		if err := st.agent.Step(ctx, false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ex, err := st.store.ListApprovals(ctx, procurebot.ApprovalExpired)
	if err != nil || len(ex) == 0 {
		t.Fatalf("no request expired (%v)", err)
	}
	if ex[0].By != "expiry" || ex[0].Decided.IsZero() {
		t.Errorf("expired %+v", ex[0])
	}
}

func TestServer(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, filepath.Join(t.TempDir(), "p.db"), approvalPolicy(t, "10m"), nil, agent.Config{})
	for i := 0; i < 3; i++ {
		if err := w.agent.Step(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	healthy := true
	srv := &agent.Server{Ledger: w.store, Approvals: w.store, Decider: slackapprovals.StoreDecider{Store: w.store}, Metrics: w.agent.Metrics(), Token: "tok",
		Health: func(ctx context.Context) error {
			if !healthy {
				return errors.New("chain: connection refused")
			}
			return nil
		}}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	do := func(method, path, token string) (int, string) {
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if c, b := do("GET", "/healthz", ""); c != 200 || !strings.Contains(b, `"ok"`) {
		t.Errorf("healthz %d %s", c, b)
	}
	healthy = false
	if c, b := do("GET", "/healthz", ""); c != 503 || !strings.Contains(b, "chain") {
		t.Errorf("unhealthy: %d %s", c, b)
	}
	if c, b := do("GET", "/metrics", ""); c != 200 || !strings.Contains(b, "procurebot_decisions_total 3") || !strings.Contains(b, "procurebot_actions_total{") {
		t.Errorf("metrics %d:\n%.600s", c, b)
	}
	for _, tok := range []string{"", "wrong"} {
		if c, _ := do("GET", "/api/approvals", tok); c != 401 {
			t.Errorf("token %q: %d, want 401", tok, c)
		}
	}
	c, b := do("GET", "/api/approvals?state=pending", "tok")
	var list struct {
		Approvals []agent.ApprovalJSON `json:"approvals"`
	}
	if c != 200 || json.Unmarshal([]byte(b), &list) != nil || len(list.Approvals) == 0 {
		t.Fatalf("approvals %d %s", c, b)
	}
	id := list.Approvals[0].ID
	if c, b := do("POST", "/api/approvals/"+url.PathEscape(id)+"/approve", "tok"); c != 200 || !strings.Contains(b, `"approved"`) {
		t.Errorf("approve %d %s", c, b)
	}
	if c, b := do("POST", "/api/approvals/"+url.PathEscape(id)+"/reject", "tok"); c != 409 || !strings.Contains(b, "already approved") {
		t.Errorf("second answer %d %s", c, b)
	}
	if c, _ := do("POST", "/api/approvals/nosuch/approve", "tok"); c != 404 {
		t.Errorf("unknown approval %d", c)
	}
	c, b = do("GET", "/api/ledger?kind=energy&limit=2", "tok")
	var led struct {
		Entries []agent.LedgerJSON `json:"entries"`
	}
	if c != 200 || json.Unmarshal([]byte(b), &led) != nil || len(led.Entries) != 2 || led.Entries[0].Kind != "energy" {
		t.Errorf("ledger %d %s", c, b)
	}
	if c, _ := do("GET", "/api/ledger?since=yesterday", "tok"); c != 400 {
		t.Errorf("bad since: %d", c)
	}
}

// slackAPI is a local server speaking the two Slack Web API methods the
// notifier uses, recording what it was sent.
type slackAPI struct {
	mu      sync.Mutex
	posts   []url.Values
	updates []url.Values
}

func (s *slackAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := r.Form.Get("token")
	if tok == "" {
		tok = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	w.Header().Set("Content-Type", "application/json")
	if tok != "xoxb-test-token" {
		io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
		return
	}
	switch r.URL.Path {
	case "/chat.postMessage":
		s.posts = append(s.posts, r.Form)
		fmt.Fprintf(w, `{"ok":true,"channel":"C0APPROVE","ts":"1700000000.%06d"}`, len(s.posts))
	case "/chat.update":
		s.updates = append(s.updates, r.Form)
		fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":%q}`, r.Form.Get("channel"), r.Form.Get("ts"))
	default:
		io.WriteString(w, `{"ok":false,"error":"unknown_method"}`)
	}
}

// The agent asks in Slack (a Block Kit message with both buttons, once per
// request) and updates the message when the request expires.
func TestSlackApprovalFlow(t *testing.T) {
	ctx := context.Background()
	api := &slackAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	n, err := slackapprovals.NewNotifier(slackapprovals.Config{Channel: "C0APPROVE", APIURL: srv.URL + "/",
		BotToken: venuehttp.Credential{Value: "xoxb-test-token"}, SigningSecret: venuehttp.Credential{Value: "secret"}}, venuehttp.Env{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := bolt.Open(filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sess, err := sim.NewSession(ctx, loadScenario(t), dataset(t), strategy.NewArbitrage())
	if err != nil {
		t.Fatal(err)
	}
	pol, _ := policy.New(approvalPolicy(t, "1ms"), st, nil)
	a, err := agent.New(agent.Config{RunID: "slack"}, agent.Deps{Market: sess, Policy: pol, Ledger: st, State: st, Approvals: st, Notifier: n, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if err := a.Step(ctx, false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Millisecond)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.posts) == 0 {
		t.Fatal("no approval request posted")
	}
	p := api.posts[0]
	blocks := p.Get("blocks")
	if p.Get("channel") != "C0APPROVE" || !strings.Contains(blocks, `"action_id":"approve"`) || !strings.Contains(blocks, `"action_id":"reject"`) ||
		!strings.Contains(blocks, "slack/1/rent/") || !strings.Contains(p.Get("text"), "Approval needed") {
		t.Errorf("posted %v", p)
	}
	ap, err := st.GetApproval(ctx, "slack/1/rent/runpod/train-a")
	if err != nil || ap.Channel != "C0APPROVE" || ap.MessageTS != "1700000000.000001" {
		t.Fatalf("stored approval %+v %v", ap, err)
	}
	if len(api.updates) == 0 || api.updates[0].Get("ts") != "1700000000.000001" || strings.Contains(api.updates[0].Get("blocks"), `"action_id":"approve"`) {
		t.Errorf("expiry did not update the message without its buttons: %v", api.updates)
	}
}

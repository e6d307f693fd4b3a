package slack

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

// Test credentials. They must never appear in a log line or an error.
const (
	testBotToken = "xoxb-1111-2222-sEcReTbOtToKeN"
	testAppToken = "xapp-1-A111-3333-sEcReTaPpToKeN"
	testSecret   = "8f742231b10e8888abcd99yyyzzz85a5"
	testChannel  = "C0APPROVAL"
	testUser     = "U2CERLKJA"
)

// secrets are the strings no log or error may contain.
var secrets = []string{testBotToken, testAppToken, testSecret, "sEcReT"}

// logBuffer is a concurrency-safe zerolog sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testEnv returns an env whose credentials come from its Getenv and
// whose logs go to a buffer that is checked for secrets at the end of the
// test.
func testEnv(t *testing.T) (venuehttp.Env, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	vars := map[string]string{
		EnvBotToken:      testBotToken,
		EnvAppToken:      testAppToken,
		EnvSigningSecret: testSecret,
	}
	t.Cleanup(func() { assertNoSecrets(t, "logs", logs.String()) })
	return venuehttp.Env{
		Logger: zerolog.New(logs),
		Getenv: func(k string) string { return vars[k] },
		HTTP:   &http.Client{Timeout: 5 * time.Second},
	}, logs
}

func assertNoSecrets(t *testing.T, what, s string) {
	t.Helper()
	for _, sec := range secrets {
		if strings.Contains(s, sec) {
			t.Errorf("%s contain a secret (%q…):\n%s", what, sec[:6], s)
		}
	}
}

func dec(s string) procurebot.Money { return decimal.RequireFromString(s) }

// sampleApproval is a pending approval for renting 8 H100s for a day.
func sampleApproval() procurebot.Approval {
	step := time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
	act := procurebot.Action{
		ID:                    "2026-03-02T14:00Z/rent/runpod/train-7",
		Kind:                  procurebot.ActRent,
		Step:                  step,
		Hours:                 dec("24"),
		Venue:                 "runpod",
		Job:                   "train-7",
		GPU:                   "H100",
		GPUs:                  dec("8"),
		USDPerGPUHour:         dec("2.49"),
		AmountUSD:             dec("478.08"),
		CheapestUSDPerGPUHour: dec("2.22"),
	}
	return procurebot.Approval{
		ID:        act.ID,
		Action:    act,
		State:     procurebot.ApprovalPending,
		Requested: step.Add(-90 * time.Second),
		Expires:   step.Add(28*time.Minute + 30*time.Second),
	}
}

// decided returns a as decided.
func decided(a procurebot.Approval, state procurebot.ApprovalState, by string) procurebot.Approval {
	a.State = state
	a.By = by
	a.Decided = a.Requested.Add(4 * time.Minute)
	a.Channel, a.MessageTS = testChannel, "1772459910.000100"
	return a
}

// sign computes Slack's v0 signature of body at timestamp ts.
func sign(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "v0:%s:", ts)
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

// memStore is an in-memory approval store whose DecideApproval is the
// compare-and-set store.ApprovalStore documents.
type memStore struct {
	mu        sync.Mutex
	approvals map[string]*procurebot.Approval
	failNext  error
}

func newMemStore(as ...procurebot.Approval) *memStore {
	s := &memStore{approvals: map[string]*procurebot.Approval{}}
	for _, a := range as {
		a := a
		s.approvals[a.ID] = &a
	}
	return s
}

func (s *memStore) DecideApproval(_ context.Context, id string, state procurebot.ApprovalState, by string, at time.Time) (*procurebot.Approval, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failNext; err != nil {
		s.failNext = nil
		return nil, err
	}
	a, ok := s.approvals[id]
	if !ok {
		return nil, procurebot.Errorf(procurebot.ENOTFOUND, "approval %q not found", id)
	}
	cp := *a
	if a.State != procurebot.ApprovalPending {
		return &cp, procurebot.Errorf(procurebot.ECONFLICT, "approval %s is already %s", id, a.State)
	}
	a.State, a.By, a.Decided = state, by, at
	cp = *a
	return &cp, nil
}

func (s *memStore) get(id string) procurebot.Approval {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.approvals[id]
}

// decideCall is one call of a recordingDecider.
type decideCall struct {
	ID      string
	Approve bool
	By      string
}

// recordingDecider records every Decide call and passes it on.
type recordingDecider struct {
	next  Decider
	mu    sync.Mutex
	calls []decideCall
	ch    chan decideCall // optional: receives every call
}

func (r *recordingDecider) Decide(ctx context.Context, id string, approve bool, by string) (*procurebot.Approval, error) {
	c := decideCall{id, approve, by}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	if r.ch != nil {
		r.ch <- c
	}
	return r.next.Decide(ctx, id, approve, by)
}

func (r *recordingDecider) Calls() []decideCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]decideCall(nil), r.calls...)
}

// apiCall is one Web API call the fake Slack received.
type apiCall struct {
	Method string
	Form   url.Values
	Auth   string // the Authorization header
}

// fakeSlack is an httptest server in the shape of Slack's Web API
// (https://slack.com/api/<method>): it authenticates like Slack (a bearer
// token in the Authorization header, or a token form field), answers
// {"ok":false,"error":…} for refusals, and serves Socket Mode's
// apps.connections.open and WebSocket.
type fakeSlack struct {
	t   *testing.T
	srv *httptest.Server

	mu    sync.Mutex
	calls []apiCall
	// fail makes a method answer {"ok":false,"error":fail[method]}.
	fail map[string]string
	// status makes a method answer with that HTTP status.
	status map[string]int
	// ws, if set, serves the Socket Mode WebSocket.
	ws func(*websocket.Conn)
}

func newFakeSlack(t *testing.T) *fakeSlack {
	t.Helper()
	f := &fakeSlack{t: t, fail: map[string]string{}, status: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", f.serveAPI)
	mux.HandleFunc("/link", f.serveWS)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// url is the Web API base to configure.
func (f *fakeSlack) url() string { return f.srv.URL + "/api/" }

func (f *fakeSlack) Calls() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiCall(nil), f.calls...)
}

func (f *fakeSlack) reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(v)
}

func (f *fakeSlack) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	body, _ := io.ReadAll(r.Body)
	form := url.Values{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		form, _ = url.ParseQuery(string(body))
	}
	f.mu.Lock()
	f.calls = append(f.calls, apiCall{Method: method, Form: form, Auth: r.Header.Get("Authorization")})
	fail, status := f.fail[method], f.status[method]
	f.mu.Unlock()

	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" {
		token = form.Get("token")
	}
	want := testBotToken
	if method == "apps.connections.open" {
		want = testAppToken
	}
	switch {
	case token == "":
		f.reply(w, map[string]any{"ok": false, "error": "not_authed"})
		return
	case token != want:
		f.reply(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	case fail != "":
		f.reply(w, map[string]any{"ok": false, "error": fail})
		return
	}
	channel := form.Get("channel")
	if channel == "#approvals" {
		channel = testChannel
	}
	switch method {
	case "chat.postMessage":
		if channel == "" {
			f.reply(w, map[string]any{"ok": false, "error": "channel_not_found"})
			return
		}
		f.reply(w, map[string]any{"ok": true, "channel": channel, "ts": "1772459910.000100",
			"message": map[string]any{"type": "message", "text": form.Get("text"), "ts": "1772459910.000100"}})
	case "chat.update":
		if form.Get("ts") == "" {
			f.reply(w, map[string]any{"ok": false, "error": "message_not_found"})
			return
		}
		f.reply(w, map[string]any{"ok": true, "channel": channel, "ts": form.Get("ts"), "text": form.Get("text")})
	case "apps.connections.open":
		f.reply(w, map[string]any{"ok": true, "url": "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/link?ticket=t1"})
	default:
		f.reply(w, map[string]any{"ok": false, "error": "unknown_method"})
	}
}

func (f *fakeSlack) serveWS(w http.ResponseWriter, r *http.Request) {
	if f.ws == nil {
		http.NotFound(w, r)
		return
	}
	up := websocket.Upgrader{CheckOrigin: func(r *http.Request) bool {
		return r.Header.Get("Origin") == "https://api.slack.com" // what slack-go sends
	}}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		f.t.Errorf("websocket upgrade: %v", err)
		return
	}
	defer conn.Close()
	f.ws(conn)
}

// blockActions builds a block_actions interaction payload as Slack sends
// it for a button press.
func blockActions(actionID, value, user, actionTS string) []byte {
	p := map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": user, "username": "roadrunner", "team_id": "T1DC2JH3J"},
		"api_app_id":   "A0APP",
		"token":        "verification-token-unused",
		"container":    map[string]any{"type": "message", "message_ts": "1772459910.000100", "channel_id": testChannel, "is_ephemeral": false},
		"trigger_id":   "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
		"team":         map[string]any{"id": "T1DC2JH3J", "domain": "testteamnow"},
		"channel":      map[string]any{"id": testChannel, "name": "approvals"},
		"message":      map[string]any{"type": "message", "ts": "1772459910.000100", "text": "Approval needed"},
		"response_url": "https://hooks.slack.com/actions/T1DC2JH3J/1/abc",
		"actions": []any{map[string]any{
			"action_id": actionID,
			"block_id":  BlockIDActions,
			"text":      map[string]any{"type": "plain_text", "text": "Approve", "emoji": true},
			"value":     value,
			"style":     "primary",
			"type":      "button",
			"action_ts": actionTS,
		}},
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return b
}

// formBody is the body Slack posts: payload=<json>, form-encoded.
func formBody(payload []byte) []byte {
	return []byte(url.Values{"payload": {string(payload)}}.Encode())
}

// signedRequest builds a POST /slack/interactions request signed at ts.
func signedRequest(body []byte, ts time.Time, secret string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/slack/interactions", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sts := strconv.FormatInt(ts.Unix(), 10)
	r.Header.Set("X-Slack-Request-Timestamp", sts)
	r.Header.Set("X-Slack-Signature", sign(secret, sts, body))
	return r
}

func httpRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

// Slack's published example of a signed request
// (https://api.slack.com/authentication/verifying-requests-from-slack).
// The command in the published body is /webhook-collect; with any other
// body the published signature does not match.
const (
	exampleSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	exampleTimestamp = "1531420618"
	exampleBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	exampleSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

// TestSignatureSlackExample checks the v0 computation the tests sign with
// against Slack's published example, and that slack-go's verifier, given
// that example's headers, refuses it only for its age: the signature
// scheme is right, and the 2018 timestamp is outside the 5-minute window.
func TestSignatureSlackExample(t *testing.T) {
	if got := sign(exampleSecret, exampleTimestamp, []byte(exampleBody)); got != exampleSignature {
		t.Fatalf("sign(example) = %s, want %s", got, exampleSignature)
	}
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", exampleTimestamp)
	h.Set("X-Slack-Signature", exampleSignature)
	if _, err := slack.NewSecretsVerifier(h, exampleSecret); !errors.Is(err, slack.ErrExpiredTimestamp) {
		t.Fatalf("slack-go verifier on the 2018 example: err = %v, want ErrExpiredTimestamp", err)
	}
}

// TestSlackGoVerifierWindow checks that slack-go's verifier itself
// enforces the 5-minute window both ways (the handler relies on it as a
// second check) and accepts what sign() produces inside it.
func TestSlackGoVerifierWindow(t *testing.T) {
	body := []byte(exampleBody)
	for _, tc := range []struct {
		name   string
		offset time.Duration
		ok     bool
	}{
		{"now", 0, true},
		{"4m old", -4 * time.Minute, true},
		{"4m ahead", 4 * time.Minute, true},
		{"6m old", -6 * time.Minute, false},
		{"6m ahead", 6 * time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := strconv.FormatInt(time.Now().Add(tc.offset).Unix(), 10)
			h := http.Header{}
			h.Set("X-Slack-Request-Timestamp", ts)
			h.Set("X-Slack-Signature", sign(exampleSecret, ts, body))
			v, err := slack.NewSecretsVerifier(h, exampleSecret)
			if !tc.ok {
				if !errors.Is(err, slack.ErrExpiredTimestamp) {
					t.Fatalf("err = %v, want ErrExpiredTimestamp", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v.Write(body)
			if err := v.Ensure(); err != nil {
				t.Fatalf("Ensure: %v", err)
			}
		})
	}
}

type handlerFixture struct {
	h     *Handler
	store *memStore
	dec   *recordingDecider
	logs  *logBuffer
}

func newHandlerFixture(t *testing.T, cfg Config, clock procurebot.Clock) handlerFixture {
	t.Helper()
	env, logs := testEnv(t)
	env.Clock = clock
	a := sampleApproval()
	store := newMemStore(a)
	rec := &recordingDecider{next: StoreDecider{Store: store}}
	if cfg.Channel == "" {
		cfg.Channel = testChannel
	}
	h, err := NewHandler(cfg, rec, env)
	if err != nil {
		t.Fatal(err)
	}
	return handlerFixture{h: h, store: store, dec: rec, logs: logs}
}

func (f handlerFixture) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// fixedClock is a clock that stands still.
type fixedClock time.Time

func (c fixedClock) Now() time.Time                             { return time.Time(c) }
func (c fixedClock) Sleep(context.Context, time.Duration) error { return nil }

func TestHandlerSignature(t *testing.T) {
	id := sampleApproval().ID
	body := formBody(blockActions(ActionApprove, id, testUser, "1772460000.123456"))
	now := time.Now()
	for _, tc := range []struct {
		name string
		cfg  Config
		req  func() *http.Request
		want int
	}{
		{"valid", Config{}, func() *http.Request { return signedRequest(body, now, testSecret) }, 200},
		{"forged signature", Config{}, func() *http.Request { return signedRequest(body, now, "not-the-signing-secret") }, 401},
		{"tampered body", Config{}, func() *http.Request {
			r := signedRequest(body, now, testSecret)
			r.Body = ioNop(bytes.Replace(body, []byte(ActionApprove), []byte(ActionReject), 1))
			return r
		}, 401},
		{"missing signature", Config{}, func() *http.Request {
			r := signedRequest(body, now, testSecret)
			r.Header.Del("X-Slack-Signature")
			return r
		}, 401},
		{"missing timestamp", Config{}, func() *http.Request {
			r := signedRequest(body, now, testSecret)
			r.Header.Del("X-Slack-Request-Timestamp")
			return r
		}, 401},
		{"malformed signature", Config{}, func() *http.Request {
			r := signedRequest(body, now, testSecret)
			r.Header.Set("X-Slack-Signature", "v0=zz")
			return r
		}, 401},
		{"signature without v0", Config{}, func() *http.Request {
			r := signedRequest(body, now, testSecret)
			r.Header.Set("X-Slack-Signature", strings.TrimPrefix(r.Header.Get("X-Slack-Signature"), "v0="))
			return r
		}, 401},
		{"malformed timestamp", Config{}, func() *http.Request {
			r := signedRequest(body, now, testSecret)
			r.Header.Set("X-Slack-Request-Timestamp", "yesterday")
			return r
		}, 401},
		{"stale 6m", Config{}, func() *http.Request { return signedRequest(body, now.Add(-6*time.Minute), testSecret) }, 401},
		{"future 6m", Config{}, func() *http.Request { return signedRequest(body, now.Add(6*time.Minute), testSecret) }, 401},
		{"4m old within default", Config{}, func() *http.Request { return signedRequest(body, now.Add(-4*time.Minute), testSecret) }, 200},
		{"2m old beyond max_age 1m", Config{MaxAge: time.Minute}, func() *http.Request { return signedRequest(body, now.Add(-2*time.Minute), testSecret) }, 401},
		{"2m ahead beyond max_age 1m", Config{MaxAge: time.Minute}, func() *http.Request { return signedRequest(body, now.Add(2*time.Minute), testSecret) }, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newHandlerFixture(t, tc.cfg, nil)
			w := f.serve(tc.req())
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d (%s)", w.Code, tc.want, w.Body)
			}
			n := len(f.dec.Calls())
			if tc.want == 200 && n != 1 || tc.want != 200 && n != 0 {
				t.Fatalf("Decide called %d times on a %d answer", n, w.Code)
			}
			assertNoSecrets(t, "response", w.Body.String())
		})
	}
}

// TestHandlerUsesItsClock: the window is measured on the handler's clock,
// not only on the system clock slack-go reads.
func TestHandlerUsesItsClock(t *testing.T) {
	body := formBody(blockActions(ActionApprove, sampleApproval().ID, testUser, "1.1"))
	now := time.Now()
	f := newHandlerFixture(t, Config{}, fixedClock(now.Add(10*time.Minute)))
	if w := f.serve(signedRequest(body, now, testSecret)); w.Code != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401: a request 10 min before the handler's now is stale", w.Code)
	}
	if !strings.Contains(f.logs.String(), "outside the allowed window") {
		t.Errorf("the refusal is not logged with its reason:\n%s", f.logs)
	}
}

func TestHandlerDecisions(t *testing.T) {
	id := sampleApproval().ID
	now := time.Now()
	post := func(f handlerFixture, action, user, ts string) int {
		t.Helper()
		return f.serve(signedRequest(formBody(blockActions(action, id, user, ts)), now, testSecret)).Code
	}

	t.Run("approve once, replay is a no-op", func(t *testing.T) {
		f := newHandlerFixture(t, Config{}, nil)
		if c := post(f, ActionApprove, testUser, "1772460000.000001"); c != 200 {
			t.Fatalf("approve: %d", c)
		}
		if c := post(f, ActionApprove, testUser, "1772460000.000001"); c != 200 {
			t.Fatalf("replay: %d, want 200", c)
		}
		calls := f.dec.Calls()
		if len(calls) != 1 || calls[0] != (decideCall{id, true, testUser}) {
			t.Fatalf("Decide calls %+v, want one approve by %s", calls, testUser)
		}
		got := f.store.get(id)
		if got.State != procurebot.ApprovalApproved || got.By != testUser {
			t.Fatalf("stored %s by %q", got.State, got.By)
		}
		if !strings.Contains(f.logs.String(), "replayed callback ignored") {
			t.Errorf("replay not logged:\n%s", f.logs)
		}
	})

	t.Run("reject", func(t *testing.T) {
		f := newHandlerFixture(t, Config{}, nil)
		if c := post(f, ActionReject, testUser, "1772460000.000002"); c != 200 {
			t.Fatalf("reject: %d", c)
		}
		calls := f.dec.Calls()
		if len(calls) != 1 || calls[0] != (decideCall{id, false, testUser}) {
			t.Fatalf("Decide calls %+v, want one reject", calls)
		}
		if got := f.store.get(id); got.State != procurebot.ApprovalRejected {
			t.Fatalf("stored %s, want rejected", got.State)
		}
	})

	t.Run("second answer is ECONFLICT, answered 200, no effect", func(t *testing.T) {
		f := newHandlerFixture(t, Config{}, nil)
		if c := post(f, ActionApprove, testUser, "1772460000.000003"); c != 200 {
			t.Fatalf("approve: %d", c)
		}
		// Another click (new action_ts) by someone else, the other way.
		if c := post(f, ActionReject, "U0OTHER", "1772460007.000004"); c != 200 {
			t.Fatalf("second answer: %d, want 200", c)
		}
		if n := len(f.dec.Calls()); n != 2 {
			t.Fatalf("Decide called %d times, want 2 (the store decides)", n)
		}
		got := f.store.get(id)
		if got.State != procurebot.ApprovalApproved || got.By != testUser {
			t.Fatalf("stored %s by %q: the second answer had effect", got.State, got.By)
		}
		if !strings.Contains(f.logs.String(), "already decided") {
			t.Errorf("conflict not logged:\n%s", f.logs)
		}
	})

	t.Run("concurrent replays decide once", func(t *testing.T) {
		f := newHandlerFixture(t, Config{}, nil)
		body := formBody(blockActions(ActionApprove, id, testUser, "1772460000.000005"))
		var wg sync.WaitGroup
		codes := make([]int, 16)
		for i := range codes {
			wg.Go(func() { codes[i] = f.serve(signedRequest(body, now, testSecret)).Code })
		}
		wg.Wait()
		for i, c := range codes {
			if c != 200 {
				t.Fatalf("request %d: %d", i, c)
			}
		}
		if n := len(f.dec.Calls()); n != 1 {
			t.Fatalf("Decide called %d times, want 1", n)
		}
	})

	t.Run("concurrent different clicks: one wins", func(t *testing.T) {
		f := newHandlerFixture(t, Config{}, nil)
		var wg sync.WaitGroup
		for i := range 8 {
			action := ActionApprove
			if i%2 == 1 {
				action = ActionReject
			}
			wg.Go(func() {
				if c := post(f, action, fmt.Sprintf("U0USER%d", i), fmt.Sprintf("1772460000.1%05d", i)); c != 200 {
					t.Errorf("click %d: %d", i, c)
				}
			})
		}
		wg.Wait()
		got := f.store.get(id)
		calls := f.dec.Calls()
		wins := 0
		for _, c := range calls {
			if c.By == got.By && c.Approve == (got.State == procurebot.ApprovalApproved) {
				wins++
			}
		}
		if len(calls) != 8 || wins != 1 {
			t.Fatalf("%d calls, stored %s by %s matched %d calls", len(calls), got.State, got.By, wins)
		}
	})

	t.Run("unknown action id", func(t *testing.T) {
		f := newHandlerFixture(t, Config{}, nil)
		if c := post(f, "delete_everything", testUser, "1.2"); c != 400 {
			t.Fatalf("status %d, want 400", c)
		}
		if n := len(f.dec.Calls()); n != 0 {
			t.Fatalf("Decide called %d times", n)
		}
	})

	t.Run("not an approver", func(t *testing.T) {
		f := newHandlerFixture(t, Config{Approvers: []string{"U0BOSS"}}, nil)
		if c := post(f, ActionApprove, testUser, "1.3"); c != 403 {
			t.Fatalf("status %d, want 403", c)
		}
		if n := len(f.dec.Calls()); n != 0 {
			t.Fatalf("Decide called %d times", n)
		}
		if c := post(f, ActionApprove, "U0BOSS", "1.4"); c != 200 {
			t.Fatalf("approver: status %d", c)
		}
		if got := f.store.get(id); got.By != "U0BOSS" {
			t.Fatalf("decided by %q", got.By)
		}
	})

	t.Run("unknown approval", func(t *testing.T) {
		f := newHandlerFixture(t, Config{}, nil)
		w := f.serve(signedRequest(formBody(blockActions(ActionApprove, "no-such-approval", testUser, "1.5")), now, testSecret))
		if w.Code != 404 {
			t.Fatalf("status %d, want 404", w.Code)
		}
	})

	t.Run("store failure: 503, and the same callback may try again", func(t *testing.T) {
		f := newHandlerFixture(t, Config{}, nil)
		f.store.failNext = procurebot.Errorf(procurebot.EUNAVAILABLE, "redis: connection refused")
		if c := post(f, ActionApprove, testUser, "1.6"); c != 503 {
			t.Fatalf("status %d, want 503", c)
		}
		if c := post(f, ActionApprove, testUser, "1.6"); c != 200 {
			t.Fatalf("retry: status %d, want 200", c)
		}
		if got := f.store.get(id); got.State != procurebot.ApprovalApproved {
			t.Fatalf("stored %s", got.State)
		}
		if n := len(f.dec.Calls()); n != 2 {
			t.Fatalf("Decide called %d times, want 2", n)
		}
	})
}

func TestHandlerBadRequests(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		req  func() *http.Request
		want int
	}{
		{"GET", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/slack/interactions", nil) }, 405},
		{"body over 1 MiB", func() *http.Request {
			return signedRequest(bytes.Repeat([]byte("a"), MaxBody+1), now, testSecret)
		}, 413},
		{"no payload", func() *http.Request { return signedRequest([]byte("foo=bar"), now, testSecret) }, 400},
		{"payload not JSON", func() *http.Request { return signedRequest(formBody([]byte("{nope")), now, testSecret) }, 400},
		{"view submission", func() *http.Request {
			return signedRequest(formBody([]byte(`{"type":"view_submission","user":{"id":"U2CERLKJA"}}`)), now, testSecret)
		}, 400},
		{"no actions", func() *http.Request {
			return signedRequest(formBody([]byte(`{"type":"block_actions","user":{"id":"U2CERLKJA"},"actions":[]}`)), now, testSecret)
		}, 400},
		{"no approval id", func() *http.Request {
			return signedRequest(formBody(blockActions(ActionApprove, "", testUser, "1.7")), now, testSecret)
		}, 400},
		{"no user", func() *http.Request {
			return signedRequest(formBody(blockActions(ActionApprove, "x", "", "1.8")), now, testSecret)
		}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newHandlerFixture(t, Config{}, nil)
			w := f.serve(tc.req())
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d (%s)", w.Code, tc.want, w.Body)
			}
			if n := len(f.dec.Calls()); n != 0 {
				t.Fatalf("Decide called %d times", n)
			}
		})
	}
}

func TestNewHandlerNeedsSigningSecret(t *testing.T) {
	env := venuehttp.Env{Getenv: func(string) string { return "" }}
	_, err := NewHandler(Config{Channel: testChannel}, StoreDecider{Store: newMemStore()}, env)
	if procurebot.ErrorCode(err) != procurebot.EINVALID || !strings.Contains(err.Error(), "approvals.slack.signing_secret") || !strings.Contains(err.Error(), EnvSigningSecret) {
		t.Fatalf("err = %v, want EINVALID naming the key and %s", err, EnvSigningSecret)
	}
	if _, err := NewHandler(Config{Channel: testChannel}, nil, env); procurebot.ErrorCode(err) != procurebot.EINVALID {
		t.Fatalf("nil Decider: err = %v", err)
	}
}

func TestSeenSetBounded(t *testing.T) {
	s := newSeenSet(3)
	for _, k := range []string{"a", "b", "c", "d"} {
		if !s.add(k) {
			t.Fatalf("add(%s) reported a repeat", k)
		}
	}
	if s.len() != 3 {
		t.Fatalf("len %d, want 3", s.len())
	}
	if s.add("d") {
		t.Fatal("d forgotten")
	}
	if !s.add("a") {
		t.Fatal("a, the oldest, should have been forgotten")
	}
	s.remove("a")
	if !s.add("a") {
		t.Fatal("removed key still remembered")
	}
	for i := range 100 {
		s.add(strconv.Itoa(i))
		s.remove(strconv.Itoa(i))
	}
	if len(s.order) > 6 {
		t.Fatalf("order grew to %d with removed keys", len(s.order))
	}
}

func ioNop(b []byte) *nopCloser { return &nopCloser{bytes.NewReader(b)} }

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

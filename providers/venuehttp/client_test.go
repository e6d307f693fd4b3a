package venuehttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp/venuetest"
)

// syncBuffer is a log sink safe for the client's goroutines, with ways to
// read its JSON lines.
type syncBuffer struct{ venuetest.SyncBuffer }

// lines returns the decoded JSON log lines.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// count returns how many log lines have level and message msg.
func (b *syncBuffer) count(t *testing.T, level, msg string) int {
	t.Helper()
	n := 0
	for _, l := range b.lines(t) {
		if l["level"] == level && l["message"] == msg {
			n++
		}
	}
	return n
}

// server is an httptest server that counts hits and stamps their times.
type server struct {
	*httptest.Server
	hits  atomic.Int64
	mu    sync.Mutex
	times []time.Time
}

func (s *server) at(i int) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.times[i]
}

// serve starts a server whose handler gets the 1-based hit number.
func serve(t *testing.T, h func(n int64, w http.ResponseWriter, r *http.Request)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.hits.Add(1)
		s.mu.Lock()
		s.times = append(s.times, time.Now())
		s.mu.Unlock()
		h(n, w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// fast returns options that make retries cheap and logs at debug level
// into log.
func fast(log io.Writer) Options {
	return Options{
		Timeout:         2 * time.Second,
		MaxAttempts:     3,
		BaseDelay:       time.Millisecond,
		MaxDelay:        2 * time.Millisecond,
		RatePerSecond:   1e6,
		Burst:           100,
		BreakerFailures: 100,
		Logger:          zerolog.New(log).Level(zerolog.DebugLevel),
	}
}

func newClient(t *testing.T, base string, o Options, auth func(*http.Request), secrets ...Secret) *Client {
	t.Helper()
	c, err := New("testvenue", base, o, auth, secrets...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// asError checks err is a *Error of the test venue with code and returns it.
func asError(t *testing.T, err error, code string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%T %v is not a *Error", err, err)
	}
	if e.Venue != "testvenue" || !strings.HasPrefix(err.Error(), "testvenue: ") {
		t.Errorf("error %q does not name the venue", err)
	}
	if got := procurebot.ErrorCode(err); got != code {
		t.Errorf("code %q, want %q (%v)", got, code, err)
	}
	return e
}

func TestNewRejectsRelativeURL(t *testing.T) {
	for _, base := range []string{"", "api.example.com/v1", "/v1", "://x"} {
		_, err := New("testvenue", base, Options{}, nil)
		if procurebot.ErrorCode(err) != procurebot.EINVALID || !strings.Contains(fmt.Sprint(err), "testvenue: base_url") {
			t.Errorf("New(%q) = %v, want EINVALID naming testvenue base_url", base, err)
		}
	}
}

func TestRequestShape(t *testing.T) {
	var got *http.Request
	var body []byte
	s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		body, _ = io.ReadAll(r.Body)
		w.Write([]byte(`ok`))
	})
	c := newClient(t, s.URL+"/api/v1/", fast(io.Discard), func(r *http.Request) { r.Header.Set("Authorization", "Bearer k") })
	out, err := c.Do(context.Background(), Request{
		Method: http.MethodPost,
		Path:   "prices?region=us",
		Query:  url.Values{"page": {"2"}},
		Header: http.Header{"X-Extra": {"1"}},
		Body:   []byte(`{"a":1}`),
	})
	if err != nil || string(out) != "ok" {
		t.Fatalf("Do = %q, %v", out, err)
	}
	checks := []struct{ what, got, want string }{
		{"method", got.Method, "POST"},
		{"path", got.URL.Path, "/api/v1/prices"},
		{"region", got.URL.Query().Get("region"), "us"},
		{"page", got.URL.Query().Get("page"), "2"},
		{"X-Extra", got.Header.Get("X-Extra"), "1"},
		{"Authorization", got.Header.Get("Authorization"), "Bearer k"},
		{"Content-Type", got.Header.Get("Content-Type"), "application/json"},
		{"Accept", got.Header.Get("Accept"), "application/json"},
		{"User-Agent", got.Header.Get("User-Agent"), "procurebot"},
		{"body", string(body), `{"a":1}`},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if c.Venue() != "testvenue" || c.BreakerState() != "closed" {
		t.Errorf("Venue %q BreakerState %q", c.Venue(), c.BreakerState())
	}
}

func TestStatusCodes(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int // per hit; the last repeats
		attempts int
		wantCode string // "" for success
		wantHits int64
		wantMsg  string
	}{
		{"404 not found, no retry", []int{404}, 3, procurebot.ENOTFOUND, 1, "HTTP 404: nope"},
		{"401 unauthorised, no retry", []int{401}, 3, procurebot.EINVALID, 1, "HTTP 401: nope"},
		{"403 forbidden, no retry", []int{403}, 3, procurebot.EINVALID, 1, "HTTP 403"},
		{"400 bad request, no retry", []int{400}, 3, procurebot.EINVALID, 1, "HTTP 400"},
		{"500 every time gives up", []int{500}, 3, procurebot.EUNAVAILABLE, 3, "HTTP 500: gave up after 3 attempts: nope"},
		{"502 with one attempt", []int{502}, 1, procurebot.EUNAVAILABLE, 1, "HTTP 502: gave up after 1 attempts"},
		{"503 then success", []int{503, 200}, 3, "", 2, ""},
		{"429 then success", []int{429, 200}, 3, "", 2, ""},
		{"500 500 then success on the last attempt", []int{500, 500, 200}, 3, "", 3, ""},
		{"500 then 404 stops", []int{500, 404}, 3, procurebot.ENOTFOUND, 2, "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {
				st := tt.statuses[min(int(n), len(tt.statuses))-1]
				w.WriteHeader(st)
				if st == 200 {
					w.Write([]byte(`{"ok":true}`))
				} else {
					w.Write([]byte("nope"))
				}
			})
			o := fast(io.Discard)
			o.MaxAttempts = tt.attempts
			c := newClient(t, s.URL, o, nil)
			body, err := c.Do(context.Background(), Request{Path: "/v1/x"})
			if got := s.hits.Load(); got != tt.wantHits {
				t.Errorf("server hit %d times, want %d", got, tt.wantHits)
			}
			if tt.wantCode == "" {
				if err != nil || string(body) != `{"ok":true}` {
					t.Fatalf("Do = %q, %v", body, err)
				}
				return
			}
			if body != nil {
				t.Errorf("body %q returned with the error", body)
			}
			asError(t, err, tt.wantCode)
			want := "testvenue: GET " + s.URL + "/v1/x: " + tt.wantMsg
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q\nwant prefix %q", err, want)
			}
		})
	}
}

func TestRetryLoggedAsWarning(t *testing.T) {
	s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			http.Error(w, "upstream hiccup", http.StatusInternalServerError)
			return
		}
		w.Write([]byte(`{"price":"1.00"}`))
	})
	var log syncBuffer
	c := newClient(t, s.URL, fast(&log), nil)
	body, err := c.Do(context.Background(), Request{Path: "prices"})
	if err != nil || string(body) != `{"price":"1.00"}` {
		t.Fatalf("Do = %q, %v", body, err)
	}
	var warn map[string]any
	for _, l := range log.lines(t) {
		if l["level"] == "warn" {
			if warn != nil {
				t.Errorf("second warning %v", l)
			}
			warn = l
		}
	}
	if warn == nil {
		t.Fatalf("no warning logged: %s", log.String())
	}
	for k, want := range map[string]any{
		"message": "retrying", "venue": "testvenue", "attempt": 1.0, "status": 500.0,
		"request": "GET " + s.URL + "/prices", "error": "upstream hiccup",
	} {
		if warn[k] != want {
			t.Errorf("warning %s = %v, want %v", k, warn[k], want)
		}
	}
	if n := log.count(t, "debug", "venue call"); n != 2 {
		t.Errorf("%d debug lines per attempt, want 2: %s", n, log.String())
	}
}

// hang blocks the handler until the client gives up or d passes.
func hang(r *http.Request, d time.Duration) {
	select {
	case <-r.Context().Done():
	case <-time.After(d):
	}
}

func TestTimeoutPerAttempt(t *testing.T) {
	s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		hang(r, 2*time.Second)
	})
	var log syncBuffer
	o := fast(&log)
	o.Timeout = 30 * time.Millisecond
	o.MaxAttempts = 2
	c := newClient(t, s.URL, o, nil)
	start := time.Now()
	body, err := c.Do(context.Background(), Request{Path: "slow"})
	took := time.Since(start)
	e := asError(t, err, procurebot.EUNAVAILABLE)
	if body != nil {
		t.Errorf("body %q", body)
	}
	if got := s.hits.Load(); got != 2 {
		t.Errorf("server hit %d times, want 2 (retried once)", got)
	}
	if e.Status != 0 {
		t.Errorf("status %d, want 0", e.Status)
	}
	for _, want := range []string{"GET " + s.URL + "/slow", "gave up after 2 attempts", "timed out after 30ms"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	if took > time.Second {
		t.Errorf("took %s; the attempt timeout is 30ms", took)
	}
	if log.count(t, "warn", "retrying") != 1 {
		t.Errorf("want one retry warning: %s", log.String())
	}
}

func TestSlowBody(t *testing.T) {
	s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		f := w.(http.Flusher)
		io.WriteString(w, `{"data":[`)
		f.Flush()
		for range 100 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			io.WriteString(w, `1,`)
			f.Flush()
		}
		io.WriteString(w, `2]}`)
	})
	o := fast(io.Discard)
	o.Timeout = 60 * time.Millisecond
	o.MaxAttempts = 2
	c := newClient(t, s.URL, o, nil)
	var out struct{ Data []int }
	err := c.JSON(context.Background(), Request{Path: "book"}, &out)
	asError(t, err, procurebot.EUNAVAILABLE)
	if len(out.Data) != 0 {
		t.Errorf("partial body decoded: %v", out.Data)
	}
	for _, want := range []string{"GET " + s.URL + "/book", "reading body", "timed out after 60ms"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if got := s.hits.Load(); got != 2 {
		t.Errorf("server hit %d times, want 2", got)
	}
}

func TestMaxBody(t *testing.T) {
	tests := []struct {
		size    int
		wantErr bool
	}{{99, false}, {100, false}, {101, true}, {5000, true}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {
				w.Write(bytes.Repeat([]byte("x"), tt.size))
			})
			o := fast(io.Discard)
			o.MaxBody = 100
			c := newClient(t, s.URL, o, nil)
			body, err := c.Do(context.Background(), Request{Path: "big"})
			if !tt.wantErr {
				if err != nil || len(body) != tt.size {
					t.Fatalf("Do = %d bytes, %v", len(body), err)
				}
				return
			}
			asError(t, err, procurebot.EINVALID)
			if body != nil || !strings.Contains(err.Error(), "body larger than 100 bytes") {
				t.Errorf("Do = %d bytes, %v", len(body), err)
			}
			if s.hits.Load() != 1 {
				t.Errorf("retried a too-large body: %d hits", s.hits.Load())
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name          string
		header        func(now time.Time) (value string, wait time.Duration)
		maxRetryAfter time.Duration
		maxWait       time.Duration
	}{
		{"seconds", func(time.Time) (string, time.Duration) { return "1", time.Second }, 0, 1800 * time.Millisecond},
		{"http date", func(now time.Time) (string, time.Duration) {
			// HTTP dates have whole seconds: aim at a second boundary at
			// least 300 ms away.
			at := now.Truncate(time.Second).Add(time.Second)
			if at.Sub(now) < 300*time.Millisecond {
				at = at.Add(time.Second)
			}
			return at.UTC().Format(http.TimeFormat), at.Sub(now)
		}, 0, 2200 * time.Millisecond},
		{"capped by MaxRetryAfter", func(time.Time) (string, time.Duration) { return "60", 80 * time.Millisecond }, 80 * time.Millisecond, 900 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var want time.Duration
			s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					var h string
					h, want = tt.header(time.Now())
					w.Header().Set("Retry-After", h)
					http.Error(w, `{"error":"rate limited"}`, http.StatusTooManyRequests)
					return
				}
				w.Write([]byte(`{}`))
			})
			var log syncBuffer
			o := fast(&log)
			o.MaxRetryAfter = tt.maxRetryAfter
			c := newClient(t, s.URL, o, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := c.Do(ctx, Request{Path: "x"}); err != nil {
				t.Fatal(err)
			}
			if s.hits.Load() != 2 {
				t.Fatalf("%d hits, want 2", s.hits.Load())
			}
			gap := s.at(1).Sub(s.at(0))
			if gap < want-10*time.Millisecond {
				t.Errorf("second request %s after the first, before Retry-After's %s", gap, want)
			}
			if gap > tt.maxWait {
				t.Errorf("second request %s after the first, want about %s", gap, want)
			}
			if log.count(t, "warn", "retrying") != 1 {
				t.Errorf("retry not logged: %s", log.String())
			}
		})
	}
}

func TestRetryAfterPastDeadline(t *testing.T) {
	for _, header := range []string{"30", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)} {
		t.Run(header, func(t *testing.T) {
			s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", header)
				http.Error(w, "slow down", http.StatusTooManyRequests)
			})
			c := newClient(t, s.URL, fast(io.Discard), nil)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			_, err := c.Do(ctx, Request{Path: "x"})
			if took := time.Since(start); took > 500*time.Millisecond {
				t.Errorf("took %s; should fail at once", took)
			}
			e := asError(t, err, procurebot.EUNAVAILABLE)
			if e.Status != http.StatusTooManyRequests {
				t.Errorf("status %d", e.Status)
			}
			for _, want := range []string{"GET " + s.URL + "/x", "HTTP 429", "Retry-After", "past the deadline", "slow down"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if s.hits.Load() != 1 {
				t.Errorf("%d hits, want 1", s.hits.Load())
			}
		})
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
	}{{"exponential backoff", ""}, {"Retry-After", "10"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(http.StatusServiceUnavailable)
				time.AfterFunc(30*time.Millisecond, cancel)
			})
			o := fast(io.Discard)
			o.BaseDelay, o.MaxDelay = 10*time.Second, 10*time.Second
			c := newClient(t, s.URL, o, nil)
			start := time.Now()
			_, err := c.Do(ctx, Request{Path: "x"})
			if took := time.Since(start); took > 500*time.Millisecond {
				t.Errorf("returned %s after the call, want promptly after the 30ms cancel", took)
			}
			asError(t, err, procurebot.EUNAVAILABLE)
			if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cancelled") {
				t.Errorf("error %v is not a cancellation", err)
			}
			if s.hits.Load() != 1 {
				t.Errorf("%d hits, want 1", s.hits.Load())
			}
		})
	}
}

func TestCircuitBreaker(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Write([]byte(`up`))
	})
	var log syncBuffer
	o := fast(&log)
	o.MaxAttempts = 1
	o.BreakerFailures = 3
	o.BreakerOpenFor = 100 * time.Millisecond
	c := newClient(t, s.URL, o, nil)
	ctx := context.Background()
	for i := range 3 {
		if c.BreakerState() != "closed" {
			t.Fatalf("breaker %s after %d failures", c.BreakerState(), i)
		}
		_, err := c.Do(ctx, Request{Path: "x"})
		asError(t, err, procurebot.EUNAVAILABLE)
	}
	if c.BreakerState() != "open" || s.hits.Load() != 3 {
		t.Fatalf("breaker %s after %d hits, want open after 3", c.BreakerState(), s.hits.Load())
	}
	start := time.Now()
	_, err := c.Do(ctx, Request{Path: "x"})
	asError(t, err, procurebot.EUNAVAILABLE)
	if !strings.Contains(err.Error(), "circuit open") || !strings.Contains(err.Error(), "GET "+s.URL+"/x") {
		t.Errorf("error %q does not say the circuit is open", err)
	}
	if s.hits.Load() != 3 {
		t.Errorf("open circuit called the server: %d hits", s.hits.Load())
	}
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Errorf("open circuit took %s to fail", took)
	}

	failing.Store(false)
	time.Sleep(o.BreakerOpenFor + 20*time.Millisecond)
	if c.BreakerState() != "half-open" {
		t.Fatalf("breaker %s after BreakerOpenFor, want half-open", c.BreakerState())
	}
	if body, err := c.Do(ctx, Request{Path: "x"}); err != nil || string(body) != "up" {
		t.Fatalf("half-open call = %q, %v", body, err)
	}
	if c.BreakerState() != "closed" || s.hits.Load() != 4 {
		t.Errorf("breaker %s, %d hits; want closed after one success", c.BreakerState(), s.hits.Load())
	}
	for _, to := range []string{"open", "half-open", "closed"} {
		if !strings.Contains(log.String(), `"to":"`+to+`"`) {
			t.Errorf("no breaker transition to %s logged: %s", to, log.String())
		}
	}
}

func TestCircuitOpensWithinOneCall(t *testing.T) {
	s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	o := fast(io.Discard)
	o.MaxAttempts = 5
	o.BreakerFailures = 2
	c := newClient(t, s.URL, o, nil)
	_, err := c.Do(context.Background(), Request{Path: "x"})
	asError(t, err, procurebot.EUNAVAILABLE)
	if !strings.Contains(err.Error(), "circuit open") || s.hits.Load() != 2 {
		t.Errorf("after %d hits: %v; want circuit open after 2", s.hits.Load(), err)
	}
}

func TestClientErrorsDoNotTripBreaker(t *testing.T) {
	s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	})
	o := fast(io.Discard)
	o.BreakerFailures = 2
	c := newClient(t, s.URL, o, nil)
	for range 5 {
		_, err := c.Do(context.Background(), Request{Path: "x"})
		asError(t, err, procurebot.ENOTFOUND)
	}
	if c.BreakerState() != "closed" || s.hits.Load() != 5 {
		t.Errorf("breaker %s after %d 404s", c.BreakerState(), s.hits.Load())
	}
}

func TestRateLimit(t *testing.T) {
	s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {})
	o := fast(io.Discard)
	o.RatePerSecond, o.Burst = 20, 1
	c := newClient(t, s.URL, o, nil)
	start := time.Now()
	for range 5 {
		if _, err := c.Do(context.Background(), Request{Path: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	// The first call takes the one token; four more wait 50 ms each.
	if took := time.Since(start); took < 190*time.Millisecond {
		t.Errorf("5 calls at 20/s took %s, want ≥ 200ms", took)
	}
	if s.hits.Load() != 5 {
		t.Errorf("%d hits", s.hits.Load())
	}
}

func TestRateLimitPastDeadline(t *testing.T) {
	s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {})
	o := fast(io.Discard)
	o.RatePerSecond, o.Burst = 0.1, 1
	c := newClient(t, s.URL, o, nil)
	if _, err := c.Do(context.Background(), Request{Path: "x"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Do(ctx, Request{Path: "x"})
	asError(t, err, procurebot.EUNAVAILABLE)
	if !strings.Contains(err.Error(), "rate limit") || s.hits.Load() != 1 {
		t.Errorf("%v after %d hits", err, s.hits.Load())
	}
}

// payload is a nested response with typed fields.
type payload struct {
	Data struct {
		Items []struct {
			Name  string `json:"name"`
			Price Number `json:"price"`
			Count int    `json:"count"`
		} `json:"items"`
	} `json:"data"`
}

func TestMalformedJSON(t *testing.T) {
	tests := []struct {
		name, body, field, msg string
	}{
		{"syntax error", `{"data":{"items":[{"name":"a",}]}}`, "(body)", "not JSON at byte"},
		{"html error page", `<html>Bad Gateway</html>`, "(body)", "<html>Bad Gateway</html>"},
		{"truncated", `{"data":{"items":[{"name":"a"`, "(body)", "unexpected EOF"},
		{"empty body", ``, "(body)", "empty body"},
		{"whitespace body", " \n", "(body)", "empty body"},
		{"garbage price string", `{"data":{"items":[{"name":"a","price":"1.0"},{"name":"b","price":"n/a"}]}}`, "data.items.price", `"n/a"`},
		{"price is a bool", `{"data":{"items":[{"price":true}]}}`, "data.items.price", "true"},
		{"price is an object", `{"data":{"items":[{"price":{"usd":1}}]}}`, "data.items.price", "venuehttp.Number"},
		{"count is a string", `{"data":{"items":[{"count":"three"}]}}`, "data.items.count", "string is not int"},
		{"name is a number", `{"data":{"items":[{"name":5}]}}`, "data.items.name", "number is not string"},
		{"items is an object", `{"data":{"items":{"a":1}}}`, "data.items", "object is not"},
		{"top level is an array", `[{"data":{}}]`, "(body)", "array is not"},
		{"trailing garbage", `{"data":{"items":[]}} {"data":2}`, "(body)", "after the JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(tt.body))
			})
			c := newClient(t, s.URL, fast(io.Discard), nil)
			var out payload
			err := c.JSON(context.Background(), Request{Path: "v1/prices", Query: url.Values{"region": {"us"}}}, &out)
			e := asError(t, err, procurebot.EINVALID)
			if e.Field != tt.field {
				t.Errorf("field %q, want %q (%v)", e.Field, tt.field, err)
			}
			for _, want := range []string{"GET " + s.URL + "/v1/prices?region=us", "field " + tt.field, tt.msg} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if s.hits.Load() != 1 {
				t.Errorf("malformed body retried: %d hits", s.hits.Load())
			}
		})
	}
}

func TestJSONDecodes(t *testing.T) {
	s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"data":{"items":[{"name":"h100","price":"2.49","count":8},{"name":"a10","price":0.75}]}}` + "\n"))
	})
	c := newClient(t, s.URL, fast(io.Discard), nil)
	var out payload
	if err := c.JSON(context.Background(), Request{Path: "p"}, &out); err != nil {
		t.Fatal(err)
	}
	it := out.Data.Items
	if len(it) != 2 || it[0].Name != "h100" || it[0].Price.Raw != "2.49" || it[0].Count != 8 || it[1].Price.Raw != "0.75" {
		t.Errorf("decoded %+v", out)
	}
	if err := c.JSON(context.Background(), Request{Path: "p"}, &out); err != nil || s.hits.Load() != 2 {
		t.Errorf("second call: %v", err)
	}
}

func TestMalformedNamesFieldAndRequest(t *testing.T) {
	key := Secret("k3y-in-message")
	c := newClient(t, "https://api.example.com/v2", Options{}, nil, key)
	req := Request{Path: "offers", Query: url.Values{"api_key": {key.Reveal()}}}
	tests := []struct {
		field, wantField string
	}{{"offers.price", "offers.price"}, {"", "(body)"}}
	for _, tt := range tests {
		err := c.Malformed(req, tt.field, "price %q is not a price for %s", "abc", key.Reveal())
		e := asError(t, err, procurebot.EINVALID)
		want := "testvenue: GET https://api.example.com/v2/offers?api_key=[redacted]: field " + tt.wantField + `: price "abc" is not a price for [redacted]`
		if err.Error() != want || e.Field != tt.wantField {
			t.Errorf("Malformed = %q\nwant        %q", err, want)
		}
	}
}

func TestAbsolutePath(t *testing.T) {
	s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.URL.Path + "?" + r.URL.RawQuery))
	})
	c := newClient(t, "https://unused.invalid/base", fast(io.Discard), nil)
	body, err := c.Do(context.Background(), Request{Path: s.URL + "/next?cursor=abc", Query: url.Values{"limit": {"5"}}})
	if err != nil || string(body) != "/next?cursor=abc&limit=5" {
		t.Errorf("Do = %q, %v", body, err)
	}
}

// leaks lists the ways secret could show in text.
func leaks(text string, secrets ...string) []string {
	var out []string
	for _, s := range secrets {
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
			if strings.Contains(text, form) {
				out = append(out, form)
			}
		}
	}
	return out
}

func TestSecretsNeverLeak(t *testing.T) {
	const (
		queryKey  = "qk_LIVE/Secret+1=2&x"
		headerKey = "hk-LIVE-Secret-456"
		pathKey   = "pk LIVE Secret 789"
	)
	s := serve(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("api_key"); got != queryKey {
			t.Errorf("server got api_key %q", got)
		}
		if got := r.Header.Get("X-Api-Key"); got != headerKey {
			t.Errorf("server got X-Api-Key %q", got)
		}
		echo := fmt.Sprintf("invalid key %s / %s / %s", queryKey, headerKey, pathKey)
		switch {
		case strings.HasSuffix(r.URL.Path, "/500"):
			http.Error(w, echo, http.StatusInternalServerError)
		case strings.HasSuffix(r.URL.Path, "/401"):
			http.Error(w, echo, http.StatusUnauthorized)
		case strings.HasSuffix(r.URL.Path, "/429"):
			w.Header().Set("Retry-After", "60")
			http.Error(w, echo, http.StatusTooManyRequests)
		case strings.HasSuffix(r.URL.Path, "/timeout"):
			hang(r, time.Second)
		case strings.HasSuffix(r.URL.Path, "/slowbody"):
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, echo)
			w.(http.Flusher).Flush()
			hang(r, time.Second)
		case strings.HasSuffix(r.URL.Path, "/malformed"):
			io.WriteString(w, `{"data": `+echo)
		case strings.HasSuffix(r.URL.Path, "/badprice"):
			fmt.Fprintf(w, `{"data":{"items":[{"price":%q}]}}`, headerKey)
		default:
			w.Write([]byte(`{}`))
		}
	})
	var log syncBuffer
	o := fast(&log)
	o.Timeout = 40 * time.Millisecond
	o.MaxAttempts = 2
	// Failures before the last call: 500 ×2, 429, timeout ×2, slowbody ×2;
	// the seventh opens the circuit, so the last call fails fast.
	o.BreakerFailures = 7
	auth := func(r *http.Request) {
		r.Header.Set("X-Api-Key", headerKey)
		q := r.URL.Query()
		q.Set("api_key", queryKey)
		r.URL.RawQuery = q.Encode()
	}
	c := newClient(t, s.URL, o, auth, queryKey, headerKey, pathKey)
	var errs []error
	for _, path := range []string{"ok", "401", "malformed", "badprice", "500", "429", "timeout", "slowbody", "500"} {
		var out payload
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		// The key also travels in the request's own query and path.
		err := c.JSON(ctx, Request{Path: "/v1/" + url.PathEscape(pathKey) + "/" + path, Query: url.Values{"api_key": {queryKey}}}, &out)
		cancel()
		if path != "ok" && err == nil {
			t.Errorf("%s: no error", path)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.BreakerState() != "open" || !strings.Contains(fmt.Sprint(errs[len(errs)-1]), "circuit open") {
		t.Errorf("breaker %s; the test meant to reach the open-circuit error too", c.BreakerState())
	}
	for _, err := range errs {
		for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			if l := leaks(text, queryKey, headerKey, pathKey); l != nil {
				t.Errorf("error leaks %q: %s", l, text)
			}
		}
		if !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("error %q shows no redacted request", err)
		}
	}
	logs := log.String()
	if l := leaks(logs, queryKey, headerKey, pathKey); l != nil {
		t.Errorf("log leaks %q:\n%s", l, logs)
	}
	for _, want := range []string{`"level":"debug"`, `"level":"warn"`, "[redacted]"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s; the test should exercise it:\n%s", want, logs)
		}
	}
	if got := c.Redact("a " + queryKey + " b " + url.QueryEscape(headerKey)); got != "a [redacted] b [redacted]" {
		t.Errorf("Redact = %q", got)
	}
}

func TestRetryAfterHeaderParse(t *testing.T) {
	now := time.Now()
	tests := []struct {
		h        string
		min, max time.Duration
	}{
		{"", 0, 0},
		{"0", 0, 0},
		{"  7 ", 7 * time.Second, 7 * time.Second},
		{"-3", 0, 0},
		{"soon", 0, 0},
		{now.Add(-time.Hour).UTC().Format(http.TimeFormat), 0, 0},
		{now.Add(time.Hour).UTC().Format(http.TimeFormat), 59 * time.Minute, time.Hour},
		{"99999999999999", time.Hour, 1 << 62},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.h); got < tt.min || got > tt.max {
			t.Errorf("retryAfter(%q) = %s, want [%s, %s]", tt.h, got, tt.min, tt.max)
		}
	}
}

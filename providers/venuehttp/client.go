// Package venuehttp is the HTTP client every venue adapter shares: a
// timeout per attempt, retries with exponential backoff and jitter on 429
// and 5xx (honouring Retry-After), a per-venue rate limit, a circuit
// breaker, context cancellation, a cap on body size, and errors that name
// the venue, the request (with credentials redacted) and, for a malformed
// response, the field.
//
// Credentials are held as Secret values, which print as "[redacted]", and
// every URL that appears in an error or a log line has its secret query
// parameters replaced, so a key never reaches a log.
package venuehttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/rs/zerolog"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"

	"github.com/procurebot/procurebot"
)

// Secret is a credential. It formats as "[redacted]" in every verb, JSON and
// zerolog, so that printing a config or a request never leaks it; Reveal
// returns the value for the one place that sends it.
type Secret string

// Reveal returns the credential itself.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string   { return "[redacted]" }
func (s Secret) GoString() string { return "[redacted]" }

// MarshalText keeps secrets out of JSON and YAML output.
func (s Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Format prints "[redacted]" for every verb (quoted for %q), so that no
// verb, not even a wrong one such as %d, prints the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		io.WriteString(f, `"[redacted]"`)
		return
	}
	io.WriteString(f, "[redacted]")
}

// Options tunes a Client. Zero values take the defaults noted.
type Options struct {
	// Timeout bounds one attempt, body included (default 20 s).
	Timeout time.Duration
	// MaxAttempts is the number of tries for a retryable failure (default 4).
	MaxAttempts int
	// BaseDelay is the first backoff (default 500 ms), growing ×2 with ±50 %
	// jitter up to MaxDelay (default 30 s). A Retry-After longer than
	// MaxDelay is still honoured up to MaxRetryAfter (default 2 min).
	BaseDelay, MaxDelay, MaxRetryAfter time.Duration
	// RatePerSecond limits requests to the venue (default 2/s); Burst is
	// the bucket size (default 1).
	RatePerSecond float64
	Burst         int
	// BreakerFailures consecutive failed attempts open the circuit (default
	// 5); it half-opens after BreakerOpenFor (default 30 s) and closes on
	// the next success.
	BreakerFailures int
	BreakerOpenFor  time.Duration
	// MaxBody caps a response body (default 64 MiB).
	MaxBody int64
	// HTTP is the transport (default a new http.Client with no timeout of
	// its own; Timeout applies per attempt).
	HTTP *http.Client
	// Logger receives one debug line per attempt and a warning per retry.
	Logger zerolog.Logger
	// UserAgent is sent on every request (default "procurebot").
	UserAgent string
}

func (o *Options) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 4
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = 500 * time.Millisecond
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 30 * time.Second
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 2 * time.Minute
	}
	if o.RatePerSecond <= 0 {
		o.RatePerSecond = 2
	}
	if o.Burst <= 0 {
		o.Burst = 1
	}
	if o.BreakerFailures <= 0 {
		o.BreakerFailures = 5
	}
	if o.BreakerOpenFor <= 0 {
		o.BreakerOpenFor = 30 * time.Second
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 64 << 20
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{}
	}
	if o.UserAgent == "" {
		o.UserAgent = "procurebot"
	}
}

// Client calls one venue. It is safe for concurrent use.
type Client struct {
	venue   string
	base    *url.URL
	opts    Options
	limiter *rate.Limiter
	breaker *gobreaker.CircuitBreaker[*http.Response]
	auth    func(*http.Request)
	secrets []string

	log zerolog.Logger
}

// New returns a client for venue at baseURL. auth, if not nil, is called on
// every request to set credentials; every Secret in secrets is redacted
// from URLs and messages.
func New(venue, baseURL string, opts Options, auth func(*http.Request), secrets ...Secret) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, procurebot.Invalidf("%s: base_url %q is not an absolute URL", venue, baseURL)
	}
	opts.defaults()
	c := &Client{
		venue:   venue,
		base:    u,
		opts:    opts,
		limiter: rate.NewLimiter(rate.Limit(opts.RatePerSecond), opts.Burst),
		auth:    auth,
		log:     opts.Logger.With().Str("venue", venue).Logger(),
	}
	for _, s := range secrets {
		if s != "" {
			c.secrets = append(c.secrets, string(s))
		}
	}
	c.breaker = gobreaker.NewCircuitBreaker[*http.Response](gobreaker.Settings{
		Name:    venue,
		Timeout: opts.BreakerOpenFor,
		ReadyToTrip: func(n gobreaker.Counts) bool {
			return n.ConsecutiveFailures >= uint32(opts.BreakerFailures)
		},
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			c.log.Warn().Str("from", from.String()).Str("to", to.String()).Msg("circuit breaker")
		},
	})
	return c, nil
}

// Venue is the venue this client calls.
func (c *Client) Venue() string { return c.venue }

// BreakerState is "closed", "half-open" or "open".
func (c *Client) BreakerState() string { return c.breaker.State().String() }

// Request is one call: Path is joined to the base URL (or is absolute).
type Request struct {
	Method string // default GET
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte // sent as is; JSON unless Header says otherwise
}

// Error is a failed call. Its code is EUNAVAILABLE for what may pass
// (network, timeout, 429, 5xx, open circuit), EINVALID for what will not
// (401/403, other 4xx, a malformed body), ENOTFOUND for 404.
type Error struct {
	Venue   string
	Request string // "GET https://…?api_key=[redacted]"
	Status  int    // HTTP status, 0 when none came back
	Field   string // for a malformed body: the JSON path or field
	Msg     string
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Venue)
	b.WriteString(": ")
	b.WriteString(e.Request)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Field != "" {
		b.WriteString(": field ")
		b.WriteString(e.Field)
	}
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorCode maps the failure to a domain error code.
func (e *Error) ErrorCode() string {
	// Status is 0 for failures with no usable response: network errors,
	// timeouts (headers or body), cancellation, the rate limit, an open
	// circuit.
	switch {
	case e.Field != "":
		return procurebot.EINVALID
	case e.Status == http.StatusNotFound:
		return procurebot.ENOTFOUND
	case e.Status == http.StatusTooManyRequests || e.Status >= 500 || e.Status == 0:
		return procurebot.EUNAVAILABLE
	default:
		return procurebot.EINVALID
	}
}

// Malformed returns the error for a response that does not have the shape
// the adapter expects: it names the venue, the request and the field
// ("(body)" when field is empty). The message is redacted, since it may
// quote the body and a venue may echo the key.
func (c *Client) Malformed(req Request, field, format string, args ...any) error {
	if field == "" {
		field = "(body)"
	}
	return &Error{Venue: c.venue, Request: c.describe(req), Field: field, Msg: c.Redact(fmt.Sprintf(format, args...))}
}

// Redact replaces every secret of the client in s, as is and as escaped
// in a URL's query or path.
func (c *Client) Redact(s string) string {
	for _, sec := range c.secrets {
		s = strings.ReplaceAll(s, sec, "[redacted]")
		s = strings.ReplaceAll(s, url.QueryEscape(sec), "[redacted]")
		s = strings.ReplaceAll(s, url.PathEscape(sec), "[redacted]")
	}
	return s
}

// redactedError is an error whose message had a secret replaced. It
// unwraps to the cause under a *url.Error (say context.DeadlineExceeded),
// never to the error whose message held the secret.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

// redactErr returns err itself when its message shows no secret, so that
// errors.Is and errors.As still see context.Canceled and the like, else a
// redactedError.
func (c *Client) redactErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := c.Redact(msg)
	if red == msg {
		return err
	}
	r := &redactedError{msg: red}
	var ue *url.Error
	if errors.As(err, &ue) {
		r.cause = c.redactErr(ue.Err)
	}
	return r
}

func (c *Client) url(req Request) (*url.URL, error) {
	ref, err := url.Parse(req.Path)
	if err != nil {
		return nil, err
	}
	u := ref
	if !ref.IsAbs() {
		u = c.base.JoinPath(ref.Path)
		u.RawQuery = ref.RawQuery
	}
	if len(req.Query) > 0 {
		q := u.Query()
		for k, vs := range req.Query {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
		u.RawQuery = q.Encode()
	}
	return u, nil
}

func (c *Client) describe(req Request) string {
	m := req.Method
	if m == "" {
		m = http.MethodGet
	}
	u, err := c.url(req)
	if err != nil {
		return c.Redact(m + " " + req.Path)
	}
	return c.Redact(m + " " + u.String())
}

type retryable struct {
	status int
	after  time.Duration
	err    error
}

func (r *retryable) Error() string {
	if r.err != nil {
		return r.err.Error()
	}
	return fmt.Sprintf("HTTP %d", r.status)
}

func (r *retryable) Unwrap() error { return r.err }

// Do sends req and returns the body of a 2xx response. It retries network
// errors, timeouts, 429 and 5xx up to MaxAttempts, waiting Retry-After when
// the venue sends it (refusing to wait past ctx's deadline), else an
// exponential backoff with jitter; every attempt waits for the rate limit
// and passes the circuit breaker, which fails fast while open.
func (c *Client) Do(ctx context.Context, req Request) ([]byte, error) {
	desc := c.describe(req)
	fail := func(status int, msg string, err error) error {
		return &Error{Venue: c.venue, Request: desc, Status: status, Msg: c.Redact(msg), Err: c.redactErr(err)}
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = c.opts.BaseDelay
	bo.MaxInterval = c.opts.MaxDelay
	bo.Multiplier = 2
	bo.RandomizationFactor = 0.5
	bo.Reset()
	var last error
	lastStatus := 0
	for attempt := 1; attempt <= c.opts.MaxAttempts; attempt++ {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, fail(0, "waiting for the rate limit", err)
		}
		body, err := c.attempt(ctx, req)
		if err == nil {
			return body, nil
		}
		if ctx.Err() != nil {
			return nil, fail(0, "cancelled", ctx.Err())
		}
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			return nil, fail(0, "circuit open after repeated failures; not calling until it half-opens", err)
		}
		var r *retryable
		if !errors.As(err, &r) {
			return nil, err
		}
		last, lastStatus = r, r.status
		if attempt == c.opts.MaxAttempts {
			break
		}
		wait := bo.NextBackOff()
		if r.after > 0 {
			wait = min(r.after, c.opts.MaxRetryAfter)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			left := time.Until(dl).Round(time.Millisecond)
			msg := fmt.Sprintf("retry would wait %s, past the deadline (%s left)", wait, left)
			if r.after > 0 {
				msg = fmt.Sprintf("Retry-After asks to wait %s, past the deadline (%s left)", r.after.Round(time.Second), left)
			}
			return nil, fail(r.status, msg, r.err)
		}
		c.log.Warn().Int("attempt", attempt).Int("status", r.status).Dur("wait", wait).Str("request", desc).Str("error", c.Redact(r.Error())).Msg("retrying")
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fail(0, "cancelled", ctx.Err())
		case <-t.C:
		}
	}
	var r *retryable
	errors.As(last, &r)
	return nil, fail(lastStatus, fmt.Sprintf("gave up after %d attempts", c.opts.MaxAttempts), r.err)
}

func (c *Client) attempt(ctx context.Context, req Request) ([]byte, error) {
	u, err := c.url(req)
	if err != nil {
		return nil, c.Malformed(req, "(path)", "bad path: %v", err)
	}
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	var rd io.Reader
	if req.Body != nil {
		rd = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(actx, method, u.String(), rd)
	if err != nil {
		return nil, &Error{Venue: c.venue, Request: c.describe(req), Msg: "building the request", Err: errors.New(c.Redact(err.Error()))}
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	if req.Body != nil && hr.Header.Get("Content-Type") == "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if hr.Header.Get("Accept") == "" {
		hr.Header.Set("Accept", "application/json")
	}
	hr.Header.Set("User-Agent", c.opts.UserAgent)
	if c.auth != nil {
		c.auth(hr)
	}
	// timedOut names the per-attempt timeout when it, not ctx, ended the
	// attempt.
	timedOut := func(err error) error {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("attempt timed out after %s: %w", c.opts.Timeout, err)
		}
		return err
	}
	var body []byte
	var status int
	start := time.Now()
	_, err = c.breaker.Execute(func() (*http.Response, error) {
		resp, err := c.opts.HTTP.Do(hr)
		if err != nil {
			return nil, &retryable{err: timedOut(err)}
		}
		defer resp.Body.Close()
		status = resp.StatusCode
		body, err = io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxBody+1))
		if err != nil {
			// Status 0: the response never arrived whole, so the failure
			// is a transient one (EUNAVAILABLE) whatever the status line.
			body = nil
			return nil, &retryable{err: fmt.Errorf("reading body of HTTP %d response: %w", status, timedOut(err))}
		}
		if int64(len(body)) > c.opts.MaxBody {
			return nil, nil // reported below, not a venue outage
		}
		if status == http.StatusTooManyRequests || status >= 500 {
			return nil, &retryable{status: status, after: retryAfter(resp.Header.Get("Retry-After")), err: fmt.Errorf("%s", snippet(body))}
		}
		return nil, nil
	})
	c.log.Debug().Str("request", c.describe(req)).Int("status", status).Dur("took", time.Since(start)).Msg("venue call")
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > c.opts.MaxBody {
		return nil, &Error{Venue: c.venue, Request: c.describe(req), Status: status, Msg: fmt.Sprintf("body larger than %d bytes", c.opts.MaxBody)}
	}
	if status < 200 || status > 299 {
		return nil, &Error{Venue: c.venue, Request: c.describe(req), Status: status, Msg: c.Redact(snippet(body))}
	}
	return body, nil
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(h string) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		const maxSeconds = 7 * 24 * 3600 // beyond this, Duration could overflow; MaxRetryAfter caps the wait anyway
		return time.Duration(min(s, maxSeconds)) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// JSON sends req and decodes the JSON body into out. A body that is not
// JSON of out's shape is an error naming the venue, the request and the
// field (the JSON path where decoding failed).
func (c *Client) JSON(ctx context.Context, req Request, out any) error {
	body, err := c.Do(ctx, req)
	if err != nil {
		return err
	}
	return c.Decode(req, body, out)
}

// Decode decodes a JSON body as JSON does, turning decoding errors into
// Malformed errors that name the field ("(body)" for the body as a whole).
// Like json.Unmarshal it refuses data after the JSON value.
func (c *Client) Decode(req Request, body []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return c.Malformed(req, te.Field, "%s is not %s", te.Value, te.Type)
		case errors.As(err, &se):
			return c.Malformed(req, "(body)", "not JSON at byte %d: %v (%s)", se.Offset, se, snippet(body))
		case errors.Is(err, io.EOF):
			return c.Malformed(req, "(body)", "empty body")
		default:
			return c.Malformed(req, "(body)", "%v", err)
		}
	}
	if off := dec.InputOffset(); len(bytes.TrimSpace(body[off:])) > 0 {
		return c.Malformed(req, "(body)", "data after the JSON value at byte %d: %s", off, snippet(body[off:]))
	}
	return nil
}

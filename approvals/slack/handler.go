package slack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

// MaxBody caps an interaction callback's body.
const MaxBody = 1 << 20

// seenCapacity bounds the set of callbacks already handled.
const seenCapacity = 4096

// Decider records a human's answer to an approval request. Both the HTTP
// Handler and Socket Mode call it.
type Decider interface {
	// Decide moves pending approval id to approved (approve) or rejected,
	// answered by by (a Slack user ID), and returns the decided approval.
	// It is a compare-and-set (store.ApprovalStore.DecideApproval): if the
	// approval is no longer pending it changes nothing and returns the
	// stored approval with an error of code ECONFLICT, so that of two
	// answers exactly one has effect. Unknown id → ENOTFOUND. It should
	// return promptly (Slack waits at most 3 s for the HTTP answer):
	// updating the Slack message (Notifier.Resolve) belongs after it,
	// off the request path.
	Decide(ctx context.Context, id string, approve bool, by string) (*procurebot.Approval, error)
}

// Handler serves POST /slack/interactions: Slack's interaction callbacks
// for the Approve and Reject buttons. It verifies Slack's v0 signature
// (HMAC-SHA256 of "v0:timestamp:body" with the signing secret, via
// slack-go's SecretsVerifier) and refuses, with 401, a missing or wrong
// signature and a timestamp more than MaxAge from now either way; it
// answers a replayed callback (the same action_ts and approval ID again)
// with 200 and no effect, and a button for an approval already decided
// (ECONFLICT from the Decider) with 200 too, so Slack never retries.
// Other answers: 405 for a method other than POST, 413 for a body over
// MaxBody, 400 for a malformed payload, another interaction type or an
// unknown action ID, 403 for a user not among the configured approvers,
// 404 for an unknown approval, 503 when the Decider fails otherwise.
type Handler struct {
	secret venuehttp.Secret
	maxAge time.Duration
	now    func() time.Time
	core   *core
}

// NewHandler validates cfg, resolves the signing secret and returns the
// handler; decisions go to d. env supplies the clock for the timestamp
// check (default the wall clock), the logger and Getenv. The clock should
// be the wall clock: slack-go's verifier checks the timestamp against the
// system clock too, so a simulated clock far from it refuses everything.
func NewHandler(cfg Config, d Decider, env venuehttp.Env) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d == nil {
		return nil, procurebot.Invalidf("slack: a Decider is required")
	}
	sec, err := cfg.signingSecret(env)
	if err != nil {
		return nil, err
	}
	return &Handler{
		secret: sec,
		maxAge: cfg.maxAge(),
		now:    env.Now,
		core:   newCore(cfg, d, env.Logger),
	}, nil
}

// ServeHTTP handles one interaction callback.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.core.log
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	if err := h.verify(r.Header, body); err != nil {
		log.Warn().Err(err).Str("remote", r.RemoteAddr).Msg("slack: callback refused")
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		http.Error(w, "no payload", http.StatusBadRequest)
		return
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		http.Error(w, "malformed payload", http.StatusBadRequest)
		return
	}
	status, msg := h.core.handle(r.Context(), cb)
	if status != http.StatusOK {
		http.Error(w, msg, status)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// errStale is a timestamp outside the window.
var errStale = errors.New("request timestamp outside the allowed window")

// verify checks the timestamp against the handler's clock and MaxAge, then
// the signature with slack-go's verifier (which checks the timestamp once
// more, against the system clock and a fixed 5 minutes).
func (h *Handler) verify(header http.Header, body []byte) error {
	ts := header.Get("X-Slack-Request-Timestamp")
	if ts == "" || header.Get("X-Slack-Signature") == "" {
		return slack.ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("malformed request timestamp")
	}
	if d := h.now().Sub(time.Unix(sec, 0)).Abs(); d > h.maxAge {
		return errStale
	}
	v, err := slack.NewSecretsVerifier(header, h.secret.Reveal())
	if err != nil {
		return err
	}
	if _, err := v.Write(body); err != nil {
		return err
	}
	return v.Ensure()
}

// core is the decision code the HTTP handler and Socket Mode share.
type core struct {
	d         Decider
	approvers map[string]bool
	seen      *seenSet
	log       zerolog.Logger
}

func newCore(cfg Config, d Decider, log zerolog.Logger) *core {
	c := &core{d: d, seen: newSeenSet(seenCapacity), log: log.With().Str("component", "slack").Logger()}
	if len(cfg.Approvers) > 0 {
		c.approvers = make(map[string]bool, len(cfg.Approvers))
		for _, a := range cfg.Approvers {
			c.approvers[a] = true
		}
	}
	return c
}

// handle carries out the button presses in cb and returns the HTTP status
// to answer with and, for an error, a short message for the response body.
func (c *core) handle(ctx context.Context, cb slack.InteractionCallback) (int, string) {
	if cb.Type != slack.InteractionTypeBlockActions {
		c.log.Warn().Str("type", string(cb.Type)).Msg("slack: interaction type not handled")
		return http.StatusBadRequest, "unsupported interaction type"
	}
	actions := cb.ActionCallback.BlockActions
	if len(actions) == 0 {
		return http.StatusBadRequest, "no action"
	}
	for _, a := range actions {
		if a == nil || (a.ActionID != ActionApprove && a.ActionID != ActionReject) {
			id := ""
			if a != nil {
				id = a.ActionID
			}
			c.log.Warn().Str("action_id", id).Msg("slack: unknown action")
			return http.StatusBadRequest, "unknown action"
		}
		if a.Value == "" {
			return http.StatusBadRequest, "action without an approval id"
		}
	}
	user := cb.User.ID
	if user == "" {
		return http.StatusBadRequest, "no user"
	}
	if c.approvers != nil && !c.approvers[user] {
		c.log.Warn().Str("user", user).Str("approval", actions[0].Value).Msg("slack: answer from a user who is not an approver")
		return http.StatusForbidden, "not an approver"
	}
	status, msg := http.StatusOK, ""
	for _, a := range actions {
		if s, m := c.decide(ctx, a, user); s != http.StatusOK {
			status, msg = s, m
		}
	}
	return status, msg
}

// decide carries out one button press, once per (action_ts, approval).
func (c *core) decide(ctx context.Context, a *slack.BlockAction, user string) (int, string) {
	approve := a.ActionID == ActionApprove
	log := c.log.With().Str("approval", a.Value).Str("action", a.ActionID).Str("user", user).Str("action_ts", a.ActionTs).Logger()
	key := a.ActionTs + "\x00" + a.Value
	if !c.seen.add(key) {
		log.Info().Msg("slack: replayed callback ignored")
		return http.StatusOK, ""
	}
	got, err := c.d.Decide(ctx, a.Value, approve, user)
	switch code := procurebot.ErrorCode(err); {
	case err == nil:
		state := ""
		if got != nil {
			state = string(got.State)
		}
		log.Info().Str("state", state).Msg("slack: approval decided")
		return http.StatusOK, ""
	case code == procurebot.ECONFLICT:
		ev := log.Info()
		if got != nil {
			ev = ev.Str("state", string(got.State)).Str("decided_by", got.By)
		}
		ev.Msg("slack: approval already decided; answer has no effect")
		return http.StatusOK, ""
	case code == procurebot.ENOTFOUND:
		log.Warn().Err(err).Msg("slack: unknown approval")
		return http.StatusNotFound, "unknown approval"
	case code == procurebot.EINVALID:
		log.Warn().Err(err).Msg("slack: decision refused")
		return http.StatusBadRequest, "decision refused"
	default:
		// Nothing took effect: let the same callback count again.
		c.seen.remove(key)
		log.Error().Err(err).Msg("slack: decision failed")
		return http.StatusServiceUnavailable, "decision failed, try again"
	}
}

// seenSet remembers up to capacity keys, forgetting the oldest first.
type seenSet struct {
	mu       sync.Mutex
	capacity int
	keys     map[string]uint64 // key → generation
	order    []seenEntry       // FIFO, may hold removed keys
	gen      uint64
}

type seenEntry struct {
	key string
	gen uint64
}

func newSeenSet(capacity int) *seenSet {
	return &seenSet{capacity: capacity, keys: make(map[string]uint64, capacity)}
}

// add records key and reports whether it was new.
func (s *seenSet) add(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[key]; ok {
		return false
	}
	s.gen++
	s.keys[key] = s.gen
	s.order = append(s.order, seenEntry{key, s.gen})
	for len(s.keys) > s.capacity || len(s.order) > 2*s.capacity {
		e := s.order[0]
		s.order = s.order[1:]
		if g, ok := s.keys[e.key]; ok && g == e.gen {
			delete(s.keys, e.key)
		}
	}
	return true
}

// remove forgets key.
func (s *seenSet) remove(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, key)
}

// len is the number of keys remembered.
func (s *seenSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

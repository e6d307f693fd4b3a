package slack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

// maxValue is Slack's limit on a button's value (the approval ID).
const maxValue = 2000

// Notifier posts approval requests to the configured channel and updates
// them with the answer. It is safe for concurrent use.
type Notifier struct {
	api     *slack.Client
	channel string
	log     zerolog.Logger
}

// NewNotifier validates cfg, resolves the bot token and returns a
// Notifier talking to cfg's Web API. env supplies the HTTP client (default
// one with a 15 s timeout), the logger and Getenv.
func NewNotifier(cfg Config, env venuehttp.Env) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tok, err := cfg.botToken(env)
	if err != nil {
		return nil, err
	}
	return &Notifier{
		api:     newAPI(cfg, tok, "", env),
		channel: cfg.Channel,
		log:     env.Logger.With().Str("component", "slack").Logger(),
	}, nil
}

// newAPI builds the slack-go client: cfg's API URL, env's transport, the
// library's own logger silenced, and up to two retries of a rate-limited
// (429) call — which Slack did not carry out, so retrying cannot post
// twice.
func newAPI(cfg Config, bot, app venuehttp.Secret, env venuehttp.Env) *slack.Client {
	hc := env.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	rc := slack.DefaultRetryConfig()
	rc.MaxRetries = 2
	rc.RetryAfterDuration = 5 * time.Second
	opts := []slack.Option{
		slack.OptionAPIURL(cfg.apiURL()),
		slack.OptionHTTPClient(hc),
		slack.OptionRetryConfig(rc),
		slack.OptionLog(discard{}),
	}
	if app != "" {
		opts = append(opts, slack.OptionAppLevelToken(app.Reveal()))
	}
	return slack.New(bot.Reveal(), opts...)
}

// Ask posts the approval request a (Blocks, with Text as the fallback) to
// the channel with chat.postMessage and returns the channel ID and the
// message timestamp, which Resolve needs later (the caller records them,
// store.ApprovalStore.SetApprovalMessage). a must be valid and pending
// (EINVALID). Slack's refusals ({"ok":false,"error":…}) come back as errors
// naming the method, the channel and Slack's error code, with a hint for
// the common ones; code EINVALID for a refusal that will not go away by
// itself (channel_not_found, invalid_auth, …), EUNAVAILABLE for the rest.
// Ask is not idempotent: calling it again posts a second message.
func (n *Notifier) Ask(ctx context.Context, a procurebot.Approval) (channel, ts string, err error) {
	if err := a.Validate(); err != nil {
		return "", "", err
	}
	if a.State != procurebot.ApprovalPending {
		return "", "", procurebot.Invalidf("slack: approval %s is %s, not pending: nothing to ask", a.ID, a.State)
	}
	if len(a.ID) > maxValue {
		return "", "", procurebot.Invalidf("slack: approval id is %d bytes, more than a button value holds (%d)", len(a.ID), maxValue)
	}
	channel, ts, err = n.api.PostMessageContext(ctx, n.channel,
		slack.MsgOptionText(Text(a), true),
		slack.MsgOptionBlocks(Blocks(a)...),
	)
	if err != nil {
		return "", "", apiError("chat.postMessage", n.channel, err)
	}
	n.log.Info().Str("approval", a.ID).Str("channel", channel).Str("ts", ts).Msg("slack: approval requested")
	return channel, ts, nil
}

// Resolve updates the message that asked for a (a.Channel, a.MessageTS)
// with chat.update to show the outcome and who decided; the buttons go.
// a must be decided (approved, rejected or expired) and carry its message,
// else EINVALID. Updating an already updated message again is harmless.
// Errors are as Ask's.
func (n *Notifier) Resolve(ctx context.Context, a procurebot.Approval) error {
	switch {
	case a.State == procurebot.ApprovalPending || a.State == "":
		return procurebot.Invalidf("slack: approval %s is still pending: nothing to resolve", a.ID)
	case a.Channel == "" || a.MessageTS == "":
		return procurebot.Invalidf("slack: approval %s has no Slack message to update", a.ID)
	}
	_, _, _, err := n.api.UpdateMessageContext(ctx, a.Channel, a.MessageTS,
		slack.MsgOptionText(Text(a), true),
		slack.MsgOptionBlocks(Blocks(a)...),
	)
	if err != nil {
		return apiError("chat.update", a.Channel, err)
	}
	n.log.Info().Str("approval", a.ID).Str("state", string(a.State)).Str("by", a.By).Msg("slack: approval message updated")
	return nil
}

// hints explain Slack's commonest refusals.
var hints = map[string]string{
	"channel_not_found":   "check approvals.slack.channel, and that the bot can see the channel",
	"not_in_channel":      "invite the bot to the channel (/invite @procurebot)",
	"invalid_auth":        "the bot token is wrong or revoked",
	"not_authed":          "no bot token was sent",
	"account_inactive":    "the bot token belongs to a deleted app or user",
	"token_revoked":       "the bot token was revoked",
	"missing_scope":       "the app lacks a scope (chat:write for messages)",
	"message_not_found":   "the approval message was deleted",
	"cant_update_message": "the message was not posted by this bot",
}

// transient are Slack error codes worth retrying later.
var transient = map[string]bool{
	"ratelimited": true, "internal_error": true, "fatal_error": true,
	"service_unavailable": true, "request_timeout": true,
}

// apiError wraps a slack-go error with the method, the channel, a hint
// and a procurebot error code. Neither slack-go's errors nor this message
// hold the token (slack-go sends it in the body or a header, never the
// URL).
func apiError(method, channel string, err error) error {
	e := &Error{Code: procurebot.EUNAVAILABLE, Msg: fmt.Sprintf("slack %s to channel %s: %v", method, channel, err), Err: err}
	var se slack.SlackErrorResponse
	var sc slack.StatusCodeError
	switch {
	case errors.As(err, &se):
		if !transient[se.Err] {
			e.Code = procurebot.EINVALID
		}
		if h := hints[se.Err]; h != "" {
			e.Msg += " (" + h + ")"
		}
		if se.Err == "missing_scope" && se.Needed != "" {
			e.Msg += " (needed: " + se.Needed + ")"
		}
	case errors.As(err, &sc):
		if !sc.Retryable() {
			e.Code = procurebot.EINVALID
		}
	}
	return e
}

// Error is a failed Web API call: Slack's refusal or a transport failure,
// with a procurebot error code (procurebot.ErrorCode reads it).
type Error struct {
	Code string // procurebot.EINVALID or procurebot.EUNAVAILABLE
	Msg  string // method, channel, Slack's error and a hint
	Err  error  // slack-go's error: slack.SlackErrorResponse, slack.StatusCodeError, …
}

// Error returns the message.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns slack-go's error.
func (e *Error) Unwrap() error { return e.Err }

// ErrorCode is the procurebot error code.
func (e *Error) ErrorCode() string { return e.Code }

// discard silences slack-go's own logger (used only in its debug mode).
type discard struct{}

// Output drops the line.
func (discard) Output(int, string) error { return nil }

package slack

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

// RunSocketMode receives interactions over Socket Mode — a WebSocket the
// bot opens to Slack (apps.connections.open with the app-level token), for
// operators without a public URL — until ctx is done. It acknowledges
// every envelope at once, then hands block actions to the same decision
// code as Handler: the same action IDs, approver list and replay
// protection (Slack redelivers an envelope it thinks was not
// acknowledged; the redelivery has no effect). No signature is checked:
// the connection itself is authenticated by the app token. slack-go
// reconnects on its own when Slack asks it to or the connection drops.
//
// It returns nil once ctx is done, and an error if the connection cannot
// be opened for good (a refused app token: EINVALID) or configuration is
// wrong.
func RunSocketMode(ctx context.Context, cfg Config, d Decider, env venuehttp.Env) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if d == nil {
		return procurebot.Invalidf("slack: a Decider is required")
	}
	bot, err := cfg.botToken(env)
	if err != nil {
		return err
	}
	app, err := cfg.appToken(env)
	if err != nil {
		return err
	}
	c := newCore(cfg, d, env.Logger)
	smc := socketmode.New(newAPI(cfg, bot, app, env), socketmode.OptionLog(discard{}))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- smc.RunContext(ctx) }()

	for {
		select {
		case err := <-done:
			if ctx.Err() != nil {
				return nil
			}
			return socketError(err)
		case evt := <-smc.Events:
			dispatch(ctx, smc, c, evt)
		}
	}
}

// acker is what dispatch needs from the Socket Mode client.
type acker interface {
	AckCtx(ctx context.Context, envelopeID string, payload any) error
}

// dispatch handles one Socket Mode event: it acknowledges each envelope
// and carries out the button presses of an interactive one.
func dispatch(ctx context.Context, smc acker, c *core, evt socketmode.Event) {
	log := c.log
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		log.Debug().Msg("slack: socket mode connecting")
	case socketmode.EventTypeConnected:
		log.Info().Msg("slack: socket mode connected")
	case socketmode.EventTypeConnectionError:
		ev := log.Warn()
		if ce, ok := evt.Data.(*slack.ConnectionErrorEvent); ok {
			ev = ev.Err(ce.ErrorObj).Dur("backoff", ce.Backoff)
		}
		ev.Msg("slack: socket mode connection failed, retrying")
	case socketmode.EventTypeInvalidAuth:
		log.Error().Msg("slack: socket mode: the app token was refused")
	case socketmode.EventTypeInteractive:
		ack(ctx, smc, evt, log)
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !ok {
			log.Warn().Msg("slack: socket mode: interactive event without a callback")
			return
		}
		if status, msg := c.handle(ctx, cb); status >= 400 {
			log.Warn().Int("status", status).Str("reason", msg).Msg("slack: socket mode interaction not carried out")
		}
	case socketmode.EventTypeEventsAPI, socketmode.EventTypeSlashCommand:
		// Not ours, but unacknowledged envelopes are redelivered.
		ack(ctx, smc, evt, log)
	case socketmode.EventTypeErrorWriteFailed:
		log.Warn().Msg("slack: socket mode: writing an acknowledgement failed; Slack will redeliver")
	default:
		log.Debug().Str("type", string(evt.Type)).Msg("slack: socket mode event")
	}
}

// ack acknowledges evt's envelope.
func ack(ctx context.Context, smc acker, evt socketmode.Event, log zerolog.Logger) {
	if evt.Request == nil || evt.Request.EnvelopeID == "" {
		return
	}
	if err := smc.AckCtx(ctx, evt.Request.EnvelopeID, nil); err != nil {
		log.Warn().Err(err).Str("envelope", evt.Request.EnvelopeID).Msg("slack: socket mode ack failed")
	}
}

// socketError gives a Socket Mode failure a code: a refused token is
// configuration (EINVALID), anything else unavailability.
func socketError(err error) error {
	if err == nil {
		return procurebot.Errorf(procurebot.EUNAVAILABLE, "slack socket mode: connection ended")
	}
	code := procurebot.EUNAVAILABLE
	var se slack.SlackErrorResponse
	var sc slack.StatusCodeError
	switch msg := err.Error(); {
	case errors.As(err, &se) || msg == "invalid_auth" || msg == "not_authed" || msg == "account_inactive" || msg == "token_revoked" || msg == "not_allowed_token_type":
		code = procurebot.EINVALID
	case errors.As(err, &sc) && !sc.Retryable():
		code = procurebot.EINVALID
	}
	return &Error{Code: code, Msg: fmt.Sprintf("slack socket mode (apps.connections.open with the app token): %v", err), Err: err}
}

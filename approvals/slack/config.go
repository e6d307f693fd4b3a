package slack

import (
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

// DefaultAPIURL is Slack's Web API base.
const DefaultAPIURL = "https://slack.com/api/"

// DefaultMaxAge is how far a signed request's timestamp may be from now:
// Slack's own recommendation, and the window slack-go's verifier enforces.
const DefaultMaxAge = 5 * time.Minute

// Environment variables a credential falls back to when the config names
// none.
const (
	EnvBotToken      = "SLACK_BOT_TOKEN"
	EnvSigningSecret = "SLACK_SIGNING_SECRET"
	EnvAppToken      = "SLACK_APP_TOKEN"
)

// section names the config section in error messages.
const section = "approvals.slack"

// Config is the Slack section of the config file:
//
//	approvals:
//	  slack:
//	    bot_token: {env: SLACK_BOT_TOKEN}
//	    signing_secret: {file: /run/secrets/slack-signing}
//	    channel: C0123456789
//	    max_age: 5m
//	    # without a public URL:
//	    socket_mode: true
//	    app_token: {env: SLACK_APP_TOKEN}
//
// Credentials are read from an env var or a file (venuehttp.Credential)
// and held as venuehttp.Secret, which never prints.
type Config struct {
	// BotToken (xoxb-…) posts and updates the approval messages
	// (scope chat:write). Default env SLACK_BOT_TOKEN.
	BotToken venuehttp.Credential `yaml:"bot_token"`
	// SigningSecret verifies interaction callbacks on
	// POST /slack/interactions; required unless SocketMode. Default env
	// SLACK_SIGNING_SECRET.
	SigningSecret venuehttp.Credential `yaml:"signing_secret"`
	// AppToken (xapp-…, scope connections:write) opens the Socket Mode
	// connection; required with SocketMode. Default env SLACK_APP_TOKEN.
	AppToken venuehttp.Credential `yaml:"app_token"`
	// Channel is where approval requests are posted: a channel ID (C…),
	// or a #name (the ID Slack answers with is what updates use).
	Channel string `yaml:"channel"`
	// APIURL is the Web API base (default https://slack.com/api/; tests
	// point it at a local server).
	APIURL string `yaml:"api_url"`
	// SocketMode receives interactions over a WebSocket the bot opens,
	// for operators without a public URL, instead of the HTTP callback.
	SocketMode bool `yaml:"socket_mode"`
	// MaxAge is how far a callback's X-Slack-Request-Timestamp may be from
	// now, either way (default 5m, at most 5m: slack-go's verifier refuses
	// anything older regardless).
	MaxAge time.Duration `yaml:"max_age"`
	// Approvers, when set, are the only Slack user IDs whose answers count;
	// anyone else's click is refused (403). Empty: anyone in the channel.
	Approvers []string `yaml:"approvers"`
}

var (
	channelID = regexp.MustCompile(`^([CGD][A-Z0-9]{2,}|#[a-z0-9][a-z0-9._-]*)$`)
	userID    = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
)

// Validate reports the first problem with c, naming the key. It does not
// read credentials (see the constructors).
func (c Config) Validate() error {
	switch {
	case c.Channel == "":
		return procurebot.Invalidf("%s.channel: required (a channel ID such as C0123456789)", section)
	case !channelID.MatchString(c.Channel):
		return procurebot.Invalidf("%s.channel: %q is neither a channel ID (C…, G…, D…) nor a #channel-name", section, c.Channel)
	case c.MaxAge < 0:
		return procurebot.Invalidf("%s.max_age: %s must not be negative", section, c.MaxAge)
	case c.MaxAge > DefaultMaxAge:
		return procurebot.Invalidf("%s.max_age: %s is more than %s, which slack-go's signature verifier enforces anyway", section, c.MaxAge, DefaultMaxAge)
	}
	if c.APIURL != "" {
		u, err := url.Parse(c.APIURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return procurebot.Invalidf("%s.api_url: %q is not an http(s) URL", section, c.APIURL)
		}
	}
	for i, a := range c.Approvers {
		if !userID.MatchString(a) {
			return procurebot.Invalidf("%s.approvers[%d]: %q is not a Slack user ID (U… or W…)", section, i, a)
		}
	}
	return nil
}

// apiURL is the Web API base with the trailing slash slack-go expects.
func (c Config) apiURL() string {
	u := c.APIURL
	if u == "" {
		u = DefaultAPIURL
	}
	if !strings.HasSuffix(u, "/") {
		u += "/"
	}
	return u
}

// maxAge is MaxAge or its default.
func (c Config) maxAge() time.Duration {
	if c.MaxAge <= 0 {
		return DefaultMaxAge
	}
	return c.MaxAge
}

// botToken resolves the bot token and checks its kind (never its value
// in a message).
func (c Config) botToken(env venuehttp.Env) (venuehttp.Secret, error) {
	s, err := c.BotToken.Resolve(env, section+".bot_token", EnvBotToken, true)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(s.Reveal(), "xoxb-") && !strings.HasPrefix(s.Reveal(), "xoxp-") {
		return "", procurebot.Invalidf("%s.bot_token: not a Slack bot token (expected xoxb-…)", section)
	}
	return s, nil
}

// signingSecret resolves the signing secret.
func (c Config) signingSecret(env venuehttp.Env) (venuehttp.Secret, error) {
	return c.SigningSecret.Resolve(env, section+".signing_secret", EnvSigningSecret, true)
}

// appToken resolves the app-level token Socket Mode needs.
func (c Config) appToken(env venuehttp.Env) (venuehttp.Secret, error) {
	s, err := c.AppToken.Resolve(env, section+".app_token", EnvAppToken, true)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(s.Reveal(), "xapp-") {
		return "", procurebot.Invalidf("%s.app_token: not an app-level token (expected xapp-…, scope connections:write)", section)
	}
	return s, nil
}

package slack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

func TestConfigYAML(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "signing")
	if err := os.WriteFile(secretFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`
bot_token: {env: MY_BOT}
signing_secret: {file: %s}
app_token: {env: MY_APP}
channel: C0APPROVAL
api_url: http://127.0.0.1:1/api
socket_mode: true
max_age: 2m30s
approvers: [U0BOSS, W0OTHER]
`, secretFile)
	var c Config
	if err := yaml.Unmarshal([]byte(src), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.BotToken.Env != "MY_BOT" || c.SigningSecret.File != secretFile || c.AppToken.Env != "MY_APP" ||
		c.Channel != testChannel || !c.SocketMode || c.MaxAge != 150*time.Second || len(c.Approvers) != 2 {
		t.Fatalf("decoded %+v", c)
	}
	if c.apiURL() != "http://127.0.0.1:1/api/" {
		t.Fatalf("apiURL %q: slack-go needs the trailing slash", c.apiURL())
	}
	env := venuehttp.Env{Getenv: func(k string) string {
		return map[string]string{"MY_BOT": testBotToken, "MY_APP": testAppToken}[k]
	}}
	bot, err := c.botToken(env)
	if err != nil || bot.Reveal() != testBotToken {
		t.Fatalf("bot token: %v", err)
	}
	sec, err := c.signingSecret(env)
	if err != nil || sec.Reveal() != testSecret {
		t.Fatalf("signing secret from file: %v", err)
	}
	app, err := c.appToken(env)
	if err != nil || app.Reveal() != testAppToken {
		t.Fatalf("app token: %v", err)
	}
	// Printing the resolved secrets, or the config, shows none of them.
	assertNoSecrets(t, "printed secrets", fmt.Sprintf("%v %+v %q %s", bot, sec, app, app))
	out, err := yaml.Marshal(Config{Channel: testChannel, BotToken: venuehttp.Credential{Value: testBotToken}})
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, "marshalled config", string(out))
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Channel: testChannel}
	if c.apiURL() != DefaultAPIURL || c.maxAge() != 5*time.Minute {
		t.Fatalf("defaults: %s %s", c.apiURL(), c.maxAge())
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		key  string
	}{
		{"no channel", Config{}, "approvals.slack.channel"},
		{"channel with spaces", Config{Channel: "my channel"}, "approvals.slack.channel"},
		{"negative max_age", Config{Channel: testChannel, MaxAge: -time.Second}, "approvals.slack.max_age"},
		{"max_age over 5m", Config{Channel: testChannel, MaxAge: 6 * time.Minute}, "approvals.slack.max_age"},
		{"api_url not http", Config{Channel: testChannel, APIURL: "ftp://x/"}, "approvals.slack.api_url"},
		{"approver not a user id", Config{Channel: testChannel, Approvers: []string{"@alice"}}, "approvals.slack.approvers[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if procurebot.ErrorCode(err) != procurebot.EINVALID || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("err = %v, want EINVALID naming %s", err, tc.key)
			}
		})
	}
	for _, ch := range []string{"C0APPROVAL", "G8PSS9T3V", "#approvals", "#gpu-spend_2"} {
		if err := (Config{Channel: ch}).Validate(); err != nil {
			t.Errorf("channel %q: %v", ch, err)
		}
	}
}

func TestCredentials(t *testing.T) {
	none := venuehttp.Env{Getenv: func(string) string { return "" }}
	with := func(k, v string) venuehttp.Env {
		return venuehttp.Env{Getenv: func(key string) string {
			if key == k {
				return v
			}
			return ""
		}}
	}
	c := Config{Channel: testChannel}
	for _, tc := range []struct {
		name string
		err  func() error
		want []string
	}{
		{"no bot token", func() error { _, err := NewNotifier(c, none); return err }, []string{"approvals.slack.bot_token", EnvBotToken}},
		{"not a bot token", func() error { _, err := NewNotifier(c, with(EnvBotToken, "xapp-sEcReT")); return err }, []string{"approvals.slack.bot_token", "xoxb-"}},
		{"bot token file missing", func() error {
			cc := c
			cc.BotToken.File = filepath.Join(t.TempDir(), "absent")
			_, err := NewNotifier(cc, none)
			return err
		}, []string{"approvals.slack.bot_token.file"}},
		{"no app token for socket mode", func() error { _, err := c.appToken(with(EnvBotToken, testBotToken)); return err }, []string{"approvals.slack.app_token", EnvAppToken}},
		{"bot token as app token", func() error { _, err := c.appToken(with(EnvAppToken, "xoxb-sEcReT")); return err }, []string{"approvals.slack.app_token", "xapp-"}},
		{"invalid config first", func() error { _, err := NewNotifier(Config{}, with(EnvBotToken, testBotToken)); return err }, []string{"approvals.slack.channel"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if procurebot.ErrorCode(err) != procurebot.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			assertNoSecrets(t, "error", err.Error())
		})
	}
}

package venuehttp

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/procurebot/procurebot"
)

const secretValue = "sk-live-9f8e7d6c5b4a"

func TestSecretFormatting(t *testing.T) {
	s := Secret(secretValue)
	cred := Credential{Env: "X_KEY", Value: s}
	// A *Credential nested in a struct is left out: fmt prints a pointer
	// field given a wrong verb (%s, %q) with methods switched off, which no
	// method on Secret can prevent.
	type holder struct {
		Name string
		Key  Secret
		Keys []Secret
		ByID map[string]Secret
		Cred Credential
	}
	h := holder{Name: "n", Key: s, Keys: []Secret{s}, ByID: map[string]Secret{"a": s}, Cred: cred}
	var outs []string
	for _, verb := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x", "%X", "%d", "%10s", "%-12v"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, cred), fmt.Sprintf(verb, &cred), fmt.Sprintf(verb, h))
	}
	for _, verb := range []string{"%v", "%s", "%+v", "%#v"} {
		if got := fmt.Sprintf(verb, s); got != "[redacted]" {
			t.Errorf("Sprintf(%s) = %q, want [redacted]", verb, got)
		}
	}
	if got := fmt.Sprint(s); got != "[redacted]" {
		t.Errorf("Sprint = %q", got)
	}
	if got := fmt.Sprintf("%+v", cred); got != "{Env:X_KEY File: Value:[redacted]}" {
		t.Errorf("%%+v of a Credential = %q", got)
	}
	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(j), `"Key":"[redacted]"`) {
		t.Errorf("JSON %s", j)
	}
	y, err := yaml.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(y), "key: '[redacted]'") && !strings.Contains(string(y), `key: "[redacted]"`) {
		t.Errorf("YAML %s", y)
	}
	var logBuf bytes.Buffer
	logger := zerolog.New(&logBuf)
	logger.Info().Interface("cred", cred).Any("h", h).Stringer("s", s).Msg("creds")
	outs = append(outs, string(j), string(y), logBuf.String(), fmt.Errorf("wrapping %v", s).Error())
	for _, out := range outs {
		if strings.Contains(out, secretValue) || strings.Contains(strings.ToLower(out), hex.EncodeToString([]byte(secretValue))) {
			t.Errorf("secret shows in %q", out)
		}
	}
	if s.Reveal() != secretValue {
		t.Errorf("Reveal = %q", s.Reveal())
	}
}

func TestCredentialYAML(t *testing.T) {
	tests := []struct {
		yaml string
		want Credential
	}{
		{"api_key: {env: RUNPOD_API_KEY}", Credential{Env: "RUNPOD_API_KEY"}},
		{"api_key: {file: /run/secrets/runpod}", Credential{File: "/run/secrets/runpod"}},
		{"api_key: {value: abc}", Credential{Value: "abc"}},
	}
	for _, tt := range tests {
		var cfg struct {
			APIKey Credential `yaml:"api_key"`
		}
		if err := yaml.Unmarshal([]byte(tt.yaml), &cfg); err != nil || cfg.APIKey != tt.want {
			t.Errorf("%s → %+v, %v", tt.yaml, cfg.APIKey, err)
		}
	}
}

func TestCredentialResolve(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFile := write("key", "  file-secret\n")
	emptyFile := write("empty", " \n\t\n")
	missingFile := filepath.Join(dir, "missing")
	env := Env{Getenv: func(k string) string {
		return map[string]string{
			"NAMED_KEY":   "named-secret",
			"DEFAULT_KEY": " default-secret \n",
			"BLANK_KEY":   "   ",
		}[k]
	}}
	const field = "providers.venue.api_key"
	tests := []struct {
		name     string
		cred     Credential
		defEnv   string
		required bool
		want     Secret
		errHas   []string // "" substrings the error must contain; nil for no error
	}{
		{"value", Credential{Value: "inline-secret"}, "DEFAULT_KEY", true, "inline-secret", nil},
		{"value wins over file and env", Credential{Value: "inline-secret", File: keyFile, Env: "NAMED_KEY"}, "DEFAULT_KEY", true, "inline-secret", nil},
		{"file, trimmed", Credential{File: keyFile}, "DEFAULT_KEY", true, "file-secret", nil},
		{"file wins over env", Credential{File: keyFile, Env: "NAMED_KEY"}, "", true, "file-secret", nil},
		{"named env", Credential{Env: "NAMED_KEY"}, "DEFAULT_KEY", true, "named-secret", nil},
		{"default env, trimmed", Credential{}, "DEFAULT_KEY", true, "default-secret", nil},
		{"optional and absent", Credential{}, "UNSET_KEY", false, "", nil},
		{"optional, no default env", Credential{}, "", false, "", nil},
		{"missing required names field and env var", Credential{}, "UNSET_KEY", true, "",
			[]string{field + ": no credential", "set UNSET_KEY", field + ".env", field + ".file"}},
		{"missing required without default env", Credential{}, "", true, "",
			[]string{field + ": no credential", field + ".env", field + ".file"}},
		{"blank default env counts as unset", Credential{}, "BLANK_KEY", true, "", []string{"set BLANK_KEY"}},
		{"named env unset", Credential{Env: "UNSET_KEY"}, "DEFAULT_KEY", true, "",
			[]string{field + ".env", "UNSET_KEY is not set"}},
		{"named env unset even when optional", Credential{Env: "UNSET_KEY"}, "", false, "", []string{field + ".env", "UNSET_KEY"}},
		{"empty file", Credential{File: emptyFile}, "DEFAULT_KEY", true, "", []string{field + ".file", emptyFile, "is empty"}},
		{"missing file", Credential{File: missingFile}, "DEFAULT_KEY", true, "", []string{field + ".file", missingFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cred.Resolve(env, field, tt.defEnv, tt.required)
			if tt.errHas == nil {
				if err != nil || got != tt.want {
					t.Fatalf("Resolve = %q, %v; want %q", got.Reveal(), err, tt.want.Reveal())
				}
				return
			}
			if err == nil {
				t.Fatalf("Resolve = %q, want an error", got.Reveal())
			}
			if got != "" {
				t.Errorf("secret %q returned with the error", got.Reveal())
			}
			if procurebot.ErrorCode(err) != procurebot.EINVALID {
				t.Errorf("code %q", procurebot.ErrorCode(err))
			}
			for _, want := range tt.errHas {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestCredentialResolveOSEnv(t *testing.T) {
	t.Setenv("VENUEHTTP_TEST_KEY", "from-os")
	got, err := Credential{}.Resolve(Env{}, "providers.x.api_key", "VENUEHTTP_TEST_KEY", true)
	if err != nil || got != "from-os" {
		t.Errorf("Resolve with the process env = %q, %v", got.Reveal(), err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string // "" for valid
	}{
		{Config{}, ""},
		{Config{BaseURL: "http://x", Timeout: time.Second, MaxAttempts: 2, RatePerSecond: 0.5, MaxAge: time.Minute}, ""},
		{Config{Timeout: -time.Second}, "providers.v.timeout: -1s must not be negative"},
		{Config{MaxAttempts: -1}, "providers.v.max_attempts: -1 must not be negative"},
		{Config{RatePerSecond: -2}, "providers.v.rate_per_second: -2 must not be negative"},
		{Config{MaxAge: -time.Minute}, "providers.v.max_age: -1m0s must not be negative"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate("v")
		if tt.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", tt.cfg, err)
			}
			continue
		}
		if err == nil || err.Error() != tt.want || procurebot.ErrorCode(err) != procurebot.EINVALID {
			t.Errorf("%+v: %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func TestConfigYAMLInline(t *testing.T) {
	var cfg struct {
		Config `yaml:",inline"`
		APIKey Credential `yaml:"api_key"`
	}
	in := "base_url: http://localhost:1\ntimeout: 3s\nmax_attempts: 2\nrate_per_second: 0.5\nmax_age: 15m\napi_key: {env: K}\n"
	if err := yaml.Unmarshal([]byte(in), &cfg); err != nil {
		t.Fatal(err)
	}
	want := Config{BaseURL: "http://localhost:1", Timeout: 3 * time.Second, MaxAttempts: 2, RatePerSecond: 0.5, MaxAge: 15 * time.Minute}
	if cfg.Config != want || cfg.APIKey.Env != "K" {
		t.Errorf("decoded %+v", cfg)
	}
}

func TestConfigOptions(t *testing.T) {
	hc := &http.Client{}
	base := Options{Timeout: time.Second, MaxAttempts: 7, RatePerSecond: 9, HTTP: hc}
	tests := []struct {
		name string
		cfg  Config
		rate float64
		want Options
	}{
		{"config silent: venue rate", Config{}, 1, Options{Timeout: time.Second, MaxAttempts: 7, RatePerSecond: 1, HTTP: hc}},
		{"config overrides", Config{Timeout: 5 * time.Second, MaxAttempts: 2, RatePerSecond: 0.25}, 1,
			Options{Timeout: 5 * time.Second, MaxAttempts: 2, RatePerSecond: 0.25, HTTP: hc}},
		{"no venue rate keeps the option's", Config{}, 0, Options{Timeout: time.Second, MaxAttempts: 7, RatePerSecond: 9, HTTP: hc}},
	}
	for _, tt := range tests {
		got := tt.cfg.Options(base, tt.rate)
		if got.Timeout != tt.want.Timeout || got.MaxAttempts != tt.want.MaxAttempts || got.RatePerSecond != tt.want.RatePerSecond || got.HTTP != hc {
			t.Errorf("%s: %+v", tt.name, got)
		}
	}
	var log bytes.Buffer
	env := Env{HTTP: hc, Logger: zerolog.New(&log)}
	o := env.Options(Config{MaxAttempts: 1}, 3)
	o.Logger.Info().Msg("hello")
	if o.HTTP != hc || o.MaxAttempts != 1 || o.RatePerSecond != 3 || !strings.Contains(log.String(), "hello") {
		t.Errorf("Env.Options = %+v", o)
	}
	if got := (Config{}).URL("https://default"); got != "https://default" {
		t.Errorf("URL default = %q", got)
	}
	if got := (Config{BaseURL: "http://override"}).URL("https://default"); got != "http://override" {
		t.Errorf("URL override = %q", got)
	}
}

// fixedClock is a clock stopped at one instant.
type fixedClock struct{ at time.Time }

func (c fixedClock) Now() time.Time                                   { return c.at }
func (c fixedClock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func TestEnvNow(t *testing.T) {
	at := time.Date(2026, 10, 12, 17, 0, 0, 0, time.UTC)
	var clock procurebot.Clock = fixedClock{at}
	if got := (Env{Clock: clock}).Now(); !got.Equal(at) {
		t.Errorf("Now with a clock = %s", got)
	}
	got := Env{}.Now()
	if got.Location() != time.UTC || time.Since(got) > time.Minute {
		t.Errorf("Now without a clock = %s", got)
	}
}

package venuehttp

import (
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/procurebot/procurebot"
)

// Config is what every venue's section of the YAML config shares. Venue
// packages embed it inline in their own Config:
//
//	providers:
//	  lambda:
//	    api_key: {env: LAMBDA_API_KEY}
//	    max_age: 15m
//	    rate_per_second: 1
type Config struct {
	// BaseURL overrides the venue's documented endpoint (tests, proxies).
	BaseURL string `yaml:"base_url"`
	// Timeout bounds one attempt (default 20s).
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts for retryable failures (default 4).
	MaxAttempts int `yaml:"max_attempts"`
	// RatePerSecond caps calls to the venue (default: the venue's own).
	RatePerSecond float64 `yaml:"rate_per_second"`
	// MaxAge is how old the venue's newest quote may be before the venue
	// counts as stale and its quotes are not used (default: the venue's own).
	MaxAge time.Duration `yaml:"max_age"`
}

// Options overlays the config on o, leaving o's values where the config
// is silent. rate is the venue's own default rate limit; it replaces o's
// when positive.
func (c Config) Options(o Options, rate float64) Options {
	if c.Timeout > 0 {
		o.Timeout = c.Timeout
	}
	if c.MaxAttempts > 0 {
		o.MaxAttempts = c.MaxAttempts
	}
	if rate > 0 {
		o.RatePerSecond = rate
	}
	if c.RatePerSecond > 0 {
		o.RatePerSecond = c.RatePerSecond
	}
	return o
}

// URL returns the configured base URL or def.
func (c Config) URL(def string) string {
	if c.BaseURL != "" {
		return c.BaseURL
	}
	return def
}

// Validate checks the shared fields; venue names the section in errors.
func (c Config) Validate(venue string) error {
	switch {
	case c.Timeout < 0:
		return procurebot.Invalidf("providers.%s.timeout: %s must not be negative", venue, c.Timeout)
	case c.MaxAttempts < 0:
		return procurebot.Invalidf("providers.%s.max_attempts: %d must not be negative", venue, c.MaxAttempts)
	case c.RatePerSecond < 0:
		return procurebot.Invalidf("providers.%s.rate_per_second: %g must not be negative", venue, c.RatePerSecond)
	case c.MaxAge < 0:
		return procurebot.Invalidf("providers.%s.max_age: %s must not be negative", venue, c.MaxAge)
	}
	return nil
}

// Credential says where a secret comes from: an environment variable, a
// file (its content, trimmed), or the config itself (discouraged: prefer
// env or file so the config can be shared). In YAML:
//
//	api_key: {env: RUNPOD_API_KEY}
//	api_key: {file: /run/secrets/runpod}
type Credential struct {
	Env   string `yaml:"env"`
	File  string `yaml:"file"`
	Value Secret `yaml:"value"`
}

// Resolve returns the secret: Value, else the file's content, else the
// named env var, else the env var defEnv. It is an error naming field when
// the file cannot be read or an env var it was told to use is empty;
// required says whether no secret at all is an error.
func (c Credential) Resolve(env Env, field, defEnv string, required bool) (Secret, error) {
	getenv := env.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	switch {
	case c.Value != "":
		return c.Value, nil
	case c.File != "":
		b, err := os.ReadFile(c.File)
		if err != nil {
			return "", procurebot.Invalidf("%s.file: %v", field, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", procurebot.Invalidf("%s.file: %s is empty", field, c.File)
		}
		return Secret(s), nil
	case c.Env != "":
		s := strings.TrimSpace(getenv(c.Env))
		if s == "" {
			return "", procurebot.Invalidf("%s.env: environment variable %s is not set", field, c.Env)
		}
		return Secret(s), nil
	}
	if defEnv != "" {
		if s := strings.TrimSpace(getenv(defEnv)); s != "" {
			return Secret(s), nil
		}
	}
	if required {
		if defEnv != "" {
			return "", procurebot.Invalidf("%s: no credential: set %s, or %s.env / %s.file in the config", field, defEnv, field, field)
		}
		return "", procurebot.Invalidf("%s: no credential: set %s.env or %s.file in the config", field, field, field)
	}
	return "", nil
}

// Env is what a venue adapter needs from its surroundings: a clock for
// fetch times, a logger, an HTTP transport and the environment (tests
// replace Getenv).
type Env struct {
	Clock  procurebot.Clock
	Logger zerolog.Logger
	HTTP   *http.Client
	Getenv func(string) string
}

// Now is the env's clock time (the wall clock when none is set).
func (e Env) Now() time.Time {
	if e.Clock == nil {
		return time.Now().UTC()
	}
	return e.Clock.Now()
}

// Options returns client options from env and the venue config.
func (e Env) Options(c Config, defaultRate float64) Options {
	return c.Options(Options{HTTP: e.HTTP, Logger: e.Logger}, defaultRate)
}

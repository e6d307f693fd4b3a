package config

import (
	"strings"
	"testing"
	"time"

	"github.com/procurebot/procurebot"
)

func TestParse(t *testing.T) {
	c, err := Parse("p.yaml", []byte(`
providers:
  lambda:
    api_key: {env: MY_LAMBDA_KEY}
    max_age: 20m
    rate_per_second: 0.5
feed:
  guard: {low: 0.25, high: 4}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Providers.Lambda == nil || c.Providers.Lambda.APIKey.Env != "MY_LAMBDA_KEY" || c.Providers.Lambda.MaxAge != 20*time.Minute || c.Providers.Lambda.RatePerSecond != 0.5 {
		t.Errorf("lambda %+v", c.Providers.Lambda)
	}
	if c.Feed.Guard.Low != 0.25 || c.Feed.Guard.High != 4 {
		t.Errorf("guard %+v", c.Feed.Guard)
	}
	if n := c.Providers.Names(); len(n) != 1 || n[0] != "lambda" {
		t.Errorf("names %v", n)
	}
}

func TestParseEmpty(t *testing.T) {
	c, err := Parse("e.yaml", nil)
	if err != nil || len(c.Providers.Names()) != 0 {
		t.Fatal(c, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"providers:\n  lambda:\n    api_kee: {env: X}\n", "p.yaml: line 3: unknown key api_kee in lambda.Config"},
		{"providers:\n  nosuchvenue: {}\n", "line 2: unknown key nosuchvenue"},
		{"feeds: {}\n", "line 1: unknown key feeds"},
		{"providers:\n  lambda:\n    max_age: soon\n", "line 3"},
		{"feed:\n  guard: {low: 2}\n", "feed.guard.low"},
		{"providers: [\n", "p.yaml"},
	} {
		_, err := Parse("p.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) || procurebot.ErrorCode(err) != procurebot.EINVALID {
			t.Errorf("%q: %v, want EINVALID containing %q", tc.yaml, err, tc.want)
		}
	}
}

func TestParseNullVenue(t *testing.T) {
	_, err := Parse("p.yaml", []byte("providers:\n  lambda: {api_key: {env: X}}\n  runpod:\n"))
	if err == nil || !strings.Contains(err.Error(), "line 3: providers.runpod has no settings") {
		t.Fatalf("err %v", err)
	}
}

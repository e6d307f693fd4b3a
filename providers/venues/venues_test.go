package venues

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/feed"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

// allVenues configures every venue with credentials from a fake
// environment: the documented minimal config of each.
const allVenues = `
lambda: {}
runpod: {}
vastai: {}
datacrunch: {}
shadeform: {}
sfcompute: {}
akash: {}
ionet: {}
openrouter: {}
ercot: {}
entsoe: {zone: BE}
`

func env() venuehttp.Env {
	vals := map[string]string{
		"LAMBDA_API_KEY": "k", "RUNPOD_API_KEY": "k", "VAST_API_KEY": "k", "VERDA_CLIENT_ID": "id", "VERDA_CLIENT_SECRET": "s",
		"SHADEFORM_API_KEY": "k", "SFC_API_KEY": "k", "IONET_API_KEY": "k", "OPENROUTER_API_KEY": "k",
		"ERCOT_SUBSCRIPTION_KEY": "k", "ERCOT_USERNAME": "u", "ERCOT_PASSWORD": "p", "ENTSOE_TOKEN": "t",
	}
	return venuehttp.Env{Getenv: func(k string) string { return vals[k] }}
}

func TestBuildAll(t *testing.T) {
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(allVenues))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(c.Names(), ","), strings.Join(Known(), ","); got != want {
		t.Fatalf("configured %s, want every known venue %s", got, want)
	}
	srcs, err := c.Build(env())
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, s := range srcs {
		switch s.(type) {
		case feed.GPUSource:
			kinds[s.Name()] = "gpu"
		case feed.TokenSource:
			kinds[s.Name()] = "tokens"
		case feed.PowerSource:
			kinds[s.Name()] = "power"
		}
		if s.MaxAge() <= 0 {
			t.Errorf("%s: max age %s", s.Name(), s.MaxAge())
		}
	}
	for name, want := range map[string]string{"lambda": "gpu", "runpod": "gpu", "vastai": "gpu", "datacrunch": "gpu", "shadeform": "gpu",
		"sfcompute": "gpu", "akash": "gpu", "ionet": "gpu", "openrouter": "tokens", "ercot": "power", "entsoe": "power"} {
		if kinds[name] != want {
			t.Errorf("%s sells %q, want %s", name, kinds[name], want)
		}
	}
	// The whole set makes one feed.
	if _, err := feed.New(procurebot.WallClock{}, feed.Options{}, srcs...); err != nil {
		t.Fatal(err)
	}
	only, err := c.Build(env(), "runpod", "ercot")
	if err != nil || len(only) != 2 {
		t.Fatalf("only runpod, ercot: %d sources, %v", len(only), err)
	}
}

func TestBuildErrors(t *testing.T) {
	c := Config{}
	if _, err := c.Build(env(), "runpod"); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("unconfigured venue: %v", err)
	}
	if _, err := c.Build(env(), "aws"); err == nil || !strings.Contains(err.Error(), "no such venue") {
		t.Errorf("unknown venue: %v", err)
	}
	// A missing credential names the venue's key and env var.
	var l Config
	yaml.Unmarshal([]byte("lambda: {}\n"), &l)
	_, err := l.Build(venuehttp.Env{Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "providers.lambda.api_key") || !strings.Contains(err.Error(), "LAMBDA_API_KEY") || procurebot.ErrorCode(err) != procurebot.EINVALID {
		t.Errorf("missing key: %v", err)
	}
}

package config_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/procurebot/procurebot/config"
	"github.com/procurebot/procurebot/providers/venuehttp"
	"github.com/procurebot/procurebot/providers/venues"
)

const examplePath = "../docs/procurebot.example.yaml"

var (
	// envRef matches a credential read from an env var: {env: VAR}.
	envRef = regexp.MustCompile(`\{\s*env:\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}`)
	// optional matches the example's optional lines, "#~ " after the
	// indentation.
	optional = regexp.MustCompile(`(?m)^(\s*)#~ `)
)

// TestExampleConfig parses docs/procurebot.example.yaml strictly and builds
// every venue from it, once as shipped and once with every optional "#~ "
// line enabled, with fake values for exactly the env vars the file names:
// a venue that needed any other variable (a default env var the example
// does not name) would fail to build.
func TestExampleConfig(t *testing.T) {
	shipped, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	all := optional.ReplaceAll(shipped, []byte("$1"))
	if string(all) == string(shipped) {
		t.Fatal("the example has no optional #~ lines")
	}
	enabled := filepath.Join(t.TempDir(), "all-options.yaml")
	if err := os.WriteFile(enabled, all, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		text       []byte
	}{
		{"as shipped", examplePath, shipped},
		{"every #~ line enabled", enabled, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Load(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := cfg.Providers.Names(), venues.Known(); !slices.Equal(got, want) {
				t.Fatalf("configured venues %v, want every known venue %v", got, want)
			}
			vars := map[string]bool{}
			for _, m := range envRef.FindAllSubmatch(tc.text, -1) {
				vars[string(m[1])] = true
			}
			if len(vars) == 0 {
				t.Fatal("the example names no env var")
			}
			env := venuehttp.Env{Getenv: func(k string) string {
				if vars[k] {
					return "fake-" + strings.ToLower(k)
				}
				return ""
			}}
			srcs, err := cfg.Providers.Build(env)
			if err != nil {
				t.Fatalf("build with env vars %v: %v", keys(vars), err)
			}
			var built []string
			for _, s := range srcs {
				built = append(built, s.Name())
				if s.MaxAge() <= 0 {
					t.Errorf("%s: max age %s", s.Name(), s.MaxAge())
				}
			}
			if want := venues.Known(); len(srcs) != 11 || !slices.Equal(built, want) {
				t.Fatalf("built %d venues %v, want the 11 %v", len(srcs), built, want)
			}
			// Without the named env vars the venues that need a
			// credential refuse to build.
			if _, err := cfg.Providers.Build(venuehttp.Env{Getenv: func(string) string { return "" }}); err == nil {
				t.Error("built with an empty environment; the example's credentials are not used")
			}
		})
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

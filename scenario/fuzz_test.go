package scenario

import (
	"os"
	"strings"
	"testing"

	"github.com/procurebot/procurebot"
)

// FuzzParse: any bytes give either a scenario that passes Validate with its
// defaults applied, or an EINVALID error naming the file — never a panic.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	for _, s := range []string{
		"",
		"~",
		"start: 2024-10-01T00:00:00Z\nend: 2024-10-02T00:00:00Z\ninference: [{id: a, model: m, mtok_in_per_hour: 1}]\n",
		"step: 1x\n",
		"sites: [{name: a, kw_per_gpu: abc}]\n",
		"jobs:\n  - &a {id: a}\n  - <<: *a\n",
		"market: {on_demand_providers: []}\n",
		"a: [\n",
		"seed: 0x10\nbudget_usd: 1e-3\n",
		"--- \n...\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse returned both a scenario and %v", err)
			}
			if code := procurebot.ErrorCode(err); code != procurebot.EINVALID {
				t.Fatalf("error code %q, want %q: %v", code, procurebot.EINVALID, err)
			}
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if s == nil {
			t.Fatal("Parse returned neither a scenario nor an error")
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted a scenario that Validate rejects: %v", err)
		}
		if s.Step <= 0 || s.Market.MaxGPUsPerOffer <= 0 || s.Market.OnDemandProviders == nil {
			t.Fatalf("defaults not applied: %+v", s)
		}
		if s.Steps() <= 0 {
			t.Fatalf("valid scenario with %d steps", s.Steps())
		}
	})
}

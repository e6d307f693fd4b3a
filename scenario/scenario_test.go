package scenario

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"

	"github.com/procurebot/procurebot"
)

// base is a minimal valid scenario as a YAML tree; rows of the validation
// table mutate one key of it.
func base() map[string]any {
	return map[string]any{
		"start": "2024-10-01T00:00:00Z",
		"end":   "2024-10-03T00:00:00Z",
		"step":  "1h",
		"sites": []any{map[string]any{
			"name": "tx-1", "power_market": "ERCOT", "gpu": "H100", "gpus": 8, "kw_per_gpu": "0.7",
		}},
		"jobs": []any{
			map[string]any{"id": "train-a", "gpu": "H100", "max_gpus": 4, "gpu_hours": "100",
				"release": "2024-10-01T00:00:00Z", "deadline": "2024-10-02T00:00:00Z"},
			map[string]any{"id": "train-b", "gpu": "H100", "max_gpus": 4, "gpu_hours": "100",
				"release": "2024-10-01T12:00:00Z", "deadline": "2024-10-03T00:00:00Z"},
		},
		"inference": []any{map[string]any{
			"id": "chat", "model": "llama", "mtok_in_per_hour": "2", "mtok_out_per_hour": "1",
			"self_host": map[string]any{"gpu": "H100", "mtok_per_gpu_hour": "2.5"},
		}},
		"market": map[string]any{},
	}
}

// at returns the mapping at a path of keys and list indexes in tree m.
func at(m map[string]any, path ...any) map[string]any {
	var cur any = m
	for _, p := range path {
		switch p := p.(type) {
		case string:
			cur = cur.(map[string]any)[p]
		case int:
			cur = cur.([]any)[p]
		}
	}
	return cur.(map[string]any)
}

func mustMarshal(t *testing.T, m map[string]any) []byte {
	t.Helper()
	b, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantInvalid fails unless err is an EINVALID error whose message contains
// every one of want.
func wantInvalid(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	if code := procurebot.ErrorCode(err); code != procurebot.EINVALID {
		t.Errorf("code %q, want %q (error: %v)", code, procurebot.EINVALID, err)
	}
	var pe *procurebot.Error
	if !errors.As(err, &pe) {
		t.Errorf("error %v (%T) is not a *procurebot.Error", err, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err.Error(), w)
		}
	}
}

func mustParse(t *testing.T, src string) *procurebot.Scenario {
	t.Helper()
	s, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return s
}

func TestBaseIsValid(t *testing.T) {
	s, err := Parse("test.yaml", mustMarshal(t, base()))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Sites) != 1 || len(s.Jobs) != 2 || len(s.Inference) != 1 {
		t.Fatalf("decoded %+v", s)
	}
}

func TestValidationRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m map[string]any)
		want   []string // substrings of the error; nil = valid
	}{
		// the window
		{"start missing", func(m map[string]any) { delete(m, "start") }, []string{"test.yaml", "start: required"}},
		{"end missing", func(m map[string]any) { delete(m, "end") }, []string{"end: required"}},
		{"end equals start", func(m map[string]any) { m["end"] = m["start"] }, []string{"end: must be after start"}},
		{"end before start", func(m map[string]any) { m["end"] = "2024-09-01T00:00:00Z" }, []string{"end: must be after start"}},
		{"step negative", func(m map[string]any) { m["step"] = "-1h" }, []string{"step: must be positive"}},
		{"step not dividing", func(m map[string]any) { m["step"] = "7h" }, []string{"step: 7h0m0s does not divide"}},
		{"step zero written out", func(m map[string]any) { m["step"] = "0s" }, []string{"test.yaml:", "step: must be positive, got 0s"}},
		{"step null is the default", func(m map[string]any) { m["step"] = nil }, nil},
		{"step 15m ok", func(m map[string]any) { m["step"] = "15m" }, nil},
		{"too many steps", func(m map[string]any) { m["step"] = "1ns" }, []string{"step: ", "steps"}},
		{"budget zero", func(m map[string]any) { m["budget_usd"] = "0" }, []string{`budget_usd: must be positive when set, got "0"`}},
		{"budget negative", func(m map[string]any) { m["budget_usd"] = -5 }, []string{`budget_usd: must be positive`}},
		{"budget ok", func(m map[string]any) { m["budget_usd"] = "250000" }, nil},
		{"no work", func(m map[string]any) { delete(m, "jobs"); delete(m, "inference") }, []string{"jobs: ", "no work"}},
		{"jobs only", func(m map[string]any) { delete(m, "inference") }, nil},
		{"inference only", func(m map[string]any) { delete(m, "jobs") }, nil},
		{"no sites ok", func(m map[string]any) { delete(m, "sites"); delete(at(m, "inference", 0), "self_host") }, nil},

		// sites
		{"site name empty", func(m map[string]any) { at(m, "sites", 0)["name"] = "" }, []string{"sites[0].name: required"}},
		{"site name duplicate", func(m map[string]any) {
			m["sites"] = append(m["sites"].([]any), map[string]any{"name": "tx-1", "power_market": "X", "gpu": "A100", "gpus": 1, "kw_per_gpu": 1})
		}, []string{`sites[1].name: duplicate site name "tx-1"`}},
		{"power_market empty", func(m map[string]any) { delete(at(m, "sites", 0), "power_market") }, []string{"sites[0].power_market: required"}},
		{"power_visibility bad", func(m map[string]any) { at(m, "sites", 0)["power_visibility"] = "hourly" }, []string{`sites[0].power_visibility: must be realtime or dayahead, got "hourly"`}},
		{"power_visibility dayahead", func(m map[string]any) { at(m, "sites", 0)["power_visibility"] = "dayahead" }, nil},
		{"site gpu empty", func(m map[string]any) { at(m, "sites", 0)["gpu"] = "" }, []string{"sites[0].gpu: required"}},
		{"gpus zero", func(m map[string]any) { at(m, "sites", 0)["gpus"] = 0 }, []string{"sites[0].gpus: must be a positive whole number, got 0"}},
		{"gpus negative", func(m map[string]any) { at(m, "sites", 0)["gpus"] = -3 }, []string{"sites[0].gpus: must be a positive"}},
		{"gpus fractional", func(m map[string]any) { at(m, "sites", 0)["gpus"] = 1.5 }, []string{`sites[0].gpus: must be a whole number, got "1.5"`}},
		{"kw_per_gpu zero", func(m map[string]any) { at(m, "sites", 0)["kw_per_gpu"] = "0" }, []string{`sites[0].kw_per_gpu: must be positive, got "0"`}},
		{"kw_per_gpu missing", func(m map[string]any) { delete(at(m, "sites", 0), "kw_per_gpu") }, []string{`sites[0].kw_per_gpu: must be positive`}},
		{"pue zero", func(m map[string]any) { at(m, "sites", 0)["pue"] = "0" }, []string{`sites[0].pue: must be positive, got "0"`}},
		{"other negative", func(m map[string]any) { at(m, "sites", 0)["other_usd_per_gpu_hour"] = "-0.01" }, []string{`sites[0].other_usd_per_gpu_hour: must not be negative, got "-0.01"`}},
		{"sell ratio above 1", func(m map[string]any) { at(m, "sites", 0)["sell_price_ratio"] = "1.01" }, []string{`sites[0].sell_price_ratio: must be in [0, 1], got "1.01"`}},
		{"sell ratio negative", func(m map[string]any) { at(m, "sites", 0)["sell_price_ratio"] = "-0.1" }, []string{`sites[0].sell_price_ratio: must be in [0, 1]`}},
		{"sell ratio 1 ok", func(m map[string]any) { at(m, "sites", 0)["sell_price_ratio"] = 1 }, nil},

		// jobs
		{"job id empty", func(m map[string]any) { at(m, "jobs", 0)["id"] = "" }, []string{"jobs[0].id: required"}},
		{"job id duplicate", func(m map[string]any) { at(m, "jobs", 1)["id"] = "train-a" }, []string{`jobs[1] (id train-a).id: duplicate job id "train-a" (also jobs[0])`}},
		{"job gpu empty", func(m map[string]any) { delete(at(m, "jobs", 1), "gpu") }, []string{"jobs[1] (id train-b).gpu: required"}},
		{"max_gpus zero", func(m map[string]any) { at(m, "jobs", 1)["max_gpus"] = 0 }, []string{"jobs[1] (id train-b).max_gpus: must be a positive whole number, got 0"}},
		{"gpu_hours zero", func(m map[string]any) { at(m, "jobs", 1)["gpu_hours"] = "0" }, []string{`jobs[1] (id train-b).gpu_hours: must be positive, got "0"`}},
		{"gpu_hours negative", func(m map[string]any) { at(m, "jobs", 1)["gpu_hours"] = "-1" }, []string{`jobs[1] (id train-b).gpu_hours: must be positive`}},
		{"release missing", func(m map[string]any) { delete(at(m, "jobs", 1), "release") }, []string{"jobs[1] (id train-b).release: required"}},
		{"deadline missing", func(m map[string]any) { delete(at(m, "jobs", 1), "deadline") }, []string{"jobs[1] (id train-b).deadline: required"}},
		{"release before start", func(m map[string]any) { at(m, "jobs", 1)["release"] = "2024-09-30T23:00:00Z" }, []string{"jobs[1] (id train-b).release: 2024-09-30T23:00:00Z is before start"}},
		{"deadline before release", func(m map[string]any) { at(m, "jobs", 1)["deadline"] = "2024-10-01T06:00:00Z" }, []string{"jobs[1] (id train-b).deadline: must be after release"}},
		{"deadline equals release", func(m map[string]any) { at(m, "jobs", 1)["deadline"] = "2024-10-01T12:00:00Z" }, []string{"jobs[1] (id train-b).deadline: must be after release"}},
		{"deadline after end", func(m map[string]any) { at(m, "jobs", 1)["deadline"] = "2024-10-03T01:00:00Z" }, []string{"jobs[1] (id train-b).deadline: 2024-10-03T01:00:00Z is after end"}},
		{"no whole step", func(m map[string]any) {
			at(m, "jobs", 1)["release"] = "2024-10-01T12:30:00Z"
			at(m, "jobs", 1)["deadline"] = "2024-10-01T13:45:00Z"
		}, []string{"jobs[1] (id train-b).deadline: no whole step of 1h0m0s fits"}},
		{"one whole step ok", func(m map[string]any) {
			at(m, "jobs", 1)["release"] = "2024-10-01T12:30:00Z"
			at(m, "jobs", 1)["deadline"] = "2024-10-01T14:00:00Z"
		}, nil},
		{"release offset time zone ok", func(m map[string]any) { at(m, "jobs", 1)["release"] = "2024-10-01T14:00:00+02:00" }, nil},
		{"max price zero", func(m map[string]any) { at(m, "jobs", 1)["max_usd_per_gpu_hour"] = "0" }, []string{`jobs[1] (id train-b).max_usd_per_gpu_hour: must be positive when set, got "0"`}},
		{"max price ok", func(m map[string]any) { at(m, "jobs", 1)["max_usd_per_gpu_hour"] = "4.00" }, nil},

		// inference
		{"inference id empty", func(m map[string]any) { at(m, "inference", 0)["id"] = "" }, []string{"inference[0].id: required"}},
		{"inference id duplicate", func(m map[string]any) {
			m["inference"] = append(m["inference"].([]any), map[string]any{"id": "chat", "model": "x", "mtok_in_per_hour": 1})
		}, []string{`inference[1].id: duplicate inference id "chat"`}},
		{"model empty", func(m map[string]any) { delete(at(m, "inference", 0), "model") }, []string{"inference[0].model: required"}},
		{"mtok_in negative", func(m map[string]any) { at(m, "inference", 0)["mtok_in_per_hour"] = "-1" }, []string{`inference[0].mtok_in_per_hour: must not be negative, got "-1"`}},
		{"mtok_out negative", func(m map[string]any) { at(m, "inference", 0)["mtok_out_per_hour"] = "-1" }, []string{`inference[0].mtok_out_per_hour: must not be negative`}},
		{"no tokens", func(m map[string]any) {
			delete(at(m, "inference", 0), "mtok_in_per_hour")
			at(m, "inference", 0)["mtok_out_per_hour"] = "0"
		}, []string{"inference[0].mtok_in_per_hour: ", "both zero"}},
		{"out only ok", func(m map[string]any) { delete(at(m, "inference", 0), "mtok_in_per_hour") }, nil},
		{"self_host gpu empty", func(m map[string]any) { delete(at(m, "inference", 0, "self_host"), "gpu") }, []string{"inference[0].self_host.gpu: required"}},
		{"self_host throughput zero", func(m map[string]any) { at(m, "inference", 0, "self_host")["mtok_per_gpu_hour"] = 0 }, []string{`inference[0].self_host.mtok_per_gpu_hour: must be positive, got "0"`}},
		{"self_host null ok", func(m map[string]any) { at(m, "inference", 0)["self_host"] = nil }, nil},

		// market
		{"max_gpus_per_offer zero written out", func(m map[string]any) { at(m, "market")["max_gpus_per_offer"] = 0 }, []string{"market.max_gpus_per_offer: must be a positive whole number, got 0"}},
		{"max_gpus_per_offer negative", func(m map[string]any) { at(m, "market")["max_gpus_per_offer"] = -1 }, []string{"market.max_gpus_per_offer: must be a positive whole number, got -1"}},
		{"switch cost negative", func(m map[string]any) { at(m, "market")["switch_cost_gpu_hours"] = "-0.25" }, []string{`market.switch_cost_gpu_hours: must not be negative, got "-0.25"`}},
		{"switch cost a whole step", func(m map[string]any) { at(m, "market")["switch_cost_gpu_hours"] = "1" }, []string{`market.switch_cost_gpu_hours: must be less than one step`}},
		{"switch cost vs 15m step", func(m map[string]any) {
			m["step"] = "15m"
			at(m, "market")["switch_cost_gpu_hours"] = "0.25"
		}, []string{`market.switch_cost_gpu_hours: must be less than one step (0.25`}},
		{"switch cost ok", func(m map[string]any) { at(m, "market")["switch_cost_gpu_hours"] = "0.99" }, nil},
		{"preemption above 1", func(m map[string]any) { at(m, "market")["spot_preemption_per_hour"] = "1.5" }, []string{`market.spot_preemption_per_hour: must be in [0, 1], got "1.5"`}},
		{"preemption negative", func(m map[string]any) { at(m, "market")["spot_preemption_per_hour"] = "-0.05" }, []string{`market.spot_preemption_per_hour: must be in [0, 1]`}},
		{"empty provider", func(m map[string]any) { at(m, "market")["providers"] = []any{"aws", ""} }, []string{"market.providers[1]: empty provider name"}},
		{"empty on-demand provider", func(m map[string]any) { at(m, "market")["on_demand_providers"] = []any{""} }, []string{"market.on_demand_providers[0]: empty provider name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			tt.mutate(m)
			src := mustMarshal(t, m)
			s, err := Parse("test.yaml", src)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Parse: %v\n%s", err, src)
				}
				if err := s.Validate(); err != nil {
					t.Fatalf("Validate after Parse: %v", err)
				}
				return
			}
			wantInvalid(t, err, tt.want...)
			if err != nil && !strings.HasPrefix(err.Error(), "test.yaml") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestValidateWithoutParse(t *testing.T) {
	s := &procurebot.Scenario{}
	s.SetDefaults()
	err := s.Validate()
	wantInvalid(t, err, "start: required")
	var fe *procurebot.FieldError
	if !errors.As(err, &fe) || fe.Path != "start" {
		t.Errorf("cause %#v, want a FieldError for start", fe)
	}
	if e, ok := err.(*procurebot.Error); !ok || e.Code != procurebot.EINVALID {
		t.Errorf("Validate returned %T, want *procurebot.Error", err)
	}

	// A zero step without SetDefaults is an error.
	s = &procurebot.Scenario{Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}
	wantInvalid(t, s.Validate(), "step: must be positive")
}

func TestValidationErrorsNameLine(t *testing.T) {
	src := `start: 2024-10-01T00:00:00Z
end: 2024-10-03T00:00:00Z
jobs:
  - id: a
    gpu: H100
    max_gpus: 4
    gpu_hours: 10
    release: 2024-10-02T00:00:00Z
    deadline: 2024-10-01T00:00:00Z
sites:
  - name: s
    power_market: M
    gpu: H100
    gpus: 2
    kw_per_gpu: 0.7
`
	_, err := Parse("scen.yaml", []byte(src))
	wantInvalid(t, err, "scen.yaml:9: jobs[0] (id a).deadline: must be after release 2024-10-02T00:00:00Z")

	// A missing key is reported at its nearest enclosing key.
	src = strings.Replace(src, "deadline: 2024-10-01", "deadline: 2024-10-03", 1)
	src = strings.Replace(src, "    kw_per_gpu: 0.7\n", "", 1)
	_, err = Parse("scen.yaml", []byte(src))
	wantInvalid(t, err, "scen.yaml:11: sites[0].kw_per_gpu: must be positive")

	// A missing top-level key has no line.
	_, err = Parse("scen.yaml", []byte("end: 2024-10-03T00:00:00Z\n"))
	wantInvalid(t, err, "scen.yaml: start: required")
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name, src string
		want      string
	}{
		{"top level", "start: 2024-10-01T00:00:00Z\nfoo: 1\n", `test.yaml:2: unknown key "foo" (known keys: start, end, step`},
		{"top level typo", "start: 2024-10-01T00:00:00Z\nbudget: 1\n", `test.yaml:2: unknown key "budget" (did you mean "budget_usd"?)`},
		{"site", "sites:\n  - name: a\n    kw_per_gpus: 1\n", `test.yaml:3: unknown key "kw_per_gpus" in sites[0] (did you mean "kw_per_gpu"?)`},
		{"site dashes", "sites:\n  - name: a\n    kw-per-gpu: 1\n", `test.yaml:3: unknown key "kw-per-gpu" in sites[0] (did you mean "kw_per_gpu"?)`},
		{"job", "jobs:\n  - id: a\n  - id: b\n    foo: 1\n", `test.yaml:4: unknown key "foo" in jobs[1]`},
		{"market", "market:\n  max_gpus_per_offer: 3\n  spot: true\n", `test.yaml:3: unknown key "spot" in market`},
		{"self_host", "inference:\n  - id: a\n    self_host: {gpu: H100, mtok_per_hour: 2}\n", `test.yaml:3: unknown key "mtok_per_hour" in inference[0].self_host`},
		{"duplicate key", "step: 1h\nseed: 1\nstep: 2h\n", `test.yaml:3: duplicate key "step" (first at line 1)`},
		{"duplicate nested", "sites:\n  - name: a\n    gpus: 1\n    gpus: 2\n", `test.yaml:4: duplicate key "gpus" in sites[0] (first at line 3)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(tt.src))
			wantInvalid(t, err, tt.want)
		})
	}
}

func TestWrongTypesAndBadYAML(t *testing.T) {
	tests := []struct {
		name, src string
		want      string
	}{
		{"bad duration", "start: 2024-10-01T00:00:00Z\nend: 2024-10-02T00:00:00Z\nstep: 1x\n", `test.yaml:3: step: invalid duration "1x"`},
		{"duration without unit", "step: 3600\n", `test.yaml:1: step: invalid duration "3600"`},
		{"bad decimal", "sites:\n  - name: a\n    gpu: H100\n    kw_per_gpu: abc\n", `test.yaml:4: sites[0].kw_per_gpu: invalid decimal "abc"`},
		{"decimal bool", "budget_usd: true\n", `test.yaml:1: budget_usd: invalid decimal "true"`},
		{"decimal nan", "budget_usd: .nan\n", `test.yaml:1: budget_usd: invalid decimal ".nan"`},
		{"decimal list", "budget_usd: [1]\n", `test.yaml:1: budget_usd: want a decimal number, got a list`},
		{"decimal too long", "budget_usd: 1e50\n", `test.yaml:1: budget_usd: invalid decimal "1e50": more than 40 digits before the point`},
		{"bad time", "start: yesterday\n", `test.yaml:1: start: invalid time "yesterday" (want RFC 3339`},
		{"date only", "start: 2024-10-01\n", `test.yaml:1: start: invalid time "2024-10-01"`},
		{"bad int", "seed: abc\n", `test.yaml:1: seed: invalid whole number "abc"`},
		{"int out of range", "seed: 99999999999999999999999\n", `test.yaml:1: seed: invalid whole number`},
		{"bad bool", "sites:\n  - curtailable: maybe\n", `test.yaml:2: sites[0].curtailable: invalid boolean "maybe" (want true or false)`},
		{"sites scalar", "sites: tx-1\n", `test.yaml:1: sites: want a list, got "tx-1"`},
		{"site scalar", "sites: [1]\n", `test.yaml:1: sites[0]: want a mapping of keys, got "1"`},
		{"market list", "market: [1, 2]\n", `test.yaml:1: market: want a mapping of keys, got a list`},
		{"self_host scalar", "inference:\n  - id: a\n    self_host: H100\n", `test.yaml:3: inference[0].self_host: want a mapping of keys, got "H100"`},
		{"providers scalar", "market:\n  providers: lambdalabs\n", `test.yaml:2: market.providers: want a list, got "lambdalabs"`},
		{"provider mapping", "market:\n  providers: [{a: 1}]\n", `test.yaml:2: market.providers[0]: want a string, got a mapping`},
		{"string mapping", "jobs:\n  - id: {x: 1}\n", `test.yaml:2: jobs[0].id: want a string, got a mapping`},
		{"syntax", "start: 2024-10-01T00:00:00Z\nsites: [\n", `test.yaml:2: invalid YAML: did not find expected node content`},
		{"tab indentation", "sites:\n\t- name: a\n", `test.yaml:2: invalid YAML`},
		{"unknown anchor", "step: *x\n", `test.yaml: invalid YAML: unknown anchor`},
		{"empty", "", `test.yaml: empty scenario file`},
		{"only comments", "# nothing\n", `test.yaml: empty scenario file`},
		{"null document", "~\n", `test.yaml: empty scenario file`},
		{"scalar document", "42\n", `test.yaml:1: a scenario file is a mapping of keys (start, end`},
		{"list document", "- a\n", `test.yaml:1: a scenario file is a mapping of keys`},
		{"two documents", "seed: 1\n---\nseed: 2\n", `test.yaml:2: a scenario file holds one YAML document`},
		{"merge of scalar", "market:\n  <<: 1\n", `test.yaml:2: market: << merges mappings, got "1"`},
		{"non-scalar key", "? [a]\n: 1\n", `test.yaml:1: a key must be a name, got a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(tt.src))
			wantInvalid(t, err, tt.want)
		})
	}
}

func TestDefaults(t *testing.T) {
	m := base()
	delete(m, "step")
	delete(m, "market")
	s, err := Parse("test.yaml", mustMarshal(t, m))
	if err != nil {
		t.Fatal(err)
	}
	if s.Step != time.Hour {
		t.Errorf("step %v, want 1h", s.Step)
	}
	if s.Market.MaxGPUsPerOffer != 64 {
		t.Errorf("max_gpus_per_offer %d, want 64", s.Market.MaxGPUsPerOffer)
	}
	if !reflect.DeepEqual(s.Market.OnDemandProviders, []string{"lambdalabs"}) {
		t.Errorf("on_demand_providers %q, want [lambdalabs]", s.Market.OnDemandProviders)
	}
	if s.Sites[0].PowerVisibility != procurebot.VisibilityRealtime {
		t.Errorf("power_visibility %q, want realtime", s.Sites[0].PowerVisibility)
	}
	if !s.Sites[0].PUEOrDefault().Equal(procurebot.One) || s.Seed != 0 || s.BudgetUSD != nil ||
		s.Sites[0].Curtailable || s.Sites[0].SellSpare || !s.Sites[0].SellPriceRatio.IsZero() ||
		s.Jobs[0].Interruptible || s.Jobs[0].MaxUSDPerGPUHour != nil ||
		!s.Market.SwitchCostGPUHours.IsZero() || !s.Market.SpotPreemptionPerHour.IsZero() || s.Market.Providers != nil {
		t.Errorf("zero-value defaults not zero: %+v", s)
	}
	// The default list is a copy: changing it does not change the package default.
	s.Market.OnDemandProviders[0] = "changed"
	if procurebot.DefaultOnDemandProviders[0] != "lambdalabs" {
		t.Error("SetDefaults shares DefaultOnDemandProviders")
	}

	// An explicit empty list stays empty; null means absent.
	for src, want := range map[string][]string{
		"market: {on_demand_providers: []}\n":          {},
		"market: {on_demand_providers: ~}\n":           {"lambdalabs"},
		"market:\n  on_demand_providers:\n":            {"lambdalabs"},
		"market: {on_demand_providers: [runpod, aws]}": {"runpod", "aws"},
	} {
		m := base()
		delete(m, "market")
		full := string(mustMarshal(t, m)) + src
		s := mustParse(t, full)
		got := s.Market.OnDemandProviders
		if got == nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: on_demand_providers %#v, want %#v", src, got, want)
		}
	}

	// Explicit values are kept.
	m = base()
	m["step"] = "15m"
	at(m, "sites", 0)["power_visibility"] = "dayahead"
	at(m, "market")["max_gpus_per_offer"] = 8
	s = mustParse(t, string(mustMarshal(t, m)))
	if s.Step != 15*time.Minute || s.Sites[0].PowerVisibility != "dayahead" || s.Market.MaxGPUsPerOffer != 8 {
		t.Errorf("explicit values changed: step %v visibility %q max %d", s.Step, s.Sites[0].PowerVisibility, s.Market.MaxGPUsPerOffer)
	}
}

func TestExactDecimals(t *testing.T) {
	src := string(mustMarshal(t, base())) + `budget_usd: 123456789012345678901234567890.123456789
`
	src = strings.Replace(src, "kw_per_gpu: \"0.7\"", "kw_per_gpu: 0.1", 1)
	src = strings.Replace(src, "gpu_hours: \"100\"", "gpu_hours: 1e3", 1)
	src = strings.Replace(src, "mtok_per_gpu_hour: \"2.5\"", "mtok_per_gpu_hour: '2.50'", 1)
	s := mustParse(t, src)
	if got := s.Sites[0].KWPerGPU; got.String() != "0.1" || !got.Equal(decimal.RequireFromString("0.1")) || got.Exponent() != -1 {
		t.Errorf("kw_per_gpu %s (exp %d), want exactly 0.1", got, got.Exponent())
	}
	// 0.1 × 3 is exactly 0.3, which a float64 would not give.
	if !s.Sites[0].KWPerGPU.Mul(decimal.NewFromInt(3)).Equal(decimal.RequireFromString("0.3")) {
		t.Error("0.1 × 3 ≠ 0.3")
	}
	if got := s.BudgetUSD.String(); got != "123456789012345678901234567890.123456789" {
		t.Errorf("budget_usd %s", got)
	}
	if !s.Jobs[0].GPUHours.Equal(decimal.NewFromInt(1000)) {
		t.Errorf("gpu_hours %s, want 1000", s.Jobs[0].GPUHours)
	}
	if got := s.Inference[0].SelfHost.MTokPerGPUHour; got.String() != "2.5" {
		t.Errorf("mtok_per_gpu_hour %s, want 2.5", got)
	}
	if got := s.Sites[0].KWPerGPU; !got.Equal(decimal.New(1, -1)) {
		t.Errorf("kw_per_gpu %s", got)
	}
}

func TestExample(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	want := procurebot.Scenario{
		Start:     time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC),
		End:       time.Date(2024, 11, 1, 0, 0, 0, 0, time.UTC),
		Step:      time.Hour,
		Seed:      1,
		BudgetUSD: ptr(decimal.RequireFromString("250000")),
		Sites: []procurebot.Site{{
			Name: "tx-1", PowerMarket: "ERCOT_HB_NORTH", PowerVisibility: "realtime", GPU: "H100", GPUs: 64,
			KWPerGPU: decimal.RequireFromString("0.7"), PUE: ptr(decimal.RequireFromString("1.25")),
			OtherUSDPerGPUHour: decimal.RequireFromString("0.10"), Curtailable: true, SellSpare: true,
			SellPriceRatio: decimal.RequireFromString("0.75"),
		}},
		Jobs: []procurebot.Job{{
			ID: "train-a", GPU: "H100", MaxGPUs: 48, GPUHours: decimal.RequireFromString("20000"),
			Release: time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC), Deadline: time.Date(2024, 10, 25, 0, 0, 0, 0, time.UTC),
			Interruptible: true, MaxUSDPerGPUHour: ptr(decimal.RequireFromString("4.00")),
		}},
		Inference: []procurebot.Inference{{
			ID: "chat", Model: "meta-llama/llama-3.1-70b-instruct",
			MTokInPerHour: decimal.RequireFromString("20"), MTokOutPerHour: decimal.RequireFromString("5"),
			SelfHost: &procurebot.SelfHost{GPU: "H100", MTokPerGPUHour: decimal.RequireFromString("2.5")},
		}},
		Market: procurebot.Market{
			Providers:             []string{"lambdalabs", "runpod", "datacrunch", "vastai", "aws"},
			OnDemandProviders:     []string{"lambdalabs"},
			MaxGPUsPerOffer:       64,
			SwitchCostGPUHours:    decimal.RequireFromString("0.25"),
			SpotPreemptionPerHour: decimal.RequireFromString("0.05"),
		},
	}
	if !reflect.DeepEqual(*s, want) {
		t.Errorf("example decoded as\n%+v\nwant\n%+v", *s, want)
	}
	if s.Steps() != 744 {
		t.Errorf("steps %d, want 744", s.Steps())
	}
}

func ptr[T any](v T) *T { return &v }

func TestLoadMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(p)
	wantInvalid(t, err, p)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v does not wrap os.ErrNotExist", err)
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	src := `start: 2024-10-01T00:00:00Z
end: 2024-10-03T00:00:00Z
x-job: &job
  gpu: H100
  max_gpus: 4
  gpu_hours: "10"
  release: 2024-10-01T00:00:00Z
  deadline: 2024-10-02T00:00:00Z
`
	// x-job is not a key of a scenario: strictness holds for helper keys too.
	_, err := Parse("test.yaml", []byte(src))
	wantInvalid(t, err, `test.yaml:3: unknown key "x-job"`)

	src = `start: 2024-10-01T00:00:00Z
end: 2024-10-03T00:00:00Z
jobs:
  - &a
    id: a
    gpu: H100
    max_gpus: 4
    gpu_hours: "10"
    release: 2024-10-01T00:00:00Z
    deadline: 2024-10-02T00:00:00Z
  - <<: *a
    id: b
    max_gpus: 2
market:
  providers: &p [aws, runpod]
  on_demand_providers: *p
`
	s := mustParse(t, src)
	if len(s.Jobs) != 2 || s.Jobs[1].ID != "b" || s.Jobs[1].MaxGPUs != 2 || s.Jobs[1].GPU != "H100" ||
		!s.Jobs[1].GPUHours.Equal(decimal.NewFromInt(10)) || s.Jobs[0].MaxGPUs != 4 {
		t.Errorf("merged jobs %+v", s.Jobs)
	}
	if !reflect.DeepEqual(s.Market.OnDemandProviders, []string{"aws", "runpod"}) {
		t.Errorf("aliased list %q", s.Market.OnDemandProviders)
	}

	// A merged unknown key is still unknown.
	bad := strings.Replace(src, "  - <<: *a\n", "  - <<: [*a, {foo: 1}]\n", 1)
	_, err = Parse("test.yaml", []byte(bad))
	wantInvalid(t, err, `unknown key "foo" in jobs[1]`)
}

func TestAliasBomb(t *testing.T) {
	// Each site merges the previous one twice: 2^39 merges if expanded naively.
	var b strings.Builder
	b.WriteString("sites:\n  - &a0 {name: x}\n")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&b, "  - &a%d {<<: [*a%d, *a%d]}\n", i, i-1, i-1)
	}
	done := make(chan error, 1)
	go func() { _, err := Parse("bomb.yaml", []byte(b.String())); done <- err }()
	select {
	case err := <-done:
		wantInvalid(t, err, "bomb.yaml", "too many YAML nodes")
	case <-time.After(10 * time.Second):
		t.Fatal("Parse of an alias bomb did not return within 10s")
	}
}

package policy_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/policy"
)

// usd parses a decimal or fails the test.
func usd(t testing.TB, s string) procurebot.Money {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// ptr returns a pointer to the decimal s.
func ptr(t testing.TB, s string) *procurebot.Money {
	t.Helper()
	d := usd(t, s)
	return &d
}

// moneyEq fails unless got is the decimal want (by value: 3.5 == 3.50).
func moneyEq(t testing.TB, what string, got procurebot.Money, want string) {
	t.Helper()
	if !got.Equal(usd(t, want)) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

// ptrEq is moneyEq for an optional limit; want "" means nil.
func ptrEq(t testing.TB, what string, got *procurebot.Money, want string) {
	t.Helper()
	switch {
	case want == "" && got != nil:
		t.Errorf("%s = %s, want unset", what, got)
	case want != "" && got == nil:
		t.Errorf("%s unset, want %s", what, want)
	case want != "":
		moneyEq(t, what, *got, want)
	}
}

const (
	usdc  = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
	recip = "0x00000000000000000000000000000000000000aB"
)

const example = `
policy:
  caps:                       # gross spend, USD
    hour: "500"
    day: "5000"
    month: 60000              # unquoted works too
  providers:
    runpod: {day: "2000"}
    default: {day: "3000"}
  jobs:
    train-a: {total: "40000"}
  max_usd_per_gpu_hour: {H100: 3.50, default: "6"}
  allow:
    providers: [lambdalabs, runpod, vastai]
    tokens: ["` + usdc + `"]
    recipients: ["` + recip + `"]
  min_wallet_reserve_usd: "100"
  max_step_age: 90m
  approval:
    above_usd: "1000"
    above_hours: 24
    expire_after: 30m
`

func TestParseExample(t *testing.T) {
	c, err := policy.Parse("p.yaml", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	ptrEq(t, "caps.hour", c.Gross.Hour, "500")
	ptrEq(t, "caps.day", c.Gross.Day, "5000")
	ptrEq(t, "caps.month", c.Gross.Month, "60000")
	ptrEq(t, "caps.total", c.Gross.Total, "")
	ptrEq(t, "providers.runpod.day", c.Providers["runpod"].Day, "2000")
	ptrEq(t, "providers.runpod.hour", c.Providers["runpod"].Hour, "")
	ptrEq(t, "providers.default.day", c.Providers["default"].Day, "3000")
	ptrEq(t, "jobs.train-a.total", c.Jobs["train-a"].Total, "40000")
	moneyEq(t, "max H100", c.MaxUSDPerGPUHour["H100"], "3.5")
	if got := c.MaxUSDPerGPUHour["H100"].String(); got != "3.5" {
		t.Errorf("H100 decodes to %s", got)
	}
	moneyEq(t, "max default", c.MaxUSDPerGPUHour["default"], "6")
	if !slices.Equal(c.Allow.Providers, []string{"lambdalabs", "runpod", "vastai"}) {
		t.Errorf("allow.providers = %v", c.Allow.Providers)
	}
	if !slices.Equal(c.Allow.Tokens, []string{usdc}) || !slices.Equal(c.Allow.Recipients, []string{recip}) {
		t.Errorf("allow = %+v", c.Allow)
	}
	moneyEq(t, "reserve", c.MinWalletReserveUSD, "100")
	ptrEq(t, "approval.above_usd", c.Approval.AboveUSD, "1000")
	ptrEq(t, "approval.above_hours", c.Approval.AboveHours, "24")
	if c.Approval.ExpireAfter != 30*time.Minute || c.ApprovalExpiry() != 30*time.Minute {
		t.Errorf("expire_after = %s", c.Approval.ExpireAfter)
	}
	if c.MaxStepAge != 90*time.Minute || c.StepAge() != 90*time.Minute {
		t.Errorf("max_step_age = %s", c.MaxStepAge)
	}
}

// Quoted and unquoted numbers decode to the same exact decimal: the
// scalar's text is parsed, never a float.
func TestParseMoneyScalars(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{`"3.50"`, "3.5"},
		{`3.50`, "3.5"},
		{`'0.1'`, "0.1"},
		{`0.1`, "0.1"},
		{`7`, "7"},
		{`"7"`, "7"},
		{`350e-2`, "3.5"},
		{`0.30000000000000004`, "0.30000000000000004"},
		{`1234567.123456789`, "1234567.123456789"},
	} {
		c, err := policy.Parse("p.yaml", []byte("policy:\n  caps: {day: "+tc.yaml+"}\n  max_usd_per_gpu_hour: {A100: "+tc.yaml+"}\n"))
		if err != nil {
			t.Errorf("%s: %v", tc.yaml, err)
			continue
		}
		ptrEq(t, tc.yaml+" caps.day", c.Gross.Day, tc.want)
		moneyEq(t, tc.yaml+" max A100", c.MaxUSDPerGPUHour["A100"], tc.want)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, doc := range []string{"", "policy:\n", "policy: {}\n"} {
		c, err := policy.Parse("p.yaml", []byte(doc))
		if err != nil {
			t.Errorf("%q: %v", doc, err)
			continue
		}
		if caps := c.Caps(procurebot.Action{Venue: "runpod", Job: "a"}); len(caps) != 0 {
			t.Errorf("%q: caps %v", doc, caps)
		}
		if c.ApprovalExpiry() != policy.DefaultApprovalExpiry || c.StepAge() != policy.DefaultMaxStepAge {
			t.Errorf("%q: defaults %s %s", doc, c.ApprovalExpiry(), c.StepAge())
		}
	}
}

// Every decode or validation error is EINVALID and names the key (and the
// line, where the YAML decoder knows it).
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"unknown window", "policy:\n  caps:\n    weekly: 5\n", []string{"p.yaml: line 3", "weekly"}},
		{"unknown section", "policy:\n  capz: {}\n", []string{"line 2", "capz"}},
		{"unknown top key", "policy: {}\nother: 1\n", []string{"line 2", "other"}},
		{"not a decimal", "policy:\n  caps:\n    day: 5k\n", []string{`line 3: policy.caps.day: "5k" is not a decimal`}},
		{"quoted not a decimal", "policy:\n  caps: {hour: \"1,000\"}\n", []string{`line 2: policy.caps.hour: "1,000" is not a decimal`}},
		{"null cap", "policy:\n  caps:\n    day:\n", []string{"line 3: policy.caps.day: want a decimal, got null"}},
		{"list cap", "policy:\n  caps:\n    day: [1]\n", []string{"line 3: policy.caps.day: want a decimal"}},
		{"bool cap", "policy:\n  caps: {month: true}\n", []string{`policy.caps.month: "true" is not a decimal`}},
		{"provider cap", "policy:\n  providers:\n    runpod: {day: x}\n", []string{`line 3: policy.providers.runpod.day: "x" is not a decimal`}},
		{"job cap", "policy:\n  jobs:\n    train-a:\n      total: 1e\n", []string{`line 4: policy.jobs.train-a.total: "1e" is not a decimal`}},
		{"price", "policy:\n  max_usd_per_gpu_hour: {H100: cheap}\n", []string{`policy.max_usd_per_gpu_hour.H100: "cheap" is not a decimal`}},
		{"reserve", "policy:\n  min_wallet_reserve_usd: lots\n", []string{`line 2: policy.min_wallet_reserve_usd: "lots" is not a decimal`}},
		{"approval usd", "policy:\n  approval: {above_usd: big}\n", []string{`policy.approval.above_usd: "big" is not a decimal`}},
		{"approval hours", "policy:\n  approval:\n    above_hours: day\n", []string{`line 3: policy.approval.above_hours: "day" is not a decimal`}},
		{"expiry not a duration", "policy:\n  approval:\n    expire_after: 30\n", []string{"line 3", "time.Duration"}},
		{"two errors", "policy:\n  caps: {day: a}\n  min_wallet_reserve_usd: b\n", []string{"policy.caps.day", "policy.min_wallet_reserve_usd"}},
		{"negative gross", "policy:\n  caps: {day: \"-1\"}\n", []string{"policy.caps.day: must not be negative, got -1"}},
		{"negative provider", "policy:\n  providers: {runpod: {hour: -5}}\n", []string{"policy.providers.runpod.hour: must not be negative"}},
		{"negative default job", "policy:\n  jobs: {default: {month: -5}}\n", []string{"policy.jobs.default.month: must not be negative"}},
		{"cap out of range", "policy:\n  caps: {total: 1e12}\n", []string{"policy.caps.total: 1000000000000 USD is out of range"}},
		{"unknown class", "policy:\n  max_usd_per_gpu_hour: {h100: 3}\n", []string{`policy.max_usd_per_gpu_hour.h100: unknown GPU class "h100"`}},
		{"negative price", "policy:\n  max_usd_per_gpu_hour: {default: -3}\n", []string{"policy.max_usd_per_gpu_hour.default: must not be negative"}},
		{"empty provider", "policy:\n  allow: {providers: [runpod, \"\"]}\n", []string{"policy.allow.providers[1]: empty provider name"}},
		{"bad token", "policy:\n  allow: {tokens: [USDC]}\n", []string{`policy.allow.tokens[0]: "USDC" is not an address`}},
		{"short recipient", "policy:\n  allow: {recipients: [\"" + recip + "\", \"0xabc\"]}\n", []string{`policy.allow.recipients[1]: "0xabc" is not an address`}},
		{"non-hex token", "policy:\n  allow: {tokens: [\"0xg0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48\"]}\n", []string{"policy.allow.tokens[0]"}},
		{"negative reserve", "policy:\n  min_wallet_reserve_usd: -1\n", []string{"policy.min_wallet_reserve_usd: must not be negative"}},
		{"negative step age", "policy:\n  max_step_age: -1h\n", []string{"policy.max_step_age: must not be negative"}},
		{"negative approval usd", "policy:\n  approval: {above_usd: -1}\n", []string{"policy.approval.above_usd: must not be negative"}},
		{"negative approval hours", "policy:\n  approval: {above_hours: -1}\n", []string{"policy.approval.above_hours: must not be negative"}},
		{"negative expiry", "policy:\n  approval: {expire_after: -1m}\n", []string{"policy.approval.expire_after: must not be negative"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.Parse("p.yaml", []byte(tc.doc))
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			if code := procurebot.ErrorCode(err); code != procurebot.EINVALID {
				t.Errorf("code %q: %v", code, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// Config keeps the decoder's strictness when it is a section of a larger
// file, and money errors come back as yaml.TypeError lines there too.
func TestConfigAsSection(t *testing.T) {
	type file struct {
		Other  string        `yaml:"other"`
		Policy policy.Config `yaml:"policy"`
	}
	decode := func(doc string) (file, error) {
		var f file
		dec := yaml.NewDecoder(strings.NewReader(doc))
		dec.KnownFields(true)
		return f, dec.Decode(&f)
	}
	f, err := decode("other: x\npolicy:\n  caps: {day: 5}\n")
	if err != nil {
		t.Fatal(err)
	}
	ptrEq(t, "caps.day", f.Policy.Gross.Day, "5")
	_, err = decode("other: x\npolicy:\n  caps: {dai: 5}\n")
	var te *yaml.TypeError
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "dai") {
		t.Errorf("unknown key in section: %v", err)
	}
	_, err = decode("other: x\npolicy:\n  caps: {day: five}\n")
	if !errorsAs(err, &te) || len(te.Errors) != 1 || te.Errors[0] != `line 3: policy.caps.day: "five" is not a decimal` {
		t.Errorf("bad decimal in section: %#v", err)
	}
}

func errorsAs(err error, te **yaml.TypeError) bool {
	t, ok := err.(*yaml.TypeError)
	if ok {
		*te = t
	}
	return ok
}

// capsConfig is a Config with caps on every scope.
func capsConfig(t testing.TB) policy.Config {
	t.Helper()
	return policy.Config{
		Gross: policy.WindowCaps{Hour: ptr(t, "500"), Day: ptr(t, "1000"), Month: ptr(t, "3000")},
		Providers: map[string]policy.WindowCaps{
			"runpod":  {Hour: ptr(t, "450"), Day: ptr(t, "800"), Month: ptr(t, "2500"), Total: ptr(t, "10000")},
			"default": {Day: ptr(t, "600")},
		},
		Jobs: map[string]policy.WindowCaps{
			"train-a": {Total: ptr(t, "700")},
			"default": {Month: ptr(t, "900")},
		},
	}
}

func TestCaps(t *testing.T) {
	c := capsConfig(t)
	gross := []string{"total per hour ≤ 500 USD", "total per day ≤ 1000 USD", "total per month ≤ 3000 USD"}
	for _, tc := range []struct {
		name       string
		venue, job string
		want       []string
	}{
		{"listed provider and job", "runpod", "train-a", append(slices.Clone(gross),
			"provider:runpod per hour ≤ 450 USD", "provider:runpod per day ≤ 800 USD", "provider:runpod per month ≤ 2500 USD",
			"provider:runpod per total ≤ 10000 USD", "job:train-a per total ≤ 700 USD")},
		{"default provider and job", "vastai", "eval-b", append(slices.Clone(gross),
			"provider:vastai per day ≤ 600 USD", "job:eval-b per month ≤ 900 USD")},
		{"no job", "vastai", "", append(slices.Clone(gross), "provider:vastai per day ≤ 600 USD")},
	} {
		caps := c.Caps(procurebot.Action{Venue: tc.venue, Job: tc.job})
		got := make([]string, len(caps))
		for i, cp := range caps {
			got[i] = cp.String()
			if err := cp.Validate(); err != nil {
				t.Errorf("%s: cap %s: %v", tc.name, cp, err)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: caps\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
	// Without default entries, an unlisted provider or job has no caps of
	// its own.
	c.Providers = map[string]policy.WindowCaps{"runpod": {Day: ptr(t, "1")}}
	c.Jobs = nil
	c.Gross = policy.WindowCaps{}
	if caps := c.Caps(procurebot.Action{Venue: "vastai", Job: "x"}); len(caps) != 0 {
		t.Errorf("unlisted without default: %v", caps)
	}
}

func TestNeedsApproval(t *testing.T) {
	c := policy.Config{Approval: policy.ApprovalConfig{AboveUSD: ptr(t, "1000"), AboveHours: ptr(t, "24")}}
	for _, tc := range []struct {
		kind          procurebot.ActionKind
		amount, hours string
		want          bool
	}{
		{procurebot.ActRent, "1000", "24", false}, // at both thresholds: not above
		{procurebot.ActRent, "1000.01", "1", true},
		{procurebot.ActRent, "10", "24.5", true},
		{procurebot.ActTokens, "5000", "0", true},
		{procurebot.ActEnergy, "999.99", "1", false},
		{procurebot.ActLease, "50000", "720", false}, // income, not a spend
		{procurebot.ActCurtail, "0", "720", false},
	} {
		a := &procurebot.Action{Kind: tc.kind, AmountUSD: usd(t, tc.amount), Hours: usd(t, tc.hours)}
		if got := c.NeedsApproval(a); got != tc.want {
			t.Errorf("%s %s USD %s h: NeedsApproval = %v, want %v", tc.kind, tc.amount, tc.hours, got, tc.want)
		}
	}
	var none policy.Config
	if none.NeedsApproval(&procurebot.Action{Kind: procurebot.ActRent, AmountUSD: usd(t, "1e9"), Hours: usd(t, "1e4")}) {
		t.Error("no thresholds: approval needed")
	}
	onlyHours := policy.Config{Approval: policy.ApprovalConfig{AboveHours: ptr(t, "0")}}
	if !onlyHours.NeedsApproval(&procurebot.Action{Kind: procurebot.ActRent, Hours: usd(t, "0.25")}) {
		t.Error("above_hours 0: a quarter-hour rental does not wait")
	}
}

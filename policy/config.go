package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"

	"github.com/procurebot/procurebot"
)

// DefaultKey is the key of providers, jobs and max_usd_per_gpu_hour whose
// entry applies to every provider, job or GPU class not listed by name.
const DefaultKey = "default"

// Defaults of the optional settings.
const (
	DefaultApprovalExpiry = 30 * time.Minute // approval.expire_after
	DefaultMaxStepAge     = 2 * time.Hour    // max_step_age
)

// maxFutureStep is how far after now an action's step may start (clock
// rounding between the planner and the policy); a later step is refused,
// since its bucket would be a fresh one.
const maxFutureStep = time.Minute

// Config is the policy section of the config file. Money values are decimal
// strings, quoted or not ("500", 500 and 3.50 all decode exactly: the YAML
// scalar's text is parsed as a decimal, never as a float). The zero Config
// has no caps, allowlists, price limits, reserve or approvals: it admits
// every spending action of the current step (see MaxStepAge).
//
//	policy:
//	  caps: {hour: "500", day: "5000", month: "60000"}   # gross spend, USD
//	  providers:                                         # per-provider exposure
//	    runpod: {day: "2000"}
//	    default: {day: "3000"}                           # any provider not listed
//	  jobs:
//	    train-a: {total: "40000"}
//	  max_usd_per_gpu_hour: {H100: "3.50", default: "6"}
//	  allow:
//	    providers: [lambdalabs, runpod, vastai]          # empty = any
//	    tokens: ["0x…"]                                  # empty = any
//	    recipients: ["0x…"]                              # empty = any
//	  min_wallet_reserve_usd: "100"
//	  max_step_age: 2h
//	  approval: {above_usd: "1000", above_hours: 24, expire_after: 30m}
type Config struct {
	// Gross caps the spend of all actions together.
	Gross WindowCaps `yaml:"caps"`
	// Providers caps the spend paid to one venue (counterparty exposure),
	// by venue name; the DefaultKey entry caps each venue not listed, each
	// on a counter of its own.
	Providers map[string]WindowCaps `yaml:"providers"`
	// Jobs caps the spend of one job, by job ID; the DefaultKey entry caps
	// each job not listed.
	Jobs map[string]WindowCaps `yaml:"jobs"`
	// MaxUSDPerGPUHour is the highest price a rental may pay per GPU-hour,
	// by GPU class (procurebot.GPUClassOf names: H100, A100, …); the
	// DefaultKey entry applies to every class not listed. A class with
	// neither has no limit.
	MaxUSDPerGPUHour map[string]procurebot.Money `yaml:"max_usd_per_gpu_hour"`
	// Allow lists whom the agent may pay and in what.
	Allow Allow `yaml:"allow"`
	// MinWalletReserveUSD is the spendable stablecoin balance a spend must
	// leave in the wallet.
	MinWalletReserveUSD procurebot.Money `yaml:"min_wallet_reserve_usd"`
	// MaxStepAge is how long after its step began an action may still be
	// admitted (default DefaultMaxStepAge): buckets follow the action's
	// step, so an action dated long ago (or in the future) would be counted
	// in a bucket other than the current one. It must be at least one step
	// plus the time a step takes to plan.
	MaxStepAge time.Duration `yaml:"max_step_age"`
	// Approval says which actions wait for a human.
	Approval ApprovalConfig `yaml:"approval"`
}

// WindowCaps are the caps of one spend key, in USD per window; a nil limit
// is no cap for that window, a zero limit refuses every spend.
type WindowCaps struct {
	Hour  *procurebot.Money `yaml:"hour"`
	Day   *procurebot.Money `yaml:"day"`
	Month *procurebot.Money `yaml:"month"`
	// Total never resets.
	Total *procurebot.Money `yaml:"total"`
}

// windows lists the windows of w with their limits, in the fixed order
// hour, day, month, total.
func (w WindowCaps) windows() []struct {
	w     procurebot.Window
	limit *procurebot.Money
} {
	return []struct {
		w     procurebot.Window
		limit *procurebot.Money
	}{{procurebot.WindowHour, w.Hour}, {procurebot.WindowDay, w.Day}, {procurebot.WindowMonth, w.Month}, {procurebot.WindowTotal, w.Total}}
}

// appendCaps appends the caps of w on key to out, in window order.
func (w WindowCaps) appendCaps(out []procurebot.SpendCap, key procurebot.SpendKey) []procurebot.SpendCap {
	for _, x := range w.windows() {
		if x.limit != nil {
			out = append(out, procurebot.SpendCap{Key: key, Window: x.w, LimitUSD: *x.limit})
		}
	}
	return out
}

// validate checks w's limits; path names it in errors ("policy.caps").
func (w WindowCaps) validate(path string) error {
	for _, x := range w.windows() {
		if x.limit == nil {
			continue
		}
		if err := checkMoney(path+"."+string(x.w), *x.limit); err != nil {
			return err
		}
	}
	return nil
}

// clone returns a deep copy of w.
func (w WindowCaps) clone() WindowCaps {
	cp := func(m *procurebot.Money) *procurebot.Money {
		if m == nil {
			return nil
		}
		v := *m
		return &v
	}
	return WindowCaps{Hour: cp(w.Hour), Day: cp(w.Day), Month: cp(w.Month), Total: cp(w.Total)}
}

// Allow is the allowlists section. An empty list allows anything.
type Allow struct {
	// Providers are the venues that may be paid (every spending action's
	// Venue: GPU providers, token sellers and power sellers alike).
	Providers []string `yaml:"providers"`
	// Tokens are the stablecoin contract addresses payments may use (0x
	// and 40 hex digits, any case).
	Tokens []string `yaml:"tokens"`
	// Recipients are the addresses payments may go to.
	Recipients []string `yaml:"recipients"`
}

// ApprovalConfig is the approval section: a spending action above either
// threshold waits for a human. With neither set, no action does.
type ApprovalConfig struct {
	// AboveUSD: an action whose AmountUSD is above this waits.
	AboveUSD *procurebot.Money `yaml:"above_usd"`
	// AboveHours: an action whose term (Hours) is longer than this waits.
	AboveHours *procurebot.Money `yaml:"above_hours"`
	// ExpireAfter is how long a request waits for an answer before it is
	// rejected (default DefaultApprovalExpiry).
	ExpireAfter time.Duration `yaml:"expire_after"`
}

// ApprovalExpiry returns how long an approval request waits for an answer:
// approval.expire_after, or DefaultApprovalExpiry when it is not set.
func (c *Config) ApprovalExpiry() time.Duration {
	if c.Approval.ExpireAfter > 0 {
		return c.Approval.ExpireAfter
	}
	return DefaultApprovalExpiry
}

// StepAge returns max_step_age, or DefaultMaxStepAge when it is not set.
func (c *Config) StepAge() time.Duration {
	if c.MaxStepAge > 0 {
		return c.MaxStepAge
	}
	return DefaultMaxStepAge
}

// NeedsApproval reports whether a waits for a human: it spends, and its
// amount is above approval.above_usd or its term longer than
// approval.above_hours.
func (c *Config) NeedsApproval(a *procurebot.Action) bool {
	if a == nil || !a.Kind.Spends() {
		return false
	}
	if t := c.Approval.AboveUSD; t != nil && a.AmountUSD.GreaterThan(*t) {
		return true
	}
	if t := c.Approval.AboveHours; t != nil && a.Hours.GreaterThan(*t) {
		return true
	}
	return false
}

// Caps returns the spend caps that apply to a, in a fixed order: the gross
// caps (key total), then those of a.Venue (its own entry in providers, else
// the default one), then those of a.Job (likewise, when a has a job); within
// each, hour, day, month, total. It does not look at a.Kind: Policy.Admit
// asks only for spending actions.
func (c *Config) Caps(a procurebot.Action) []procurebot.SpendCap {
	out := c.Gross.appendCaps(nil, procurebot.SpendKey{Scope: procurebot.ScopeTotal})
	if w, ok := lookup(c.Providers, a.Venue); ok {
		out = w.appendCaps(out, procurebot.SpendKey{Scope: procurebot.ScopeProvider, Name: a.Venue})
	}
	if w, ok := lookup(c.Jobs, a.Job); ok {
		out = w.appendCaps(out, procurebot.SpendKey{Scope: procurebot.ScopeJob, Name: a.Job})
	}
	return out
}

// lookup returns m[name], else m[DefaultKey]; nothing for an empty name.
func lookup[V any](m map[string]V, name string) (V, bool) {
	var zero V
	if name == "" {
		return zero, false
	}
	if v, ok := m[name]; ok {
		return v, true
	}
	v, ok := m[DefaultKey]
	return v, ok
}

// maxPrice returns the highest USD per GPU-hour allowed for class and the
// key it comes from, or false when the class has no limit.
func (c *Config) maxPrice(class string) (procurebot.Money, string, bool) {
	if v, ok := c.MaxUSDPerGPUHour[class]; ok && class != "" {
		return v, class, true
	}
	v, ok := c.MaxUSDPerGPUHour[DefaultKey]
	return v, DefaultKey, ok
}

// Validate reports the first problem with c, naming its key
// ("policy.caps.day: must not be negative, got -1"), as EINVALID. Keys of
// maps are checked in sorted order, so the first problem is always the
// same one.
func (c *Config) Validate() error {
	if err := c.Gross.validate("policy.caps"); err != nil {
		return err
	}
	for _, sec := range []struct {
		name string
		m    map[string]WindowCaps
	}{{"providers", c.Providers}, {"jobs", c.Jobs}} {
		for _, k := range slices.Sorted(maps.Keys(sec.m)) {
			path := "policy." + sec.name + "." + k
			if strings.TrimSpace(k) == "" {
				return procurebot.Invalidf("policy.%s: empty name", sec.name)
			}
			if err := sec.m[k].validate(path); err != nil {
				return err
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.MaxUSDPerGPUHour)) {
		path := "policy.max_usd_per_gpu_hour." + k
		if k != DefaultKey && procurebot.GPUClassOf(k) != k {
			return procurebot.Invalidf("%s: unknown GPU class %q (want a class such as H100, A100, RTX4090, or %q)", path, k, DefaultKey)
		}
		if err := checkMoney(path, c.MaxUSDPerGPUHour[k]); err != nil {
			return err
		}
	}
	for i, p := range c.Allow.Providers {
		if strings.TrimSpace(p) == "" {
			return procurebot.Invalidf("policy.allow.providers[%d]: empty provider name", i)
		}
	}
	for _, l := range []struct {
		name  string
		addrs []string
	}{{"tokens", c.Allow.Tokens}, {"recipients", c.Allow.Recipients}} {
		for i, a := range l.addrs {
			if _, ok := normAddress(a); !ok {
				return procurebot.Invalidf("policy.allow.%s[%d]: %q is not an address (want 0x and 40 hex digits)", l.name, i, a)
			}
		}
	}
	if err := checkMoney("policy.min_wallet_reserve_usd", c.MinWalletReserveUSD); err != nil {
		return err
	}
	if c.MaxStepAge < 0 {
		return procurebot.Invalidf("policy.max_step_age: must not be negative, got %s", c.MaxStepAge)
	}
	if t := c.Approval.AboveUSD; t != nil {
		if err := checkMoney("policy.approval.above_usd", *t); err != nil {
			return err
		}
	}
	if t := c.Approval.AboveHours; t != nil && t.Sign() < 0 {
		return procurebot.Invalidf("policy.approval.above_hours: must not be negative, got %s", t)
	}
	if c.Approval.ExpireAfter < 0 {
		return procurebot.Invalidf("policy.approval.expire_after: must not be negative, got %s", c.Approval.ExpireAfter)
	}
	return nil
}

// checkMoney checks that m, at key path, is a USD amount a spend counter
// can hold: not negative, at most 2^53 micro-USD.
func checkMoney(path string, m procurebot.Money) error {
	if m.Sign() < 0 {
		return procurebot.Invalidf("%s: must not be negative, got %s", path, m)
	}
	if _, err := procurebot.ToMicroUSD(m); err != nil {
		return procurebot.Invalidf("%s: %s USD is out of range", path, m)
	}
	return nil
}

// clone returns a deep copy of c, so that a Policy does not change when its
// caller's Config does.
func (c *Config) clone() Config {
	out := *c
	cloneCaps := func(m map[string]WindowCaps) map[string]WindowCaps {
		if m == nil {
			return nil
		}
		o := make(map[string]WindowCaps, len(m))
		for k, v := range m {
			o[k] = v.clone()
		}
		return o
	}
	out.Gross = c.Gross.clone()
	out.Providers = cloneCaps(c.Providers)
	out.Jobs = cloneCaps(c.Jobs)
	out.MaxUSDPerGPUHour = maps.Clone(c.MaxUSDPerGPUHour)
	out.Allow = Allow{Providers: slices.Clone(c.Allow.Providers), Tokens: slices.Clone(c.Allow.Tokens),
		Recipients: slices.Clone(c.Allow.Recipients)}
	if t := c.Approval.AboveUSD; t != nil {
		v := *t
		out.Approval.AboveUSD = &v
	}
	if t := c.Approval.AboveHours; t != nil {
		v := *t
		out.Approval.AboveHours = &v
	}
	return out
}

// normAddress returns the hex address s in lower case without its 0x, and
// whether s is one (0x or 0X and 40 hex digits).
func normAddress(s string) (string, bool) {
	if len(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return "", false
	}
	h := strings.ToLower(s[2:])
	for _, r := range h {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return "", false
		}
	}
	return h, true
}

// Parse decodes data, a YAML document with the policy section at its top
// (`policy:`, no other key), strictly — an unknown key is an error naming
// its line — and validates it. name is the file name used in errors. All
// errors are EINVALID.
func Parse(name string, data []byte) (Config, error) {
	var doc struct {
		Policy Config `yaml:"policy"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, procurebot.Invalidf("%s: %s", name, yamlMessage(err))
	}
	if err := doc.Policy.Validate(); err != nil {
		return Config{}, procurebot.Invalidf("%s: %v", name, err)
	}
	return doc.Policy, nil
}

// yamlMessage turns yaml.v3's "yaml: unmarshal errors:\n  line 3: field x
// not found in type policy.WindowCaps" into "line 3: unknown key x in
// policy.WindowCaps; line 5: …", as the config package does.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			m = strings.Replace(m, "field ", "unknown key ", 1)
			msgs[i] = strings.Replace(m, " not found in type ", " in ", 1)
		}
		return strings.Join(msgs, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// moneyPaths are the keys (below policy) whose values are decimals; "*" is
// any key.
var moneyPaths = [][]string{
	{"caps", "*"},
	{"providers", "*", "*"},
	{"jobs", "*", "*"},
	{"max_usd_per_gpu_hour", "*"},
	{"min_wallet_reserve_usd"},
	{"approval", "above_usd"},
	{"approval", "above_hours"},
}

// UnmarshalYAML decodes the policy section keeping the decoder's
// strictness (KnownFields), after checking that every money value is a
// decimal, so that a bad one is reported with its line and key ("line 4:
// policy.caps.day: "5k" is not a decimal") rather than as the decimal
// package's bare message. An explicit null where a decimal belongs is an
// error too: leave the key out for no limit.
func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	var root nodeOf
	if err := unmarshal(&root); err != nil {
		return err
	}
	var issues []string
	walkMoney(root.n, nil, &issues)
	if len(issues) > 0 {
		return &yaml.TypeError{Errors: issues}
	}
	type Config plainConfig // named so in the decoder's messages
	var p Config
	if err := unmarshal(&p); err != nil {
		return err
	}
	*c = fromPlain(plainConfig(p))
	return nil
}

// plainConfig is Config without its UnmarshalYAML method.
type plainConfig Config

// fromPlain converts back (Config is shadowed where it is needed).
func fromPlain(p plainConfig) Config { return Config(p) }

// nodeOf captures the YAML node it is decoded from.
type nodeOf struct{ n *yaml.Node }

// UnmarshalYAML implements yaml.Unmarshaler.
func (o *nodeOf) UnmarshalYAML(n *yaml.Node) error {
	o.n = n
	return nil
}

// walkMoney appends to issues a message for every value of n, at path
// below policy, on a money path that is not a decimal. Anything that is
// not the expected shape is left to the strict decode to report.
func walkMoney(n *yaml.Node, path []string, issues *[]string) {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil {
		return
	}
	switch match(path) {
	case 2: // a money value
		key := "policy." + strings.Join(path, ".")
		switch {
		case n.Kind != yaml.ScalarNode:
			*issues = append(*issues, fmt.Sprintf("line %d: %s: want a decimal", n.Line, key))
		case n.ShortTag() == "!!null":
			*issues = append(*issues, fmt.Sprintf("line %d: %s: want a decimal, got null (leave the key out for no limit)", n.Line, key))
		default:
			if _, err := decimal.NewFromString(n.Value); err != nil {
				*issues = append(*issues, fmt.Sprintf("line %d: %s: %q is not a decimal", n.Line, key, n.Value))
			}
		}
		return
	case 0:
		return
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		walkMoney(n.Content[i+1], append(slices.Clip(path), n.Content[i].Value), issues)
	}
}

// match reports whether path is a money path (2), a prefix of one (1) or
// neither (0).
func match(path []string) int {
	best := 0
	for _, p := range moneyPaths {
		if len(path) > len(p) {
			continue
		}
		ok := true
		for i, s := range path {
			if p[i] != "*" && p[i] != s {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if len(path) == len(p) {
			return 2
		}
		best = 1
	}
	return best
}

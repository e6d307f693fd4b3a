package policy_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/policy"
	"github.com/procurebot/procurebot/store/bolt"
	"github.com/procurebot/procurebot/store/redis"
	"github.com/procurebot/procurebot/store/redis/redistest"
)

// counter is a real store's spend counter, with Spent to check it.
type counter interface {
	policy.SpendCounter
	Spent(ctx context.Context, at time.Time, key procurebot.SpendKey, w procurebot.Window) (procurebot.Money, error)
}

// backend opens a fresh, empty store for a test.
type backend struct {
	name string
	open func(t testing.TB) counter
}

func openBolt(t testing.TB) counter {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func openRedis(t testing.TB) counter {
	t.Helper()
	srv := redistest.Start(t)
	s, err := redis.Open(context.Background(), srv.Options(), srv.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// backends are both stores: bbolt and Redis.
var backends = []backend{{"bolt", openBolt}, {"redis", openRedis}}

var (
	step = time.Date(2024, 10, 1, 10, 0, 0, 0, time.UTC) // a Tuesday, 10:00 UTC
	now  = step.Add(10 * time.Minute)
	ctx  = context.Background()
)

const otherRecip = "0x2222222222222222222222222222222222222222"

// fullConfig has every rule: caps on every scope, prices, allowlists,
// reserve.
func fullConfig(t testing.TB) policy.Config {
	t.Helper()
	c := capsConfig(t)
	c.MaxUSDPerGPUHour = map[string]procurebot.Money{"H100": usd(t, "3.50"), "default": usd(t, "6")}
	c.Allow = policy.Allow{Providers: []string{"runpod", "vastai", "openrouter", "ercot"}, Tokens: []string{usdc}, Recipients: []string{recip}}
	c.MinWalletReserveUSD = usd(t, "100")
	return c
}

// fixedBalance is a wallet whose spendable balance is b.
func fixedBalance(t testing.TB, b string) policy.Balance {
	m := usd(t, b)
	return policy.BalanceFunc(func(context.Context) (procurebot.Money, error) { return m, nil })
}

func newPolicy(t testing.TB, c policy.Config, s policy.SpendCounter, bal policy.Balance) *policy.Policy {
	t.Helper()
	p, err := policy.New(c, s, bal)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// rent returns a rental of gpus GPUs of class gpu for hours at price, its
// amount their product.
func rent(t testing.TB, id, venue, job, gpu, gpus, hours, price string) *procurebot.Action {
	t.Helper()
	a := &procurebot.Action{ID: id, Kind: procurebot.ActRent, Step: step, Venue: venue, Job: job, GPU: gpu,
		GPUs: usd(t, gpus), Hours: usd(t, hours), USDPerGPUHour: usd(t, price)}
	a.AmountUSD = a.GPUs.Mul(a.Hours).Mul(a.USDPerGPUHour)
	return a
}

// spend returns a non-rental spend (tokens) of amount at venue.
func spend(t testing.TB, id, venue, job, amount string) *procurebot.Action {
	t.Helper()
	return &procurebot.Action{ID: id, Kind: procurebot.ActTokens, Step: step, Venue: venue, Job: job, AmountUSD: usd(t, amount)}
}

// spentOf returns the counter of cap c at a store.
func spentOf(t testing.TB, s counter, at time.Time, c procurebot.SpendCap) procurebot.Money {
	t.Helper()
	v, err := s.Spent(ctx, at, c.Key, c.Window)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wantRefusal fails unless err is a *Refusal of rule with code; it returns
// it.
func wantRefusal(t testing.TB, err error, rule, code string) *policy.Refusal {
	t.Helper()
	r, ok := policy.AsRefusal(err)
	if !ok {
		t.Fatalf("want refusal %s, got %v", rule, err)
	}
	if r.Rule != rule || r.Code != code || procurebot.ErrorCode(err) != code {
		t.Errorf("refusal %q code %q (ErrorCode %q), want %q %q: %v", r.Rule, r.Code, procurebot.ErrorCode(err), rule, code, err)
	}
	if !strings.Contains(err.Error(), rule) || r.Detail == "" {
		t.Errorf("message does not name rule %s: %v", rule, err)
	}
	return r
}

// TestAdmitRules runs each rule at and just past its limit, with exact
// numbers, on both stores.
func TestAdmitRules(t *testing.T) {
	type tc struct {
		name    string
		balance string               // spendable; default 5000
		prior   []*procurebot.Action // admitted first (must pass)
		a       *procurebot.Action
		at      time.Time // now; default now
		rule    string    // "" = admitted
		limit   string
		value   string
		detail  string // substring of the message
	}
	cases := func(t testing.TB) []tc {
		hour := step.Add(time.Hour)
		later := func(a *procurebot.Action, d time.Duration) *procurebot.Action { a.Step = a.Step.Add(d); return a }
		withPay := func(a *procurebot.Action, token, to string) *procurebot.Action {
			a.Token, a.Recipient = token, to
			return a
		}
		return []tc{
			{name: "rent at every limit", a: rent(t, "a", "runpod", "train-a", "H100", "8", "1", "3.50")},
			{name: "payment to listed token and recipient in other case",
				a: withPay(spend(t, "a", "openrouter", "", "10"), strings.ToUpper(usdc[:2])+strings.ToLower(usdc[2:]), strings.ToUpper("0x"+recip[2:]))},
			{name: "lease passes everything", a: &procurebot.Action{ID: "l", Kind: procurebot.ActLease, Step: step, Venue: "shady", AmountUSD: usd(t, "1e6")}},
			{name: "curtail passes", a: &procurebot.Action{ID: "c", Kind: procurebot.ActCurtail, Step: step.Add(-30 * 24 * time.Hour), Venue: "site"}},
			{name: "quarter-hour at max price, amount rounded up to the cent", a: func() *procurebot.Action {
				a := rent(t, "q", "runpod", "", "H100", "1", "0.25", "3.50") // 0.875
				a.AmountUSD = usd(t, "0.88")
				return a
			}()},

			{name: "step in the future", a: later(spend(t, "f", "runpod", "", "1"), 12*time.Minute), rule: policy.RuleStepTime, detail: "starts 2m0s after now"},
			{name: "step too old", a: spend(t, "o", "runpod", "", "1"), at: step.Add(2*time.Hour + time.Second), rule: policy.RuleStepTime, detail: "policy.max_step_age 2h0m0s"},
			{name: "unlisted provider", a: spend(t, "p", "shady", "", "1"), rule: policy.RuleAllowProvider, detail: `"shady" is not in policy.allow.providers`},
			{name: "provider case matters", a: spend(t, "p", "RunPod", "", "1"), rule: policy.RuleAllowProvider},
			{name: "unlisted token", a: withPay(spend(t, "t", "runpod", "", "1"), recip, ""), rule: policy.RuleAllowToken, detail: "policy.allow.tokens"},
			{name: "malformed token", a: withPay(spend(t, "t", "runpod", "", "1"), "USDC", ""), rule: policy.RuleAllowToken},
			{name: "unlisted recipient", a: withPay(spend(t, "r", "runpod", "", "1"), usdc, otherRecip), rule: policy.RuleAllowRecipient, detail: otherRecip},
			{name: "price above class max", a: rent(t, "h", "runpod", "", "H100", "1", "1", "3.51"), rule: "max_price:H100",
				limit: "3.50", value: "3.51", detail: "above policy.max_usd_per_gpu_hour.H100 3.5"},
			{name: "price above default max", a: rent(t, "d", "vastai", "", "A100", "2", "1", "6.01"), rule: "max_price:A100",
				limit: "6", value: "6.01", detail: "policy.max_usd_per_gpu_hour.default"},
			{name: "amount hides the price", a: func() *procurebot.Action {
				a := rent(t, "x", "runpod", "", "H100", "4", "2", "3") // 24 stated
				a.AmountUSD = usd(t, "32")                             // 4 per GPU-hour
				return a
			}(), rule: "max_price:H100", limit: "3.5", value: "4", detail: "32 USD for 8 GPU-hours"},
			{name: "amount a cent above price × GPU-hours", a: func() *procurebot.Action {
				a := rent(t, "q", "runpod", "", "H100", "1", "0.25", "3.50")
				a.AmountUSD = usd(t, "0.89")
				return a
			}(), rule: "max_price:H100", limit: "3.5", value: "3.56"},
			{name: "rental without GPU-hours", a: func() *procurebot.Action {
				a := rent(t, "z", "runpod", "", "H100", "0", "1", "1")
				a.AmountUSD = usd(t, "10")
				return a
			}(), rule: "max_price:H100", detail: "no GPU-hours"},
			{name: "reserve exactly kept", balance: "600", a: spend(t, "w", "vastai", "", "500")},
			{name: "reserve broken", balance: "599.99", a: spend(t, "w", "runpod", "", "500"), rule: policy.RuleReserve,
				limit: "100", value: "99.99", detail: "spendable balance 599.99 USD less 500 USD leaves 99.99 USD"},
			{name: "gross hour", prior: []*procurebot.Action{spend(t, "1", "vastai", "", "300")}, a: spend(t, "2", "openrouter", "", "200.01"),
				rule: "cap:total/hour", limit: "500", value: "500.01", detail: "policy.caps.hour (total per hour, bucket 2024-10-01T10): 300 USD already spent + 200.01 USD"},
			{name: "gross hour exactly full", prior: []*procurebot.Action{spend(t, "1", "vastai", "", "300")}, a: spend(t, "2", "openrouter", "", "200")},
			{name: "gross day", prior: []*procurebot.Action{spend(t, "1", "vastai", "", "450"), later(spend(t, "2", "openrouter", "", "450"), time.Hour)},
				a: later(spend(t, "3", "ercot", "", "100.5"), 2*time.Hour), at: hour.Add(time.Hour + time.Minute),
				rule: "cap:total/day", limit: "1000", value: "1000.5", detail: "policy.caps.day"},
			{name: "provider hour", prior: []*procurebot.Action{spend(t, "1", "runpod", "", "400")}, a: spend(t, "2", "runpod", "", "50.01"),
				rule: "cap:provider/hour", limit: "450", value: "450.01", detail: "policy.providers.runpod.hour (provider:runpod per hour"},
			{name: "default provider day", prior: []*procurebot.Action{spend(t, "1", "vastai", "", "400")},
				a: later(spend(t, "2", "vastai", "", "200.01"), time.Hour), at: hour,
				rule: "cap:provider/day", limit: "600", value: "600.01", detail: "policy.providers.default.day (provider:vastai per day"},
			{name: "job total", prior: []*procurebot.Action{spend(t, "1", "vastai", "train-a", "400"), later(spend(t, "2", "openrouter", "train-a", "250"), time.Hour)},
				a: later(spend(t, "3", "ercot", "train-a", "50.01"), time.Hour), at: hour,
				rule: "cap:job/total", limit: "700", value: "700.01", detail: "policy.jobs.train-a.total (job:train-a per total, bucket all)"},
			{name: "default job month", prior: []*procurebot.Action{spend(t, "1", "ercot", "eval", "450"), later(spend(t, "2", "openrouter", "eval", "440"), time.Hour)},
				a: later(spend(t, "3", "ercot", "eval", "10.01"), time.Hour), at: hour,
				rule: "cap:job/month", limit: "900", value: "900.01", detail: "policy.jobs.default.month"},
		}
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range cases(t) {
				t.Run(c.name, func(t *testing.T) {
					s := b.open(t)
					bal := c.balance
					if bal == "" {
						bal = "5000"
					}
					p := newPolicy(t, fullConfig(t), s, fixedBalance(t, bal))
					for _, pa := range c.prior {
						if _, err := p.Admit(ctx, pa, pa.Step.Add(time.Minute)); err != nil {
							t.Fatalf("prior %s: %v", pa.ID, err)
						}
					}
					pc := p.Config()
					caps := pc.Caps(*c.a)
					before := make([]procurebot.Money, len(caps))
					for i, cp := range caps {
						before[i] = spentOf(t, s, c.a.Step, cp)
					}
					at := c.at
					if at.IsZero() {
						at = now
					}
					res, err := p.Admit(ctx, c.a, at)
					if c.rule == "" {
						if err != nil {
							t.Fatalf("refused: %v", err)
						}
						if res.Held() != c.a.Kind.Spends() || !res.Amount().Equal(map[bool]procurebot.Money{true: c.a.AmountUSD, false: procurebot.Zero}[c.a.Kind.Spends()]) {
							t.Errorf("reservation held %v amount %s", res.Held(), res.Amount())
						}
						for i, cp := range caps {
							want := before[i]
							if c.a.Kind.Spends() {
								want = want.Add(c.a.AmountUSD)
							}
							if got := spentOf(t, s, c.a.Step, cp); !got.Equal(want) {
								t.Errorf("%s: spent %s, want %s", cp, got, want)
							}
						}
						return
					}
					r := wantRefusal(t, err, c.rule, map[bool]string{true: procurebot.ECAP, false: policy.EPOLICY}[strings.HasPrefix(c.rule, "cap:")])
					t.Log(err)
					if res.Held() {
						t.Error("refused action holds a reservation")
					}
					if r.ActionID != c.a.ID {
						t.Errorf("refusal names action %q", r.ActionID)
					}
					if c.limit != "" {
						moneyEq(t, "limit", r.Limit, c.limit)
						moneyEq(t, "value", r.Value, c.value)
					}
					if !strings.Contains(err.Error(), c.detail) {
						t.Errorf("message %q does not contain %q", err, c.detail)
					}
					if strings.HasPrefix(c.rule, "cap:") {
						var ce *procurebot.CapExceededError
						if r.Cap == nil || !errors.As(err, &ce) || ce.Cap != *r.Cap || !r.Cap.LimitUSD.Equal(r.Limit) {
							t.Errorf("cap refusal without its cap: %+v", r)
						}
					}
					for i, cp := range caps {
						if got := spentOf(t, s, c.a.Step, cp); !got.Equal(before[i]) {
							t.Errorf("%s: spent %s after refusal, was %s", cp, got, before[i])
						}
					}
				})
			}
		})
	}
}

// TestNothingGetsThrough is the proof: the planner proposes actions
// above every cap and against every other rule, and none gets through —
// each is refused by the rule it breaks and nothing is reserved.
func TestNothingGetsThrough(t *testing.T) {
	type proposal struct {
		name    string
		a       *procurebot.Action
		at      time.Time
		balance string
		prefill *procurebot.SpendCap // counter filled to its limit − 50 first
		rule    string
	}
	var props []proposal
	cfg := fullConfig(t)
	// One action over each cap, alone: its counter is filled to 50 below
	// the limit and the action spends 60 (under every other cap).
	for _, base := range []struct{ venue, job string }{{"runpod", "train-a"}, {"vastai", "eval-b"}} {
		for _, c := range cfg.Caps(procurebot.Action{Venue: base.venue, Job: base.job}) {
			cp := c
			props = append(props, proposal{name: "over " + c.String(), prefill: &cp,
				a: rent(t, "cap", base.venue, base.job, "H100", "20", "1", "3"), rule: "cap:" + c.Key.Scope + "/" + string(c.Window)})
		}
	}
	withPay := func(a *procurebot.Action, token, to string) *procurebot.Action {
		a.Token, a.Recipient = token, to
		return a
	}
	props = append(props,
		proposal{name: "above every cap at once", a: spend(t, "big", "runpod", "train-a", "1000000"), balance: "1e9", rule: "cap:total/hour"},
		proposal{name: "unlisted provider", a: spend(t, "p", "lambdalabs", "", "1"), rule: policy.RuleAllowProvider},
		proposal{name: "unlisted provider renting", a: rent(t, "p", "akash", "", "H100", "1", "1", "1"), rule: policy.RuleAllowProvider},
		proposal{name: "unlisted token", a: withPay(spend(t, "t", "runpod", "", "1"), recip, recip), rule: policy.RuleAllowToken},
		proposal{name: "unlisted recipient", a: withPay(spend(t, "r", "runpod", "", "1"), usdc, otherRecip), rule: policy.RuleAllowRecipient},
		proposal{name: "recipient with a space", a: withPay(spend(t, "r", "runpod", "", "1"), "", " "+recip), rule: policy.RuleAllowRecipient},
		proposal{name: "price above class max", a: rent(t, "h", "runpod", "", "H100", "1", "1", "3.5000001"), rule: "max_price:H100"},
		proposal{name: "price above default max", a: rent(t, "d", "runpod", "", "MI300X", "1", "1", "7"), rule: "max_price:MI300X"},
		proposal{name: "price hidden in the amount", a: func() *procurebot.Action {
			a := rent(t, "x", "runpod", "", "H100", "1", "10", "0.01")
			a.AmountUSD = usd(t, "40")
			return a
		}(), rule: "max_price:H100"},
		proposal{name: "rental without a class", a: rent(t, "n", "runpod", "", "", "1", "1", "6.5"), rule: "max_price:default"},
		proposal{name: "breaks the reserve", a: spend(t, "w", "runpod", "", "4900.01"), balance: "5000", rule: policy.RuleReserve},
		proposal{name: "empty wallet", a: spend(t, "w", "runpod", "", "0.01"), balance: "0", rule: policy.RuleReserve},
		proposal{name: "step next month", a: func() *procurebot.Action {
			a := spend(t, "s", "runpod", "", "1")
			a.Step = step.AddDate(0, 1, 0)
			return a
		}(), rule: policy.RuleStepTime},
		proposal{name: "step last month", a: func() *procurebot.Action {
			a := spend(t, "s", "runpod", "", "1")
			a.Step = step.AddDate(0, -1, 0)
			return a
		}(), rule: policy.RuleStepTime},
	)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, pr := range props {
				t.Run(pr.name, func(t *testing.T) {
					s := b.open(t)
					bal := pr.balance
					if bal == "" {
						bal = "5000"
					}
					p := newPolicy(t, cfg, s, fixedBalance(t, bal))
					caps := cfg.Caps(*pr.a)
					before := map[procurebot.SpendCap]procurebot.Money{}
					if pr.prefill != nil {
						fill := pr.prefill.LimitUSD.Sub(usd(t, "50"))
						if err := s.Reserve(ctx, pr.a.Step, fill, []procurebot.SpendCap{*pr.prefill}); err != nil {
							t.Fatal(err)
						}
						before[*pr.prefill] = fill
					}
					at := pr.at
					if at.IsZero() {
						at = now
					}
					res, err := p.Admit(ctx, pr.a, at)
					if err == nil {
						t.Fatalf("admitted %s", pr.a)
					}
					code := policy.EPOLICY
					if strings.HasPrefix(pr.rule, "cap:") {
						code = procurebot.ECAP
					}
					r := wantRefusal(t, err, pr.rule, code)
					if pr.prefill != nil && (r.Cap == nil || *r.Cap != *pr.prefill) {
						t.Errorf("refused by %v, want %s", r.Cap, pr.prefill)
					}
					if res.Held() || res.Release(ctx) != nil {
						t.Error("refusal came with a reservation")
					}
					for _, c := range caps {
						for _, at := range []time.Time{step, pr.a.Step} {
							if got := spentOf(t, s, at, c); !got.Equal(before[c]) {
								t.Errorf("%s at %s: spent %s, want %s", c, at, got, before[c])
							}
						}
					}
				})
			}
		})
	}
}

// TestRandomPlanner has a planner propose random actions, most of them
// breaking some rule, against a model of the policy: every decision matches
// the model, every refusal names the rule the model says, and no counter
// ever exceeds its cap.
func TestRandomPlanner(t *testing.T) {
	s := openBolt(t)
	cfg := fullConfig(t)
	p := newPolicy(t, cfg, s, fixedBalance(t, "3000"))
	rng := rand.New(rand.NewPCG(7, 7))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	spent := map[string]procurebot.Money{} // model counters by key/window/bucket
	counterID := func(c procurebot.SpendCap, at time.Time) string {
		b, _ := c.Window.Bucket(at)
		return c.Key.String() + "/" + string(c.Window) + "/" + b
	}
	limits := map[string]procurebot.Money{}
	allowed := map[string]bool{"runpod": true, "vastai": true, "openrouter": true, "ercot": true}
	var admitted, refused int
	rules := map[string]int{}
	for i := range 600 {
		a := &procurebot.Action{ID: fmt.Sprint("a", i), Step: step.Add(time.Duration(rng.IntN(16)) * time.Hour),
			Venue: pick("runpod", "vastai", "openrouter", "ercot", "shady"), Job: pick("train-a", "eval-b", "")}
		at := a.Step.Add(time.Duration(rng.IntN(150)) * time.Minute)
		if rng.IntN(20) == 0 {
			at = a.Step.Add(-time.Duration(rng.IntN(10)) * time.Minute)
		}
		switch rng.IntN(4) {
		case 0, 1:
			a.Kind = procurebot.ActRent
			a.GPU = pick("H100", "A100", "")
			a.GPUs = procurebot.NewMoneyFrac(int64(rng.IntN(9)), 1)
			a.Hours = usd(t, pick("0.25", "1", "3"))
			a.USDPerGPUHour = procurebot.NewMoneyFrac(int64(rng.IntN(700)), 100)
			a.AmountUSD = a.GPUs.Mul(a.Hours).Mul(a.USDPerGPUHour).RoundCeil(2)
			if rng.IntN(8) == 0 {
				a.AmountUSD = a.AmountUSD.Add(usd(t, "5"))
			}
		case 2:
			a.Kind = procurebot.ActionKind(pick(string(procurebot.ActTokens), string(procurebot.ActEnergy)))
			a.AmountUSD = procurebot.NewMoneyFrac(int64(rng.IntN(40000)), 100)
			if rng.IntN(10) == 0 {
				a.AmountUSD = a.AmountUSD.Mul(usd(t, "10"))
			}
		default:
			a.Kind = procurebot.ActionKind(pick(string(procurebot.ActLease), string(procurebot.ActCurtail)))
			a.AmountUSD = procurebot.NewMoneyFrac(int64(rng.IntN(40000)), 100)
		}
		a.Token = pick("", usdc, strings.ToLower(usdc), recip)
		a.Recipient = pick("", recip, otherRecip)

		// The model: the first rule a breaks, in the documented order.
		want := ""
		caps := cfg.Caps(*a)
		switch {
		case !a.Kind.Spends():
		case at.Sub(a.Step) > 2*time.Hour || a.Step.Sub(at) > time.Minute:
			want = policy.RuleStepTime
		case !allowed[a.Venue]:
			want = policy.RuleAllowProvider
		case a.Token != "" && !strings.EqualFold(a.Token, usdc):
			want = policy.RuleAllowToken
		case a.Recipient != "" && a.Recipient != recip:
			want = policy.RuleAllowRecipient
		case a.Kind == procurebot.ActRent && modelPriceBreaks(t, cfg, a):
			want = policy.RuleMaxPrice + map[bool]string{true: a.GPU, false: "default"}[a.GPU != ""]
		case usd(t, "3000").Sub(a.AmountUSD).LessThan(usd(t, "100")):
			want = policy.RuleReserve
		default:
			for _, c := range caps {
				if spent[counterID(c, a.Step)].Add(a.AmountUSD).GreaterThan(c.LimitUSD) {
					want = "cap:" + c.Key.Scope + "/" + string(c.Window)
					break
				}
			}
		}
		_, err := p.Admit(ctx, a, at)
		if want == "" {
			if err != nil {
				t.Fatalf("%s: model admits, policy says %v", a.ID, err)
			}
			if a.Kind.Spends() {
				admitted++
				for _, c := range caps {
					id := counterID(c, a.Step)
					spent[id] = spent[id].Add(a.AmountUSD)
					limits[id] = c.LimitUSD
				}
			}
			continue
		}
		r, ok := policy.AsRefusal(err)
		if !ok || r.Rule != want {
			t.Fatalf("%s (%s, now %s): model refuses by %s, policy says %v", a.ID, a, at, want, err)
		}
		refused++
		rules[want]++
	}
	// The store agrees with the model on every counter, and none is over.
	for id, v := range spent {
		parts := strings.Split(id, "/")
		key := procurebot.SpendKey{Scope: procurebot.ScopeTotal}
		if sc, name, ok := strings.Cut(parts[0], ":"); ok {
			key = procurebot.SpendKey{Scope: sc, Name: name}
		}
		at := step
		for h := range 16 {
			if b, _ := procurebot.Window(parts[1]).Bucket(step.Add(time.Duration(h) * time.Hour)); b == parts[2] {
				at = step.Add(time.Duration(h) * time.Hour)
				break
			}
		}
		got, err := s.Spent(ctx, at, key, procurebot.Window(parts[1]))
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(v) || got.GreaterThan(limits[id]) {
			t.Errorf("%s: store %s, model %s, limit %s", id, got, v, limits[id])
		}
	}
	t.Logf("admitted %d, refused %d: %v", admitted, refused, rules)
	if admitted < 20 || len(rules) < 8 {
		t.Errorf("the generator is too tame: %d admitted, rules %v", admitted, rules)
	}
}

// modelPriceBreaks is the max-price rule, for the model.
func modelPriceBreaks(t testing.TB, cfg policy.Config, a *procurebot.Action) bool {
	limit, ok := cfg.MaxUSDPerGPUHour[a.GPU]
	if !ok || a.GPU == "" {
		limit = cfg.MaxUSDPerGPUHour["default"]
	}
	units := a.GPUs.Mul(a.Hours)
	if a.USDPerGPUHour.GreaterThan(limit) {
		return true
	}
	if units.IsZero() {
		return a.AmountUSD.Sign() > 0
	}
	return a.AmountUSD.GreaterThan(limit.Mul(units).RoundCeil(2))
}

// TestCapWindows: a cap counts in the bucket of the action's step and starts
// again in the next one; a total cap never does.
func TestCapWindows(t *testing.T) {
	for _, b := range backends {
		for _, tc := range []struct {
			w          procurebot.Window
			sameBucket time.Duration // later in the step's bucket
		}{
			{procurebot.WindowHour, 59 * time.Minute},
			{procurebot.WindowDay, 13 * time.Hour},
			{procurebot.WindowMonth, 30*24*time.Hour + 13*time.Hour},
			{procurebot.WindowTotal, 400 * 24 * time.Hour},
		} {
			t.Run(b.name+"/"+string(tc.w), func(t *testing.T) {
				s := b.open(t)
				var caps policy.WindowCaps
				limit := ptr(t, "500")
				switch tc.w {
				case procurebot.WindowHour:
					caps.Hour = limit
				case procurebot.WindowDay:
					caps.Day = limit
				case procurebot.WindowMonth:
					caps.Month = limit
				case procurebot.WindowTotal:
					caps.Total = limit
				}
				p := newPolicy(t, policy.Config{Gross: caps}, s, nil)
				admit := func(id string, at time.Time, amount string) error {
					a := spend(t, id, "runpod", "", amount)
					a.Step = at
					_, err := p.Admit(ctx, a, at.Add(time.Minute))
					return err
				}
				start := time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)
				if err := admit("1", start, "400"); err != nil {
					t.Fatal(err)
				}
				wantRefusal(t, admit("2", start.Add(tc.sameBucket), "100.01"), "cap:total/"+string(tc.w), procurebot.ECAP)
				if err := admit("3", start.Add(tc.sameBucket), "100"); err != nil {
					t.Fatalf("filling the bucket exactly: %v", err)
				}
				next := tc.w.BucketEnd(start)
				if tc.w == procurebot.WindowTotal {
					wantRefusal(t, admit("4", start.AddDate(5, 0, 0), "0.01"), "cap:total/total", procurebot.ECAP)
					return
				}
				wantRefusal(t, admit("4", next.Add(-time.Nanosecond), "0.01"), "cap:total/"+string(tc.w), procurebot.ECAP)
				if err := admit("5", next, "500"); err != nil {
					t.Fatalf("next bucket: %v", err)
				}
				key := procurebot.SpendKey{Scope: procurebot.ScopeTotal}
				for _, c := range []struct {
					at   time.Time
					want string
				}{{start, "500"}, {next, "500"}, {next.Add(-time.Nanosecond), "500"}} {
					got, err := s.Spent(ctx, c.at, key, tc.w)
					if err != nil {
						t.Fatal(err)
					}
					moneyEq(t, "spent at "+c.at.String(), got, c.want)
				}
			})
		}
	}
}

// TestConcurrentAdmit: 32 goroutines admitting 100 USD each against a day
// cap of 1000 admit exactly 10, and the counter ends at exactly 1000.
func TestConcurrentAdmit(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			p := newPolicy(t, policy.Config{Gross: policy.WindowCaps{Day: ptr(t, "1000")}}, s, fixedBalance(t, "1e6"))
			const n = 32
			errs := make([]error, n)
			ress := make([]policy.Reservation, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					a := spend(t, fmt.Sprint("c", i), "runpod", "", "100")
					a.Step = step.Add(time.Duration(i%10) * time.Hour) // same day, other hours
					ress[i], errs[i] = p.Admit(ctx, a, a.Step.Add(time.Minute))
				})
			}
			close(start)
			wg.Wait()
			var ok int
			sum := procurebot.Zero
			for i, err := range errs {
				if err == nil {
					ok++
					sum = sum.Add(ress[i].Amount())
					continue
				}
				wantRefusal(t, err, "cap:total/day", procurebot.ECAP)
			}
			if ok != 10 {
				t.Errorf("%d admitted, want exactly 10", ok)
			}
			got := spentOf(t, s, step, procurebot.SpendCap{Key: procurebot.SpendKey{Scope: procurebot.ScopeTotal}, Window: procurebot.WindowDay})
			moneyEq(t, "sum admitted", sum, "1000")
			moneyEq(t, "spent", got, "1000")
		})
	}
}

// TestReleaseOnce: a reservation gives its money back once, however many
// copies release it, concurrently or not.
func TestReleaseOnce(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			p := newPolicy(t, capsConfig(t), s, nil)
			r1, err := p.Admit(ctx, spend(t, "1", "runpod", "train-a", "100"), now)
			if err != nil {
				t.Fatal(err)
			}
			r2, err := p.Admit(ctx, spend(t, "2", "runpod", "train-a", "100"), now)
			if err != nil {
				t.Fatal(err)
			}
			caps := r1.Caps()
			if len(caps) != 8 || !r1.At().Equal(step) || !r1.Amount().Equal(usd(t, "100")) {
				t.Fatalf("reservation %v %s %s", caps, r1.At(), r1.Amount())
			}
			check := func(want string) {
				t.Helper()
				for _, c := range caps {
					moneyEq(t, c.String(), spentOf(t, s, step, c), want)
				}
			}
			check("200")

			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := r1.Release(cctx); !errors.Is(err, context.Canceled) || !r1.Held() {
				t.Fatalf("release with a done context: %v, held %v", err, r1.Held())
			}
			check("200")

			var wg sync.WaitGroup
			for range 8 {
				c := r1 // a copy
				wg.Go(func() {
					if err := c.Release(ctx); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if err := r1.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if r1.Held() || !r2.Held() {
				t.Errorf("held: r1 %v r2 %v", r1.Held(), r2.Held())
			}
			check("100")
			if err := r2.Release(ctx); err != nil {
				t.Fatal(err)
			}
			check("0")
			var zero policy.Reservation
			if zero.Held() || zero.Release(ctx) != nil || !zero.Amount().IsZero() || zero.Caps() != nil {
				t.Error("zero reservation holds something")
			}
		})
	}
}

// A release the store fails is reported and not retried: the money stays
// reserved (errs towards spending less).
func TestReleaseStoreFails(t *testing.T) {
	s, err := bolt.Open(filepath.Join(t.TempDir(), bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	p := newPolicy(t, capsConfig(t), s, nil)
	r, err := p.Admit(ctx, spend(t, "1", "runpod", "", "100"), now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Release(ctx); err == nil || !strings.Contains(err.Error(), "not retried") {
		t.Fatalf("release on a closed store: %v", err)
	}
	if err := r.Release(ctx); err != nil {
		t.Fatalf("second release: %v", err)
	}
	// Admit on a failing store is an error, not a refusal.
	_, err = p.Admit(ctx, spend(t, "2", "runpod", "", "1"), now)
	if _, ok := policy.AsRefusal(err); err == nil || ok {
		t.Fatalf("admit on a closed store: %v", err)
	}
}

func TestBalanceFails(t *testing.T) {
	s := openBolt(t)
	down := &procurebot.Error{Code: procurebot.EUNAVAILABLE, Message: "rpc down"}
	p := newPolicy(t, fullConfig(t), s, policy.BalanceFunc(func(context.Context) (procurebot.Money, error) { return procurebot.Zero, down }))
	a := spend(t, "1", "runpod", "", "1")
	_, err := p.Admit(ctx, a, now)
	if !errors.Is(err, down) || procurebot.ErrorCode(err) != procurebot.EUNAVAILABLE {
		t.Fatalf("admit with the balance down: %v", err)
	}
	if _, ok := policy.AsRefusal(err); ok {
		t.Error("an unknown balance is a refusal")
	}
	pc := p.Config()
	for _, c := range pc.Caps(*a) {
		moneyEq(t, c.String(), spentOf(t, s, step, c), "0")
	}
}

func TestAdmitInvalid(t *testing.T) {
	p := newPolicy(t, policy.Config{}, openBolt(t), nil)
	neg := spend(t, "n", "runpod", "", "-1")
	for _, a := range []*procurebot.Action{nil, neg, {ID: "k", Kind: "steal", Step: step, Venue: "x"}, {Kind: procurebot.ActRent, Step: step, Venue: "x"}} {
		if _, err := p.Admit(ctx, a, now); procurebot.ErrorCode(err) != procurebot.EINVALID {
			t.Errorf("%v: %v", a, err)
		}
	}
}

func TestNewErrors(t *testing.T) {
	s := openBolt(t)
	for _, tc := range []struct {
		name string
		cfg  policy.Config
		s    policy.SpendCounter
		bal  policy.Balance
		want string
	}{
		{"no counter", policy.Config{}, nil, nil, "spend counter"},
		{"reserve without balance", policy.Config{MinWalletReserveUSD: usd(t, "1")}, s, nil, "policy.min_wallet_reserve_usd"},
		{"invalid config", policy.Config{Gross: policy.WindowCaps{Day: ptr(t, "-1")}}, s, nil, "policy.caps.day"},
	} {
		_, err := policy.New(tc.cfg, tc.s, tc.bal)
		if procurebot.ErrorCode(err) != procurebot.EINVALID || !strings.Contains(fmt.Sprint(err), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// The policy keeps its own copy of the config.
func TestConfigCopied(t *testing.T) {
	s := openBolt(t)
	cfg := capsConfig(t)
	cfg.Allow.Providers = []string{"runpod"}
	p := newPolicy(t, cfg, s, nil)
	*cfg.Gross.Hour = usd(t, "1000000")
	cfg.Allow.Providers[0] = "vastai"
	wantRefusal(t, func() error { _, err := p.Admit(ctx, spend(t, "1", "runpod", "", "501"), now); return err }(), "cap:total/hour", procurebot.ECAP)
	wantRefusal(t, func() error { _, err := p.Admit(ctx, spend(t, "2", "vastai", "", "1"), now); return err }(), policy.RuleAllowProvider, policy.EPOLICY)
}

func TestCheckPayment(t *testing.T) {
	p := newPolicy(t, fullConfig(t), openBolt(t), fixedBalance(t, "5000"))
	a := spend(t, "1", "runpod", "", "1")
	for _, tc := range []struct{ token, to, rule string }{
		{usdc, recip, ""},
		{strings.ToLower(usdc), strings.ToUpper(recip[2:42]), policy.RuleAllowRecipient}, // no 0x
		{"", recip, policy.RuleAllowToken},
		{usdc, "", policy.RuleAllowRecipient},
		{recip, recip, policy.RuleAllowToken},
		{usdc, otherRecip, policy.RuleAllowRecipient},
	} {
		err := p.CheckPayment(a, tc.token, tc.to)
		if tc.rule == "" {
			if err != nil {
				t.Errorf("%s → %s: %v", tc.token, tc.to, err)
			}
			continue
		}
		wantRefusal(t, err, tc.rule, policy.EPOLICY)
	}
	open := newPolicy(t, policy.Config{}, openBolt(t), nil)
	if err := open.CheckPayment(a, "", ""); err != nil {
		t.Errorf("no allowlists: %v", err)
	}
}

// ErrorCode sees a refusal's code through wrapping.
func TestRefusalErrorCode(t *testing.T) {
	p := newPolicy(t, fullConfig(t), openBolt(t), fixedBalance(t, "5000"))
	_, err := p.Admit(ctx, spend(t, "1", "shady", "", "1"), now)
	if got := procurebot.ErrorCode(fmt.Errorf("step: %w", err)); got != policy.EPOLICY {
		t.Errorf("wrapped allowlist refusal: code %q", got)
	}
	_, err = p.Admit(ctx, spend(t, "2", "runpod", "", "600"), now)
	if got := procurebot.ErrorCode(fmt.Errorf("step: %w", err)); got != procurebot.ECAP {
		t.Errorf("wrapped cap refusal: code %q", got)
	}
}

// BenchmarkAdmit measures Admit, reserving on 8 caps, on a bbolt file
// (each admit is one fsynced transaction).
func BenchmarkAdmit(b *testing.B) {
	for _, bk := range backends {
		b.Run(bk.name, func(b *testing.B) {
			s := bk.open(b)
			cfg := fullConfig(b)
			huge := ptr(b, "1e9")
			cfg.Gross = policy.WindowCaps{Hour: huge, Day: huge, Month: huge}
			cfg.Providers = map[string]policy.WindowCaps{"runpod": {Hour: huge, Day: huge, Month: huge, Total: huge}}
			cfg.Jobs = map[string]policy.WindowCaps{"default": {Total: huge}}
			p := newPolicy(b, cfg, s, fixedBalance(b, "1e9"))
			a := rent(b, "bench", "runpod", "train-a", "H100", "8", "1", "3")
			a.Token, a.Recipient = usdc, recip
			for b.Loop() {
				if _, err := p.Admit(ctx, a, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRefuse measures a refusal by a rule before the store (no I/O).
func BenchmarkRefuse(b *testing.B) {
	p := newPolicy(b, fullConfig(b), openBolt(b), fixedBalance(b, "5000"))
	a := rent(b, "bench", "runpod", "train-a", "H100", "8", "1", "4")
	for b.Loop() {
		if _, err := p.Admit(ctx, a, now); err == nil {
			b.Fatal("admitted")
		}
	}
}

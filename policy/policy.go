// Package policy is procurebot's hard spend policy, the layer below every
// planner: whatever a strategy or an LLM proposes, a spending action is
// carried out only after Policy.Admit has admitted it. Admit checks, in
// order, the action's step time, the allowlists (provider, token,
// recipient), the highest price per GPU-hour of its class, the wallet
// reserve, and finally reserves the action's amount on every spend cap that
// applies — gross per hour, day and month, per provider, per job — in one
// atomic SpendCounter.Reserve, before any payment intent exists. A refused
// action gets a *Refusal naming the rule and the numbers, and nothing is
// reserved; the caller logs and counts it and does not try again around
// the cap.
//
// Approvals are decided here too (NeedsApproval): an action above a
// configured amount or term waits for a human. Its money is reserved by
// Admit first, so that a pending request cannot be overtaken by spends
// that would leave no room for it; a rejected or expired request gives it
// back with Reservation.Release.
package policy

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/procurebot/procurebot"
)

// SpendCounter is the part of store.SpendCounter policy needs; both stores
// (store/bolt, store/redis) implement it.
type SpendCounter interface {
	// Reserve adds amount to the counter of every cap (its key in the
	// bucket of its window that contains at) if and only if every counter
	// then stays at or below its cap's limit; otherwise it adds nothing and
	// returns an error wrapping *procurebot.CapExceededError naming the
	// first cap, in the order given, that refuses. Caps sharing a key and
	// window share one counter. Concurrent calls, from any number of
	// goroutines or processes, never take a counter over its limit.
	Reserve(ctx context.Context, at time.Time, amount procurebot.Money, caps []procurebot.SpendCap) error

	// Release gives back amount, reserved earlier with the same at and
	// caps, to every counter those caps name; a counter never goes below
	// zero.
	Release(ctx context.Context, at time.Time, amount procurebot.Money, caps []procurebot.SpendCap) error
}

// Balance reports the wallet's spendable balance for the reserve rule.
type Balance interface {
	// SpendableUSD returns the stablecoin balance that may still be spent,
	// in USD: what the wallet holds less the payments already under way
	// (intents created but not yet confirmed), so that admitted actions not
	// yet paid are not counted as available twice. An error means the
	// balance is unknown, and Admit admits nothing.
	SpendableUSD(ctx context.Context) (procurebot.Money, error)
}

// BalanceFunc adapts a function to Balance.
type BalanceFunc func(ctx context.Context) (procurebot.Money, error)

// SpendableUSD calls f.
func (f BalanceFunc) SpendableUSD(ctx context.Context) (procurebot.Money, error) { return f(ctx) }

// Policy enforces a Config. It is safe for concurrent use; it keeps no
// spend state of its own — every counter is in the SpendCounter, shared by
// every process that uses the same store.
type Policy struct {
	cfg        Config
	counter    SpendCounter
	balance    Balance
	providers  map[string]bool // allow.providers; nil = any
	tokens     map[string]bool // allow.tokens, normalised (normAddress); nil = any
	recipients map[string]bool // allow.recipients, normalised; nil = any
}

// New returns the policy of cfg (validated; EINVALID naming the key) over
// counter. balance may be nil only when cfg has no wallet reserve; then the
// reserve rule is skipped. With a balance, every spend must also leave the
// balance at or above the reserve (zero: not overdrawn).
func New(cfg Config, counter SpendCounter, balance Balance) (*Policy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if counter == nil {
		return nil, procurebot.Invalidf("policy: a spend counter is required")
	}
	if balance == nil && cfg.MinWalletReserveUSD.Sign() > 0 {
		return nil, procurebot.Invalidf("policy.min_wallet_reserve_usd: %s USD needs a wallet balance to check against", cfg.MinWalletReserveUSD)
	}
	p := &Policy{cfg: cfg.clone(), counter: counter, balance: balance}
	if len(cfg.Allow.Providers) > 0 {
		p.providers = make(map[string]bool)
		for _, v := range cfg.Allow.Providers {
			p.providers[v] = true
		}
	}
	addrs := func(l []string) map[string]bool {
		if len(l) == 0 {
			return nil
		}
		m := make(map[string]bool, len(l))
		for _, a := range l {
			h, _ := normAddress(a) // validated
			m[h] = true
		}
		return m
	}
	p.tokens = addrs(cfg.Allow.Tokens)
	p.recipients = addrs(cfg.Allow.Recipients)
	return p, nil
}

// Config returns a copy of the policy's configuration.
func (p *Policy) Config() Config { return p.cfg.clone() }

// NeedsApproval reports whether a waits for a human (Config.NeedsApproval).
func (p *Policy) NeedsApproval(a *procurebot.Action) bool { return p.cfg.NeedsApproval(a) }

// ApprovalExpiry returns how long an approval request waits for an answer.
func (p *Policy) ApprovalExpiry() time.Duration { return p.cfg.ApprovalExpiry() }

// Admit decides whether a may be carried out at now, and reserves its
// money if so. An action that does not spend (lease, curtail) passes with
// the zero Reservation. A spending action passes these rules in order, the
// first it breaks refusing it with a *Refusal (nothing reserved):
//
//   - step_time: a.Step is at most max_step_age before now and at most a
//     minute after it (buckets follow a.Step, so an action dated in another
//     bucket would dodge the current one's caps);
//   - allow:provider, allow:token, allow:recipient: a.Venue, and a.Token
//     and a.Recipient when set, are on their allowlists (addresses in any
//     case);
//   - max_price:<class>: a rental's price per GPU-hour — the stated
//     USDPerGPUHour, and the amount over GPUs × Hours — is at most its
//     class's limit;
//   - reserve: the spendable balance less a.AmountUSD stays at or above
//     min_wallet_reserve_usd;
//   - cap:<scope>/<window>: a.AmountUSD fits under every cap of Config.Caps,
//     reserved on all of them at once with SpendCounter.Reserve at a.Step.
//
// An invalid action is EINVALID; a failing balance or store is returned
// wrapped (its code kept), and nothing is reserved either way.
func (p *Policy) Admit(ctx context.Context, a *procurebot.Action, now time.Time) (Reservation, error) {
	if a == nil {
		return Reservation{}, procurebot.Invalidf("policy: no action")
	}
	if err := a.Validate(); err != nil {
		return Reservation{}, fmt.Errorf("policy: %w", err)
	}
	if !a.Kind.Spends() {
		return Reservation{}, nil
	}
	if r := p.check(a, now); r != nil {
		return Reservation{}, r
	}
	if err := p.checkReserve(ctx, a); err != nil {
		return Reservation{}, err
	}
	caps := p.cfg.Caps(*a)
	if err := p.counter.Reserve(ctx, a.Step, a.AmountUSD, caps); err != nil {
		if ce, ok := asCapError(err); ok {
			return Reservation{}, p.capRefusal(a, ce, err)
		}
		return Reservation{}, fmt.Errorf("policy: reserve %s USD for action %s: %w", a.AmountUSD, a.ID, err)
	}
	return Reservation{h: &hold{counter: p.counter, actionID: a.ID, at: a.Step, amount: a.AmountUSD, caps: caps}}, nil
}

// check applies the rules that need no I/O: step time, allowlists, price.
func (p *Policy) check(a *procurebot.Action, now time.Time) *Refusal {
	switch age := now.Sub(a.Step); {
	case age < -maxFutureStep:
		return refuse(a, RuleStepTime, EPOLICY, procurebot.Zero, procurebot.Zero,
			fmt.Sprintf("step %s starts %s after now %s (at most %s allowed): its buckets are not the current ones",
				a.Step.UTC().Format(time.RFC3339), -age, now.UTC().Format(time.RFC3339), maxFutureStep))
	case age > p.cfg.StepAge():
		return refuse(a, RuleStepTime, EPOLICY, procurebot.Zero, procurebot.Zero,
			fmt.Sprintf("step %s began %s before now %s, more than policy.max_step_age %s",
				a.Step.UTC().Format(time.RFC3339), age, now.UTC().Format(time.RFC3339), p.cfg.StepAge()))
	}
	if p.providers != nil && !p.providers[a.Venue] {
		return refuse(a, RuleAllowProvider, EPOLICY, procurebot.Zero, procurebot.Zero,
			fmt.Sprintf("provider %q is not in policy.allow.providers", a.Venue))
	}
	if r := p.checkPayment(a, a.Token, a.Recipient); r != nil {
		return r
	}
	if a.Kind == procurebot.ActRent {
		return p.checkPrice(a)
	}
	return nil
}

// CheckPayment applies the token and recipient allowlists to a payment for
// a that is about to be routed to token and recipient (an action admitted
// before its payment was routed has not been checked against them): nil,
// or a *Refusal with rule allow:token or allow:recipient. Empty token or
// recipient is refused when its allowlist is not empty.
func (p *Policy) CheckPayment(a *procurebot.Action, token, recipient string) error {
	if p.tokens != nil && token == "" {
		return refuse(a, RuleAllowToken, EPOLICY, procurebot.Zero, procurebot.Zero, "no token, and policy.allow.tokens is set")
	}
	if p.recipients != nil && recipient == "" {
		return refuse(a, RuleAllowRecipient, EPOLICY, procurebot.Zero, procurebot.Zero, "no recipient, and policy.allow.recipients is set")
	}
	if r := p.checkPayment(a, token, recipient); r != nil {
		return r
	}
	return nil
}

// checkPayment checks token and recipient, each when set.
func (p *Policy) checkPayment(a *procurebot.Action, token, recipient string) *Refusal {
	if token != "" && p.tokens != nil {
		if h, ok := normAddress(token); !ok || !p.tokens[h] {
			return refuse(a, RuleAllowToken, EPOLICY, procurebot.Zero, procurebot.Zero,
				fmt.Sprintf("token %q is not in policy.allow.tokens", token))
		}
	}
	if recipient != "" && p.recipients != nil {
		if h, ok := normAddress(recipient); !ok || !p.recipients[h] {
			return refuse(a, RuleAllowRecipient, EPOLICY, procurebot.Zero, procurebot.Zero,
				fmt.Sprintf("recipient %q is not in policy.allow.recipients", recipient))
		}
	}
	return nil
}

// checkPrice checks a rental's price against its class's limit: both the
// stated price and the amount, which may not exceed limit × GPUs × Hours
// (rounded up to the cent, as amounts are).
func (p *Policy) checkPrice(a *procurebot.Action) *Refusal {
	limit, key, ok := p.cfg.maxPrice(a.GPU)
	if !ok {
		return nil
	}
	rule := RuleMaxPrice + a.GPU
	if a.GPU == "" {
		rule = RuleMaxPrice + DefaultKey
	}
	if a.USDPerGPUHour.GreaterThan(limit) {
		return refuse(a, rule, EPOLICY, limit, a.USDPerGPUHour,
			fmt.Sprintf("%s USD per GPU-hour of %s is above policy.max_usd_per_gpu_hour.%s %s", a.USDPerGPUHour, a.GPU, key, limit))
	}
	units := a.GPUs.Mul(a.Hours)
	if units.Sign() <= 0 {
		if a.AmountUSD.Sign() > 0 {
			return refuse(a, rule, EPOLICY, limit, procurebot.Zero,
				fmt.Sprintf("%s USD for %s GPUs × %s hours: no GPU-hours to check the price against policy.max_usd_per_gpu_hour.%s", a.AmountUSD, a.GPUs, a.Hours, key))
		}
		return nil
	}
	if a.AmountUSD.GreaterThan(limit.Mul(units).RoundCeil(2)) {
		eff := a.AmountUSD.DivRound(units, 6)
		return refuse(a, rule, EPOLICY, limit, eff,
			fmt.Sprintf("%s USD for %s GPU-hours of %s is %s USD per GPU-hour, above policy.max_usd_per_gpu_hour.%s %s", a.AmountUSD, units, a.GPU, eff, key, limit))
	}
	return nil
}

// checkReserve applies the wallet reserve rule: nil, a *Refusal, or the
// balance's error.
func (p *Policy) checkReserve(ctx context.Context, a *procurebot.Action) error {
	if p.balance == nil {
		return nil
	}
	bal, err := p.balance.SpendableUSD(ctx)
	if err != nil {
		return fmt.Errorf("policy: action %s: wallet balance: %w", a.ID, err)
	}
	after := bal.Sub(a.AmountUSD)
	if floor := p.cfg.MinWalletReserveUSD; after.LessThan(floor) {
		return refuse(a, RuleReserve, EPOLICY, floor, after,
			fmt.Sprintf("spendable balance %s USD less %s USD leaves %s USD, below policy.min_wallet_reserve_usd %s", bal, a.AmountUSD, after, floor))
	}
	return nil
}

// Reservation is the money Admit reserved for one action. Copies share it:
// it is given back at most once, whichever copy releases. The zero
// Reservation (an action that does not spend) holds nothing. The
// reservation of an action that is carried out is kept: the amount
// reserved is its spend, as the caps count it.
type Reservation struct{ h *hold }

// hold is the state copies of a Reservation share.
type hold struct {
	counter  SpendCounter
	actionID string
	at       time.Time
	amount   procurebot.Money
	caps     []procurebot.SpendCap
	released atomic.Bool
}

// Held reports whether r holds money that has not been released.
func (r Reservation) Held() bool { return r.h != nil && !r.h.released.Load() }

// Amount returns the amount reserved (zero for the zero Reservation).
func (r Reservation) Amount() procurebot.Money {
	if r.h == nil {
		return procurebot.Zero
	}
	return r.h.amount
}

// At returns the time whose buckets the amount was reserved in (the
// action's step).
func (r Reservation) At() time.Time {
	if r.h == nil {
		return time.Time{}
	}
	return r.h.at
}

// Caps returns the caps the amount was reserved on; with At and Amount it
// is what a restarted process needs to give the money back through
// SpendCounter.Release.
func (r Reservation) Caps() []procurebot.SpendCap {
	if r.h == nil {
		return nil
	}
	return slices.Clone(r.h.caps)
}

// Release gives the reserved money back, for an action that is not carried
// out after all (a human rejected it, its approval expired, the venue
// refused it before anything was paid). It releases exactly once: later
// calls, on r or a copy, do nothing and return nil, as does Release on the
// zero Reservation. If ctx is already done it returns ctx.Err() and
// releases nothing, so it may be called again. If the store fails, the
// error is returned and the release is not tried again: a release lost
// errs towards spending less, whereas one applied twice would give back
// money other actions hold.
func (r Reservation) Release(ctx context.Context) error {
	if r.h == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !r.h.released.CompareAndSwap(false, true) {
		return nil
	}
	if err := r.h.counter.Release(ctx, r.h.at, r.h.amount, r.h.caps); err != nil {
		return fmt.Errorf("policy: release %s USD of action %s (not retried; it stays reserved): %w", r.h.amount, r.h.actionID, err)
	}
	return nil
}

// ruleOfCap names the rule of a cap: "cap:total/day", "cap:provider/hour",
// "cap:job/total". The provider or job name is not in it, to keep metric
// labels few; Refusal.Cap has it.
func ruleOfCap(c procurebot.SpendCap) string {
	return RuleCap + c.Key.Scope + "/" + string(c.Window)
}

// capKey names the config key of a cap: policy.caps.day,
// policy.providers.runpod.day, policy.providers.default.day,
// policy.jobs.train-a.total.
func (p *Policy) capKey(c procurebot.SpendCap) string {
	switch c.Key.Scope {
	case procurebot.ScopeProvider:
		return "policy.providers." + entryName(p.cfg.Providers, c.Key.Name) + "." + string(c.Window)
	case procurebot.ScopeJob:
		return "policy.jobs." + entryName(p.cfg.Jobs, c.Key.Name) + "." + string(c.Window)
	}
	return "policy.caps." + string(c.Window)
}

// entryName returns name if m lists it, else DefaultKey.
func entryName(m map[string]WindowCaps, name string) string {
	if _, ok := m[name]; ok {
		return name
	}
	return DefaultKey
}

// capRefusal turns the store's cap error into a Refusal.
func (p *Policy) capRefusal(a *procurebot.Action, ce *procurebot.CapExceededError, err error) *Refusal {
	c := ce.Cap
	bucket, _ := c.Window.Bucket(a.Step)
	total := ce.SpentUSD.Add(ce.AmountUSD)
	r := refuse(a, ruleOfCap(c), procurebot.ECAP, c.LimitUSD, total,
		fmt.Sprintf("%s (%s per %s, bucket %s): %s USD already spent + %s USD = %s USD, above the limit %s USD",
			p.capKey(c), c.Key, c.Window, bucket, ce.SpentUSD, ce.AmountUSD, total, c.LimitUSD))
	cp := c
	r.Cap = &cp
	r.Err = err
	return r
}

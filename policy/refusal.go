package policy

import (
	"errors"
	"fmt"

	"github.com/procurebot/procurebot"
)

// EPOLICY is the error code of an action refused by a rule other than a
// spend cap: step time, an allowlist, a price limit or the wallet reserve.
// Cap refusals are procurebot.ECAP.
const EPOLICY = "policy"

// Rule names, as Refusal.Rule reports them. A cap's rule is RuleCap plus
// its scope and window ("cap:total/day", "cap:provider/hour",
// "cap:job/total"); a price limit's is RuleMaxPrice plus the GPU class
// ("max_price:H100"). All are few, so they can label metrics.
const (
	RuleStepTime       = "step_time"
	RuleAllowProvider  = "allow:provider"
	RuleAllowToken     = "allow:token"
	RuleAllowRecipient = "allow:recipient"
	RuleMaxPrice       = "max_price:"
	RuleReserve        = "reserve"
	RuleCap            = "cap:"
)

// Refusal is the error of an action the policy refused. Nothing was
// reserved for it. procurebot.ErrorCode reports its Code.
type Refusal struct {
	// ActionID and Action describe the refused action.
	ActionID string
	Action   string
	// Rule is the rule that refused it (the Rule* names).
	Rule string
	// Code is procurebot.ECAP for a spend cap, EPOLICY for any other rule.
	Code string
	// Limit is the rule's limit and Value what the action would have made
	// the limited quantity: for a cap, the spend in the bucket including
	// the action; for a price, the price per GPU-hour; for the reserve,
	// the balance left. Both are zero for allowlists and step time.
	Limit, Value procurebot.Money
	// Cap is the cap that refused (caps only), with its provider or job.
	Cap *procurebot.SpendCap
	// Detail says what was wrong, naming the config key.
	Detail string
	// Err is the cause: the store's *procurebot.CapExceededError for caps.
	Err error
}

// refuse returns a Refusal of a.
func refuse(a *procurebot.Action, rule, code string, limit, value procurebot.Money, detail string) *Refusal {
	return &Refusal{ActionID: a.ID, Action: describe(a), Rule: rule, Code: code, Limit: limit, Value: value, Detail: detail}
}

// Error names the action, the rule and what was wrong.
func (r *Refusal) Error() string {
	return fmt.Sprintf("policy refused action %s (%s): %s: %s", r.ActionID, r.Action, r.Rule, r.Detail)
}

// ErrorCode makes procurebot.ErrorCode report r.Code.
func (r *Refusal) ErrorCode() string { return r.Code }

// Unwrap returns the cause.
func (r *Refusal) Unwrap() error { return r.Err }

// AsRefusal returns the *Refusal in err's chain, if any.
func AsRefusal(err error) (*Refusal, bool) {
	var r *Refusal
	ok := errors.As(err, &r)
	return r, ok
}

// asCapError returns the *procurebot.CapExceededError in err's chain.
func asCapError(err error) (*procurebot.CapExceededError, bool) {
	var ce *procurebot.CapExceededError
	ok := errors.As(err, &ce)
	return ce, ok
}

// describe summarises a for messages: "tokens openrouter 12.50 USD", "rent
// runpod 8 H100 at 3.5/GPU-h for 1h = 28.00 USD".
func describe(a *procurebot.Action) string {
	if a.Kind == procurebot.ActRent || a.Kind == procurebot.ActLease {
		return a.String()
	}
	s := fmt.Sprintf("%s %s %s USD", a.Kind, a.Venue, procurebot.Cents(a.AmountUSD))
	if a.Job != "" {
		s += " for job " + a.Job
	}
	return s
}

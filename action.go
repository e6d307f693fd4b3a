package procurebot

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// ActionKind is what an agent action does with money or capacity.
type ActionKind string

// Action kinds. Rent, tokens and energy spend; lease earns; curtail
// changes nothing that is paid but is recorded so an operator can see it.
const (
	ActRent    ActionKind = "rent"    // rent GPUs from a venue for a term
	ActTokens  ActionKind = "tokens"  // buy inference tokens from a seller
	ActEnergy  ActionKind = "energy"  // pay a site's metered energy to its power seller
	ActLease   ActionKind = "lease"   // lease own GPUs out (income)
	ActCurtail ActionKind = "curtail" // power own GPUs down
)

// Spends reports whether the kind pays money out (and so passes spend
// policy and, above a threshold, approval).
func (k ActionKind) Spends() bool {
	return k == ActRent || k == ActTokens || k == ActEnergy
}

// Action is one thing the agent will do in a step, as the planner's
// decision turns into money: the unit spend policy judges, approvals ask a
// human about, the executor carries out, the wallet pays and the ledger
// records.
type Action struct {
	// ID is deterministic — the step, kind, venue and subject — so that a
	// restarted agent finds the actions of a step it already began.
	ID   string
	Kind ActionKind
	// Step is the start of the step the action belongs to; Hours its term
	// (the step length for hourly rentals, the block for forward terms).
	Step  time.Time
	Hours Money
	// Venue is who is paid or pays: a provider, a token seller, a site's
	// power seller, a lease market.
	Venue string
	// Job or Site the action serves (one of them, or neither for tokens).
	Job, Site string
	// GPU class, count and price of rentals and leases.
	GPU           string
	GPUs          Money // whole for rentals; fractional for self-hosted shares
	USDPerGPUHour Money
	// AmountUSD is the total: the cost of a spend, the income of a lease.
	AmountUSD Money
	// CheapestUSDPerGPUHour is the cheapest eligible alternative the
	// planner saw (for the approval message's ratio); zero if unknown.
	CheapestUSDPerGPUHour Money
	// Recipient is the address paid and Token the stablecoin, once the
	// payment is routed; empty before.
	Recipient, Token string
}

// Validate reports the first problem with a.
func (a *Action) Validate() error {
	switch {
	case a.ID == "":
		return Invalidf("action: id is required")
	case a.Kind != ActRent && a.Kind != ActTokens && a.Kind != ActEnergy && a.Kind != ActLease && a.Kind != ActCurtail:
		return Invalidf("action %s: unknown kind %q", a.ID, a.Kind)
	case a.Step.IsZero():
		return Invalidf("action %s: step time is required", a.ID)
	case a.Venue == "":
		return Invalidf("action %s: venue is required", a.ID)
	case a.AmountUSD.Sign() < 0:
		return Invalidf("action %s: amount %s must not be negative", a.ID, a.AmountUSD)
	case a.Hours.Sign() < 0 || a.GPUs.Sign() < 0 || a.USDPerGPUHour.Sign() < 0:
		return Invalidf("action %s: negative hours, GPUs or price", a.ID)
	}
	return nil
}

// Ratio is the action's price over the cheapest alternative (1 when it is
// the cheapest, zero when there is no alternative to compare).
func (a *Action) Ratio() Money {
	if a.CheapestUSDPerGPUHour.Sign() <= 0 || a.USDPerGPUHour.Sign() <= 0 {
		return decimal.Zero
	}
	return a.USDPerGPUHour.DivRound(a.CheapestUSDPerGPUHour, 4)
}

func (a Action) String() string {
	return fmt.Sprintf("%s %s %s GPUs %s at %s/GPU-h for %sh = %s USD", a.Kind, a.Venue, a.GPUs, a.GPU, a.USDPerGPUHour, a.Hours, Cents(a.AmountUSD))
}

// ApprovalState is where an approval request stands.
type ApprovalState string

// Approval states. Pending moves once, to approved, rejected or expired
// (an unanswered request expires to a rejection).
const (
	ApprovalPending  ApprovalState = "pending"
	ApprovalApproved ApprovalState = "approved"
	ApprovalRejected ApprovalState = "rejected"
	ApprovalExpired  ApprovalState = "expired"
)

// Approval is a request for a human to approve an action above the
// commitment threshold, and its answer.
type Approval struct {
	ID        string // the action's ID
	Action    Action
	State     ApprovalState
	Requested time.Time
	Expires   time.Time // an unanswered request is rejected at this time
	Decided   time.Time // zero while pending
	By        string    // who answered: a Slack user id, "cli:<user>", "expiry"
	// Message is the chat message that asked (Slack channel and ts), so
	// that the answer can update it.
	Channel, MessageTS string
}

// Validate reports the first problem with p.
func (p *Approval) Validate() error {
	if err := p.Action.Validate(); err != nil {
		return err
	}
	switch {
	case p.ID == "" || p.ID != p.Action.ID:
		return Invalidf("approval %q: id must be its action's id %q", p.ID, p.Action.ID)
	case p.State != ApprovalPending && p.State != ApprovalApproved && p.State != ApprovalRejected && p.State != ApprovalExpired:
		return Invalidf("approval %s: unknown state %q", p.ID, p.State)
	case p.Requested.IsZero() || !p.Expires.After(p.Requested):
		return Invalidf("approval %s: expiry %s must be after the request %s", p.ID, p.Expires, p.Requested)
	case p.State != ApprovalPending && p.Decided.IsZero():
		return Invalidf("approval %s: %s without a decision time", p.ID, p.State)
	}
	return nil
}

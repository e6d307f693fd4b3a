package procurebot

import (
	"time"
)

// EntryKind is what a ledger entry records (DESIGN §8, `ledger --json`).
type EntryKind string

// Ledger entry kinds.
const (
	KindReservation EntryKind = "reservation" // money set aside against a spend cap
	KindRental      EntryKind = "rental"      // GPU-hours rented
	KindPayment     EntryKind = "payment"     // a stablecoin transfer (has IntentID, TxHash)
	KindLeaseIncome EntryKind = "lease_income"
	KindEnergy      EntryKind = "energy"
	KindInference   EntryKind = "inference" // tokens bought
	KindApproval    EntryKind = "approval"  // a human approved or rejected a commitment
)

var entryKinds = map[EntryKind]bool{KindReservation: true, KindRental: true, KindPayment: true,
	KindLeaseIncome: true, KindEnergy: true, KindInference: true, KindApproval: true}

// LedgerEntry is one append-only record of money the agent committed,
// paid, earned or was charged.
type LedgerEntry struct {
	Seq       uint64    // assigned by the ledger on append, strictly increasing
	Time      time.Time // when it happened (the agent's clock), UTC
	Kind      EntryKind
	AmountUSD Money  // positive = money out; lease income is positive income
	Venue     string // provider, site or chain the money went to or came from
	IntentID  string // payments: the idempotency key of the payment intent
	TxHash    string // payments: the transaction hash (0x…)
	Note      string
}

// Validate reports the first problem with e as an EINVALID error naming the
// field.
func (e *LedgerEntry) Validate() error {
	switch {
	case e.Time.IsZero():
		return Invalidf("ledger entry: time is required")
	case !entryKinds[e.Kind]:
		return Invalidf("ledger entry: unknown kind %q", e.Kind)
	case e.Kind == KindPayment && e.IntentID == "":
		return Invalidf("ledger entry: a payment needs intent_id")
	case e.Kind == KindPayment && e.TxHash == "":
		return Invalidf("ledger entry: a payment needs tx_hash")
	}
	return nil
}

// LedgerFilter selects ledger entries: Since ≤ Time < Until (zero = open),
// any of Kinds (empty = all), at most Limit entries (0 = all), oldest first.
type LedgerFilter struct {
	Since, Until time.Time
	Kinds        []EntryKind
	Limit        int
}

// Match reports whether e passes f (Limit aside).
func (f *LedgerFilter) Match(e *LedgerEntry) bool {
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !e.Time.Before(f.Until) {
		return false
	}
	if len(f.Kinds) == 0 {
		return true
	}
	for _, k := range f.Kinds {
		if k == e.Kind {
			return true
		}
	}
	return false
}

// Package store declares the small storage interfaces procurebot's money
// paths rely on — an append-only ledger, atomic spend counters, payment
// intents, leases with fencing tokens and a quote cache — and documents the
// contract every implementation keeps.
//
// Two implementations live below it and pass one conformance suite
// (store/storetest) unchanged: store/bolt, a single bbolt file (the embedded
// default), and store/redis, Redis through go-redis for several replicas.
// Consumers (wallet, agent) declare the narrower interfaces they need; these
// are the vocabulary the implementations satisfy.
//
// Errors carry a procurebot error code (procurebot.ErrorCode): EINVALID for
// bad arguments, ENOTFOUND, ECONFLICT for a lost compare-and-set, a held
// lease or a duplicate payment, EUNAVAILABLE when a backing server cannot be
// reached, and ECAP (a *procurebot.CapExceededError in the chain) when a
// spend cap refuses. Every method takes a context and may fail with it.
package store

import (
	"context"
	"time"

	"github.com/procurebot/procurebot"
)

// Ledger is the append-only record of money the agent committed, paid,
// earned or was charged.
type Ledger interface {
	// Append validates e (procurebot.LedgerEntry.Validate; EINVALID),
	// assigns e.Seq — 1 for a store's first entry, then strictly greater
	// than every Seq assigned before by this store, across restarts — and
	// stores it. When Append returns nil
	// the entry is durable: committed to disk (bbolt) or acknowledged by the
	// server (Redis). A payment entry whose IntentID is already on a payment
	// entry is refused with ECONFLICT and nothing is stored: the same
	// intent_id never appears on two payment entries. On any error e.Seq is
	// left unchanged.
	Append(ctx context.Context, e *procurebot.LedgerEntry) error

	// List returns the entries matching f (procurebot.LedgerFilter: Since ≤
	// Time < Until, any of Kinds, at most Limit), ordered by Time, then Seq.
	// Times are returned in UTC. A negative Limit is EINVALID.
	List(ctx context.Context, f procurebot.LedgerFilter) ([]procurebot.LedgerEntry, error)
}

// SpendCounter keeps one integer counter, in micro-USD
// (procurebot.ToMicroUSD), per spend key and window bucket
// (procurebot.Window.Bucket), and enforces caps on them atomically.
type SpendCounter interface {
	// Reserve adds amount to the counter of every cap (its key in the
	// bucket of its window that contains at) if and only if every counter
	// then stays at or below its cap's limit; otherwise it adds nothing and
	// returns an error wrapping *procurebot.CapExceededError (code ECAP)
	// that names the first cap, in the order given, that refuses. Caps that
	// share a key and window share one counter, to which amount is added
	// once. A negative amount or an invalid cap is EINVALID; no caps is a
	// no-op. Concurrent Reserve calls, from any number of goroutines or
	// processes, never take a counter over a limit.
	Reserve(ctx context.Context, at time.Time, amount procurebot.Money, caps []procurebot.SpendCap) error

	// Release gives back amount, reserved earlier with the same at and caps,
	// to every counter those caps name; a counter never goes below zero.
	// Limits are not looked at.
	Release(ctx context.Context, at time.Time, amount procurebot.Money, caps []procurebot.SpendCap) error

	// Spent returns the counter of key in the bucket of w that contains at
	// (zero if nothing was ever reserved there).
	Spent(ctx context.Context, at time.Time, key procurebot.SpendKey, w procurebot.Window) (procurebot.Money, error)
}

// IntentStore keeps payment intents through their life (see
// procurebot.IntentState). Amount and SignedTx round-trip exactly; times
// come back in UTC.
type IntentStore interface {
	// CreateIntent stores p if no intent with its ID exists, and returns
	// the stored intent and created=true. If one exists it stores nothing
	// and returns the existing intent and created=false: creating is
	// idempotent on ID, and the caller compares what came back with what it
	// meant to pay. p must be valid (procurebot.PaymentIntent.Validate) and
	// in state pending, else EINVALID.
	CreateIntent(ctx context.Context, p *procurebot.PaymentIntent) (existing *procurebot.PaymentIntent, created bool, err error)

	// GetIntent returns the intent with the given ID, or ENOTFOUND.
	GetIntent(ctx context.Context, id string) (*procurebot.PaymentIntent, error)

	// UpdateIntent replaces the stored intent p.ID with p, as a
	// compare-and-set: it succeeds only if the stored state is from and
	// from.CanMove(p.State); otherwise it changes nothing and returns
	// ECONFLICT (ENOTFOUND if there is no such intent). What a payment pays
	// — Chain, Token, To and Amount — never changes: an update that changes
	// them is EINVALID.
	UpdateIntent(ctx context.Context, p *procurebot.PaymentIntent, from procurebot.IntentState) error

	// ListIntents returns the intents in any of states (all intents when
	// none is given), ordered by CreatedAt, then ID. Reconciliation lists
	// the unfinished ones: pending, signed and sent.
	ListIntents(ctx context.Context, states ...procurebot.IntentState) ([]procurebot.PaymentIntent, error)
}

// LeaseStore keeps named leases for leader election. Time is always passed
// in (the caller's procurebot.Clock), so the store never reads a clock of
// its own to decide who holds a lease. A lease is held while now is before
// its Expires.
type LeaseStore interface {
	// AcquireLease gives the lease name to holder until now+ttl. It
	// succeeds if the lease is free, expired, or already held by holder
	// (then it renews it and keeps its token). Every new acquisition gets a
	// fencing Token greater than every token ever given for name by this
	// store, across restarts and releases. Held by another holder →
	// ECONFLICT naming the holder. Empty name or holder, or ttl ≤ 0 →
	// EINVALID.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (procurebot.Lease, error)

	// RenewLease extends l until now+ttl, keeping its token. It succeeds
	// only if l's holder still holds the lease with l's token and it has
	// not expired at now; otherwise ECONFLICT (the holder must acquire
	// again, and gets a new token).
	RenewLease(ctx context.Context, l procurebot.Lease, ttl time.Duration, now time.Time) (procurebot.Lease, error)

	// ReleaseLease frees the lease if l's holder holds it with l's token;
	// releasing a lease that is already free succeeds; one held by another
	// holder or with another token is ECONFLICT. The token counter is kept,
	// so the next acquisition still gets a greater token.
	ReleaseLease(ctx context.Context, l procurebot.Lease) error
}

// QuoteCache keeps opaque quote payloads for a while.
type QuoteCache interface {
	// PutQuote stores value under key until now+ttl, replacing any earlier
	// value. Empty key or ttl ≤ 0 → EINVALID.
	PutQuote(ctx context.Context, key string, value []byte, ttl time.Duration, now time.Time) error

	// GetQuote returns the value under key and true if it was put and has
	// not expired at now; an expired or absent entry is a miss (nil, false,
	// nil). A cache may also forget an entry earlier (Redis expires it ttl
	// after the put on its own clock): a miss is always allowed.
	GetQuote(ctx context.Context, key string, now time.Time) ([]byte, bool, error)
}

// ApprovalStore keeps approval requests durably, so that a restart keeps
// the pending ones, and an answer has effect once however often it comes
// (a replayed Slack callback, a second click, the CLI and Slack at once).
type ApprovalStore interface {
	// CreateApproval stores p (valid, procurebot.Approval.Validate, and
	// pending, else EINVALID) if no approval with its ID exists, and
	// returns it with created=true; otherwise it stores nothing and
	// returns the existing approval and created=false.
	CreateApproval(ctx context.Context, p *procurebot.Approval) (existing *procurebot.Approval, created bool, err error)

	// GetApproval returns the approval with id, or ENOTFOUND.
	GetApproval(ctx context.Context, id string) (*procurebot.Approval, error)

	// DecideApproval moves a pending approval to state (approved, rejected
	// or expired; anything else EINVALID) at time at, by by, as a
	// compare-and-set: if it is no longer pending it changes nothing and
	// returns the stored approval with ECONFLICT, so that of two answers
	// exactly one has effect. ENOTFOUND if there is no such approval.
	DecideApproval(ctx context.Context, id string, state procurebot.ApprovalState, by string, at time.Time) (*procurebot.Approval, error)

	// SetApprovalMessage records the chat message (channel, ts) that asked
	// for approval id, in any state. ENOTFOUND if there is no such approval.
	SetApprovalMessage(ctx context.Context, id, channel, ts string) error

	// ListApprovals returns the approvals in any of states (all when none
	// is given), ordered by Requested, then ID.
	ListApprovals(ctx context.Context, states ...procurebot.ApprovalState) ([]procurebot.Approval, error)
}

// StateStore keeps small named values durably: the agent's checkpoint (the
// last step it finished, the step in flight and its decision). A value is
// durable when PutState returns nil.
type StateStore interface {
	// PutState stores value under key, replacing any earlier value. An
	// empty key is EINVALID.
	PutState(ctx context.Context, key string, value []byte) error

	// GetState returns the value under key and true, or nil and false if
	// none was ever put.
	GetState(ctx context.Context, key string) ([]byte, bool, error)
}

// Package storetest is the one conformance suite every procurebot store
// passes unchanged: table tests of each method's contract (error codes
// included), concurrency (goroutines racing on one cap, one intent ID, one
// lease, one ledger, one approval's answer), restart (close and reopen:
// everything is still there, Seq continues, fencing tokens keep growing,
// pending approvals stay pending, state keeps its values), isolation (two
// stores do not see each other) and, for stores with a server, an outage
// (the server is killed mid-test: every operation fails with EUNAVAILABLE
// naming the address, nothing partial is written, and everything works
// again when the server is back). Bench measures ledger appends and spend
// reservations with 8 concurrent clients.
//
// An implementation's test calls
//
//	storetest.Run(t, open, storetest.Hooks{Reopen: reopen, Outage: outage})
//
// where open returns a new, empty store and registers its cleanup.
package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/store"
)

// Store is everything the suite checks: the union of the store package's
// interfaces and Close.
type Store interface {
	store.Ledger
	store.SpendCounter
	store.IntentStore
	store.LeaseStore
	store.QuoteCache
	store.ApprovalStore
	store.StateStore
	// Close releases the store's resources; the store is not used
	// afterwards.
	Close() error
}

// Opener returns a new, empty store for one test (or benchmark); it
// registers the store's cleanup with t, and that cleanup must tolerate a
// store the suite has closed already.
type Opener func(t testing.TB) Store

// Hooks are the implementation-specific parts of the suite.
type Hooks struct {
	// Reopen closes s and opens the same data again as a restarted process
	// would: bbolt the same file, Redis a new client on the same prefix.
	// Required.
	Reopen func(t testing.TB, s Store) Store

	// Outage, when not nil, returns a store on a server of the test's own
	// that the suite stops and starts again; the outage tests run only
	// then (an embedded store has no server to lose).
	Outage func(t testing.TB) *Outage
}

// Outage is a store whose server the suite can kill and start again.
type Outage struct {
	// Store is connected to the server.
	Store Store
	// Addr is the server address that errors during the outage must name.
	Addr string
	// Stop kills the server (SIGKILL) and returns when it is gone.
	Stop func()
	// Start starts the server again on the same address with what it
	// acknowledged before Stop, and returns when it answers.
	Start func()
}

// Run runs the whole suite against the stores open returns.
func Run(t *testing.T, open Opener, hooks Hooks) {
	if hooks.Reopen == nil {
		t.Fatal("storetest: Hooks.Reopen is required")
	}
	groups := []struct {
		name string
		run  func(*testing.T, Opener)
	}{
		{"Ledger", testLedger},
		{"Spend", testSpend},
		{"Intents", testIntents},
		{"Leases", testLeases},
		{"Quotes", testQuotes},
		{"Approvals", func(t *testing.T, open Opener) { testApprovals(t, open, hooks.Reopen) }},
		{"State", func(t *testing.T, open Opener) { testState(t, open, hooks.Reopen) }},
		{"Canceled", testCanceled},
		{"Concurrency", testConcurrency},
		{"Isolation", testIsolation},
		{"Restart", func(t *testing.T, open Opener) { testRestart(t, open, hooks.Reopen) }},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.run(t, open)
		})
	}
	if hooks.Outage != nil {
		t.Run("Outage", func(t *testing.T) {
			t.Parallel()
			testOutage(t, hooks.Outage)
		})
	}
}

// base returns the suite's reference time: a Tuesday, mid-hour.
func base() time.Time { return time.Date(2024, 10, 1, 12, 30, 0, 0, time.UTC) }

// usd parses a decimal amount.
func usd(s string) procurebot.Money { return decimal.RequireFromString(s) }

// ctxT returns a context canceled when the test ends.
func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// wantCode fails the test unless err has the procurebot error code want
// ("" for nil).
func wantCode(t testing.TB, what string, err error, want string) {
	t.Helper()
	if got := procurebot.ErrorCode(err); got != want {
		t.Errorf("%s: error code %q (%v), want %q", what, got, err, want)
	}
}

// must fails the test now if err is not nil.
func must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantMention fails the test unless err's message contains every part.
func wantMention(t testing.TB, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one naming %q", what, parts)
		return
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not name %q", what, err, p)
		}
	}
}

// capErr returns the *procurebot.CapExceededError in err's chain or nil.
func capErr(err error) *procurebot.CapExceededError {
	var ce *procurebot.CapExceededError
	if errors.As(err, &ce) {
		return ce
	}
	return nil
}

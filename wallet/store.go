package wallet

import (
	"context"

	"github.com/procurebot/procurebot"
)

// IntentStore keeps payment intents durable. It is the store package's
// contract (bbolt and Redis implement it); the Payer needs nothing more.
type IntentStore interface {
	// CreateIntent stores p if no intent has its ID yet and returns
	// created=true; otherwise it stores nothing and returns the intent
	// already stored under that ID with created=false (idempotent on ID).
	CreateIntent(ctx context.Context, p *procurebot.PaymentIntent) (existing *procurebot.PaymentIntent, created bool, err error)
	// GetIntent returns the intent with the given ID, or an ENOTFOUND error.
	GetIntent(ctx context.Context, id string) (*procurebot.PaymentIntent, error)
	// UpdateIntent replaces the stored intent p.ID with p if its stored
	// state is from and from.CanMove(p.State) (compare-and-set on the
	// state); otherwise it changes nothing and returns an ECONFLICT error.
	UpdateIntent(ctx context.Context, p *procurebot.PaymentIntent, from procurebot.IntentState) error
	// ListIntents returns the intents in any of the given states (all
	// intents if none is given).
	ListIntents(ctx context.Context, states ...procurebot.IntentState) ([]procurebot.PaymentIntent, error)
}

// Ledger is where a Payer records each confirmed payment (the store's
// append-only ledger). Append of a second payment entry with the same
// intent id must fail with ECONFLICT and change nothing.
type Ledger interface {
	Append(ctx context.Context, e *procurebot.LedgerEntry) error
}

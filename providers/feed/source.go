// Package feed joins the venue adapters into one view of the market: it
// polls every configured source, keeps each venue's newest quotes with
// their fetch time, marks a venue stale when its newest quote is older than
// the venue's maximum age (stale quotes are never handed to a planner), and
// quarantines outliers — a quote far outside the recent range of its class
// — instead of using them.
package feed

import (
	"context"
	"time"

	"github.com/procurebot/procurebot"
)

// Source is a venue adapter.
type Source interface {
	// Name is the venue's name as configured ("lambda", "runpod").
	Name() string
	// MaxAge is how old the venue's newest quote may be before the venue
	// counts as stale.
	MaxAge() time.Duration
}

// GPUSource sells GPU-hours.
type GPUSource interface {
	Source
	// GPUQuotes fetches the venue's current offers, normalised, each with
	// its fetch time and billed unit. It returns a complete book or an
	// error naming the venue, request and field — never a partial book.
	GPUQuotes(ctx context.Context) ([]procurebot.Quote, error)
}

// TokenSource sells inference tokens.
type TokenSource interface {
	Source
	// TokenQuotes fetches the venue's current per-model prices (USD per
	// million tokens), complete or an error.
	TokenQuotes(ctx context.Context) ([]procurebot.TokenQuote, error)
}

// PowerSource publishes wholesale electricity prices.
type PowerSource interface {
	Source
	// PowerQuotes fetches the prices of intervals starting in [from, to),
	// each with its publication time. Intervals not yet published are
	// simply absent.
	PowerQuotes(ctx context.Context, from, to time.Time) ([]procurebot.PowerQuote, error)
}

package procurebot

import (
	"context"
	"time"
)

// Clock is the only source of time for the agent and strategies, so that the
// simulator can drive the very code that runs live.
type Clock interface {
	// Now returns the current time (UTC).
	Now() time.Time
	// Sleep blocks until d has passed on this clock or ctx is done; it
	// returns ctx.Err() in the latter case.
	Sleep(ctx context.Context, d time.Duration) error
}

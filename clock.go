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

// WallClock is the real time, for live runs.
type WallClock struct{}

// Now returns the current UTC time.
func (WallClock) Now() time.Time { return time.Now().UTC() }

// Sleep waits d or until ctx is done.
func (WallClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

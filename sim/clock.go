package sim

import (
	"context"
	"sync"
	"time"

	"github.com/procurebot/procurebot"
)

// VirtualClock is the procurebot.Clock of a backtest: time moves only when
// the simulator moves it (Set) or something sleeps on it, so the same
// agent code that waits for the next hour live runs through a month of
// history in a second.
type VirtualClock struct {
	mu  sync.Mutex
	now time.Time
}

var _ procurebot.Clock = (*VirtualClock)(nil)

// NewVirtualClock returns a clock reading t.
func NewVirtualClock(t time.Time) *VirtualClock { return &VirtualClock{now: t.UTC()} }

// Now implements procurebot.Clock.
func (c *VirtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep implements procurebot.Clock: it advances the clock by d at once,
// unless ctx is already done.
func (c *VirtualClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return nil
}

// Set moves the clock to t; it never moves backwards.
func (c *VirtualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t.UTC()
	}
}

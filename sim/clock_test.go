package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/procurebot/procurebot/sim"
)

func TestVirtualClock(t *testing.T) {
	t0 := time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)
	c := sim.NewVirtualClock(t0)
	if !c.Now().Equal(t0) {
		t.Fatalf("Now = %v", c.Now())
	}
	if err := c.Sleep(context.Background(), 90*time.Minute); err != nil || !c.Now().Equal(t0.Add(90*time.Minute)) {
		t.Fatalf("after Sleep: %v, %v", c.Now(), err)
	}
	c.Set(t0) // never backwards
	if !c.Now().Equal(t0.Add(90 * time.Minute)) {
		t.Fatalf("Set moved the clock back to %v", c.Now())
	}
	c.Set(t0.Add(3 * time.Hour))
	if !c.Now().Equal(t0.Add(3 * time.Hour)) {
		t.Fatalf("Set: %v", c.Now())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err == nil || !c.Now().Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("Sleep on a done context: %v, now %v", err, c.Now())
	}
}

package sim

import (
	"time"

	"github.com/procurebot/procurebot"
)

// view is the procurebot.View a strategy gets at one step: it enforces the
// visibility rules of DESIGN §7.6.
type view struct {
	r *run
	k int
}

var _ procurebot.View = (*view)(nil)

func (v *view) Scenario() *procurebot.Scenario { return v.r.sc }
func (v *view) Step() int                      { return v.k }
func (v *view) Now() time.Time                 { return v.r.clock.Now() }

func (v *view) PowerVisibleUntil(s int) time.Time {
	return v.r.m.visibleUntil(s, v.Now())
}

func (v *view) Power(s int, t time.Time) (Money, error) {
	if s < 0 || s >= len(v.r.sc.Sites) {
		return Money{}, procurebot.Errorf(procurebot.EINTERNAL, "power: no site %d", s)
	}
	if !t.Before(v.PowerVisibleUntil(s)) {
		return Money{}, procurebot.Errorf(procurebot.ENOTVISIBLE,
			"power of site %s at %s is not visible at %s (%s)", v.r.sc.Sites[s].Name,
			t.UTC().Format(time.RFC3339), v.Now().Format(time.RFC3339), v.r.sc.Sites[s].PowerVisibility)
	}
	return v.r.ds.Power[v.r.sc.Sites[s].PowerMarket].At(t)
}

func (v *view) Snapshots() []procurebot.Snapshot {
	n := v.r.m.bookIdx[v.k] + 1
	return v.r.ds.GPU[:n:n]
}

func (v *view) TokenSnapshots() []procurebot.TokenSnapshot {
	n := v.r.m.tokIdx[v.k] + 1
	return v.r.ds.Tokens[:n:n]
}

func (v *view) Book(t time.Time) ([]procurebot.Offer, error) {
	if t.After(v.Now()) {
		return nil, procurebot.Errorf(procurebot.ENOTVISIBLE, "book at %s is not visible at %s",
			t.UTC().Format(time.RFC3339), v.Now().Format(time.RFC3339))
	}
	return v.r.ds.Book(t), nil
}

func (v *view) Delivered(j int) Money { return v.r.jobs[j].delivered }

func (v *view) Previous() procurebot.Decision { return v.r.prev }

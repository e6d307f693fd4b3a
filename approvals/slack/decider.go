package slack

import (
	"context"
	"time"

	"github.com/procurebot/procurebot"
)

// ApprovalDecisions is the part of store.ApprovalStore a StoreDecider
// uses.
type ApprovalDecisions interface {
	// DecideApproval moves pending approval id to state at time at, by by,
	// as a compare-and-set: if it is no longer pending it changes nothing
	// and returns the stored approval with ECONFLICT; ENOTFOUND if there
	// is no such approval (store.ApprovalStore.DecideApproval).
	DecideApproval(ctx context.Context, id string, state procurebot.ApprovalState, by string, at time.Time) (*procurebot.Approval, error)
}

// StoreDecider is a Decider that records answers in an approval store,
// whose compare-and-set makes the second of two answers an ECONFLICT.
type StoreDecider struct {
	Store ApprovalDecisions
	Clock procurebot.Clock // default the wall clock
	// Decided, if set, is called with each approval the store moved (not
	// on ECONFLICT), e.g. to queue Notifier.Resolve off the request path.
	Decided func(procurebot.Approval)
}

// Decide records approve or reject for id by by, at the clock's time.
func (s StoreDecider) Decide(ctx context.Context, id string, approve bool, by string) (*procurebot.Approval, error) {
	state := procurebot.ApprovalRejected
	if approve {
		state = procurebot.ApprovalApproved
	}
	var clock procurebot.Clock = procurebot.WallClock{}
	if s.Clock != nil {
		clock = s.Clock
	}
	a, err := s.Store.DecideApproval(ctx, id, state, by, clock.Now())
	if err == nil && a != nil && s.Decided != nil {
		s.Decided(*a)
	}
	return a, err
}

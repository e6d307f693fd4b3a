package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/procurebot/procurebot"
)

// calls returns one call of every method, each touching names of its own
// (suffix tells them apart), for the canceled and outage tests.
func calls(s Store, suffix string, at time.Time) []struct {
	name string
	call func(ctx context.Context) error
} {
	caps := []procurebot.SpendCap{capOf(total(), procurebot.WindowDay, "1000"), capOf(provider("p"+suffix), procurebot.WindowHour, "1000")}
	lease := procurebot.Lease{Name: "lease" + suffix, Holder: "h", Token: 1}
	return []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Append", func(ctx context.Context) error {
			return s.Append(ctx, &procurebot.LedgerEntry{Time: at, Kind: procurebot.KindPayment, AmountUSD: usd("1"),
				IntentID: "pay" + suffix, TxHash: "0x01"})
		}},
		{"List", func(ctx context.Context) error { _, err := s.List(ctx, procurebot.LedgerFilter{}); return err }},
		{"Reserve", func(ctx context.Context) error { return s.Reserve(ctx, at, usd("1"), caps) }},
		{"Release", func(ctx context.Context) error { return s.Release(ctx, at, usd("1"), caps) }},
		{"Spent", func(ctx context.Context) error { _, err := s.Spent(ctx, at, total(), procurebot.WindowDay); return err }},
		{"CreateIntent", func(ctx context.Context) error { _, _, err := s.CreateIntent(ctx, intent("i"+suffix, at)); return err }},
		{"GetIntent", func(ctx context.Context) error { _, err := s.GetIntent(ctx, "i"+suffix); return err }},
		{"UpdateIntent", func(ctx context.Context) error {
			return s.UpdateIntent(ctx, signed(intent("i"+suffix, at), 1), procurebot.IntentPending)
		}},
		{"ListIntents", func(ctx context.Context) error { _, err := s.ListIntents(ctx, procurebot.IntentPending); return err }},
		{"AcquireLease", func(ctx context.Context) error {
			_, err := s.AcquireLease(ctx, lease.Name, lease.Holder, time.Minute, at)
			return err
		}},
		{"RenewLease", func(ctx context.Context) error { _, err := s.RenewLease(ctx, lease, time.Minute, at); return err }},
		{"ReleaseLease", func(ctx context.Context) error { return s.ReleaseLease(ctx, lease) }},
		{"PutQuote", func(ctx context.Context) error { return s.PutQuote(ctx, "q"+suffix, []byte("v"), time.Hour, at) }},
		{"GetQuote", func(ctx context.Context) error { _, _, err := s.GetQuote(ctx, "q"+suffix, at); return err }},
		{"CreateApproval", func(ctx context.Context) error {
			_, _, err := s.CreateApproval(ctx, approval("a"+suffix, at))
			return err
		}},
		{"GetApproval", func(ctx context.Context) error { _, err := s.GetApproval(ctx, "a"+suffix); return err }},
		{"SetApprovalMessage", func(ctx context.Context) error { return s.SetApprovalMessage(ctx, "a"+suffix, "C1", "1.1") }},
		{"DecideApproval", func(ctx context.Context) error {
			_, err := s.DecideApproval(ctx, "a"+suffix, procurebot.ApprovalApproved, "U1", at)
			return err
		}},
		{"ListApprovals", func(ctx context.Context) error {
			_, err := s.ListApprovals(ctx, procurebot.ApprovalPending)
			return err
		}},
		{"PutState", func(ctx context.Context) error { return s.PutState(ctx, "s"+suffix, []byte("v")) }},
		{"GetState", func(ctx context.Context) error { _, _, err := s.GetState(ctx, "s"+suffix); return err }},
	}
}

// wantNothingFrom fails the test if any write of calls(s, suffix, at) is
// visible in s.
func wantNothingFrom(t testing.TB, s Store, suffix string, at time.Time) {
	t.Helper()
	ctx := ctxT(t)
	list, err := s.List(ctx, procurebot.LedgerFilter{Kinds: []procurebot.EntryKind{procurebot.KindPayment}})
	must(t, "list", err)
	for _, e := range list {
		if e.IntentID == "pay"+suffix {
			t.Errorf("ledger holds %+v", e)
		}
	}
	wantSpent(t, s, "provider counter", at, provider("p"+suffix), procurebot.WindowHour, "0")
	_, err = s.GetIntent(ctx, "i"+suffix)
	wantCode(t, "intent", err, procurebot.ENOTFOUND)
	l, err := s.AcquireLease(ctx, "lease"+suffix, "other", time.Minute, at)
	if err != nil || l.Token != 1 {
		t.Errorf("lease was taken: %+v, %v", l, err)
	}
	wantQuote(t, s, "quote", "q"+suffix, at, nil)
	_, err = s.GetApproval(ctx, "a"+suffix)
	wantCode(t, "approval", err, procurebot.ENOTFOUND)
	wantState(t, s, "state", "s"+suffix, nil)
}

func testCanceled(t *testing.T, open Opener) {
	s := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	now := time.Now().UTC()
	for _, c := range calls(s, "-canceled", now) {
		if err := c.call(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: %v, want context.Canceled", c.name, err)
		}
	}
	wantNothingFrom(t, s, "-canceled", now)
}

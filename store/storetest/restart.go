package storetest

import (
	"testing"
	"time"

	"github.com/procurebot/procurebot"
)

// state is what a store was told and acknowledged, to compare with what
// it holds later.
type state struct {
	entries []procurebot.LedgerEntry
	intent  *procurebot.PaymentIntent
	lease   procurebot.Lease
	now     time.Time // the quote's put time
	// approval is pending with its message; checkpoint is under the
	// state key "checkpoint".
	approval   *procurebot.Approval
	checkpoint []byte
}

// fill writes one of everything into s and returns what was acknowledged.
func fill(t testing.TB, s Store) state {
	t.Helper()
	ctx, b := ctxT(t), base()
	var st state
	for i, e := range []*procurebot.LedgerEntry{
		entry(procurebot.KindReservation, b, "40"),
		entry(procurebot.KindPayment, b.Add(time.Minute), "40"),
		entry(procurebot.KindRental, b.Add(-time.Hour), "3.25"),
	} {
		must(t, "append", s.Append(ctx, e))
		if i == 2 { // earliest time: listed first
			st.entries = append([]procurebot.LedgerEntry{*e}, st.entries...)
		} else {
			st.entries = append(st.entries, *e)
		}
	}
	caps := []procurebot.SpendCap{capOf(total(), procurebot.WindowDay, "100"), capOf(provider("runpod"), procurebot.WindowHour, "50")}
	must(t, "reserve", s.Reserve(ctx, b, usd("40"), caps))
	p := intent("restart", b)
	_, _, err := s.CreateIntent(ctx, p)
	must(t, "create intent", err)
	st.intent = signed(p, 3)
	must(t, "sign intent", s.UpdateIntent(ctx, st.intent, procurebot.IntentPending))
	st.lease, err = s.AcquireLease(ctx, "leader", "replica-1", time.Minute, b)
	must(t, "acquire", err)
	st.now = time.Now().UTC()
	must(t, "put quote", s.PutQuote(ctx, "runpod/h100", []byte("2.49"), time.Hour, st.now))
	_, _, err = s.CreateApproval(ctx, approval("restart", b))
	must(t, "create approval", err)
	must(t, "set approval message", s.SetApprovalMessage(ctx, "restart", "C1", "1727785800.000100"))
	st.approval = withMessage(approval("restart", b), "C1", "1727785800.000100")
	st.checkpoint = []byte(`{"done":"2024-10-01T12:00:00Z"}`)
	must(t, "put state", s.PutState(ctx, "checkpoint", st.checkpoint))
	return st
}

// check fails the test unless s holds exactly st.
func (st state) check(t testing.TB, s Store, what string) {
	t.Helper()
	got, err := s.List(ctxT(t), procurebot.LedgerFilter{})
	must(t, what+": list", err)
	checkEntries(t, what+": ledger", got, st.entries)
	st.checkButLedger(t, s, what)
}

// checkButLedger fails the test unless s holds st's counters, intent,
// lease, quote, approval and state.
func (st state) checkButLedger(t testing.TB, s Store, what string) {
	t.Helper()
	ctx, b := ctxT(t), base()
	wantSpent(t, s, what, b, total(), procurebot.WindowDay, "40")
	wantSpent(t, s, what, b, provider("runpod"), procurebot.WindowHour, "40")
	wantIntent(t, s, what, st.intent)
	_, err := s.AcquireLease(ctx, "leader", "replica-2", time.Minute, b.Add(30*time.Second))
	wantCode(t, what+": lease still held", err, procurebot.ECONFLICT)
	wantQuote(t, s, what, "runpod/h100", st.now, []byte("2.49"))
	wantApproval(t, s, what, st.approval)
	wantApprovals(t, s, what, nil, st.approval.ID)
	wantState(t, s, what, "checkpoint", st.checkpoint)
}

func testRestart(t *testing.T, open Opener, reopen func(testing.TB, Store) Store) {
	s := open(t)
	st := fill(t, s)
	s = reopen(t, s)
	st.check(t, s, "after restart")
	ctx, b := ctxT(t), base()

	// The sequence continues.
	maxSeq := uint64(0)
	for _, e := range st.entries {
		maxSeq = max(maxSeq, e.Seq)
	}
	e := entry(procurebot.KindEnergy, b.Add(-2*time.Hour), "1")
	must(t, "append after restart", s.Append(ctx, e))
	if e.Seq <= maxSeq {
		t.Errorf("seq %d after restart, want above %d", e.Seq, maxSeq)
	}
	// A payment for the same intent is still refused.
	dup := st.entries[2]
	dup.Seq = 0
	wantCode(t, "same intent after restart", s.Append(ctx, &dup), procurebot.ECONFLICT)
	// The cap still counts what was reserved before.
	err := s.Reserve(ctx, b, usd("10.000001"), []procurebot.SpendCap{capOf(provider("runpod"), procurebot.WindowHour, "50")})
	wantCode(t, "cap after restart", err, procurebot.ECAP)
	// The intent moves on from where it was.
	must(t, "send after restart", s.UpdateIntent(ctx, moved(st.intent, procurebot.IntentSent), procurebot.IntentSigned))
	// The pending approval is answered once.
	_, err = s.DecideApproval(ctx, st.approval.ID, procurebot.ApprovalApproved, "U1", b.Add(time.Minute))
	must(t, "approve after restart", err)
	_, err = s.DecideApproval(ctx, st.approval.ID, procurebot.ApprovalRejected, "U2", b.Add(2*time.Minute))
	wantCode(t, "answer again after restart", err, procurebot.ECONFLICT)

	// The holder renews with its token; fencing tokens keep growing.
	l, err := s.RenewLease(ctx, st.lease, time.Minute, b.Add(30*time.Second))
	must(t, "renew after restart", err)
	if l.Token != st.lease.Token {
		t.Errorf("renewed token %d, want %d", l.Token, st.lease.Token)
	}
	l2, err := s.AcquireLease(ctx, "leader", "replica-2", time.Minute, b.Add(2*time.Minute))
	must(t, "take over after expiry", err)
	if l2.Token <= l.Token {
		t.Errorf("token %d after %d", l2.Token, l.Token)
	}
	must(t, "release", s.ReleaseLease(ctx, l2))
	s = reopen(t, s)
	l3, err := s.AcquireLease(ctx, "leader", "replica-3", time.Minute, b.Add(3*time.Minute))
	must(t, "acquire after release and restart", err)
	if l3.Token <= l2.Token {
		t.Errorf("token %d after release and restart, want above %d", l3.Token, l2.Token)
	}
	e2 := entry(procurebot.KindEnergy, b, "1")
	must(t, "append after second restart", s.Append(ctx, e2))
	if e2.Seq <= e.Seq {
		t.Errorf("seq %d after second restart, want above %d", e2.Seq, e.Seq)
	}
	wantApproval(t, s, "after second restart", decided(st.approval, procurebot.ApprovalApproved, "U1", b.Add(time.Minute)))
	wantApprovals(t, s, "pending after second restart", pending())
}

func testIsolation(t *testing.T, open Opener) {
	a, other := open(t), open(t)
	fill(t, a)
	ctx, b := ctxT(t), base()
	got, err := other.List(ctx, procurebot.LedgerFilter{})
	must(t, "list", err)
	if len(got) != 0 {
		t.Errorf("other store lists %d entries", len(got))
	}
	wantSpent(t, other, "other store", b, total(), procurebot.WindowDay, "0")
	_, err = other.GetIntent(ctx, "restart")
	wantCode(t, "other store's intent", err, procurebot.ENOTFOUND)
	_, created, err := other.CreateIntent(ctx, intent("restart", b))
	must(t, "create in other store", err)
	if !created {
		t.Error("other store: intent not created")
	}
	l, err := other.AcquireLease(ctx, "leader", "replica-2", time.Minute, b)
	must(t, "lease in other store", err)
	if l.Token != 1 {
		t.Errorf("other store's token %d, want 1", l.Token)
	}
	wantQuote(t, other, "other store", "runpod/h100", time.Now(), nil)
	_, err = other.GetApproval(ctx, "restart")
	wantCode(t, "other store's approval", err, procurebot.ENOTFOUND)
	wantApprovals(t, other, "other store", nil)
	wantState(t, other, "other store", "checkpoint", nil)
	_, created, err = other.CreateApproval(ctx, approval("restart", b.Add(time.Hour)))
	must(t, "create approval in other store", err)
	if !created {
		t.Error("other store: approval not created")
	}
	must(t, "put state in other store", other.PutState(ctx, "checkpoint", []byte("other")))
	wantState(t, a, "first store", "checkpoint", []byte(`{"done":"2024-10-01T12:00:00Z"}`))
	wantApproval(t, a, "first store", withMessage(approval("restart", b), "C1", "1727785800.000100"))
	// Same payment intent in the other ledger is fine.
	pay := entry(procurebot.KindPayment, b.Add(time.Minute), "40")
	must(t, "same payment in other store", other.Append(ctx, pay))
	if pay.Seq != 1 {
		t.Errorf("other store's first seq %d, want 1", pay.Seq)
	}
}

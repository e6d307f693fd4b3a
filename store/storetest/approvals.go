package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/procurebot/procurebot"
)

// cest returns a zone other than UTC, to check that times come back in
// UTC.
func cest() *time.Location { return time.FixedZone("CEST", 2*60*60) }

// approval returns a valid pending approval of a rental requested at
// requested, expiring 15 minutes later.
func approval(id string, requested time.Time) *procurebot.Approval {
	return &procurebot.Approval{
		ID: id, State: procurebot.ApprovalPending, Requested: requested, Expires: requested.Add(15 * time.Minute),
		Action: procurebot.Action{
			ID: id, Kind: procurebot.ActRent, Step: requested.Truncate(time.Hour), Hours: usd("1"), Venue: "runpod",
			Job: "train-a", Site: "fra-1", GPU: "H100", GPUs: usd("8"), USDPerGPUHour: usd("2.4900001"),
			AmountUSD: usd("19.9200008"), CheapestUSDPerGPUHour: usd("2.19"),
			Recipient: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", Token: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
		},
	}
}

// decided returns a copy of p answered with state by by at at.
func decided(p *procurebot.Approval, state procurebot.ApprovalState, by string, at time.Time) *procurebot.Approval {
	q := *p
	q.State, q.By, q.Decided = state, by, at
	return &q
}

// withMessage returns a copy of p asked in the chat message channel/ts.
func withMessage(p *procurebot.Approval, channel, ts string) *procurebot.Approval {
	q := *p
	q.Channel, q.MessageTS = channel, ts
	return &q
}

// sameApproval reports how got differs from want ("" if not at all): every
// field, money by value, times by instant and in UTC.
func sameApproval(got, want *procurebot.Approval) string {
	if got == nil {
		return "nil approval"
	}
	g, w := got.Action, want.Action
	switch {
	case got.ID != want.ID || got.State != want.State || got.By != want.By || got.Channel != want.Channel ||
		got.MessageTS != want.MessageTS:
		return fmt.Sprintf("%+v, want %+v", got, want)
	case g.ID != w.ID || g.Kind != w.Kind || g.Venue != w.Venue || g.Job != w.Job || g.Site != w.Site ||
		g.GPU != w.GPU || g.Recipient != w.Recipient || g.Token != w.Token:
		return fmt.Sprintf("action %+v, want %+v", g, w)
	}
	for _, m := range []struct {
		name      string
		got, want procurebot.Money
	}{
		{"hours", g.Hours, w.Hours}, {"gpus", g.GPUs, w.GPUs}, {"usd_per_gpu_hour", g.USDPerGPUHour, w.USDPerGPUHour},
		{"amount_usd", g.AmountUSD, w.AmountUSD}, {"cheapest_usd_per_gpu_hour", g.CheapestUSDPerGPUHour, w.CheapestUSDPerGPUHour},
	} {
		if !m.got.Equal(m.want) {
			return fmt.Sprintf("action %s %s, want %s", m.name, m.got, m.want)
		}
	}
	for _, tm := range []struct {
		name      string
		got, want time.Time
	}{
		{"step", g.Step, w.Step}, {"requested", got.Requested, want.Requested}, {"expires", got.Expires, want.Expires},
		{"decided", got.Decided, want.Decided},
	} {
		if !tm.got.Equal(tm.want) {
			return fmt.Sprintf("%s %s, want %s", tm.name, tm.got, tm.want)
		}
		if tm.got.Location() != time.UTC {
			return fmt.Sprintf("%s %s is not in UTC", tm.name, tm.got)
		}
	}
	return ""
}

// wantApproval fails the test unless the stored approval equals want.
func wantApproval(t testing.TB, s Store, what string, want *procurebot.Approval) {
	t.Helper()
	got, err := s.GetApproval(ctxT(t), want.ID)
	if err != nil {
		t.Errorf("%s: get approval %s: %v", what, want.ID, err)
		return
	}
	if d := sameApproval(got, want); d != "" {
		t.Errorf("%s: %s", what, d)
	}
}

// wantApprovals fails the test unless ListApprovals(states) lists exactly
// the approvals ids, in order.
func wantApprovals(t testing.TB, s Store, what string, states []procurebot.ApprovalState, ids ...string) {
	t.Helper()
	list, err := s.ListApprovals(ctxT(t), states...)
	if err != nil {
		t.Errorf("%s: list approvals %v: %v", what, states, err)
		return
	}
	got := make([]string, len(list))
	for i, p := range list {
		got[i] = p.ID
	}
	if !slices.Equal(got, ids) {
		t.Errorf("%s: approvals %v: %v, want %v", what, states, got, ids)
	}
}

// pending returns the state list of the pending approvals.
func pending() []procurebot.ApprovalState {
	return []procurebot.ApprovalState{procurebot.ApprovalPending}
}

func testApprovals(t *testing.T, open Opener, reopen func(testing.TB, Store) Store) {
	b := base().Add(123456789 * time.Nanosecond)

	t.Run("CreateIsIdempotent", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		p := approval("a-1", b)
		got, created, err := s.CreateApproval(ctx, p)
		must(t, "create", err)
		if !created {
			t.Error("first create: created=false")
		}
		if d := sameApproval(got, p); d != "" {
			t.Errorf("first create returned %s", d)
		}
		wantApproval(t, s, "stored", p)

		other := approval("a-1", b.Add(time.Hour))
		other.Action.Venue, other.Action.AmountUSD = "lambda", usd("1")
		got, created, err = s.CreateApproval(ctx, other)
		must(t, "second create", err)
		if created {
			t.Error("second create: created=true")
		}
		if d := sameApproval(got, p); d != "" {
			t.Errorf("second create returned %s, want the first approval", d)
		}
		wantApproval(t, s, "unchanged", p)
		wantApprovals(t, s, "one stored", nil, "a-1")
	})

	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		// Not in UTC, with nanoseconds; money beyond float64 and int64.
		p := approval("exact", time.Date(2024, 10, 1, 14, 30, 0, 987654321, cest()))
		p.Action.Step = time.Date(2024, 10, 1, 14, 0, 0, 1, cest())
		p.Action.AmountUSD = usd("123456789012345678901234.000000000000000001")
		p.Action.USDPerGPUHour = usd("0.000000000000000000000007")
		p.Action.Hours, p.Action.GPUs = usd("0.25"), usd("1.5")
		p.Action.CheapestUSDPerGPUHour = usd("0") // no alternative
		p.Action.Job, p.Action.Site, p.Action.Recipient, p.Action.Token = "", "", "", ""
		p = withMessage(p, "C0123ABCD", "1727785800.000100")
		got, _, err := s.CreateApproval(ctx, p)
		must(t, "create", err)
		if d := sameApproval(got, p); d != "" {
			t.Errorf("create returned %s", d)
		}
		wantApproval(t, s, "get", p)
		list, err := s.ListApprovals(ctx)
		must(t, "list", err)
		if len(list) != 1 {
			t.Fatalf("%d approvals listed, want 1", len(list))
		}
		if d := sameApproval(&list[0], p); d != "" {
			t.Errorf("listed %s", d)
		}
		at := time.Date(2024, 10, 1, 14, 31, 2, 3, cest())
		got, err = s.DecideApproval(ctx, "exact", procurebot.ApprovalApproved, "U024BE7LH", at)
		must(t, "decide", err)
		want := decided(p, procurebot.ApprovalApproved, "U024BE7LH", at)
		if d := sameApproval(got, want); d != "" {
			t.Errorf("decide returned %s", d)
		}
		wantApproval(t, s, "decided", want)
	})

	t.Run("CreateRefusesInvalid", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		bad := func(f func(p *procurebot.Approval)) *procurebot.Approval {
			p := approval("bad", b)
			f(p)
			return p
		}
		for _, c := range []struct {
			name string
			p    *procurebot.Approval
		}{
			{"nil", nil},
			{"no id", bad(func(p *procurebot.Approval) { p.ID, p.Action.ID = "", "" })},
			{"id not the action's", bad(func(p *procurebot.Approval) { p.Action.ID = "other" })},
			{"invalid action", bad(func(p *procurebot.Approval) { p.Action.Venue = "" })},
			{"negative amount", bad(func(p *procurebot.Approval) { p.Action.AmountUSD = usd("-1") })},
			{"unknown state", bad(func(p *procurebot.Approval) { p.State = "maybe" })},
			{"no request time", bad(func(p *procurebot.Approval) { p.Requested = time.Time{} })},
			{"expires at the request", bad(func(p *procurebot.Approval) { p.Expires = p.Requested })},
			{"approved", bad(func(p *procurebot.Approval) { *p = *decided(p, procurebot.ApprovalApproved, "U1", b) })},
			{"expired", bad(func(p *procurebot.Approval) { *p = *decided(p, procurebot.ApprovalExpired, "expiry", p.Expires) })},
			{"rejected without a time", bad(func(p *procurebot.Approval) { p.State = procurebot.ApprovalRejected })},
		} {
			got, created, err := s.CreateApproval(ctx, c.p)
			wantCode(t, c.name, err, procurebot.EINVALID)
			if created || got != nil {
				t.Errorf("%s: created=%v, returned %+v", c.name, created, got)
			}
		}
		_, err := s.GetApproval(ctx, "bad")
		wantCode(t, "get refused", err, procurebot.ENOTFOUND)
		wantMention(t, "get refused", err, "bad")
		wantApprovals(t, s, "nothing stored", nil)
	})

	t.Run("Lifecycle", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		p := approval("life", b)
		_, _, err := s.CreateApproval(ctx, p)
		must(t, "create", err)
		must(t, "set message", s.SetApprovalMessage(ctx, "life", "C0123", "1727785800.000100"))
		asked := withMessage(p, "C0123", "1727785800.000100")
		wantApproval(t, s, "asked", asked)

		at := b.Add(90 * time.Second)
		got, err := s.DecideApproval(ctx, "life", procurebot.ApprovalApproved, "U123", at)
		must(t, "approve", err)
		want := decided(asked, procurebot.ApprovalApproved, "U123", at)
		if d := sameApproval(got, want); d != "" {
			t.Errorf("approve returned %s", d)
		}
		wantApproval(t, s, "approved", want)

		// Later answers have no effect and get the stored answer back.
		for _, c := range []struct {
			name  string
			state procurebot.ApprovalState
			by    string
			at    time.Time
		}{
			{"replayed callback", procurebot.ApprovalApproved, "U123", at.Add(time.Second)},
			{"second click", procurebot.ApprovalRejected, "U456", at.Add(2 * time.Second)},
			{"cli", procurebot.ApprovalRejected, "cli:ops", at.Add(3 * time.Second)},
			{"expired after approved", procurebot.ApprovalExpired, "expiry", p.Expires},
		} {
			got, err := s.DecideApproval(ctx, "life", c.state, c.by, c.at)
			wantCode(t, c.name, err, procurebot.ECONFLICT)
			wantMention(t, c.name, err, "life", "approved")
			if d := sameApproval(got, want); d != "" {
				t.Errorf("%s returned %s, want the stored approval", c.name, d)
			}
		}
		wantApproval(t, s, "still approved", want)

		// The message may change after the answer; the answer stays.
		must(t, "update message", s.SetApprovalMessage(ctx, "life", "C0123", "1727785899.000200"))
		want = withMessage(want, "C0123", "1727785899.000200")
		wantApproval(t, s, "message updated", want)

		// Creating it again returns the answered approval.
		got, created, err := s.CreateApproval(ctx, approval("life", b))
		must(t, "create again", err)
		if created {
			t.Error("create again: created=true")
		}
		if d := sameApproval(got, want); d != "" {
			t.Errorf("create again returned %s", d)
		}

		// Rejected and expired are final too.
		for _, st := range []procurebot.ApprovalState{procurebot.ApprovalRejected, procurebot.ApprovalExpired} {
			id := "life-" + string(st)
			q := approval(id, b)
			_, _, err := s.CreateApproval(ctx, q)
			must(t, "create "+id, err)
			_, err = s.DecideApproval(ctx, id, st, "cli:ops", q.Expires)
			must(t, string(st), err)
			got, err := s.DecideApproval(ctx, id, procurebot.ApprovalApproved, "U123", q.Expires.Add(time.Second))
			wantCode(t, "approve after "+string(st), err, procurebot.ECONFLICT)
			if d := sameApproval(got, decided(q, st, "cli:ops", q.Expires)); d != "" {
				t.Errorf("approve after %s returned %s", st, d)
			}
		}
		wantApprovals(t, s, "pending", pending())
	})

	t.Run("RefusesInvalidAndMissing", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		p := approval("p", b)
		_, _, err := s.CreateApproval(ctx, p)
		must(t, "create", err)
		for _, c := range []struct {
			name  string
			state procurebot.ApprovalState
			at    time.Time
		}{
			{"to pending", procurebot.ApprovalPending, b},
			{"no state", "", b},
			{"unknown state", "maybe", b},
			{"no time", procurebot.ApprovalApproved, time.Time{}},
		} {
			got, err := s.DecideApproval(ctx, "p", c.state, "U1", c.at)
			wantCode(t, c.name, err, procurebot.EINVALID)
			if got != nil {
				t.Errorf("%s: returned %+v", c.name, got)
			}
		}
		wantApproval(t, s, "still pending", p)

		_, err = s.GetApproval(ctx, "ghost")
		wantCode(t, "get missing", err, procurebot.ENOTFOUND)
		wantMention(t, "get missing", err, "ghost")
		_, err = s.GetApproval(ctx, "")
		wantCode(t, "get empty id", err, procurebot.ENOTFOUND)
		got, err := s.DecideApproval(ctx, "ghost", procurebot.ApprovalApproved, "U1", b)
		wantCode(t, "decide missing", err, procurebot.ENOTFOUND)
		wantMention(t, "decide missing", err, "ghost")
		if got != nil {
			t.Errorf("decide missing returned %+v", got)
		}
		err = s.SetApprovalMessage(ctx, "ghost", "C1", "1.2")
		wantCode(t, "set message of missing", err, procurebot.ENOTFOUND)
		wantMention(t, "set message of missing", err, "ghost")
		_, err = s.GetApproval(ctx, "ghost")
		wantCode(t, "not created by set message", err, procurebot.ENOTFOUND)
		_, err = s.ListApprovals(ctx, "lost")
		wantCode(t, "list unknown state", err, procurebot.EINVALID)
		wantApprovals(t, s, "only p", nil, "p")
	})

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		// ID order is not time order; c and d share a Requested instant
		// (d's given in another zone), so ID decides between them.
		at := map[string]time.Time{"z": b, "m": b.Add(time.Minute), "c": b.Add(2 * time.Minute),
			"d": b.Add(2 * time.Minute).In(cest()), "a": b.Add(3 * time.Minute)}
		for _, id := range []string{"a", "c", "z", "d", "m"} {
			_, _, err := s.CreateApproval(ctx, approval(id, at[id]))
			must(t, "create "+id, err)
		}
		for id, st := range map[string]procurebot.ApprovalState{"m": procurebot.ApprovalApproved,
			"c": procurebot.ApprovalRejected, "a": procurebot.ApprovalExpired} {
			_, err := s.DecideApproval(ctx, id, st, "cli:ops", at[id].Add(time.Minute))
			must(t, "decide "+id, err)
		}
		for _, c := range []struct {
			name   string
			states []procurebot.ApprovalState
			ids    []string
		}{
			{"all", nil, []string{"z", "m", "c", "d", "a"}},
			{"pending", pending(), []string{"z", "d"}},
			{"answered", []procurebot.ApprovalState{procurebot.ApprovalExpired, procurebot.ApprovalRejected, procurebot.ApprovalApproved}, []string{"m", "c", "a"}},
			{"pending or approved", []procurebot.ApprovalState{procurebot.ApprovalApproved, procurebot.ApprovalPending}, []string{"z", "m", "d"}},
			{"repeated state", []procurebot.ApprovalState{procurebot.ApprovalRejected, procurebot.ApprovalRejected}, []string{"c"}},
		} {
			wantApprovals(t, s, c.name, c.states, c.ids...)
		}
		list, err := s.ListApprovals(ctx, procurebot.ApprovalApproved)
		must(t, "approved", err)
		if len(list) == 1 {
			if d := sameApproval(&list[0], decided(approval("m", at["m"]), procurebot.ApprovalApproved, "cli:ops", at["m"].Add(time.Minute))); d != "" {
				t.Errorf("listed approval: %s", d)
			}
		}
	})

	t.Run("CreateOnce", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		var mu sync.Mutex
		created := 0
		venues := map[string]int{}
		race(func(i int) {
			p := approval("same", b)
			p.Action.Venue = fmt.Sprint("venue-", i)
			got, c, err := s.CreateApproval(ctx, p)
			if err != nil {
				t.Errorf("create: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if c {
				created++
			}
			venues[got.Action.Venue]++
		})
		if created != 1 || len(venues) != 1 {
			t.Errorf("%d creates won, callers saw %v; want 1 winner that all %d see", created, venues, racers)
		}
		wantApprovals(t, s, "stored", nil, "same")
	})

	t.Run("DecideOnce", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		p := approval("race", b)
		_, _, err := s.CreateApproval(ctx, p)
		must(t, "create", err)
		// Half approve, half reject, each as someone else at another time.
		answer := func(i int) (procurebot.ApprovalState, string, time.Time) {
			st := procurebot.ApprovalApproved
			if i%2 == 1 {
				st = procurebot.ApprovalRejected
			}
			return st, fmt.Sprint("U", i), b.Add(time.Duration(i+1) * time.Second)
		}
		var mu sync.Mutex
		var winners []int
		var losers []*procurebot.Approval
		race(func(i int) {
			st, by, at := answer(i)
			got, err := s.DecideApproval(ctx, "race", st, by, at)
			mu.Lock()
			defer mu.Unlock()
			switch procurebot.ErrorCode(err) {
			case "":
				winners = append(winners, i)
				if d := sameApproval(got, decided(p, st, by, at)); d != "" {
					t.Errorf("winner %d got %s", i, d)
				}
			case procurebot.ECONFLICT:
				losers = append(losers, got)
			default:
				t.Errorf("decide: %v", err)
			}
		})
		if len(winners) != 1 {
			t.Fatalf("%d answers had effect (%v), want exactly 1", len(winners), winners)
		}
		st, by, at := answer(winners[0])
		want := decided(p, st, by, at)
		wantApproval(t, s, "winner's", want)
		for _, got := range losers {
			if d := sameApproval(got, want); d != "" {
				t.Errorf("a loser was told %s", d)
			}
		}
		if len(losers) != racers-1 {
			t.Errorf("%d losers, want %d", len(losers), racers-1)
		}
		wantApprovals(t, s, "pending", pending())
		wantApprovals(t, s, "answered", []procurebot.ApprovalState{want.State}, "race")
	})

	t.Run("MessageAndDecisionRace", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		p := approval("both", b)
		_, _, err := s.CreateApproval(ctx, p)
		must(t, "create", err)
		var mu sync.Mutex
		var winners []string
		race(func(i int) {
			if i%4 != 0 {
				if err := s.SetApprovalMessage(ctx, "both", "C1", fmt.Sprint("ts-", i)); err != nil {
					t.Errorf("set message: %v", err)
				}
				return
			}
			by := fmt.Sprint("U", i)
			_, err := s.DecideApproval(ctx, "both", procurebot.ApprovalApproved, by, b.Add(time.Minute))
			switch procurebot.ErrorCode(err) {
			case "":
				mu.Lock()
				winners = append(winners, by)
				mu.Unlock()
			case procurebot.ECONFLICT:
			default:
				t.Errorf("decide: %v", err)
			}
		})
		got, err := s.GetApproval(ctx, "both")
		must(t, "get", err)
		if len(winners) != 1 || got.State != procurebot.ApprovalApproved || got.By != winners[0] || !got.Decided.Equal(b.Add(time.Minute)) {
			t.Errorf("winners %v, stored %s by %q at %s; want one winner, stored", winners, got.State, got.By, got.Decided)
		}
		if got.Channel != "C1" || len(got.MessageTS) < len("ts-1") || got.MessageTS[:3] != "ts-" {
			t.Errorf("message %q/%q was lost to the decision", got.Channel, got.MessageTS)
		}
	})

	t.Run("Restart", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		keep := approval("keep", b)
		_, _, err := s.CreateApproval(ctx, keep)
		must(t, "create keep", err)
		must(t, "set message", s.SetApprovalMessage(ctx, "keep", "C1", "1.1"))
		keep = withMessage(keep, "C1", "1.1")
		done := approval("done", b.Add(time.Minute))
		_, _, err = s.CreateApproval(ctx, done)
		must(t, "create done", err)
		_, err = s.DecideApproval(ctx, "done", procurebot.ApprovalRejected, "cli:ops", b.Add(2*time.Minute))
		must(t, "reject done", err)
		done = decided(done, procurebot.ApprovalRejected, "cli:ops", b.Add(2*time.Minute))

		s = reopen(t, s)
		wantApproval(t, s, "pending after restart", keep)
		wantApproval(t, s, "rejected after restart", done)
		wantApprovals(t, s, "pending after restart", pending(), "keep")
		_, err = s.DecideApproval(ctx, "done", procurebot.ApprovalApproved, "U1", b.Add(3*time.Minute))
		wantCode(t, "decide again after restart", err, procurebot.ECONFLICT)
		_, err = s.DecideApproval(ctx, "keep", procurebot.ApprovalApproved, "U1", b.Add(3*time.Minute))
		must(t, "approve after restart", err)
		keep = decided(keep, procurebot.ApprovalApproved, "U1", b.Add(3*time.Minute))

		s = reopen(t, s)
		wantApproval(t, s, "approved after second restart", keep)
		wantApprovals(t, s, "pending after second restart", pending())
		wantApprovals(t, s, "all after second restart", nil, "keep", "done")
	})
}

package redis

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/store/internal/codec"
	"github.com/procurebot/procurebot/store/redis/redistest"
)

// TestKeysAndExpiry checks on a server of the test's own that every key is
// under the prefix and that spend counters expire a day after their
// bucket ends (total counters never).
func TestKeysAndExpiry(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartOwn(t)
	s, err := Open(ctx, srv.Options(), srv.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	now := time.Now().UTC()
	caps := []procurebot.SpendCap{
		{Key: procurebot.SpendKey{Scope: procurebot.ScopeProvider, Name: "runpod"}, Window: procurebot.WindowHour, LimitUSD: decimal.NewFromInt(10)},
		{Key: procurebot.SpendKey{Scope: procurebot.ScopeTotal}, Window: procurebot.WindowMonth, LimitUSD: decimal.NewFromInt(10)},
		{Key: procurebot.SpendKey{Scope: procurebot.ScopeTotal}, Window: procurebot.WindowTotal, LimitUSD: decimal.NewFromInt(10)},
	}
	// A replay in the past: its hour bucket ended long ago on the server's clock.
	past := time.Date(2024, 10, 1, 12, 30, 0, 0, time.UTC)
	for _, at := range []time.Time{now, past} {
		if err := s.Reserve(ctx, at, decimal.NewFromInt(1), caps); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		at      time.Time
		cap     procurebot.SpendCap
		wantTTL time.Duration // 0: none
	}{
		{now, caps[0], caps[0].Window.BucketEnd(now).Add(24 * time.Hour).Sub(now)},
		{now, caps[1], caps[1].Window.BucketEnd(now).Add(24 * time.Hour).Sub(now)},
		{now, caps[2], 0},
		{past, caps[0], 24*time.Hour + 30*time.Minute},
	} {
		id, err := codec.CounterID(c.cap.Key, c.cap.Window, c.at)
		if err != nil {
			t.Fatal(err)
		}
		ttl, err := s.rdb.PTTL(ctx, s.key("spend", id)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if c.wantTTL == 0 {
			if ttl != -1 {
				t.Errorf("%s: ttl %s, want none", id, ttl)
			}
			continue
		}
		if ttl > c.wantTTL || ttl < c.wantTTL-5*time.Second {
			t.Errorf("%s: ttl %s, want about %s", id, ttl, c.wantTTL)
		}
		if spent, err := s.Spent(ctx, c.at, c.cap.Key, c.cap.Window); err != nil || !spent.Equal(decimal.NewFromInt(1)) {
			t.Errorf("%s: spent %s, %v; want 1", id, spent, err)
		}
	}

	// A later reservation in the same bucket never shortens the expiry.
	id, _ := codec.CounterID(caps[0].Key, caps[0].Window, past)
	before, _ := s.rdb.PTTL(ctx, s.key("spend", id)).Result()
	if err := s.Reserve(ctx, past.Add(29*time.Minute), decimal.NewFromInt(1), caps[:1]); err != nil {
		t.Fatal(err)
	}
	if after, _ := s.rdb.PTTL(ctx, s.key("spend", id)).Result(); after < before-time.Second {
		t.Errorf("ttl shortened from %s to %s", before, after)
	}

	// Everything else, then check that every key is under the prefix.
	e := &procurebot.LedgerEntry{Time: now, Kind: procurebot.KindPayment, AmountUSD: decimal.NewFromInt(1), IntentID: "i", TxHash: "0x1"}
	if err := s.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(ctx, "leader", "a", time.Minute, now); err != nil {
		t.Fatal(err)
	}
	if err := s.PutQuote(ctx, "q", []byte("v"), time.Minute, now); err != nil {
		t.Fatal(err)
	}
	a := &procurebot.Approval{ID: "a", State: procurebot.ApprovalPending, Requested: now, Expires: now.Add(time.Minute),
		Action: procurebot.Action{ID: "a", Kind: procurebot.ActRent, Step: now, Venue: "runpod", AmountUSD: decimal.NewFromInt(1)}}
	if _, _, err := s.CreateApproval(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.SetApprovalMessage(ctx, "a", "C1", "1.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DecideApproval(ctx, "a", procurebot.ApprovalApproved, "U1", now); err != nil {
		t.Fatal(err)
	}
	if err := s.PutState(ctx, "checkpoint", []byte("v")); err != nil {
		t.Fatal(err)
	}
	keys, err := s.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 14 {
		t.Errorf("only %d keys: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, srv.Prefix+":") {
			t.Errorf("key %q is not under the prefix %q", k, srv.Prefix)
		}
	}
}

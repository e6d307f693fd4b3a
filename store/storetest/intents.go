package storetest

import (
	"bytes"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/procurebot/procurebot"
)

// intent returns a valid pending intent.
func intent(id string, created time.Time) *procurebot.PaymentIntent {
	amount, _ := new(big.Int).SetString("1606938044258990275541962092341162602522202993782792835301377", 10) // 2^200 + 1
	return &procurebot.PaymentIntent{
		ID: id, CreatedAt: created, UpdatedAt: created, State: procurebot.IntentPending,
		Chain: 1337, Token: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
		From: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", To: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
		Amount: amount, AmountUSD: usd("12.345678"), Venue: "runpod",
	}
}

// signed returns p moved to Signed with a transaction.
func signed(p *procurebot.PaymentIntent, nonce uint64) *procurebot.PaymentIntent {
	q := *p
	q.State, q.Nonce, q.UpdatedAt = procurebot.IntentSigned, nonce, p.UpdatedAt.Add(time.Second)
	q.SignedTx = []byte{0x02, 0xf8, 0x00, 0x00, 0xff, byte(nonce), 0x00} // zero bytes included
	q.TxHashes = append(slices.Clone(p.TxHashes), fmt.Sprintf("0x%064x", nonce+1))
	return &q
}

// moved returns a copy of p in state s.
// minedAs returns a copy of p whose Mined names hash.
func minedAs(p *procurebot.PaymentIntent, hash string) *procurebot.PaymentIntent {
	q := *p
	q.Mined = hash
	return &q
}

func moved(p *procurebot.PaymentIntent, s procurebot.IntentState) *procurebot.PaymentIntent {
	q := *p
	q.State, q.UpdatedAt = s, p.UpdatedAt.Add(time.Second)
	if s == procurebot.IntentConfirmed && len(q.TxHashes) > 0 {
		q.Mined = q.TxHashes[len(q.TxHashes)-1]
	}
	return &q
}

// sameIntent reports how got differs from want ("" if not at all).
func sameIntent(got, want *procurebot.PaymentIntent) string {
	switch {
	case got == nil:
		return "nil intent"
	case got.ID != want.ID || got.State != want.State || got.Chain != want.Chain || got.Token != want.Token ||
		got.From != want.From || got.To != want.To || got.Venue != want.Venue || got.Nonce != want.Nonce ||
		got.Mined != want.Mined || got.Error != want.Error:
		return fmt.Sprintf("%+v, want %+v", got, want)
	case !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt):
		return fmt.Sprintf("times %s %s, want %s %s", got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	case got.Amount == nil || got.Amount.Cmp(want.Amount) != 0:
		return fmt.Sprintf("amount %s, want %s", got.Amount, want.Amount)
	case !got.AmountUSD.Equal(want.AmountUSD):
		return fmt.Sprintf("amount_usd %s, want %s", got.AmountUSD, want.AmountUSD)
	case !bytes.Equal(got.SignedTx, want.SignedTx):
		return fmt.Sprintf("signed tx %x, want %x", got.SignedTx, want.SignedTx)
	case !slices.Equal(got.TxHashes, want.TxHashes):
		return fmt.Sprintf("tx hashes %v, want %v", got.TxHashes, want.TxHashes)
	}
	return ""
}

// wantIntent fails the test unless the stored intent equals want.
func wantIntent(t testing.TB, s Store, what string, want *procurebot.PaymentIntent) {
	t.Helper()
	got, err := s.GetIntent(ctxT(t), want.ID)
	if err != nil {
		t.Errorf("%s: get %s: %v", what, want.ID, err)
		return
	}
	if d := sameIntent(got, want); d != "" {
		t.Errorf("%s: %s", what, d)
	}
}

// wantIDs fails the test unless list holds exactly the intents ids, in order.
func wantIDs(t testing.TB, what string, list []procurebot.PaymentIntent, ids ...string) {
	t.Helper()
	got := make([]string, len(list))
	for i, p := range list {
		got[i] = p.ID
	}
	if !slices.Equal(got, ids) {
		t.Errorf("%s: %v, want %v", what, got, ids)
	}
}

func testIntents(t *testing.T, open Opener) {
	b := base().Add(123456789 * time.Nanosecond)

	t.Run("CreateIsIdempotent", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		p := intent("i-1", b)
		got, created, err := s.CreateIntent(ctx, p)
		must(t, "create", err)
		if !created {
			t.Error("first create: created=false")
		}
		if d := sameIntent(got, p); d != "" {
			t.Errorf("first create returned %s", d)
		}
		wantIntent(t, s, "stored", p)

		other := intent("i-1", b.Add(time.Hour))
		other.Amount, other.Venue = big.NewInt(1), "lambda"
		got, created, err = s.CreateIntent(ctx, other)
		must(t, "second create", err)
		if created {
			t.Error("second create: created=true")
		}
		if d := sameIntent(got, p); d != "" {
			t.Errorf("second create returned %s, want the first intent", d)
		}
		wantIntent(t, s, "unchanged", p)
	})

	t.Run("CreateRefusesInvalid", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		bad := func(f func(p *procurebot.PaymentIntent)) *procurebot.PaymentIntent {
			p := intent("bad", b)
			f(p)
			return p
		}
		for _, c := range []struct {
			name string
			p    *procurebot.PaymentIntent
		}{
			{"nil", nil},
			{"no id", bad(func(p *procurebot.PaymentIntent) { p.ID = "" })},
			{"bad token", bad(func(p *procurebot.PaymentIntent) { p.Token = "usdc" })},
			{"bad payee", bad(func(p *procurebot.PaymentIntent) { p.To = "0x12" })},
			{"no amount", bad(func(p *procurebot.PaymentIntent) { p.Amount = nil })},
			{"zero amount", bad(func(p *procurebot.PaymentIntent) { p.Amount = new(big.Int) })},
			{"not pending", bad(func(p *procurebot.PaymentIntent) { p.State = procurebot.IntentSigned })},
		} {
			_, created, err := s.CreateIntent(ctx, c.p)
			wantCode(t, c.name, err, procurebot.EINVALID)
			if created {
				t.Errorf("%s: created", c.name)
			}
		}
		_, err := s.GetIntent(ctx, "bad")
		wantCode(t, "get refused", err, procurebot.ENOTFOUND)
		wantMention(t, "get refused", err, "bad")
	})

	t.Run("Lifecycle", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		p := intent("life", b)
		_, _, err := s.CreateIntent(ctx, p)
		must(t, "create", err)
		sig := signed(p, 7)
		sent := moved(sig, procurebot.IntentSent)
		replaced := signed(sent, 8) // same nonce in life, new fees: a second signed tx
		replaced.Nonce = 7
		resent := moved(replaced, procurebot.IntentSent)
		done := moved(resent, procurebot.IntentConfirmed)
		changed := func(f func(q *procurebot.PaymentIntent)) *procurebot.PaymentIntent {
			q := *sig
			f(&q)
			return &q
		}
		steps := []struct {
			name string
			p    *procurebot.PaymentIntent
			from procurebot.IntentState
			code string
		}{
			{"pending to sent skips signed", moved(p, procurebot.IntentSent), procurebot.IntentPending, procurebot.ECONFLICT},
			{"wrong from", sig, procurebot.IntentSent, procurebot.ECONFLICT},
			{"pending to signed", sig, procurebot.IntentPending, ""},
			{"stale from", sig, procurebot.IntentPending, procurebot.ECONFLICT},
			{"signed to failed without a reverted tx", moved(sig, procurebot.IntentFailed), procurebot.IntentSigned, procurebot.ECONFLICT},
			{"signed to failed naming a foreign tx", minedAs(moved(sig, procurebot.IntentFailed), "0x"+strings.Repeat("ee", 32)), procurebot.IntentSigned, procurebot.ECONFLICT},
			{"amount changes", changed(func(q *procurebot.PaymentIntent) { q.Amount = big.NewInt(5) }), procurebot.IntentSigned, procurebot.EINVALID},
			{"payee changes", changed(func(q *procurebot.PaymentIntent) { q.To = "0x0000000000000000000000000000000000000001" }), procurebot.IntentSigned, procurebot.EINVALID},
			{"token changes", changed(func(q *procurebot.PaymentIntent) { q.Token = "0x0000000000000000000000000000000000000002" }), procurebot.IntentSigned, procurebot.EINVALID},
			{"chain changes", changed(func(q *procurebot.PaymentIntent) { q.Chain = 1 }), procurebot.IntentSigned, procurebot.EINVALID},
			{"invalid intent", changed(func(q *procurebot.PaymentIntent) { q.Amount = nil }), procurebot.IntentSigned, procurebot.EINVALID},
			{"signed to sent", sent, procurebot.IntentSigned, ""},
			{"sent to signed (replacement)", replaced, procurebot.IntentSent, ""},
			{"signed to sent again", resent, procurebot.IntentSigned, ""},
			{"sent to confirmed", done, procurebot.IntentSent, ""},
			{"confirmed is final", moved(done, procurebot.IntentConfirmed), procurebot.IntentConfirmed, procurebot.ECONFLICT},
			{"no such intent", intent("ghost", b), procurebot.IntentPending, procurebot.ENOTFOUND},
		}
		for _, st := range steps {
			wantCode(t, st.name, s.UpdateIntent(ctx, st.p, st.from), st.code)
		}
		wantIntent(t, s, "final", done)

		// A pending intent may fail; a failed one stays failed.
		q := intent("fails", b)
		_, _, err = s.CreateIntent(ctx, q)
		must(t, "create", err)
		failed := moved(q, procurebot.IntentFailed)
		failed.Error = "insufficient balance"
		must(t, "pending to failed", s.UpdateIntent(ctx, failed, procurebot.IntentPending))
		wantCode(t, "failed is final", s.UpdateIntent(ctx, moved(failed, procurebot.IntentSigned), procurebot.IntentFailed), procurebot.ECONFLICT)
		wantIntent(t, s, "failed", failed)
	})

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		// Created out of order; c and d share a CreatedAt (then ID decides).
		at := map[string]time.Time{"a": b, "b": b.Add(time.Minute), "c": b.Add(2 * time.Minute), "d": b.Add(2 * time.Minute), "e": b.Add(3 * time.Minute)}
		for _, id := range []string{"e", "c", "a", "d", "b"} {
			_, _, err := s.CreateIntent(ctx, intent(id, at[id]))
			must(t, "create "+id, err)
		}
		pb := intent("b", at["b"])
		must(t, "b signed", s.UpdateIntent(ctx, signed(pb, 1), procurebot.IntentPending))
		pc := signed(intent("c", at["c"]), 2)
		must(t, "c signed", s.UpdateIntent(ctx, pc, procurebot.IntentPending))
		must(t, "c sent", s.UpdateIntent(ctx, moved(pc, procurebot.IntentSent), procurebot.IntentSigned))
		must(t, "c confirmed", s.UpdateIntent(ctx, moved(moved(pc, procurebot.IntentSent), procurebot.IntentConfirmed), procurebot.IntentSent))
		must(t, "e failed", s.UpdateIntent(ctx, moved(intent("e", at["e"]), procurebot.IntentFailed), procurebot.IntentPending))

		for _, c := range []struct {
			name   string
			states []procurebot.IntentState
			ids    []string
		}{
			{"all", nil, []string{"a", "b", "c", "d", "e"}},
			{"unfinished", []procurebot.IntentState{procurebot.IntentPending, procurebot.IntentSigned, procurebot.IntentSent}, []string{"a", "b", "d"}},
			{"pending", []procurebot.IntentState{procurebot.IntentPending}, []string{"a", "d"}},
			{"final", []procurebot.IntentState{procurebot.IntentFailed, procurebot.IntentConfirmed}, []string{"c", "e"}},
			{"repeated state", []procurebot.IntentState{procurebot.IntentSigned, procurebot.IntentSigned}, []string{"b"}},
			{"nothing sent", []procurebot.IntentState{procurebot.IntentSent}, nil},
		} {
			list, err := s.ListIntents(ctx, c.states...)
			must(t, c.name, err)
			wantIDs(t, c.name, list, c.ids...)
		}
		list, err := s.ListIntents(ctx, procurebot.IntentSigned)
		must(t, "signed", err)
		if len(list) == 1 {
			if d := sameIntent(&list[0], signed(pb, 1)); d != "" {
				t.Errorf("listed intent: %s", d)
			}
		}
		_, err = s.ListIntents(ctx, "lost")
		wantCode(t, "unknown state", err, procurebot.EINVALID)
	})
}

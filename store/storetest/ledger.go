package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/procurebot/procurebot"
)

// entry returns a valid ledger entry of kind at t.
func entry(kind procurebot.EntryKind, t time.Time, amount string) *procurebot.LedgerEntry {
	e := &procurebot.LedgerEntry{Time: t, Kind: kind, AmountUSD: usd(amount), Venue: "runpod", Note: "n"}
	if kind == procurebot.KindPayment {
		e.IntentID = fmt.Sprintf("intent-%d", t.UnixNano())
		e.TxHash = "0x" + fmt.Sprintf("%064x", t.UnixNano())
	}
	return e
}

// sameEntry reports how got differs from want ("" if not at all).
func sameEntry(got, want procurebot.LedgerEntry) string {
	switch {
	case got.Seq != want.Seq:
		return fmt.Sprintf("seq %d, want %d", got.Seq, want.Seq)
	case !got.Time.Equal(want.Time):
		return fmt.Sprintf("time %s, want %s", got.Time, want.Time)
	case got.Time.Location() != time.UTC:
		return fmt.Sprintf("time %s is not in UTC", got.Time)
	case got.Kind != want.Kind:
		return fmt.Sprintf("kind %s, want %s", got.Kind, want.Kind)
	case !got.AmountUSD.Equal(want.AmountUSD):
		return fmt.Sprintf("amount %s, want %s", got.AmountUSD, want.AmountUSD)
	case got.Venue != want.Venue || got.IntentID != want.IntentID || got.TxHash != want.TxHash || got.Note != want.Note:
		return fmt.Sprintf("%+v, want %+v", got, want)
	}
	return ""
}

// checkEntries fails the test unless got equals want, in order.
func checkEntries(t testing.TB, what string, got []procurebot.LedgerEntry, want []procurebot.LedgerEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d entries, want %d:\n got %+v\nwant %+v", what, len(got), len(want), got, want)
		return
	}
	for i := range got {
		if d := sameEntry(got[i], want[i]); d != "" {
			t.Errorf("%s: entry %d: %s", what, i, d)
		}
	}
}

func testLedger(t *testing.T, open Opener) {
	t.Run("AppendAssignsIncreasingSeq", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		var last uint64
		var all []procurebot.LedgerEntry
		for i, k := range []procurebot.EntryKind{procurebot.KindReservation, procurebot.KindRental, procurebot.KindPayment,
			procurebot.KindLeaseIncome, procurebot.KindEnergy, procurebot.KindInference, procurebot.KindApproval} {
			e := entry(k, base().Add(time.Duration(i)*time.Minute), "1.5")
			must(t, "append", s.Append(ctx, e))
			if e.Seq <= last {
				t.Errorf("append %d: seq %d after %d", i, e.Seq, last)
			}
			last = e.Seq
			all = append(all, *e)
		}
		got, err := s.List(ctx, procurebot.LedgerFilter{})
		must(t, "list", err)
		checkEntries(t, "list", got, all)
	})

	t.Run("AppendRefusesInvalid", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		for _, c := range []struct {
			name string
			e    *procurebot.LedgerEntry
		}{
			{"nil", nil},
			{"no time", &procurebot.LedgerEntry{Kind: procurebot.KindRental, AmountUSD: usd("1")}},
			{"unknown kind", &procurebot.LedgerEntry{Time: base(), Kind: "gift", AmountUSD: usd("1")}},
			{"payment without intent", &procurebot.LedgerEntry{Time: base(), Kind: procurebot.KindPayment, TxHash: "0x1"}},
			{"payment without tx hash", &procurebot.LedgerEntry{Time: base(), Kind: procurebot.KindPayment, IntentID: "i"}},
		} {
			err := s.Append(ctx, c.e)
			wantCode(t, c.name, err, procurebot.EINVALID)
			if c.e != nil && c.e.Seq != 0 {
				t.Errorf("%s: seq set to %d on error", c.name, c.e.Seq)
			}
		}
		got, err := s.List(ctx, procurebot.LedgerFilter{})
		must(t, "list", err)
		if len(got) != 0 {
			t.Errorf("refused entries were stored: %+v", got)
		}
	})

	t.Run("PaymentIntentOnce", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		pay := func(intent, tx string) *procurebot.LedgerEntry {
			return &procurebot.LedgerEntry{Time: base(), Kind: procurebot.KindPayment, AmountUSD: usd("10"),
				Venue: "runpod", IntentID: intent, TxHash: tx}
		}
		first := pay("pay-1", "0xaa")
		must(t, "first payment", s.Append(ctx, first))
		steps := []struct {
			name string
			e    *procurebot.LedgerEntry
			want string
		}{
			{"same intent again", pay("pay-1", "0xaa"), procurebot.ECONFLICT},
			{"same intent, other tx", pay("pay-1", "0xbb"), procurebot.ECONFLICT},
			{"other intent", pay("pay-2", "0xcc"), ""},
			{"a reservation naming the intent", &procurebot.LedgerEntry{Time: base(), Kind: procurebot.KindReservation,
				AmountUSD: usd("10"), IntentID: "pay-1"}, ""},
		}
		for _, st := range steps {
			err := s.Append(ctx, st.e)
			wantCode(t, st.name, err, st.want)
			if st.want == procurebot.ECONFLICT {
				wantMention(t, st.name, err, "pay-1")
			}
		}
		got, err := s.List(ctx, procurebot.LedgerFilter{Kinds: []procurebot.EntryKind{procurebot.KindPayment}})
		must(t, "list", err)
		if len(got) != 2 || got[0].IntentID != "pay-1" || got[0].TxHash != "0xaa" || got[1].IntentID != "pay-2" {
			t.Errorf("payments %+v, want pay-1 (0xaa) and pay-2", got)
		}
	})

	t.Run("ListOrderAndFilters", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		b := base()
		paris := time.FixedZone("CEST", 2*3600)
		// Appended out of time order; two entries share a time.
		in := []*procurebot.LedgerEntry{
			entry(procurebot.KindRental, b.Add(2*time.Hour), "3"),
			entry(procurebot.KindEnergy, b, "0.000001"),
			entry(procurebot.KindPayment, b.Add(time.Hour).In(paris), "123456789.123456789"),
			entry(procurebot.KindRental, b, "-12.5"),
			entry(procurebot.KindLeaseIncome, b.Add(time.Hour+time.Nanosecond), "7"),
			entry(procurebot.KindApproval, time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC), "0"),
		}
		for i, e := range in {
			must(t, fmt.Sprint("append ", i), s.Append(ctx, e))
		}
		// Time order, then seq: in[5] (1969), in[1], in[3] (b, by seq), in[2], in[4], in[0].
		ord := []procurebot.LedgerEntry{*in[5], *in[1], *in[3], *in[2], *in[4], *in[0]}
		for i := range ord {
			ord[i].Time = ord[i].Time.UTC()
		}
		cases := []struct {
			name string
			f    procurebot.LedgerFilter
			want []procurebot.LedgerEntry
		}{
			{"all", procurebot.LedgerFilter{}, ord},
			{"since inclusive", procurebot.LedgerFilter{Since: b}, ord[1:]},
			{"since a nanosecond later", procurebot.LedgerFilter{Since: b.Add(time.Nanosecond)}, ord[3:]},
			{"until exclusive", procurebot.LedgerFilter{Until: b.Add(time.Hour)}, ord[:3]},
			{"until a nanosecond later", procurebot.LedgerFilter{Until: b.Add(time.Hour + time.Nanosecond)}, ord[:4]},
			{"range in another zone", procurebot.LedgerFilter{Since: b.Add(time.Hour).In(paris), Until: b.Add(2 * time.Hour)}, ord[3:5]},
			{"one kind", procurebot.LedgerFilter{Kinds: []procurebot.EntryKind{procurebot.KindRental}}, []procurebot.LedgerEntry{ord[2], ord[5]}},
			{"two kinds", procurebot.LedgerFilter{Kinds: []procurebot.EntryKind{procurebot.KindEnergy, procurebot.KindPayment}}, []procurebot.LedgerEntry{ord[1], ord[3]}},
			{"limit", procurebot.LedgerFilter{Limit: 2}, ord[:2]},
			{"limit after filters", procurebot.LedgerFilter{Since: b, Kinds: []procurebot.EntryKind{procurebot.KindRental, procurebot.KindLeaseIncome}, Limit: 2}, []procurebot.LedgerEntry{ord[2], ord[4]}},
			{"limit above count", procurebot.LedgerFilter{Limit: 100}, ord},
			{"empty range", procurebot.LedgerFilter{Since: b.Add(time.Hour), Until: b.Add(time.Hour)}, nil},
			{"reversed range", procurebot.LedgerFilter{Since: b.Add(3 * time.Hour), Until: b}, nil},
			{"kind never used", procurebot.LedgerFilter{Kinds: []procurebot.EntryKind{procurebot.KindInference}}, nil},
		}
		for _, c := range cases {
			got, err := s.List(ctx, c.f)
			must(t, c.name, err)
			checkEntries(t, c.name, got, c.want)
		}
		_, err := s.List(ctx, procurebot.LedgerFilter{Limit: -1})
		wantCode(t, "negative limit", err, procurebot.EINVALID)
	})

	t.Run("ListManyPages", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		const n = 600 // more than two pages of the Redis store's batch of 256
		var want []procurebot.LedgerEntry
		for i := range n {
			e := entry(procurebot.KindRental, base().Add(time.Duration(i)*time.Second), "0.01")
			must(t, "append", s.Append(ctx, e))
			want = append(want, *e)
		}
		got, err := s.List(ctx, procurebot.LedgerFilter{})
		must(t, "list", err)
		checkEntries(t, "list", got, want)
		got, err = s.List(ctx, procurebot.LedgerFilter{Since: base().Add(300 * time.Second), Limit: 250})
		must(t, "list range", err)
		checkEntries(t, "list range", got, want[300:550])
	})
}

package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/procurebot/procurebot"
)

// racers is how many goroutines race in each concurrency test.
const racers = 32

// race runs f(i) in racers goroutines released together, and waits.
func race(f func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			f(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
}

func testConcurrency(t *testing.T, open Opener) {
	b := base()

	t.Run("ReserveNeverOvershoots", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		const perRacer = 25
		amount := usd("0.37")
		// 32 × 25 × 0.37 = 296 wanted; the day cap lets 270 through at most.
		dayCap := capOf(total(), procurebot.WindowDay, "100")
		caps := []procurebot.SpendCap{dayCap, capOf(provider("runpod"), procurebot.WindowHour, "1000")}
		var mu sync.Mutex
		ok, refused := 0, 0
		var errs []error
		race(func(int) {
			for range perRacer {
				err := s.Reserve(ctx, b, amount, caps)
				mu.Lock()
				switch procurebot.ErrorCode(err) {
				case "":
					ok++
				case procurebot.ECAP:
					refused++
				default:
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		})
		for _, err := range errs {
			t.Errorf("reserve: %v", err)
		}
		want := amount.Mul(usd(fmt.Sprint(ok)))
		if ok != 270 || refused != racers*perRacer-270 {
			t.Errorf("%d reservations succeeded and %d were refused, want 270 and %d", ok, refused, racers*perRacer-270)
		}
		wantSpent(t, s, "day counter", b, total(), procurebot.WindowDay, want.String())
		wantSpent(t, s, "hour counter", b, provider("runpod"), procurebot.WindowHour, want.String())
	})

	t.Run("ReserveAndReleaseRace", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		caps := []procurebot.SpendCap{capOf(job("j"), procurebot.WindowMonth, "5")}
		var mu sync.Mutex
		held := 0
		race(func(i int) {
			for range 8 {
				err := s.Reserve(ctx, b, usd("1"), caps)
				if procurebot.ErrorCode(err) == procurebot.ECAP {
					continue
				}
				if err != nil {
					t.Errorf("reserve: %v", err)
					return
				}
				if i%2 == 0 { // half the winners give it back
					if err := s.Release(ctx, b, usd("1"), caps); err != nil {
						t.Errorf("release: %v", err)
					}
					continue
				}
				mu.Lock()
				held++
				mu.Unlock()
			}
		})
		if held > 5 {
			t.Errorf("%d units held under a cap of 5", held)
		}
		wantSpent(t, s, "counter", b, job("j"), procurebot.WindowMonth, fmt.Sprint(held))
	})

	t.Run("CreateIntentOnce", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		var mu sync.Mutex
		created := 0
		venues := map[string]int{}
		race(func(i int) {
			p := intent("same", b)
			p.Venue = fmt.Sprint("venue-", i)
			got, c, err := s.CreateIntent(ctx, p)
			if err != nil {
				t.Errorf("create: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if c {
				created++
			}
			venues[got.Venue]++
		})
		if created != 1 || len(venues) != 1 {
			t.Errorf("%d creates won, callers saw %v; want 1 winner that all %d see", created, venues, racers)
		}
		list, err := s.ListIntents(ctx)
		must(t, "list", err)
		wantIDs(t, "stored", list, "same")
	})

	t.Run("UpdateIntentCompareAndSet", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		p := intent("cas", b)
		_, _, err := s.CreateIntent(ctx, p)
		must(t, "create", err)
		var mu sync.Mutex
		var winners []uint64
		race(func(i int) {
			err := s.UpdateIntent(ctx, signed(p, uint64(i)), procurebot.IntentPending)
			switch procurebot.ErrorCode(err) {
			case "":
				mu.Lock()
				winners = append(winners, uint64(i))
				mu.Unlock()
			case procurebot.ECONFLICT:
			default:
				t.Errorf("update: %v", err)
			}
		})
		if len(winners) != 1 {
			t.Fatalf("%d updates from pending won, want 1", len(winners))
		}
		wantIntent(t, s, "winner's", signed(p, winners[0]))
		list, err := s.ListIntents(ctx, procurebot.IntentPending)
		must(t, "list pending", err)
		wantIDs(t, "pending", list)
	})

	t.Run("AcquireLeaseOnce", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		var mu sync.Mutex
		var holders []procurebot.Lease
		race(func(i int) {
			l, err := s.AcquireLease(ctx, "leader", fmt.Sprint("replica-", i), 10*time.Second, b)
			switch procurebot.ErrorCode(err) {
			case "":
				mu.Lock()
				holders = append(holders, l)
				mu.Unlock()
			case procurebot.ECONFLICT:
			default:
				t.Errorf("acquire: %v", err)
			}
		})
		if len(holders) != 1 || holders[0].Token != 1 {
			t.Fatalf("holders %+v, want exactly one with token 1", holders)
		}
		// Once it expires, again exactly one of the others takes it, with token 2.
		holders = nil
		race(func(i int) {
			l, err := s.AcquireLease(ctx, "leader", fmt.Sprint("replica-", i+racers), 10*time.Second, b.Add(10*time.Second))
			if err == nil {
				mu.Lock()
				holders = append(holders, l)
				mu.Unlock()
			} else if procurebot.ErrorCode(err) != procurebot.ECONFLICT {
				t.Errorf("acquire: %v", err)
			}
		})
		if len(holders) != 1 || holders[0].Token != 2 {
			t.Errorf("after expiry: holders %+v, want exactly one with token 2", holders)
		}
	})

	t.Run("AppendUniqueSeq", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		const perRacer = 10
		var mu sync.Mutex
		var all []procurebot.LedgerEntry
		dupWins := 0
		race(func(i int) {
			var last uint64
			for j := range perRacer {
				e := entry(procurebot.KindRental, b.Add(time.Duration(j)*time.Second), "1")
				e.Note = fmt.Sprint(i, "/", j)
				if err := s.Append(ctx, e); err != nil {
					t.Errorf("append: %v", err)
					return
				}
				if e.Seq <= last {
					t.Errorf("racer %d: seq %d after %d", i, e.Seq, last)
				}
				last = e.Seq
				mu.Lock()
				all = append(all, *e)
				mu.Unlock()
			}
			// Everyone pays the same intent: one payment entry is stored.
			e := &procurebot.LedgerEntry{Time: b, Kind: procurebot.KindPayment, AmountUSD: usd("5"), IntentID: "shared", TxHash: "0xab"}
			err := s.Append(ctx, e)
			mu.Lock()
			defer mu.Unlock()
			switch procurebot.ErrorCode(err) {
			case "":
				dupWins++
				all = append(all, *e)
			case procurebot.ECONFLICT:
			default:
				t.Errorf("append payment: %v", err)
			}
		})
		if dupWins != 1 {
			t.Errorf("%d payment entries for one intent, want 1", dupWins)
		}
		seqs := map[uint64]bool{}
		for _, e := range all {
			if seqs[e.Seq] {
				t.Errorf("seq %d given twice", e.Seq)
			}
			seqs[e.Seq] = true
		}
		got, err := s.List(ctx, procurebot.LedgerFilter{})
		must(t, "list", err)
		// Order by time, then seq: the order List must return.
		slices.SortFunc(all, func(x, y procurebot.LedgerEntry) int {
			if c := x.Time.Compare(y.Time); c != 0 {
				return c
			}
			return cmp.Compare(x.Seq, y.Seq)
		})
		checkEntries(t, "list", got, all)
		if len(got) != racers*perRacer+1 {
			t.Errorf("%d entries listed, want %d", len(got), racers*perRacer+1)
		}
	})
}

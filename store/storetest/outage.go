package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/procurebot/procurebot"
)

// flightNote marks the ledger entries appended while the server died.
const flightNote = "in flight"

// flight counts what clients racing the server's death were told.
type flight struct {
	mu                      sync.Mutex
	reserved, reserveFailed int
	appended, appendFailed  int
	seqs                    []uint64
}

func testOutage(t *testing.T, start func(testing.TB) *Outage) {
	o := start(t)
	s := o.Store
	st := fill(t, s) // acknowledged before the outage
	b := base()
	ctx := ctxT(t)

	// Clients are working when the server is killed; each stops after its
	// third failure. Every failure must be EUNAVAILABLE.
	caps := []procurebot.SpendCap{capOf(total(), procurebot.WindowMonth, "1000000"),
		capOf(provider("flight"), procurebot.WindowMonth, "1000000")}
	var f flight
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for fails := 0; fails < 3; {
				err := s.Reserve(ctx, b, usd("1"), caps)
				f.mu.Lock()
				if err == nil {
					f.reserved++
				} else {
					f.reserveFailed++
					fails++
				}
				f.mu.Unlock()
				if err != nil && procurebot.ErrorCode(err) != procurebot.EUNAVAILABLE {
					t.Errorf("reserve during the outage: %v, want %s", err, procurebot.EUNAVAILABLE)
				}
				e := entry(procurebot.KindRental, b.Add(time.Duration(i)*time.Hour), "1")
				e.Note = flightNote
				err = s.Append(ctx, e)
				f.mu.Lock()
				if err == nil {
					f.appended++
					f.seqs = append(f.seqs, e.Seq)
				} else {
					f.appendFailed++
					fails++
				}
				f.mu.Unlock()
				if err != nil && procurebot.ErrorCode(err) != procurebot.EUNAVAILABLE {
					t.Errorf("append during the outage: %v, want %s", err, procurebot.EUNAVAILABLE)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	o.Stop()
	wg.Wait()
	if f.reserved == 0 || f.appended == 0 {
		t.Errorf("no operation succeeded before the outage (%d reserves, %d appends)", f.reserved, f.appended)
	}

	// With the server down every operation fails with EUNAVAILABLE naming it.
	now := time.Now().UTC()
	for _, c := range calls(s, "-outage", now) {
		err := c.call(ctx)
		wantCode(t, c.name+" while the server is down", err, procurebot.EUNAVAILABLE)
		wantMention(t, c.name+" while the server is down", err, o.Addr)
	}

	o.Start()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := s.Spent(ctx, b, total(), procurebot.WindowMonth)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store does not work again after the server restarted: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// What was acknowledged before the outage is all there, unchanged.
	list, err := s.List(ctx, procurebot.LedgerFilter{})
	must(t, "list", err)
	var before, during []procurebot.LedgerEntry
	for _, e := range list {
		if e.Note == flightNote {
			during = append(during, e)
		} else {
			before = append(before, e)
		}
	}
	checkEntries(t, "ledger acknowledged before the outage", before, st.entries)
	st.checkButLedger(t, s, "after the outage")

	// Clients racing the outage: every acknowledged write is there; a write
	// whose reply was lost may or may not be; none is half done.
	stored := map[uint64]bool{}
	for _, e := range during {
		if stored[e.Seq] {
			t.Errorf("seq %d listed twice", e.Seq)
		}
		stored[e.Seq] = true
	}
	for _, seq := range f.seqs {
		if !stored[seq] {
			t.Errorf("acknowledged entry %d is lost", seq)
		}
	}
	if n := len(during); n < f.appended || n > f.appended+f.appendFailed {
		t.Errorf("%d entries from clients racing the outage; %d acknowledged, %d failed", n, f.appended, f.appendFailed)
	}
	spentTotal, err := s.Spent(ctx, b, total(), procurebot.WindowMonth)
	must(t, "spent", err)
	spentFlight, err := s.Spent(ctx, b, provider("flight"), procurebot.WindowMonth)
	must(t, "spent", err)
	if !spentTotal.Equal(spentFlight) {
		t.Errorf("a reservation was half written: its two counters hold %s and %s", spentTotal, spentFlight)
	}
	if n := int(spentTotal.IntPart()); n < f.reserved || n > f.reserved+f.reserveFailed {
		t.Errorf("counter holds %s; %d reservations acknowledged, %d failed", spentTotal, f.reserved, f.reserveFailed)
	}
	t.Logf("racing the outage: %d reserves acknowledged, %d failed, %s counted; %d appends acknowledged, %d failed, %d stored",
		f.reserved, f.reserveFailed, spentTotal, f.appended, f.appendFailed, len(during))

	// Nothing the failed calls tried is there.
	wantNothingFrom(t, s, "-outage", now)

	// And everything works again.
	for _, c := range calls(s, "-after", now) {
		if err := c.call(context.Background()); err != nil {
			t.Errorf("%s after the outage: %v", c.name, err)
		}
	}
	e := entry(procurebot.KindEnergy, b, "1")
	must(t, "append after the outage", s.Append(ctx, e))
	for _, x := range list {
		if e.Seq <= x.Seq {
			t.Errorf("seq %d after the outage, not above %d", e.Seq, x.Seq)
			break
		}
	}
}

package sim_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/procurebot/procurebot"
)

// visScenario has two sites: "rt" on market RT (realtime) and "da" on
// market DA (dayahead), over day D = 2024-03-10 with the given step. Power
// data covers D and D+1; the price of hour i is i (RT) and 1000 + i (DA)
// so a read shows which hour it got.
func visScenario(step time.Duration) (*procurebot.Scenario, *procurebot.Dataset) {
	sc := &procurebot.Scenario{
		Start: t0, End: at(24), Step: step,
		Sites: []procurebot.Site{
			{Name: "rt", PowerMarket: "RT", GPU: "H100", GPUs: 1, KWPerGPU: d("1")},
			{Name: "da", PowerMarket: "DA", GPU: "H100", GPUs: 1, KWPerGPU: d("1"), PowerVisibility: procurebot.VisibilityDayAhead},
		},
		Jobs: []procurebot.Job{{ID: "j", GPU: "H100", MaxGPUs: 1, GPUHours: d("1000"), Release: t0, Deadline: at(24)}},
	}
	rt, da := make([]string, 48), make([]string, 48)
	for i := range rt {
		rt[i], da[i] = fmt.Sprint(i), fmt.Sprint(1000+i)
	}
	ds := dataset(
		[]*procurebot.PowerSeries{hourly("RT", t0, rt...), hourly("DA", t0, da...)},
		[]procurebot.Snapshot{{Time: t0, Offers: []procurebot.Offer{perGPU("lambdalabs", "H100", "2", procurebot.SpotFalse)}}},
		nil)
	return sc, ds
}

// powerAt reads site s's power at t through v and checks the outcome: the
// price of hour want (≥ 0), or ENOTVISIBLE (want < 0).
func powerAt(v procurebot.View, s int, t time.Time, want int) error {
	p, err := v.Power(s, t)
	if want < 0 {
		if procurebot.ErrorCode(err) != procurebot.ENOTVISIBLE {
			return fmt.Errorf("step %d (%s): Power(%d, %s) = %s, %v; want ENOTVISIBLE",
				v.Step(), v.Now().Format(time.RFC3339), s, t.Format(time.RFC3339), p, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("step %d (%s): Power(%d, %s): %v", v.Step(), v.Now().Format(time.RFC3339), s, t.Format(time.RFC3339), err)
	}
	if !p.Equal(n(int64(want))) {
		return fmt.Errorf("step %d: Power(%d, %s) = %s, want %d", v.Step(), s, t.Format(time.RFC3339), p, want)
	}
	return nil
}

// TestVisibilityRealtime: at every step the hour containing t_k is visible
// and t_k + 1h is not, for hourly and half-hourly steps.
func TestVisibilityRealtime(t *testing.T) {
	for _, step := range []time.Duration{time.Hour, 30 * time.Minute} {
		t.Run(step.String(), func(t *testing.T) {
			sc, ds := visScenario(step)
			prepare(t, sc, ds)
			st := &scripted{check: func(v procurebot.View) error {
				now := v.Now()
				hour := int(now.Sub(t0) / time.Hour)
				var errs []error
				errs = append(errs,
					powerAt(v, 0, now, hour),
					powerAt(v, 0, now.Truncate(time.Hour).Add(59*time.Minute), hour),
					powerAt(v, 0, now.Truncate(time.Hour).Add(time.Hour), -1),
					powerAt(v, 0, at(47), -1),
				)
				if hour > 0 {
					errs = append(errs, powerAt(v, 0, at(hour-1), hour-1))
				}
				if got, want := v.PowerVisibleUntil(0), now.Truncate(time.Hour).Add(time.Hour); !got.Equal(want) {
					errs = append(errs, fmt.Errorf("step %d: PowerVisibleUntil(rt) = %s, want %s", v.Step(), got, want))
				}
				return errors.Join(errs...)
			}}
			run(t, sc, ds, st)
			if len(st.calls) != sc.Steps() {
				t.Errorf("decided %d steps, want %d", len(st.calls), sc.Steps())
			}
		})
	}
}

// TestVisibilityDayAhead: every hour of UTC day D is visible from 12:00 UTC
// on day D−1.
func TestVisibilityDayAhead(t *testing.T) {
	sc, ds := visScenario(30 * time.Minute)
	prepare(t, sc, ds)
	checked := map[string]bool{}
	st := &scripted{check: func(v procurebot.View) error {
		now := v.Now()
		var errs []error
		switch {
		case now.Before(at(12)):
			// Before noon of D: all of D (published at noon of D−1), nothing of D+1.
			errs = append(errs,
				powerAt(v, 1, at(0), 1000),
				powerAt(v, 1, at(23), 1023),
				powerAt(v, 1, at(23).Add(59*time.Minute), 1023),
				powerAt(v, 1, at(24), -1),
			)
			if got := v.PowerVisibleUntil(1); !got.Equal(at(24)) {
				errs = append(errs, fmt.Errorf("step %d: PowerVisibleUntil(da) = %s, want %s", v.Step(), got, at(24)))
			}
		default:
			// From noon of D: all of D+1, nothing of D+2.
			errs = append(errs,
				powerAt(v, 1, at(24), 1024),
				powerAt(v, 1, at(47), 1047),
				powerAt(v, 1, at(48), -1),
			)
			if got := v.PowerVisibleUntil(1); !got.Equal(at(48)) {
				errs = append(errs, fmt.Errorf("step %d: PowerVisibleUntil(da) = %s, want %s", v.Step(), got, at(48)))
			}
		}
		// The realtime site of the same scenario keeps its own rule.
		errs = append(errs, powerAt(v, 0, now.Truncate(time.Hour).Add(time.Hour), -1))
		checked[now.Format("15:04")] = true
		return errors.Join(errs...)
	}}
	run(t, sc, ds, st)
	for _, hm := range []string{"00:00", "11:00", "11:30", "12:00", "23:30"} {
		if !checked[hm] {
			t.Errorf("no step at %s was checked", hm)
		}
	}
}

// TestVisibilityErrorStopsRun: a strategy that asks for t_k + 1h and
// returns the error makes Run fail with that error wrapped, its code still
// ENOTVISIBLE.
func TestVisibilityErrorStopsRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		ask  func(v procurebot.View) error
	}{
		{"realtime power next hour", func(v procurebot.View) error {
			_, err := v.Power(0, v.Now().Add(time.Hour))
			return err
		}},
		{"dayahead power of D+2", func(v procurebot.View) error {
			_, err := v.Power(1, at(48))
			return err
		}},
		{"book after now", func(v procurebot.View) error {
			_, err := v.Book(v.Now().Add(time.Nanosecond))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, ds := visScenario(time.Hour)
			prepare(t, sc, ds)
			var inner error
			st := &scripted{check: func(v procurebot.View) error {
				if v.Step() < 2 {
					return nil
				}
				inner = tc.ask(v)
				return inner
			}}
			res, err := runErr(t, sc, ds, st)
			if res != nil {
				t.Errorf("Run returned a result with its error")
			}
			wantCode(t, inner, procurebot.ENOTVISIBLE)
			wantCode(t, err, procurebot.ENOTVISIBLE)
			if !errors.Is(err, inner) {
				t.Errorf("Run's error %v does not wrap the strategy's %v", err, inner)
			}
			if !strings.Contains(err.Error(), "step 2") {
				t.Errorf("Run's error %q does not name step 2", err)
			}
			if fmt.Sprint(st.calls) != "[0 1 2]" {
				t.Errorf("strategy called at steps %v, want [0 1 2]", st.calls)
			}
		})
	}
}

// TestVisibilitySnapshots: with GPU and token snapshots between steps, the
// view shows exactly those with Time ≤ Now, in a slice whose capacity
// reveals nothing later, and Book(t) refuses t after Now.
func TestVisibilitySnapshots(t *testing.T) {
	gpuTimes := []time.Time{at(0).Add(30 * time.Minute), at(2), at(2).Add(59 * time.Minute), at(5).Add(10 * time.Minute)}
	tokTimes := []time.Time{at(1).Add(15 * time.Minute), at(3), at(6).Add(30 * time.Minute)}
	var gpu []procurebot.Snapshot
	for i, tm := range gpuTimes {
		gpu = append(gpu, procurebot.Snapshot{Time: tm, Offers: []procurebot.Offer{
			perGPU("lambdalabs", "H100", fmt.Sprintf("2.%d", i), procurebot.SpotFalse),
		}})
	}
	var tok []procurebot.TokenSnapshot
	for i, tm := range tokTimes {
		tok = append(tok, procurebot.TokenSnapshot{Time: tm, Prices: []procurebot.TokenPrice{
			tokens("p", "m", fmt.Sprintf("1.%d", i), "2"),
		}})
	}
	sc := &procurebot.Scenario{
		Start: t0, End: at(8),
		Jobs:      []procurebot.Job{{ID: "j", GPU: "H100", MaxGPUs: 1, GPUHours: d("100"), Release: t0, Deadline: at(8)}},
		Inference: []procurebot.Inference{{ID: "w", Model: "m", MTokInPerHour: d("1"), MTokOutPerHour: d("1")}},
	}
	ds := dataset(nil, gpu, tok)
	prepare(t, sc, ds)

	// Visible counts per step k (t_k = k:00): GPU snapshots at 00:30, 02:00,
	// 02:59, 05:10; token snapshots at 01:15, 03:00, 06:30.
	wantGPU := []int{0, 1, 2, 3, 3, 3, 4, 4}
	wantTok := []int{0, 0, 1, 2, 2, 2, 2, 3}
	st := &scripted{check: func(v procurebot.View) error {
		k, now := v.Step(), v.Now()
		var errs []error
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("step %d: "+format, append([]any{k}, args...)...))
		}

		s := v.Snapshots()
		if len(s) != wantGPU[k] {
			fail("len(Snapshots) = %d, want %d", len(s), wantGPU[k])
		}
		for _, x := range s {
			if x.Time.After(now) {
				fail("snapshot at %s after now %s", x.Time, now)
			}
		}
		if cap(s) != len(s) {
			fail("cap(Snapshots) = %d > len %d: later snapshots reachable", cap(s), len(s))
		}
		if ext := s[:cap(s)]; len(ext) > 0 && ext[len(ext)-1].Time.After(now) {
			fail("reslicing Snapshots to cap reveals %s", ext[len(ext)-1].Time)
		}
		if len(s) < len(ds.GPU) {
			before := ds.GPU[len(s)].Time
			_ = append(s, procurebot.Snapshot{Time: at(99)})
			if !ds.GPU[len(s)].Time.Equal(before) {
				fail("appending to Snapshots overwrote the data set")
			}
		}

		ts := v.TokenSnapshots()
		if len(ts) != wantTok[k] {
			fail("len(TokenSnapshots) = %d, want %d", len(ts), wantTok[k])
		}
		for _, x := range ts {
			if x.Time.After(now) {
				fail("token snapshot at %s after now %s", x.Time, now)
			}
		}
		if cap(ts) != len(ts) {
			fail("cap(TokenSnapshots) = %d > len %d: later snapshots reachable", cap(ts), len(ts))
		}
		if len(ts) < len(ds.Tokens) {
			before := ds.Tokens[len(ts)].Time
			_ = append(ts, procurebot.TokenSnapshot{Time: at(99)})
			if !ds.Tokens[len(ts)].Time.Equal(before) {
				fail("appending to TokenSnapshots overwrote the data set")
			}
		}

		// Book: the last visible snapshot at Now, earlier books by time,
		// nothing after Now.
		book, err := v.Book(now)
		switch {
		case err != nil:
			fail("Book(now): %v", err)
		case len(s) == 0 && book != nil:
			fail("Book(now) = %v before the first snapshot, want nil", book)
		case len(s) > 0 && (len(book) != 1 || !book[0].PerGPU.Equal(s[len(s)-1].Offers[0].PerGPU)):
			fail("Book(now) = %v, want the last visible snapshot's %v", book, s[len(s)-1].Offers)
		}
		if k >= 3 {
			if b, err := v.Book(at(2).Add(30 * time.Minute)); err != nil || len(b) != 1 || !b[0].PerGPU.Equal(d("2.1")) {
				fail("Book(02:30) = %v, %v; want the 02:00 book (2.1)", b, err)
			}
		}
		for _, later := range []time.Time{now.Add(time.Nanosecond), now.Add(time.Hour), at(99)} {
			if b, err := v.Book(later); procurebot.ErrorCode(err) != procurebot.ENOTVISIBLE || b != nil {
				fail("Book(%s) = %v, %v; want nil, ENOTVISIBLE", later.Format(time.RFC3339Nano), b, err)
			}
		}

		// Own progress: one GPU per step from step 1 (no switch cost).
		if got := v.Delivered(0); !got.Equal(n(int64(max(k-1, 0)))) {
			fail("Delivered(0) = %s, want %d", got, max(k-1, 0))
		}
		prev := v.Previous()
		if k <= 1 && len(prev.Jobs) != 0 || k >= 2 && (len(prev.Jobs) != 1 || prev.Jobs[0].GPUs != 1) {
			fail("Previous() = %+v", prev)
		}
		return errors.Join(errs...)
	}}
	// Rent one GPU of the book's only row from step 1 (step 0 has no book).
	st.steps = make([]procurebot.Decision, 8)
	for k := 1; k < 8; k++ {
		st.steps[k] = procurebot.Decision{Jobs: []procurebot.JobAlloc{{Job: 0, Site: -1, Offer: 0, GPUs: 1}}}
	}
	res := run(t, sc, ds, st)
	// Tokens: not sold before 01:15 → steps 0, 1 unserved (2 Mtok each);
	// then 1.0·1 + 2·1 = 3 (steps 2), 1.1 + 2 = 3.1 (steps 3…6), 1.2 + 2 = 3.2 (step 7).
	if want := d("4"); !res.UnservedMTok.Equal(want) {
		t.Errorf("UnservedMTok = %s, want %s", res.UnservedMTok, want)
	}
	if want := d("18.6"); !res.InferenceCostUSD.Equal(want) {
		t.Errorf("InferenceCostUSD = %s, want %s", res.InferenceCostUSD, want)
	}
	// Rentals: 2.0 (step 1), 2.1 (2), 2.2 (3, 4, 5: the 02:59 book), 2.3 (6, 7).
	if want := d("15.3"); !res.RentalCostUSD.Equal(want) {
		t.Errorf("RentalCostUSD = %s, want %s", res.RentalCostUSD, want)
	}
}

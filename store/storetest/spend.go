package storetest

import (
	"testing"
	"time"

	"github.com/procurebot/procurebot"
)

// total returns the key of all spending.
func total() procurebot.SpendKey { return procurebot.SpendKey{Scope: procurebot.ScopeTotal} }

// provider returns the key of spending at one provider.
func provider(name string) procurebot.SpendKey {
	return procurebot.SpendKey{Scope: procurebot.ScopeProvider, Name: name}
}

// job returns the key of spending for one job.
func job(name string) procurebot.SpendKey {
	return procurebot.SpendKey{Scope: procurebot.ScopeJob, Name: name}
}

func capOf(k procurebot.SpendKey, w procurebot.Window, limit string) procurebot.SpendCap {
	return procurebot.SpendCap{Key: k, Window: w, LimitUSD: usd(limit)}
}

// wantSpent fails the test unless the counter of k, w at `at` holds want.
func wantSpent(t testing.TB, s Store, what string, at time.Time, k procurebot.SpendKey, w procurebot.Window, want string) {
	t.Helper()
	got, err := s.Spent(ctxT(t), at, k, w)
	if err != nil {
		t.Errorf("%s: spent %s per %s: %v", what, k, w, err)
		return
	}
	if !got.Equal(usd(want)) {
		t.Errorf("%s: spent %s per %s at %s = %s, want %s", what, k, w, at.Format(time.RFC3339), got, want)
	}
}

// spendOp is one step of a spend scenario.
type spendOp struct {
	name    string
	release bool
	at      time.Time
	amount  string
	caps    []procurebot.SpendCap
	code    string               // wanted error code
	refused *procurebot.SpendCap // for ECAP: the cap named
	spent   string               // for ECAP: SpentUSD named
}

func runSpend(t *testing.T, s Store, ops []spendOp) {
	t.Helper()
	ctx := ctxT(t)
	for _, op := range ops {
		var err error
		if op.release {
			err = s.Release(ctx, op.at, usd(op.amount), op.caps)
		} else {
			err = s.Reserve(ctx, op.at, usd(op.amount), op.caps)
		}
		wantCode(t, op.name, err, op.code)
		if op.code != procurebot.ECAP {
			continue
		}
		ce := capErr(err)
		if ce == nil {
			t.Errorf("%s: %v is not a *procurebot.CapExceededError", op.name, err)
			continue
		}
		if ce.Cap.Key != op.refused.Key || ce.Cap.Window != op.refused.Window || !ce.Cap.LimitUSD.Equal(op.refused.LimitUSD) {
			t.Errorf("%s: refused by %s, want %s", op.name, ce.Cap, op.refused)
		}
		if !ce.SpentUSD.Equal(usd(op.spent)) || !ce.AmountUSD.Equal(usd(op.amount)) {
			t.Errorf("%s: error says %s spent, %s refused; want %s, %s", op.name, ce.SpentUSD, ce.AmountUSD, op.spent, op.amount)
		}
	}
}

func testSpend(t *testing.T, open Opener) {
	b := base()
	dayTotal := capOf(total(), procurebot.WindowDay, "100")
	hourRunpod := capOf(provider("runpod"), procurebot.WindowHour, "30")

	t.Run("CheckAndAdd", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		both := []procurebot.SpendCap{dayTotal, hourRunpod}
		runSpend(t, s, []spendOp{
			{name: "first", at: b, amount: "20", caps: both},
			{name: "up to the hour cap exactly", at: b, amount: "10", caps: both},
			{name: "over the hour cap", at: b, amount: "0.000001", caps: both, code: procurebot.ECAP, refused: &hourRunpod, spent: "30"},
			{name: "next hour", at: b.Add(time.Hour), amount: "30", caps: both},
			{name: "other provider, same day", at: b, amount: "30", caps: []procurebot.SpendCap{dayTotal, capOf(provider("lambda"), procurebot.WindowHour, "30")}},
			{name: "day cap refuses first", at: b.Add(2 * time.Hour), amount: "25", caps: both, code: procurebot.ECAP, refused: &dayTotal, spent: "90"},
			{name: "order decides which cap is named", at: b.Add(2 * time.Hour), amount: "31", caps: []procurebot.SpendCap{hourRunpod, dayTotal}, code: procurebot.ECAP, refused: &hourRunpod, spent: "0"},
			{name: "zero amount", at: b, amount: "0", caps: both},
			{name: "no caps", at: b, amount: "1000000"},
		})
		// Nothing was added by the refused reservations.
		wantSpent(t, s, "after", b, total(), procurebot.WindowDay, "90")
		wantSpent(t, s, "after", b, provider("runpod"), procurebot.WindowHour, "30")
		wantSpent(t, s, "after", b.Add(time.Hour), provider("runpod"), procurebot.WindowHour, "30")
		wantSpent(t, s, "after", b.Add(2*time.Hour), provider("runpod"), procurebot.WindowHour, "0")
		wantSpent(t, s, "after", b, provider("lambda"), procurebot.WindowHour, "30")
		wantSpent(t, s, "next day", b.Add(24*time.Hour), total(), procurebot.WindowDay, "0")
		wantSpent(t, s, "uncapped window", b, total(), procurebot.WindowMonth, "0")
	})

	t.Run("Windows", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		caps := []procurebot.SpendCap{
			capOf(job("train-a"), procurebot.WindowHour, "1000"), capOf(job("train-a"), procurebot.WindowDay, "1000"),
			capOf(job("train-a"), procurebot.WindowMonth, "1000"), capOf(job("train-a"), procurebot.WindowTotal, "1000"),
		}
		times := []time.Time{
			time.Date(2024, 10, 31, 23, 59, 59, 999999999, time.UTC),          // last instant of October
			time.Date(2024, 11, 1, 0, 0, 0, 0, time.UTC),                      // first of November
			time.Date(2024, 11, 1, 0, 59, 0, 0, time.FixedZone("X", -5*3600)), // 05:59 UTC
		}
		for _, at := range times {
			must(t, "reserve", s.Reserve(ctxT(t), at, usd("1"), caps))
		}
		wantSpent(t, s, "hour", times[0], job("train-a"), procurebot.WindowHour, "1")
		wantSpent(t, s, "hour", times[1], job("train-a"), procurebot.WindowHour, "1")
		wantSpent(t, s, "hour", times[2], job("train-a"), procurebot.WindowHour, "1")
		wantSpent(t, s, "day", times[0], job("train-a"), procurebot.WindowDay, "1")
		wantSpent(t, s, "day", times[1], job("train-a"), procurebot.WindowDay, "2")
		wantSpent(t, s, "month", times[0], job("train-a"), procurebot.WindowMonth, "1")
		wantSpent(t, s, "month", times[2], job("train-a"), procurebot.WindowMonth, "2")
		wantSpent(t, s, "total", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), job("train-a"), procurebot.WindowTotal, "3")
		// A total key ignores a name.
		must(t, "reserve", s.Reserve(ctxT(t), b, usd("1"), []procurebot.SpendCap{capOf(procurebot.SpendKey{Scope: procurebot.ScopeTotal, Name: "x"}, procurebot.WindowTotal, "10")}))
		wantSpent(t, s, "total key", b, total(), procurebot.WindowTotal, "1")
	})

	t.Run("SharedCounterAndRounding", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		loose, tight := capOf(provider("runpod"), procurebot.WindowDay, "10"), capOf(provider("runpod"), procurebot.WindowDay, "1")
		runSpend(t, s, []spendOp{
			{name: "two caps on one counter add once", at: b, amount: "0.6", caps: []procurebot.SpendCap{loose, tight}},
			{name: "the tighter one refuses", at: b, amount: "0.5", caps: []procurebot.SpendCap{loose, tight}, code: procurebot.ECAP, refused: &tight, spent: "0.6"},
			{name: "sub-micro amounts round up", at: b, amount: "0.0000001", caps: []procurebot.SpendCap{loose}},
		})
		wantSpent(t, s, "after", b, provider("runpod"), procurebot.WindowDay, "0.600001")
	})

	t.Run("LargeAmountsExact", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		// 2^53 micro-USD is the largest amount ToMicroUSD accepts.
		top := capOf(total(), procurebot.WindowTotal, "9007199254.740992")
		runSpend(t, s, []spendOp{
			{name: "nine billion", at: b, amount: "9000000000", caps: []procurebot.SpendCap{top}},
			{name: "to the limit exactly", at: b, amount: "7199254.740991", caps: []procurebot.SpendCap{top}},
			{name: "last micro-dollar", at: b, amount: "0.000001", caps: []procurebot.SpendCap{top}},
			{name: "one more", at: b, amount: "0.000001", caps: []procurebot.SpendCap{top}, code: procurebot.ECAP, refused: &top, spent: "9007199254.740992"},
			{name: "beyond range", at: b, amount: "9007199254.740993", caps: []procurebot.SpendCap{top}, code: procurebot.EINVALID},
		})
		wantSpent(t, s, "after", b, total(), procurebot.WindowTotal, "9007199254.740992")
	})

	t.Run("Release", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		both := []procurebot.SpendCap{dayTotal, hourRunpod}
		runSpend(t, s, []spendOp{
			{name: "reserve", at: b, amount: "25", caps: both},
			{name: "release part", release: true, at: b, amount: "10", caps: both},
			{name: "reserve again", at: b, amount: "15", caps: both},
			{name: "release more than held", release: true, at: b, amount: "1000", caps: []procurebot.SpendCap{hourRunpod}},
			{name: "release where nothing was held", release: true, at: b.Add(5 * time.Hour), amount: "5", caps: []procurebot.SpendCap{hourRunpod}},
			{name: "release with no caps", release: true, at: b, amount: "5"},
			{name: "negative release", release: true, at: b, amount: "-1", caps: both, code: procurebot.EINVALID},
		})
		wantSpent(t, s, "day", b, total(), procurebot.WindowDay, "30")
		wantSpent(t, s, "hour", b, provider("runpod"), procurebot.WindowHour, "0")
		wantSpent(t, s, "empty hour", b.Add(5*time.Hour), provider("runpod"), procurebot.WindowHour, "0")
		// After the release the hour cap has room again.
		runSpend(t, s, []spendOp{{name: "room again", at: b, amount: "30", caps: []procurebot.SpendCap{hourRunpod}}})
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		bad := []struct {
			name string
			caps []procurebot.SpendCap
			amt  string
			at   time.Time
		}{
			{"negative amount", []procurebot.SpendCap{dayTotal}, "-1", b},
			{"zero time", []procurebot.SpendCap{dayTotal}, "1", time.Time{}},
			{"unknown scope", []procurebot.SpendCap{capOf(procurebot.SpendKey{Scope: "team", Name: "x"}, procurebot.WindowDay, "1")}, "1", b},
			{"provider without name", []procurebot.SpendCap{capOf(procurebot.SpendKey{Scope: procurebot.ScopeProvider}, procurebot.WindowDay, "1")}, "1", b},
			{"unknown window", []procurebot.SpendCap{capOf(total(), "week", "1")}, "1", b},
			{"negative limit", []procurebot.SpendCap{capOf(total(), procurebot.WindowDay, "-1")}, "1", b},
			{"one bad cap among good ones", []procurebot.SpendCap{dayTotal, capOf(total(), "fortnight", "1")}, "1", b},
		}
		for _, c := range bad {
			wantCode(t, "reserve: "+c.name, s.Reserve(ctx, c.at, usd(c.amt), c.caps), procurebot.EINVALID)
			wantCode(t, "release: "+c.name, s.Release(ctx, c.at, usd(c.amt), c.caps), procurebot.EINVALID)
		}
		wantSpent(t, s, "nothing added", b, total(), procurebot.WindowDay, "0")
		_, err := s.Spent(ctx, b, procurebot.SpendKey{Scope: "team"}, procurebot.WindowDay)
		wantCode(t, "spent of unknown scope", err, procurebot.EINVALID)
		_, err = s.Spent(ctx, b, total(), "week")
		wantCode(t, "spent of unknown window", err, procurebot.EINVALID)
	})
}

package storetest

import (
	"testing"
	"time"

	"github.com/procurebot/procurebot"
)

// leaseStep is one call in a lease scenario.
type leaseStep struct {
	name   string
	op     string // acquire, renew, release
	holder string
	lease  *procurebot.Lease // renew and release: which lease (nil: the last one holder got)
	ttl    time.Duration
	now    time.Time
	code   string
	token  uint64 // acquire and renew: wanted token
}

func runLeases(t *testing.T, s Store, name string, steps []leaseStep) {
	t.Helper()
	ctx := ctxT(t)
	got := map[string]procurebot.Lease{} // last lease each holder got
	for _, st := range steps {
		l := got[st.holder]
		if st.lease != nil {
			l = *st.lease
		}
		var (
			res procurebot.Lease
			err error
		)
		switch st.op {
		case "acquire":
			res, err = s.AcquireLease(ctx, name, st.holder, st.ttl, st.now)
		case "renew":
			res, err = s.RenewLease(ctx, l, st.ttl, st.now)
		case "release":
			err = s.ReleaseLease(ctx, l)
		}
		wantCode(t, st.name, err, st.code)
		if err != nil || st.op == "release" {
			continue
		}
		want := procurebot.Lease{Name: name, Holder: st.holder, Token: st.token, Expires: st.now.Add(st.ttl)}
		if res.Name != want.Name || res.Holder != want.Holder || res.Token != want.Token || !res.Expires.Equal(want.Expires) {
			t.Errorf("%s: lease %+v, want %+v", st.name, res, want)
		}
		got[st.holder] = res
	}
}

func testLeases(t *testing.T, open Opener) {
	b := base()
	const ttl = 10 * time.Second

	t.Run("AcquireRenewRelease", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		runLeases(t, s, "leader", []leaseStep{
			{name: "free", op: "acquire", holder: "a", ttl: ttl, now: b, token: 1},
			{name: "same holder renews by acquiring", op: "acquire", holder: "a", ttl: ttl, now: b.Add(5 * time.Second), token: 1},
			{name: "other holder while held", op: "acquire", holder: "b", ttl: ttl, now: b.Add(14 * time.Second), code: procurebot.ECONFLICT},
			{name: "renew", op: "renew", holder: "a", ttl: 2 * ttl, now: b.Add(14 * time.Second), token: 1},
			{name: "other holder a microsecond before expiry", op: "acquire", holder: "b", ttl: ttl, now: b.Add(34*time.Second - time.Microsecond), code: procurebot.ECONFLICT},
			{name: "other holder at expiry", op: "acquire", holder: "b", ttl: ttl, now: b.Add(34 * time.Second), token: 2},
			{name: "old holder renews", op: "renew", holder: "a", ttl: ttl, now: b.Add(35 * time.Second), code: procurebot.ECONFLICT},
			{name: "old holder releases", op: "release", holder: "a", code: procurebot.ECONFLICT},
			{name: "old holder acquires", op: "acquire", holder: "a", ttl: ttl, now: b.Add(35 * time.Second), code: procurebot.ECONFLICT},
			{name: "stale token of the holder", op: "renew", holder: "b", lease: &procurebot.Lease{Name: "leader", Holder: "b", Token: 1}, ttl: ttl, now: b.Add(35 * time.Second), code: procurebot.ECONFLICT},
			{name: "holder releases", op: "release", holder: "b"},
			{name: "release again", op: "release", holder: "b"},
			{name: "renew after release", op: "renew", holder: "b", ttl: ttl, now: b.Add(36 * time.Second), code: procurebot.ECONFLICT},
			{name: "acquire after release gets a new token", op: "acquire", holder: "a", ttl: ttl, now: b.Add(36 * time.Second), token: 3},
			{name: "renew after expiry", op: "renew", holder: "a", ttl: ttl, now: b.Add(46 * time.Second), code: procurebot.ECONFLICT},
			{name: "same holder after expiry gets a new token", op: "acquire", holder: "a", ttl: ttl, now: b.Add(46 * time.Second), token: 4},
		})
	})

	t.Run("NamesAreIndependent", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		runLeases(t, s, "one", []leaseStep{{name: "one", op: "acquire", holder: "a", ttl: ttl, now: b, token: 1}})
		runLeases(t, s, "two", []leaseStep{
			{name: "two", op: "acquire", holder: "b", ttl: ttl, now: b, token: 1},
			{name: "two again", op: "acquire", holder: "c", ttl: ttl, now: b.Add(ttl), token: 2},
		})
		runLeases(t, s, "one:two", []leaseStep{{name: "name with a colon", op: "acquire", holder: "d", ttl: ttl, now: b, token: 1}})
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		for _, c := range []struct {
			name, lease, holder string
			ttl                 time.Duration
			now                 time.Time
		}{
			{"no name", "", "a", ttl, b},
			{"no holder", "x", "", ttl, b},
			{"zero ttl", "x", "a", 0, b},
			{"negative ttl", "x", "a", -time.Second, b},
			{"zero now", "x", "a", ttl, time.Time{}},
		} {
			_, err := s.AcquireLease(ctx, c.lease, c.holder, c.ttl, c.now)
			wantCode(t, "acquire: "+c.name, err, procurebot.EINVALID)
			_, err = s.RenewLease(ctx, procurebot.Lease{Name: c.lease, Holder: c.holder, Token: 1}, c.ttl, c.now)
			wantCode(t, "renew: "+c.name, err, procurebot.EINVALID)
		}
		wantCode(t, "release without name", s.ReleaseLease(ctx, procurebot.Lease{Holder: "a"}), procurebot.EINVALID)
		// None of the refused calls took the lease.
		l, err := s.AcquireLease(ctx, "x", "z", ttl, b)
		must(t, "acquire", err)
		if l.Token != 1 {
			t.Errorf("token %d after refused calls, want 1", l.Token)
		}
	})
}

package redis_test

import (
	"context"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/store/redis"
	"github.com/procurebot/procurebot/store/redis/redistest"
	"github.com/procurebot/procurebot/store/storetest"
)

// testStore remembers the options it was opened with, to reopen it.
type testStore struct {
	*redis.Store
	opt *goredis.Options
}

// openOn opens a store on opt and prefix, closed when t ends.
func openOn(t testing.TB, opt *goredis.Options, prefix string) *testStore {
	t.Helper()
	s, err := redis.Open(context.Background(), opt, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &testStore{Store: s, opt: opt}
}

// open returns a store under a fresh prefix on a real server.
func open(t testing.TB) storetest.Store {
	t.Helper()
	srv := redistest.Start(t)
	return openOn(t, srv.Options(), srv.Prefix)
}

// reopen closes s and connects a new client to the same server and prefix.
func reopen(t testing.TB, s storetest.Store) storetest.Store {
	t.Helper()
	ts := s.(*testStore)
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	return openOn(t, ts.opt, ts.Prefix())
}

// outage returns a store on a persistent server of the test's own.
func outage(t testing.TB) *storetest.Outage {
	t.Helper()
	srv := redistest.StartOwn(t)
	return &storetest.Outage{Store: openOn(t, srv.Options(), srv.Prefix), Addr: srv.Addr, Stop: srv.Stop, Start: srv.Restart}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open, storetest.Hooks{Reopen: reopen, Outage: outage})
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)

	s, err := redis.OpenURL(ctx, "redis://"+srv.Addr+"/0", srv.Prefix)
	if err != nil {
		t.Fatalf("open URL: %v", err)
	}
	if s.Addr() != srv.Addr || s.Prefix() != srv.Prefix {
		t.Errorf("store on %s prefix %s, want %s prefix %s", s.Addr(), s.Prefix(), srv.Addr, srv.Prefix)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}

	// Nothing listens on a port of a server that was stopped.
	dead := redistest.StartOwn(t)
	dead.Stop()
	for _, c := range []struct {
		name string
		open func() (*redis.Store, error)
		code string
		says string
	}{
		{"unreachable", func() (*redis.Store, error) { return redis.Open(ctx, dead.Options(), "p") }, procurebot.EUNAVAILABLE, dead.Addr},
		{"unreachable URL", func() (*redis.Store, error) {
			return redis.OpenURL(ctx, "redis://"+dead.Addr+"/0?dial_timeout=1s", "p")
		}, procurebot.EUNAVAILABLE, dead.Addr},
		{"bad URL", func() (*redis.Store, error) { return redis.OpenURL(ctx, "http://x", "p") }, procurebot.EINVALID, "URL"},
		{"no prefix", func() (*redis.Store, error) { return redis.Open(ctx, srv.Options(), "") }, procurebot.EINVALID, "prefix"},
		{"no options", func() (*redis.Store, error) { return redis.Open(ctx, nil, "p") }, procurebot.EINVALID, "options"},
	} {
		s, err := c.open()
		if err == nil {
			_ = s.Close()
		}
		if got := procurebot.ErrorCode(err); got != c.code || err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v (code %q), want code %q naming %q", c.name, err, got, c.code, c.says)
		}
	}
}

// BenchmarkStore runs on the shared server (or one without persistence).
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, open)
}

// BenchmarkStoreFsync runs on a server of its own that fsyncs its
// append-only file before acknowledging each write, as the outage test's.
func BenchmarkStoreFsync(b *testing.B) {
	storetest.Bench(b, func(t testing.TB) storetest.Store {
		srv := redistest.StartOwn(t)
		return openOn(t, srv.Options(), srv.Prefix)
	})
}

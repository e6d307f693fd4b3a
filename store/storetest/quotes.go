package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/procurebot/procurebot"
)

// wantQuote fails the test unless GetQuote(key, now) returns want (nil:
// a miss).
func wantQuote(t testing.TB, s Store, what, key string, now time.Time, want []byte) {
	t.Helper()
	got, ok, err := s.GetQuote(ctxT(t), key, now)
	switch {
	case err != nil:
		t.Errorf("%s: get quote %s: %v", what, key, err)
	case want == nil && ok:
		t.Errorf("%s: quote %s = %q, want a miss", what, key, got)
	case want != nil && !ok:
		t.Errorf("%s: quote %s missed, want %q", what, key, want)
	case want != nil && !bytes.Equal(got, want):
		t.Errorf("%s: quote %s = %q, want %q", what, key, got, want)
	}
}

func testQuotes(t *testing.T, open Opener) {
	// Real time: a server-side expiry (Redis) counts on its own clock.
	now := time.Now().UTC()
	const ttl = time.Hour

	t.Run("PutGetExpire", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		bin := []byte{0, 1, 2, 0xff, 0, '\n'}
		must(t, "put", s.PutQuote(ctx, "runpod/h100", []byte(`{"usd":"2.49"}`), ttl, now))
		must(t, "put binary", s.PutQuote(ctx, "bin", bin, ttl, now))
		must(t, "put empty", s.PutQuote(ctx, "empty", []byte{}, ttl, now))
		wantQuote(t, s, "fresh", "runpod/h100", now, []byte(`{"usd":"2.49"}`))
		wantQuote(t, s, "binary", "bin", now.Add(time.Minute), bin)
		wantQuote(t, s, "empty", "empty", now, []byte{})
		wantQuote(t, s, "just before expiry", "runpod/h100", now.Add(ttl-time.Nanosecond), []byte(`{"usd":"2.49"}`))
		wantQuote(t, s, "at expiry", "runpod/h100", now.Add(ttl), nil)
		wantQuote(t, s, "absent", "lambda/h100", now, nil)

		must(t, "overwrite", s.PutQuote(ctx, "runpod/h100", []byte("new"), 2*ttl, now.Add(time.Minute)))
		wantQuote(t, s, "overwritten", "runpod/h100", now.Add(time.Minute), []byte("new"))
		wantQuote(t, s, "new expiry", "runpod/h100", now.Add(ttl+time.Minute), []byte("new"))
		must(t, "overwrite shorter", s.PutQuote(ctx, "runpod/h100", []byte("short"), time.Minute, now.Add(time.Minute)))
		wantQuote(t, s, "shorter expiry", "runpod/h100", now.Add(2*time.Minute), nil)

		// The caller's buffer is not kept.
		buf := []byte("abc")
		must(t, "put buf", s.PutQuote(ctx, "buf", buf, ttl, now))
		buf[0] = 'x'
		wantQuote(t, s, "copied", "buf", now, []byte("abc"))
	})

	t.Run("ManyExpire", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		for i := range 200 {
			must(t, "put", s.PutQuote(ctx, fmt.Sprint("q", i), []byte{byte(i)}, time.Duration(i+1)*time.Second, now))
		}
		must(t, "put late", s.PutQuote(ctx, "late", []byte("l"), ttl, now.Add(100*time.Second)))
		for i := range 200 {
			var want []byte
			if i >= 150 {
				want = []byte{byte(i)}
			}
			wantQuote(t, s, "after 150 s", fmt.Sprint("q", i), now.Add(150*time.Second), want)
		}
		wantQuote(t, s, "late", "late", now.Add(150*time.Second), []byte("l"))
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		wantCode(t, "empty key", s.PutQuote(ctx, "", []byte("x"), ttl, now), procurebot.EINVALID)
		wantCode(t, "zero ttl", s.PutQuote(ctx, "k", []byte("x"), 0, now), procurebot.EINVALID)
		wantCode(t, "negative ttl", s.PutQuote(ctx, "k", []byte("x"), -time.Second, now), procurebot.EINVALID)
		wantCode(t, "zero now", s.PutQuote(ctx, "k", []byte("x"), ttl, time.Time{}), procurebot.EINVALID)
		_, _, err := s.GetQuote(ctx, "", now)
		wantCode(t, "get empty key", err, procurebot.EINVALID)
		wantQuote(t, s, "nothing stored", "k", now, nil)
	})
}

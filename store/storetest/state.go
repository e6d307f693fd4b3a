package storetest

import (
	"bytes"
	"testing"

	"github.com/procurebot/procurebot"
)

// wantState fails the test unless GetState(key) returns want (nil: none
// was put).
func wantState(t testing.TB, s Store, what, key string, want []byte) {
	t.Helper()
	got, ok, err := s.GetState(ctxT(t), key)
	switch {
	case err != nil:
		t.Errorf("%s: get state %s: %v", what, key, err)
	case want == nil && (ok || got != nil):
		t.Errorf("%s: state %s = %q, %v; want none", what, key, got, ok)
	case want != nil && !ok:
		t.Errorf("%s: state %s missing, want %q", what, key, want)
	case want != nil && (got == nil || !bytes.Equal(got, want)):
		t.Errorf("%s: state %s = %q (nil: %v), want %q", what, key, got, got == nil, want)
	}
}

func testState(t *testing.T, open Opener, reopen func(testing.TB, Store) Store) {
	big := bytes.Repeat([]byte{0, 1, 2, 0xfe, 0xff, '\n'}, 64<<10/6)
	values := []struct {
		key   string
		value []byte
	}{
		{"agent/checkpoint", []byte(`{"done":"2024-10-01T12:00:00Z","step":"2024-10-01T13:00:00Z"}`)},
		{"with:colon", []byte("x")},
		{"binary", []byte{0, 0xff, 0, '\r', '\n'}},
		{"empty", []byte{}},
		{"nil", nil}, // stored as empty: it was put
		{"big", big},
	}
	// stored is what GetState returns for a put value.
	stored := func(v []byte) []byte {
		if v == nil {
			return []byte{}
		}
		return v
	}

	t.Run("PutGet", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		for _, v := range values {
			must(t, "put "+v.key, s.PutState(ctx, v.key, v.value))
		}
		for _, v := range values {
			wantState(t, s, "get", v.key, stored(v.value))
		}
		wantState(t, s, "absent", "agent/other", nil)
		wantState(t, s, "prefix of a key", "agent", nil)

		must(t, "overwrite", s.PutState(ctx, "agent/checkpoint", []byte("2")))
		wantState(t, s, "overwritten", "agent/checkpoint", []byte("2"))
		must(t, "overwrite with empty", s.PutState(ctx, "with:colon", nil))
		wantState(t, s, "overwritten with empty", "with:colon", []byte{})
	})

	t.Run("Buffers", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		buf := []byte("abc")
		must(t, "put", s.PutState(ctx, "k", buf))
		buf[0] = 'x' // the caller's buffer is not kept
		got, ok, err := s.GetState(ctx, "k")
		must(t, "get", err)
		if !ok || string(got) != "abc" {
			t.Fatalf("state k = %q, %v; want abc", got, ok)
		}
		got[0] = 'y' // nor is the returned one the store's
		wantState(t, s, "after changing buffers", "k", []byte("abc"))
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		wantCode(t, "put empty key", s.PutState(ctx, "", []byte("x")), procurebot.EINVALID)
		got, ok, err := s.GetState(ctx, "")
		wantCode(t, "get empty key", err, procurebot.EINVALID)
		if ok || got != nil {
			t.Errorf("get empty key: %q, %v", got, ok)
		}
	})

	t.Run("Restart", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), ctxT(t)
		for _, v := range values {
			must(t, "put "+v.key, s.PutState(ctx, v.key, v.value))
		}
		s = reopen(t, s)
		for _, v := range values {
			wantState(t, s, "after restart", v.key, stored(v.value))
		}
		must(t, "put after restart", s.PutState(ctx, "agent/checkpoint", []byte("next")))
		s = reopen(t, s)
		wantState(t, s, "after second restart", "agent/checkpoint", []byte("next"))
	})
}

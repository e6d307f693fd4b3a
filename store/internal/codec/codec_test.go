package codec

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestKeysSortLikeTimes checks that TimeKey, LedgerKey and their hex forms
// order like (time, seq), across the zero of Unix time and the range of
// years.
func TestKeysSortLikeTimes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	times := []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(-1, 999999999), time.Unix(0, 0), time.Unix(0, 1),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	}
	for range 500 {
		times = append(times, time.Unix(r.Int64N(1<<37)-1<<36, r.Int64N(1e9)))
	}
	for i := range 2000 {
		a, b := times[r.IntN(len(times))], times[r.IntN(len(times))]
		sa, sb := uint64(r.IntN(3)), uint64(r.IntN(3))
		want := a.Compare(b)
		if want == 0 {
			want = cmpU(sa, sb)
		}
		ka, kb := LedgerKey(a, sa), LedgerKey(b, sb)
		if got := bytes.Compare(ka, kb); got != want {
			t.Fatalf("case %d: %s/%d vs %s/%d: key order %d, want %d", i, a, sa, b, sb, got, want)
		}
		// The Redis store's member keys: hex time key, then %016x of seq.
		ha, hb := fmt.Sprintf("%s%016x", HexTimeKey(a), sa), fmt.Sprintf("%s%016x", HexTimeKey(b), sb)
		if got := strings.Compare(ha, hb); got != want {
			t.Fatalf("case %d: hex key order %d, want %d", i, got, want)
		}
		if seq, err := SeqOfLedgerKey(ka); err != nil || seq != sa {
			t.Fatalf("seq of key: %d, %v; want %d", seq, err, sa)
		}
		if seq, err := SeqOfHexLedgerKey(ha + `{"json":1}`); err != nil || seq != sa {
			t.Fatalf("seq of hex key: %d, %v; want %d", seq, err, sa)
		}
	}
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

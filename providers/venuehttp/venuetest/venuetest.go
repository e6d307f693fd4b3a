// Package venuetest holds what venue adapter tests share: a fixed clock, a
// captured debug logger, and the standard check of a venue error.
package venuetest

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/procurebot/procurebot"
)

// Clock is a procurebot.Clock stopped at T.
type Clock struct{ T time.Time }

var _ procurebot.Clock = Clock{}

// Now returns T.
func (c Clock) Now() time.Time { return c.T }

// Sleep returns at once, without moving the clock: ctx.Err() if ctx is
// done, nil otherwise.
func (c Clock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// SyncBuffer is a log sink safe for the goroutines of a venue client.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what has been written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Logger returns a debug-level logger and the buffer it writes to.
func Logger() (zerolog.Logger, *SyncBuffer) {
	b := &SyncBuffer{}
	return zerolog.New(b).Level(zerolog.DebugLevel), b
}

// CheckError checks that err is an error with procurebot code code, whose
// message mentions every string of want and none of secrets. A nil err
// ends the test at once.
func CheckError(t testing.TB, err error, code string, want []string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s mentioning %q", code, want)
	}
	if c := procurebot.ErrorCode(err); c != code {
		t.Errorf("code %s, want %s (%v)", c, code, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	NoSecret(t, err.Error(), secrets...)
}

// NoSecret checks that text (an error message, captured logs) contains
// none of secrets. An empty secret is a mistake in the test and fails it.
func NoSecret(t testing.TB, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			t.Errorf("empty secret: nothing to look for")
			continue
		}
		if strings.Contains(text, s) {
			t.Errorf("%q leaked:\n%s", s, text)
		}
	}
}

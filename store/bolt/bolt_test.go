package bolt_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/store/bolt"
	"github.com/procurebot/procurebot/store/storetest"
)

// open returns a store in a new file of t's temporary directory.
func open(t testing.TB) storetest.Store {
	t.Helper()
	return openPath(t, filepath.Join(t.TempDir(), bolt.FileName))
}

func openPath(t testing.TB, path string) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// reopen closes s and opens its file again.
func reopen(t testing.TB, s storetest.Store) storetest.Store {
	t.Helper()
	path := s.(*bolt.Store).Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return openPath(t, path)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open, storetest.Hooks{Reopen: reopen})
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "dir", bolt.FileName)
	s := openPath(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Open did not create %s: %v", path, err)
	}

	// The file is locked while open: a second Open is EUNAVAILABLE, naming the file.
	_, err := bolt.Open(path)
	if procurebot.ErrorCode(err) != procurebot.EUNAVAILABLE || err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("second open: %v, want %s naming %s", err, procurebot.EUNAVAILABLE, path)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name, path string
		code       string
	}{
		{"empty path", "", procurebot.EINVALID},
		{"not a bolt file", writeFile(t, filepath.Join(dir, "junk.db"), "not a database"), procurebot.EINTERNAL},
		{"a directory", dir, procurebot.EINTERNAL},
	} {
		s, err := bolt.Open(c.path)
		if err == nil {
			_ = s.Close()
		}
		if got := procurebot.ErrorCode(err); got != c.code {
			t.Errorf("%s: %v (code %q), want code %q", c.name, err, got, c.code)
		}
	}
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, open)
}

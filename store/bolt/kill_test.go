package bolt_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/store/bolt"
)

// childEnv names the file a child process of TestKill9 writes to.
const childEnv = "PROCUREBOT_BOLT_KILL9_FILE"

// TestKill9 kills a process that appends and reserves (SIGKILL, mid-write)
// and checks that every write it acknowledged is in the file, which opens
// cleanly.
func TestKill9(t *testing.T) {
	if path := os.Getenv(childEnv); path != "" {
		writeUntilKilled(path)
		return
	}
	path := filepath.Join(t.TempDir(), bolt.FileName)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []uint64
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 300 {
		if seq, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			n, err := strconv.ParseUint(seq, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			acked = append(acked, n)
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("child acknowledged only %d writes before it ended", len(acked))
	}

	s, err := bolt.Open(path)
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	list, err := s.List(ctx, procurebot.LedgerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[uint64]bool{}
	for _, e := range list {
		stored[e.Seq] = true
	}
	for _, seq := range acked {
		if !stored[seq] {
			t.Errorf("acknowledged entry %d lost", seq)
		}
	}
	spent, err := s.Spent(ctx, time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC), procurebot.SpendKey{Scope: procurebot.ScopeTotal}, procurebot.WindowDay)
	if err != nil {
		t.Fatal(err)
	}
	// Each acknowledged step appended then reserved 1 USD; the step killed
	// may have done either part, or none.
	if n := int(spent.IntPart()); n < len(acked) || n > len(list) || len(list) > len(acked)+1 {
		t.Errorf("%d acknowledged steps, %d entries, %s USD reserved", len(acked), len(list), spent)
	}
}

// writeUntilKilled appends an entry and reserves 1 USD, then prints "ack
// <seq>", over and over.
func writeUntilKilled(path string) {
	s, err := bolt.Open(path)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	ctx := context.Background()
	at := time.Date(2024, 10, 1, 12, 0, 0, 0, time.UTC)
	caps := []procurebot.SpendCap{{Key: procurebot.SpendKey{Scope: procurebot.ScopeTotal}, Window: procurebot.WindowDay, LimitUSD: decimal.NewFromInt(1_000_000)}}
	for i := 0; ; i++ {
		e := &procurebot.LedgerEntry{Time: at.Add(time.Duration(i) * time.Second), Kind: procurebot.KindRental, AmountUSD: decimal.NewFromInt(1)}
		if err := s.Append(ctx, e); err != nil {
			fmt.Println("append:", err)
			os.Exit(1)
		}
		if err := s.Reserve(ctx, at, decimal.NewFromInt(1), caps); err != nil {
			fmt.Println("reserve:", err)
			os.Exit(1)
		}
		fmt.Println("ack", e.Seq)
	}
}

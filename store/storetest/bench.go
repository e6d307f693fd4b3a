package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/procurebot/procurebot"
)

// BenchClients is how many concurrent clients Bench runs.
const BenchClients = 8

// Bench measures, on stores open returns, ledger appends and spend
// reservations (the check-and-add of Reserve against three caps) with
// BenchClients concurrent clients, and reports ops/s and the 99th
// percentile latency of one operation (p99-µs) besides ns/op.
func Bench(b *testing.B, open Opener) {
	b.Run("LedgerAppend", func(b *testing.B) {
		s := open(b)
		benchClients(b, func(i int) error {
			e := &procurebot.LedgerEntry{Time: base().Add(time.Duration(i) * time.Millisecond), Kind: procurebot.KindRental,
				AmountUSD: usd("2.49"), Venue: "runpod", Note: "bench"}
			return s.Append(b.Context(), e)
		})
	})
	b.Run("Reserve", func(b *testing.B) {
		s := open(b)
		caps := []procurebot.SpendCap{
			capOf(total(), procurebot.WindowDay, "1000000000"),
			capOf(provider("runpod"), procurebot.WindowHour, "1000000000"),
			capOf(job("train-a"), procurebot.WindowMonth, "1000000000"),
		}
		benchClients(b, func(int) error { return s.Reserve(b.Context(), base(), usd("0.01"), caps) })
	})
}

// benchClients runs b.N calls of op over BenchClients goroutines and
// reports throughput and p99 latency.
func benchClients(b *testing.B, op func(i int) error) {
	lat := make([][]time.Duration, BenchClients)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	b.ResetTimer()
	start := time.Now()
	for c := range BenchClients {
		n := b.N / BenchClients
		if c < b.N%BenchClients {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat[c] = make([]time.Duration, 0, n)
			for j := range n {
				t0 := time.Now()
				if err := op(c*n + j); err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if first != nil {
		b.Fatal(first)
	}
	all := slices.Sorted(slices.Values(slices.Concat(lat...)))
	if len(all) == 0 {
		return
	}
	p99 := all[min(len(all)-1, len(all)*99/100)]
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
}

// cmpErr keeps the first error.
func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return fmt.Errorf("benchmark operation: %w", err)
}

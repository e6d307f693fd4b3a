package procurebot

import (
	"sort"
	"time"
)

// Dataset is recorded market history: hourly power prices per market, GPU
// offer snapshots and token price snapshots, each sorted by time. It is
// read-only once built.
type Dataset struct {
	Power  map[string]*PowerSeries // by market
	GPU    []Snapshot              // sorted by Time, distinct times
	Tokens []TokenSnapshot         // sorted by Time, distinct times
}

// BookIndex returns the index in d.GPU of the book in force at t (the latest
// snapshot with Time ≤ t), or -1 before the first snapshot.
func (d *Dataset) BookIndex(t time.Time) int {
	i := sort.Search(len(d.GPU), func(i int) bool { return d.GPU[i].Time.After(t) })
	return i - 1
}

// Book returns the offers in force at t (nil before the first snapshot).
func (d *Dataset) Book(t time.Time) []Offer {
	i := d.BookIndex(t)
	if i < 0 {
		return nil
	}
	return d.GPU[i].Offers
}

// TokenIndex returns the index in d.Tokens of the token snapshot in force at
// t, or -1 before the first.
func (d *Dataset) TokenIndex(t time.Time) int {
	i := sort.Search(len(d.Tokens), func(i int) bool { return d.Tokens[i].Time.After(t) })
	return i - 1
}

// Markets returns the power markets present, sorted.
func (d *Dataset) Markets() []string {
	out := make([]string, 0, len(d.Power))
	for m := range d.Power {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

package csv

import (
	"context"
	"testing"
	"time"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/sampledata"
)

type fixed time.Time

func (f fixed) Now() time.Time                                   { return time.Time(f) }
func (f fixed) Sleep(ctx context.Context, d time.Duration) error { return nil }

func TestReplay(t *testing.T) {
	ds, err := LoadFS(sampledata.FS())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 10, 15, 12, 30, 0, 0, time.UTC)
	r := NewReplay(ds, fixed(at), "history", 0)
	qs, err := r.GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	book := ds.Book(at)
	if len(qs) != len(book) || len(qs) == 0 {
		t.Fatalf("%d quotes for a book of %d", len(qs), len(book))
	}
	for i, q := range qs {
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		if !q.PerGPU.Equal(book[i].PerGPU) || q.FetchedAt.After(at) || q.Venue != "history" {
			t.Fatalf("quote %d: %v vs offer %+v", i, q, book[i])
		}
	}
	toks, err := r.TokenQuotes(context.Background())
	if err != nil || len(toks) == 0 {
		t.Fatalf("%d token quotes, %v", len(toks), err)
	}
	pw, err := r.PowerQuotes(context.Background(), at.Add(-3*time.Hour), at.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// ERCOT North hours starting in [09:30, 14:30): 10:00..14:00; Belgium has no 2024 data.
	if len(pw) != 5 || pw[0].Market != "ERCOT_HB_NORTH" || !pw[0].Start.Equal(time.Date(2024, 10, 15, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("power %d quotes, first %+v", len(pw), pw[0])
	}
	for _, p := range pw {
		want, _ := ds.Power["ERCOT_HB_NORTH"].At(p.Start)
		if !p.USDPerMWh.Equal(want) || p.Validate() != nil {
			t.Errorf("hour %s: %s, want %s", p.Start, p.USDPerMWh, want)
		}
	}
	if qs, _ := NewReplay(ds, fixed(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)), "h", 0).GPUQuotes(context.Background()); len(qs) != 0 {
		t.Errorf("before the history: %d quotes", len(qs))
	}
	var _ procurebot.Clock = fixed{}
}

package csv

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
)

var recT0 = time.Date(2026, 10, 12, 0, 0, 0, 0, time.UTC)

func recQuote(gpu, perGPU string, n int) procurebot.Quote {
	p := decimal.RequireFromString(perGPU)
	q := procurebot.Quote{
		Offer: procurebot.Offer{Provider: "runpod", GPU: gpu, GPUCount: n, USDPerHour: p.Mul(decimal.NewFromInt(int64(n))), Spot: procurebot.SpotFalse, Region: "US", Instance: "x"},
		Venue: "runpod", FetchedAt: recT0, Available: 3, Ref: "NVIDIA " + gpu, Cloud: "secure",
		Billing: procurebot.Billing{Unit: procurebot.BillUSDPerGPUHour, Raw: perGPU, Denom: "USD", Amount: p, ToUSDPerGPUHour: decimal.NewFromInt(1)},
	}
	q.PerGPU = q.PerGPUPrice()
	return q
}

func recPower(market string, h int, price string) procurebot.PowerQuote {
	p := decimal.RequireFromString(price)
	start := recT0.Add(time.Duration(h) * time.Hour)
	return procurebot.PowerQuote{Market: market, Start: start, Resolution: time.Hour, USDPerMWh: p, Raw: price, Orig: p, Currency: "USD",
		Published: start.Add(time.Hour), Venue: "ercot", FetchedAt: start.Add(time.Hour)}
}

func batch(i int) Batch {
	at := recT0.Add(time.Duration(i) * time.Hour)
	return Batch{
		At:  at,
		GPU: []procurebot.Quote{recQuote("H100", "2.49", 8), recQuote("A100", fmt.Sprintf("1.%02d", i%100), 1)},
		Tokens: []procurebot.TokenQuote{{TokenPrice: procurebot.TokenPrice{Provider: "openrouter", Model: "m/a", USDPerMTokIn: decimal.RequireFromString("0.23"), USDPerMTokOut: decimal.RequireFromString("0.4"), ContextLength: 131072},
			Venue: "openrouter", FetchedAt: at, Upstream: "DeepInfra", RawIn: "0.00000023", RawOut: "0.0000004", Up: true}},
		// Each poll sees the last three hours again: only the new one is written.
		Power: []procurebot.PowerQuote{recPower("ERCOT_HB_NORTH", i-2, "30.5"), recPower("ERCOT_HB_NORTH", i-1, "-4.25"), recPower("ERCOT_HB_NORTH", i, fmt.Sprintf("%d.5", 20+i))},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	dir := t.TempDir()
	r, rec, err := OpenRecorder(dir)
	if err != nil || len(rec.Replayed) != 0 {
		t.Fatal(err, rec)
	}
	for i := 2; i < 12; i++ {
		w, err := r.Append(batch(i))
		if err != nil {
			t.Fatal(err)
		}
		wantPower := 1
		if i == 2 {
			wantPower = 3
		}
		if w.Offers != 2 || w.Models != 1 || w.PowerHours != wantPower {
			t.Fatalf("batch %d wrote %+v", i, w)
		}
	}
	// The same poll again writes nothing.
	w, err := r.Append(batch(11))
	if err != nil || w != (Written{PowerSkipped: 3}) {
		t.Fatalf("repeat wrote %+v %v", w, err)
	}
	r.Close()

	ds, err := Load(dir)
	if err != nil {
		t.Fatalf("backtest loader refuses the recording: %v", err)
	}
	if len(ds.GPU) != 10 || len(ds.Tokens) != 10 || len(ds.GPU[0].Offers) != 2 {
		t.Fatalf("%d GPU snapshots, %d token snapshots", len(ds.GPU), len(ds.Tokens))
	}
	if p, err := ds.Power["ERCOT_HB_NORTH"].At(recT0.Add(11 * time.Hour)); err != nil || p.String() != "31.5" {
		t.Errorf("power at hour 11: %s %v", p, err)
	}
	if p, _ := ds.Power["ERCOT_HB_NORTH"].At(recT0.Add(1 * time.Hour)); p.String() != "-4.25" {
		t.Errorf("negative price at hour 1: %s", p)
	}
	o := ds.GPU[0].Offers[0]
	if o.Provider != "runpod" || o.GPU != "H100" || o.GPUCount != 8 || o.PerGPU.String() != "2.49" || o.USDPerHour.String() != "19.92" {
		t.Errorf("offer %+v", o)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "gpu/offers.csv"))
	if !strings.HasPrefix(string(b), "time_utc,provider,gpu,gpu_count,usd_per_hour,usd_per_gpu_hour,spot,region,instance,venue,billing_unit,billed_raw") ||
		!strings.Contains(string(b), "2026-10-12T02:00:00Z,runpod,H100,8,19.92,2.49,false,US,x,runpod,usd/gpu_hour,2.49,USD,,secure,,,3,NVIDIA H100\n") {
		t.Errorf("offers.csv:\n%s", b)
	}

	// Reopened, the recorder knows what is there.
	r, _, err = OpenRecorder(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.LastGPU().Equal(recT0.Add(11*time.Hour)) || !r.LastPower()["ERCOT_HB_NORTH"].Equal(recT0.Add(11*time.Hour)) {
		t.Errorf("last gpu %s power %v", r.LastGPU(), r.LastPower())
	}
	if w, _ := r.Append(batch(11)); w.Offers+w.Models+w.PowerHours != 0 {
		t.Errorf("after reopen the same poll wrote %+v", w)
	}
}

// An existing file keeps its header: rows follow its columns.
func TestRecordFollowsExistingHeader(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "power"), 0o755)
	os.WriteFile(filepath.Join(dir, "power/ercot_hb_north.csv"), []byte("market,time_utc,usd_per_mwh\nERCOT_HB_NORTH,2026-10-12T00:00:00Z,10\n"), 0o644)
	r, _, err := OpenRecorder(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := r.Append(Batch{Power: []procurebot.PowerQuote{recPower("ERCOT_HB_NORTH", 0, "11"), recPower("ERCOT_HB_NORTH", 1, "12")}})
	if err != nil || w.PowerHours != 1 || w.PowerSkipped != 1 {
		t.Fatalf("%+v %v", w, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "power/ercot_hb_north.csv"))
	if string(b) != "market,time_utc,usd_per_mwh\nERCOT_HB_NORTH,2026-10-12T00:00:00Z,10\nERCOT_HB_NORTH,2026-10-12T01:00:00Z,12\n" {
		t.Errorf("file:\n%s", b)
	}
}

// A journal left by a crash mid-append is replayed: the torn row is cut and
// the whole append written once.
func TestRecordReplaysJournal(t *testing.T) {
	dir := t.TempDir()
	r, _, err := OpenRecorder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Append(batch(2)); err != nil {
		t.Fatal(err)
	}
	crashed := fmt.Errorf("crash")
	testHookAfterJournal = func() {
		// The append had begun: half a row reached the file.
		f, _ := os.OpenFile(filepath.Join(dir, "gpu/offers.csv"), os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString("2026-10-12T03:00:00Z,runpod,H1")
		f.Close()
		panic(crashed)
	}
	func() {
		defer func() {
			if p := recover(); p != crashed {
				t.Fatalf("recover %v", p)
			}
		}()
		r.Append(batch(3))
	}()
	testHookAfterJournal = nil
	r.Close()

	r, rec, err := OpenRecorder(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(rec.Replayed) != 3 {
		t.Errorf("replayed %v, want offers, models and the power file", rec.Replayed)
	}
	ds, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.GPU) != 2 || len(ds.GPU[1].Offers) != 2 || len(ds.Tokens) != 2 {
		t.Fatalf("after replay: %d snapshots (%d offers in the last)", len(ds.GPU), len(ds.GPU[len(ds.GPU)-1].Offers))
	}
	if w, _ := r.Append(batch(3)); w.Offers != 0 || w.PowerHours != 0 {
		t.Errorf("the replayed batch was written again: %+v", w)
	}
}

func TestRecordRefusesSecondRecorder(t *testing.T) {
	dir := t.TempDir()
	r, _, err := OpenRecorder(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, _, err := OpenRecorder(dir); procurebot.ErrorCode(err) != procurebot.ECONFLICT {
		t.Fatalf("second recorder: %v", err)
	}
}

func TestRecordRefusesTornForeignFile(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "gpu"), 0o755)
	os.WriteFile(filepath.Join(dir, "gpu/offers.csv"), []byte("time_utc,provider\n2026-10-12T00:00:00Z,run"), 0o644)
	_, _, err := OpenRecorder(dir)
	if err == nil || !strings.Contains(err.Error(), "gpu/offers.csv") || !strings.Contains(err.Error(), "no newline") {
		t.Fatalf("err %v", err)
	}
}

// TestRecordKill9 SIGKILLs a recording process at random moments, 25 times,
// and checks after each restart that the directory loads, with every
// snapshot whole and none twice.
func TestRecordKill9(t *testing.T) {
	if os.Getenv("PROCUREBOT_RECORD_CHILD") != "" {
		recordForever(os.Getenv("PROCUREBOT_RECORD_CHILD"))
		return
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 9))
	kills := 25
	for k := 0; k < kills; k++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRecordKill9$")
		cmd.Env = append(os.Environ(), "PROCUREBOT_RECORD_CHILD="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(5+rng.IntN(40)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
	}
	r, _, err := OpenRecorder(dir)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	ds, err := Load(dir)
	if err != nil {
		t.Fatalf("after %d kills the recording does not load: %v", kills, err)
	}
	if len(ds.GPU) < 2 {
		t.Fatalf("only %d snapshots recorded", len(ds.GPU))
	}
	for i, s := range ds.GPU {
		if len(s.Offers) != 2 {
			t.Errorf("snapshot %d (%s) has %d offers, want 2", i, s.Time, len(s.Offers))
		}
		if i > 0 && !s.Time.After(ds.GPU[i-1].Time) {
			t.Errorf("snapshot %d not after the previous", i)
		}
	}
	power := ds.Power["ERCOT_HB_NORTH"]
	if power == nil {
		t.Fatal("no power recorded")
	}
	replays, _ := os.ReadFile(filepath.Join(dir, "replays.log"))
	t.Logf("%d kills: %d snapshots, power to %s, loads cleanly; %d restarts replayed an interrupted append",
		kills, len(ds.GPU), power.End(), strings.Count(string(replays), "\n"))
}

// recordForever is the child of TestRecordKill9: it resumes after the last
// snapshot and appends batches as fast as it can until killed.
func recordForever(dir string) {
	r, rec, err := OpenRecorder(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if len(rec.Replayed) > 0 {
		f, _ := os.OpenFile(filepath.Join(dir, "replays.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		fmt.Fprintln(f, strings.Join(rec.Replayed, " "))
		f.Close()
	}
	i := 2
	if !r.LastGPU().IsZero() {
		i = int(r.LastGPU().Sub(recT0)/time.Hour) + 1
	}
	for ; ; i++ {
		if _, err := r.Append(batch(i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	}
}

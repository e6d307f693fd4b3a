//go:build linux

package csv_test

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	pcsv "github.com/procurebot/procurebot/providers/csv"
)

// A year of hourly GPU snapshots with 200 offers each.
const (
	yearSnapshots = 365 * 24
	yearOffers    = 200
	rssLimitMB    = 300
)

// raceEnabled is set when the race detector is on (race_test.go).
var raceEnabled bool

// TestYearOfOffersMemory loads a year of hourly snapshots of 200 offers each
// (1.75 million rows, about 100 MB of CSV, generated on the fly) in a child
// process and wants its peak RSS under 300 MB.
func TestYearOfOffersMemory(t *testing.T) {
	if os.Getenv("PROCUREBOT_CSV_MEMCHILD") == "1" {
		yearChild(t)
		return
	}
	if testing.Short() {
		t.Skip("loads 1.75 million rows")
	}
	if raceEnabled {
		t.Skip("the race detector multiplies memory use")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestYearOfOffersMemory$", "-test.v")
	cmd.Env = append(os.Environ(), "PROCUREBOT_CSV_MEMCHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Skip("no rusage")
	}
	rssMB := ru.Maxrss / 1024 // kB on Linux
	t.Logf("peak RSS %d MB\n%s", rssMB, out)
	if rssMB >= rssLimitMB {
		t.Errorf("peak RSS %d MB, want < %d MB", rssMB, rssLimitMB)
	}
}

func yearChild(t *testing.T) {
	fsys := genFS{base: mapFS(baseFiles())}
	start := time.Now()
	ds, err := pcsv.LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	n := 0
	for _, s := range ds.GPU {
		n += len(s.Offers)
	}
	if len(ds.GPU) != yearSnapshots || n != yearSnapshots*yearOffers {
		t.Fatalf("%d snapshots, %d offers", len(ds.GPU), n)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("loaded %d offers in %v; live heap %d MB, heap from the OS %d MB\n",
		n, elapsed.Round(time.Millisecond), ms.HeapAlloc>>20, ms.HeapSys>>20)
	runtime.KeepAlive(ds)
}

// genFS is base with gpu/offers.csv generated row by row.
type genFS struct{ base fstest.MapFS }

func (g genFS) Open(name string) (fs.File, error) {
	if name == "gpu/offers.csv" {
		return &genFile{}, nil
	}
	return g.base.Open(name)
}

var (
	genProviders = []string{"aws", "azure", "datacrunch", "gcp", "lambdalabs", "oci", "runpod", "tensordock", "vastai", "vultr"}
	genGPUs      = []string{"A100", "H100", "H200", "MI300X"}
	genRegions   = []string{"us-east-1", "us-west-2", "eu-central-1", "", "ap-northeast-1"}
)

// genFile produces the rows of a year of snapshots: realistic repetition
// (10 providers, 4 GPUs, a few regions, 200 instance names, prices that
// drift day by day from a few thousand distinct values).
type genFile struct {
	row      int // next row
	buf      []byte
	off      int
	snap     int    // snapshot of timeText
	timeText []byte // its time
}

func (f *genFile) Stat() (fs.FileInfo, error) { return nil, fs.ErrInvalid }
func (f *genFile) Close() error               { return nil }

func (f *genFile) Read(p []byte) (int, error) {
	for f.off == len(f.buf) {
		f.buf, f.off = f.buf[:0], 0
		if f.row == 0 {
			f.buf = append(f.buf, offersHeader...)
		}
		for range 256 {
			if f.row >= yearSnapshots*yearOffers {
				break
			}
			f.buf = f.appendRow(f.buf, f.row)
			f.row++
		}
		if len(f.buf) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(p, f.buf[f.off:])
	f.off += n
	return n, nil
}

func (f *genFile) appendRow(b []byte, row int) []byte {
	snap, i := row/yearOffers, row%yearOffers
	if f.timeText == nil || snap != f.snap {
		t := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(snap) * time.Hour)
		f.snap, f.timeText = snap, t.AppendFormat(f.timeText[:0], time.RFC3339)
	}
	b = append(b, f.timeText...)
	b = append(b, ',')
	b = append(b, genProviders[i%len(genProviders)]...)
	b = append(b, ',')
	b = append(b, genGPUs[i/len(genProviders)%len(genGPUs)]...)
	b = append(b, ',')
	count := []int{0, 1, 2, 4, 8}[i%5]
	if count > 0 {
		b = strconv.AppendInt(b, int64(count), 10)
	}
	cents := 50 + (i*97+snap/24*13)%4000 // changes daily
	b = append(b, ',')
	b = strconv.AppendFloat(b, float64(cents)/100, 'f', 2, 64)
	b = append(b, ',')
	if count == 8 {
		b = strconv.AppendFloat(b, float64(cents)/800, 'f', 4, 64)
	}
	b = append(b, ',')
	b = append(b, []string{"", "true", "false"}[i%3]...)
	b = append(b, ',')
	b = append(b, genRegions[i%len(genRegions)]...)
	b = append(b, ",inst-"...)
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, '\n')
}

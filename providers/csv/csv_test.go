package csv_test

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unsafe"

	"github.com/procurebot/procurebot"
	pcsv "github.com/procurebot/procurebot/providers/csv"
	"github.com/shopspring/decimal"
)

func dec(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ts(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UTC()
}

func loadDir(t *testing.T, dir string) *procurebot.Dataset {
	t.Helper()
	ds, err := pcsv.Load(dir)
	if err != nil {
		t.Fatalf("Load(%s): %v", dir, err)
	}
	return ds
}

func wantDec(t *testing.T, what string, got decimal.Decimal, want string) {
	t.Helper()
	if !got.Equal(dec(t, want)) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func TestLoadBasic(t *testing.T) {
	ds := loadDir(t, "testdata/basic")

	// Power: power/a.csv and power/b.csv merged per market, unsorted rows,
	// columns in another order in b.csv, hour 02:00 missing.
	if got := ds.Markets(); strings.Join(got, ",") != "TEST_X,TEST_Y" {
		t.Fatalf("markets = %v", got)
	}
	x := ds.Power["TEST_X"]
	if x.Market != "TEST_X" || !x.Start.Equal(ts(t, "2024-01-01T00:00:00Z")) || x.Start.Location() != time.UTC {
		t.Errorf("TEST_X market %q start %v", x.Market, x.Start)
	}
	wantPresent := []bool{true, true, false, true, true, true}
	wantPrices := []string{"10", "20.5", "0", "-4.25", "0", "30.0"}
	if len(x.Prices) != len(wantPresent) || len(x.Present) != len(wantPresent) {
		t.Fatalf("TEST_X has %d prices, %d present flags, want %d", len(x.Prices), len(x.Present), len(wantPresent))
	}
	for i := range wantPresent {
		if x.Present[i] != wantPresent[i] {
			t.Errorf("TEST_X Present[%d] = %v", i, x.Present[i])
		}
		if x.Present[i] {
			wantDec(t, "TEST_X price", x.Prices[i], wantPrices[i])
		}
	}
	// The gap rule of PowerSeries.At takes 01:00's price for 02:00.
	p, err := x.At(ts(t, "2024-01-01T02:30:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	wantDec(t, "TEST_X at 02:30", p, "20.5")
	y := ds.Power["TEST_Y"]
	if len(y.Prices) != 1 || !y.Present[0] || !y.Start.Equal(ts(t, "2024-01-01T00:00:00Z")) {
		t.Fatalf("TEST_Y = %+v", y)
	}
	wantDec(t, "TEST_Y price", y.Prices[0], "99.999")

	// GPU: two snapshots; per-GPU rule; spot in any case; extra column.
	if len(ds.GPU) != 2 {
		t.Fatalf("%d GPU snapshots, want 2", len(ds.GPU))
	}
	s0, s1 := ds.GPU[0], ds.GPU[1]
	if !s0.Time.Equal(ts(t, "2024-09-24T20:42:36Z")) || !s1.Time.Equal(ts(t, "2024-09-25T00:00:59Z")) {
		t.Errorf("snapshot times %v, %v", s0.Time, s1.Time)
	}
	if len(s0.Offers) != 4 || len(s1.Offers) != 2 {
		t.Fatalf("snapshots have %d and %d offers, want 4 and 2", len(s0.Offers), len(s1.Offers))
	}
	type want struct {
		provider, gpu     string
		count             int
		perHour, perGPU   string
		hasPerGPU         bool
		spot              procurebot.Spot
		region, instance  string
		recordedPerGPUHrs string
	}
	wants := []want{
		{"aws", "H100", 8, "98.32", "12.29", true, procurebot.SpotUnknown, "us-east-1", "p5.48xlarge", "12.29"},
		{"runpod", "H100", 2, "5.00", "2.5", false, procurebot.SpotTrue, "", "", "0"},
		{"vastai", "H200", 0, "3.10", "3.1", false, procurebot.SpotFalse, "", "", "0"},
		{"lambdalabs", "H100", 0, "0", "2.49", true, procurebot.SpotFalse, "us-west-1", "gpu_1x_h100", "2.49"},
		{"runpod", "H100", 3, "10", "3.3333333333333333", false, procurebot.SpotTrue, "", "", "0"},
		{"aws", "H100", 8, "98.32", "12.29", true, procurebot.SpotUnknown, "us-east-1", "p5.48xlarge", "12.29"},
	}
	offers := append(append([]procurebot.Offer{}, s0.Offers...), s1.Offers...)
	for i, w := range wants {
		o := offers[i]
		if o.Provider != w.provider || o.GPU != w.gpu || o.GPUCount != w.count || o.HasPerGPU != w.hasPerGPU ||
			o.Spot != w.spot || o.Region != w.region || o.Instance != w.instance {
			t.Errorf("offer %d = %+v, want %+v", i, o, w)
		}
		wantDec(t, "USDPerHour", o.USDPerHour, w.perHour)
		wantDec(t, "PerGPU", o.PerGPU, w.perGPU)
		if w.hasPerGPU {
			wantDec(t, "USDPerGPUHour", o.USDPerGPUHour, w.recordedPerGPUHrs)
		}
		if !o.PerGPU.Equal(o.PerGPUPrice()) {
			t.Errorf("offer %d: PerGPU %s != PerGPUPrice() %s", i, o.PerGPU, o.PerGPUPrice())
		}
	}
	// Strings and decimals are interned: the repeated aws row shares them.
	a, b := s0.Offers[0], s1.Offers[1]
	if unsafe.StringData(a.Provider) != unsafe.StringData(b.Provider) || unsafe.StringData(a.Region) != unsafe.StringData(b.Region) {
		t.Error("provider/region strings of repeated rows are not interned")
	}
	// Each snapshot's slice is capped: appending to one cannot clobber the next.
	if cap(s0.Offers) != len(s0.Offers) {
		t.Errorf("snapshot 0: cap %d > len %d", cap(s0.Offers), len(s0.Offers))
	}
	if got := ds.Book(ts(t, "2024-09-24T23:59:59Z")); len(got) != 4 {
		t.Errorf("book before the second snapshot has %d offers", len(got))
	}

	// Tokens.
	if len(ds.Tokens) != 2 || len(ds.Tokens[0].Prices) != 2 || len(ds.Tokens[1].Prices) != 1 {
		t.Fatalf("token snapshots = %+v", ds.Tokens)
	}
	tp := ds.Tokens[0].Prices
	if tp[0].Provider != "openrouter" || tp[0].Model != "openai/gpt-4o" || tp[0].ContextLength != 128000 {
		t.Errorf("token price 0 = %+v", tp[0])
	}
	wantDec(t, "in", tp[0].USDPerMTokIn, "5")
	wantDec(t, "out", tp[0].USDPerMTokOut, "15")
	if tp[1].Model != "meta-llama/llama-3.1-8b-instruct:free" || tp[1].ContextLength != 0 || !tp[1].USDPerMTokIn.IsZero() {
		t.Errorf("token price 1 = %+v", tp[1])
	}
	wantDec(t, "in later", ds.Tokens[1].Prices[0].USDPerMTokIn, "2.5")
	if !ds.Tokens[1].Time.Equal(ts(t, "2024-09-22T02:09:31Z")) {
		t.Errorf("token snapshot 1 at %v", ds.Tokens[1].Time)
	}
}

// baseFiles is a small valid data directory; cases override single files.
func baseFiles() map[string]string {
	return map[string]string{
		"power/a.csv": "time_utc,market,usd_per_mwh\n" +
			"2024-01-01T00:00:00Z,M,1\n" +
			"2024-01-01T01:00:00Z,M,2\n",
		"gpu/offers.csv": "time_utc,provider,gpu,gpu_count,usd_per_hour,usd_per_gpu_hour,spot,region,instance\n" +
			"2024-01-01T00:00:00Z,p,H100,1,2,,,,\n" +
			"2024-01-02T00:00:00Z,p,H100,1,2,,,,\n",
		"inference/models.csv": "time_utc,provider,model,usd_per_mtok_in,usd_per_mtok_out,context_length\n" +
			"2024-01-01T00:00:00Z,openrouter,m,1,2,100\n" +
			"2024-01-02T00:00:00Z,openrouter,m,1,2,100\n",
	}
}

// deleted marks a file of baseFiles that a case removes.
const deleted = "\x00deleted"

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, data := range files {
		m[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return m
}

const (
	powerHeader  = "time_utc,market,usd_per_mwh\n"
	offersHeader = "time_utc,provider,gpu,gpu_count,usd_per_hour,usd_per_gpu_hour,spot,region,instance\n"
	modelsHeader = "time_utc,provider,model,usd_per_mtok_in,usd_per_mtok_out,context_length\n"
	offerRow     = "2024-01-01T00:00:00Z,p,H100,1,2,,,,\n"
	modelRow     = "2024-01-01T00:00:00Z,openrouter,m,1,2,100\n"
)

func TestLoadBaseIsValid(t *testing.T) {
	if _, err := pcsv.LoadFS(mapFS(baseFiles())); err != nil {
		t.Fatal(err)
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // overrides of baseFiles (or deleted)
		want  []string          // substrings of the message
	}{
		// power
		{"power bad month", map[string]string{"power/a.csv": powerHeader + "2024-01-01T00:00:00Z,M,1\n2024-13-01T00:00:00Z,M,1\n"},
			[]string{"power/a.csv:3:", "column time_utc", "invalid time"}},
		{"power date only", map[string]string{"power/a.csv": powerHeader + "2024-01-01,M,1\n"},
			[]string{"power/a.csv:2:", "column time_utc", "invalid time"}},
		{"power not on the hour", map[string]string{"power/a.csv": powerHeader + "2024-01-01T00:30:00Z,M,1\n"},
			[]string{"power/a.csv:2:", "column time_utc", "not on the hour"}},
		{"power not UTC", map[string]string{"power/a.csv": powerHeader + "2024-01-01T01:00:00+01:00,M,1\n"},
			[]string{"power/a.csv:2:", "column time_utc", "not UTC"}},
		{"power bad decimal", map[string]string{"power/a.csv": powerHeader + "2024-01-01T00:00:00Z,M,abc\n"},
			[]string{"power/a.csv:2:", "column usd_per_mwh", `invalid decimal "abc"`}},
		{"power exponent", map[string]string{"power/a.csv": powerHeader + "2024-01-01T00:00:00Z,M,1e3\n"},
			[]string{"power/a.csv:2:", "column usd_per_mwh", "invalid decimal"}},
		{"power comma decimal", map[string]string{"power/a.csv": powerHeader + "2024-01-01T00:00:00Z,M,\"1,5\"\n"},
			[]string{"power/a.csv:2:", "column usd_per_mwh", "invalid decimal"}},
		{"power spaced decimal", map[string]string{"power/a.csv": powerHeader + "2024-01-01T00:00:00Z,M, 1.5\n"},
			[]string{"power/a.csv:2:", "column usd_per_mwh", "invalid decimal"}},
		{"power trailing point", map[string]string{"power/a.csv": powerHeader + "2024-01-01T00:00:00Z,M,1.\n"},
			[]string{"power/a.csv:2:", "column usd_per_mwh", "invalid decimal"}},
		{"power empty price", map[string]string{"power/a.csv": powerHeader + "2024-01-01T00:00:00Z,M,\n"},
			[]string{"power/a.csv:2:", "column usd_per_mwh", "empty"}},
		{"power empty market", map[string]string{"power/a.csv": powerHeader + "2024-01-01T00:00:00Z,,1\n"},
			[]string{"power/a.csv:2:", "column market", "empty"}},
		{"power blank market", map[string]string{"power/a.csv": powerHeader + "2024-01-01T00:00:00Z,  ,1\n"},
			[]string{"power/a.csv:2:", "column market", "empty"}},
		{"power duplicate in a file", map[string]string{"power/a.csv": powerHeader +
			"2024-01-01T00:00:00Z,M,1\n2024-01-01T01:00:00Z,M,1\n2024-01-01T00:00:00Z,M,3\n"},
			[]string{"power/a.csv:4:", "column time_utc", "market M", "hour 2024-01-01T00:00:00Z", "also at power/a.csv:2"}},
		{"power duplicate across files", map[string]string{"power/b.csv": powerHeader + "2024-01-01T00:00:00Z,N,5\n2024-01-01T01:00:00+00:00,M,7\n"},
			[]string{"power/b.csv:3:", "column time_utc", "market M", "hour 2024-01-01T01:00:00Z", "also at power/a.csv:3"}},
		{"power missing column", map[string]string{"power/a.csv": "time_utc,market,price\n2024-01-01T00:00:00Z,M,1\n"},
			[]string{"power/a.csv:1:", "column usd_per_mwh", "missing from the header"}},
		{"power column twice", map[string]string{"power/a.csv": "time_utc,market,usd_per_mwh,market\n2024-01-01T00:00:00Z,M,1,M\n"},
			[]string{"power/a.csv:1:", "column market", "twice"}},
		{"power short row", map[string]string{"power/a.csv": powerHeader + "2024-01-01T00:00:00Z,M,1\n2024-01-01T01:00:00Z,M\n"},
			[]string{"power/a.csv:3:", "column usd_per_mwh", "2 fields"}},
		{"power long row", map[string]string{"power/a.csv": powerHeader + "2024-01-01T00:00:00Z,M,1,9\n"},
			[]string{"power/a.csv:2:", "column 4", "4 fields"}},
		{"power bare quote", map[string]string{"power/a.csv": powerHeader + "2024-01-01T00:00:00Z,M,1\n2024-01-01T01:00:00Z,M\"x,1\n"},
			[]string{"power/a.csv:3:", `bare "`}},
		{"power unterminated quote", map[string]string{"power/a.csv": powerHeader + "2024-01-01T00:00:00Z,\"M,1\n2024-01-01T01:00:00Z,M,1\n"},
			[]string{"power/a.csv:", "row starting on line 2", `extraneous or missing "`}},
		{"power empty file", map[string]string{"power/a.csv": ""},
			[]string{"power/a.csv:1:", "empty file"}},
		{"power span", map[string]string{"power/a.csv": powerHeader + "1900-01-01T00:00:00Z,M,1\n2024-01-01T00:00:00Z,M,1\n"},
			[]string{"power/a.csv:3:", "column time_utc", "market M", "more than 100 years"}},
		{"power no files", map[string]string{"power/a.csv": deleted, "power/readme.txt": "x"},
			[]string{"power/", "no *.csv"}},
		{"power missing", map[string]string{"power/a.csv": deleted}, []string{"missing power/"}},

		// gpu/offers.csv
		{"gpu bad time", map[string]string{"gpu/offers.csv": offersHeader + offerRow + "2024-01-01 00:00:00,p,H100,1,2,,,,\n"},
			[]string{"gpu/offers.csv:3:", "column time_utc", "invalid time"}},
		{"gpu out of order", map[string]string{"gpu/offers.csv": offersHeader + "2024-01-02T00:00:00Z,p,H100,1,2,,,,\n" + offerRow},
			[]string{"gpu/offers.csv:3:", "column time_utc", "before the previous row"}},
		{"gpu bad decimal", map[string]string{"gpu/offers.csv": offersHeader + offerRow + "2024-01-01T00:00:00Z,p,H100,1,abc,,,,\n"},
			[]string{"gpu/offers.csv:3:", "column usd_per_hour", `invalid decimal "abc"`}},
		{"gpu bad per-gpu decimal", map[string]string{"gpu/offers.csv": offersHeader + "2024-01-01T00:00:00Z,p,H100,1,2,$2,,,\n"},
			[]string{"gpu/offers.csv:2:", "column usd_per_gpu_hour", "invalid decimal"}},
		{"gpu negative price", map[string]string{"gpu/offers.csv": offersHeader + "2024-01-01T00:00:00Z,p,H100,1,-2,,,,\n"},
			[]string{"gpu/offers.csv:2:", "column usd_per_hour", "negative"}},
		{"gpu negative per-gpu price", map[string]string{"gpu/offers.csv": offersHeader + "2024-01-01T00:00:00Z,p,H100,1,,-0.5,,,\n"},
			[]string{"gpu/offers.csv:2:", "column usd_per_gpu_hour", "negative"}},
		{"gpu no price", map[string]string{"gpu/offers.csv": offersHeader + "2024-01-01T00:00:00Z,p,H100,1,,,,,\n"},
			[]string{"gpu/offers.csv:2:", "column usd_per_hour", "empty"}},
		{"gpu count zero", map[string]string{"gpu/offers.csv": offersHeader + "2024-01-01T00:00:00Z,p,H100,0,2,,,,\n"},
			[]string{"gpu/offers.csv:2:", "column gpu_count", "positive integer"}},
		{"gpu count negative", map[string]string{"gpu/offers.csv": offersHeader + "2024-01-01T00:00:00Z,p,H100,-8,2,,,,\n"},
			[]string{"gpu/offers.csv:2:", "column gpu_count", "positive integer"}},
		{"gpu count fraction", map[string]string{"gpu/offers.csv": offersHeader + "2024-01-01T00:00:00Z,p,H100,1.5,2,,,,\n"},
			[]string{"gpu/offers.csv:2:", "column gpu_count", "positive integer"}},
		{"gpu count huge", map[string]string{"gpu/offers.csv": offersHeader + "2024-01-01T00:00:00Z,p,H100,99999999999,2,,,,\n"},
			[]string{"gpu/offers.csv:2:", "column gpu_count", "positive integer"}},
		{"gpu bad spot", map[string]string{"gpu/offers.csv": offersHeader + "2024-01-01T00:00:00Z,p,H100,1,2,,yes,,\n"},
			[]string{"gpu/offers.csv:2:", "column spot", `"yes"`}},
		{"gpu spot 1", map[string]string{"gpu/offers.csv": offersHeader + "2024-01-01T00:00:00Z,p,H100,1,2,,1,,\n"},
			[]string{"gpu/offers.csv:2:", "column spot"}},
		{"gpu empty provider", map[string]string{"gpu/offers.csv": offersHeader + "2024-01-01T00:00:00Z,,H100,1,2,,,,\n"},
			[]string{"gpu/offers.csv:2:", "column provider", "empty"}},
		{"gpu empty gpu", map[string]string{"gpu/offers.csv": offersHeader + "2024-01-01T00:00:00Z,p, ,1,2,,,,\n"},
			[]string{"gpu/offers.csv:2:", "column gpu", "empty"}},
		{"gpu bad UTF-8", map[string]string{"gpu/offers.csv": offersHeader + "2024-01-01T00:00:00Z,p\xff,H100,1,2,,,,\n"},
			[]string{"gpu/offers.csv:2:", "column provider", "UTF-8"}},
		{"gpu bad UTF-8 region", map[string]string{"gpu/offers.csv": offersHeader + "2024-01-01T00:00:00Z,p,H100,1,2,,,\xc3,\n"},
			[]string{"gpu/offers.csv:2:", "column region", "UTF-8"}},
		{"gpu missing column", map[string]string{"gpu/offers.csv": "time_utc,provider,gpu,gpu_count,usd_per_hour,usd_per_gpu_hour,spot,instance\n"},
			[]string{"gpu/offers.csv:1:", "column region", "missing from the header"}},
		{"gpu short row", map[string]string{"gpu/offers.csv": offersHeader + offerRow + "2024-01-01T00:00:00Z,p,H100,1,2\n"},
			[]string{"gpu/offers.csv:3:", "column usd_per_gpu_hour", "5 fields"}},
		{"gpu bare quote", map[string]string{"gpu/offers.csv": offersHeader + offerRow + offerRow + "2024-01-01T00:00:00Z,p,H1\"00,1,2,,,,\n"},
			[]string{"gpu/offers.csv:4:", `bare "`}},
		{"gpu empty file", map[string]string{"gpu/offers.csv": ""},
			[]string{"gpu/offers.csv:1:", "empty file"}},
		{"gpu missing", map[string]string{"gpu/offers.csv": deleted}, []string{"missing gpu/offers.csv"}},

		// inference/models.csv
		{"models bad time", map[string]string{"inference/models.csv": modelsHeader + "yesterday,openrouter,m,1,2,100\n"},
			[]string{"inference/models.csv:2:", "column time_utc", "invalid time"}},
		{"models out of order", map[string]string{"inference/models.csv": modelsHeader + "2024-01-02T00:00:00Z,openrouter,m,1,2,100\n" + modelRow},
			[]string{"inference/models.csv:3:", "column time_utc", "before the previous row"}},
		{"models negative price", map[string]string{"inference/models.csv": modelsHeader + "2024-01-01T00:00:00Z,openrouter,m,-1,2,100\n"},
			[]string{"inference/models.csv:2:", "column usd_per_mtok_in", "negative"}},
		{"models empty price", map[string]string{"inference/models.csv": modelsHeader + "2024-01-01T00:00:00Z,openrouter,m,1,,100\n"},
			[]string{"inference/models.csv:2:", "column usd_per_mtok_out", "empty"}},
		{"models bad decimal", map[string]string{"inference/models.csv": modelsHeader + "2024-01-01T00:00:00Z,openrouter,m,0.1.2,2,100\n"},
			[]string{"inference/models.csv:2:", "column usd_per_mtok_in", "invalid decimal"}},
		{"models bad context", map[string]string{"inference/models.csv": modelsHeader + "2024-01-01T00:00:00Z,openrouter,m,1,2,-5\n"},
			[]string{"inference/models.csv:2:", "column context_length", "non-negative integer"}},
		{"models empty model", map[string]string{"inference/models.csv": modelsHeader + "2024-01-01T00:00:00Z,openrouter,,1,2,100\n"},
			[]string{"inference/models.csv:2:", "column model", "empty"}},
		{"models empty provider", map[string]string{"inference/models.csv": modelsHeader + modelRow + "2024-01-01T00:00:00Z,,m,1,2,100\n"},
			[]string{"inference/models.csv:3:", "column provider", "empty"}},
		{"models missing column", map[string]string{"inference/models.csv": "time_utc,provider,model,usd_per_mtok_in,usd_per_mtok_out\n"},
			[]string{"inference/models.csv:1:", "column context_length", "missing from the header"}},
		{"models short row", map[string]string{"inference/models.csv": modelsHeader + "2024-01-01T00:00:00Z,openrouter,m\n"},
			[]string{"inference/models.csv:2:", "column usd_per_mtok_in", "3 fields"}},
		{"models multi-line field", map[string]string{"inference/models.csv": modelsHeader + modelRow + "2024-01-01T00:00:00Z,openrouter,\"a\nb\",1,x,100\n"},
			[]string{"inference/models.csv:4:", "column usd_per_mtok_out", `invalid decimal "x"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := baseFiles()
			maps.Copy(files, tc.files)
			maps.DeleteFunc(files, func(_, v string) bool { return v == deleted })
			err := checkInvalid(t, mapFS(files), tc.want...)
			t.Log(err)
		})
	}
}

// checkInvalid loads fsys and wants an EINVALID *procurebot.Error whose
// message holds every substring of want.
func checkInvalid(t *testing.T, fsys fs.FS, want ...string) error {
	t.Helper()
	ds, err := pcsv.LoadFS(fsys)
	if err == nil {
		t.Fatalf("loaded %d markets, %d GPU snapshots; want an error", len(ds.Power), len(ds.GPU))
	}
	var e *procurebot.Error
	if !errors.As(err, &e) || e.Code != procurebot.EINVALID {
		t.Fatalf("error %v (%T), want an EINVALID *procurebot.Error", err, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	return err
}

func TestLoadErrorsPrecedence(t *testing.T) {
	// Bad power and bad offers: the power error is reported, every time.
	files := baseFiles()
	files["power/a.csv"] = powerHeader + "x,M,1\n"
	files["gpu/offers.csv"] = offersHeader + "x,p,H100,1,2,,,,\n"
	for range 20 {
		checkInvalid(t, mapFS(files), "power/a.csv:2:")
	}
}

func TestAccepted(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		check func(t *testing.T, ds *procurebot.Dataset)
	}{
		{"no models file", map[string]string{"inference/models.csv": ""}, func(t *testing.T, ds *procurebot.Dataset) {
			if ds.Tokens != nil {
				t.Errorf("tokens = %v", ds.Tokens)
			}
		}},
		{"header only", map[string]string{"gpu/offers.csv": offersHeader, "inference/models.csv": modelsHeader},
			func(t *testing.T, ds *procurebot.Dataset) {
				if len(ds.GPU) != 0 || len(ds.Tokens) != 0 {
					t.Errorf("%d GPU, %d token snapshots", len(ds.GPU), len(ds.Tokens))
				}
			}},
		{"BOM and CRLF", map[string]string{"power/a.csv": "\uFEFFtime_utc,market,usd_per_mwh\r\n2024-01-01T00:00:00Z,M,-1\r\n"},
			func(t *testing.T, ds *procurebot.Dataset) {
				wantDec(t, "M", ds.Power["M"].Prices[0], "-1")
			}},
		{"zero offset and fractions", map[string]string{"gpu/offers.csv": offersHeader +
			"2024-01-01T00:00:00.5Z,p,H100,1,2,,TRUE,,\n" +
			"2024-01-01T00:00:00.500+00:00,q,H100,,0,,false,r,\"i, with comma\"\n" +
			"2024-01-01T00:00:01Z,p,H100,,2,,,,\n"},
			func(t *testing.T, ds *procurebot.Dataset) {
				if len(ds.GPU) != 2 || len(ds.GPU[0].Offers) != 2 {
					t.Fatalf("snapshots %+v", ds.GPU)
				}
				if want := ts(t, "2024-01-01T00:00:00.5Z"); !ds.GPU[0].Time.Equal(want) || ds.GPU[0].Time.Location() != time.UTC {
					t.Errorf("time %v", ds.GPU[0].Time)
				}
				if o := ds.GPU[0].Offers[1]; o.Instance != "i, with comma" || !o.PerGPU.IsZero() || o.Spot != procurebot.SpotFalse {
					t.Errorf("offer %+v", o)
				}
			}},
		{"long decimal", map[string]string{"power/a.csv": powerHeader + "2024-01-01T00:00:00Z,M,-123456789012345678901234.5678901234\n"},
			func(t *testing.T, ds *procurebot.Dataset) {
				wantDec(t, "M", ds.Power["M"].Prices[0], "-123456789012345678901234.5678901234")
			}},
		{"quoted fields and extra columns", map[string]string{"power/a.csv": "note,usd_per_mwh,market,time_utc\n\"a, \"\"b\"\"\",7,\"M\",2024-02-29T23:00:00Z\n"},
			func(t *testing.T, ds *procurebot.Dataset) {
				if s := ds.Power["M"]; !s.Start.Equal(ts(t, "2024-02-29T23:00:00Z")) {
					t.Errorf("start %v", s.Start)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := baseFiles()
			maps.Copy(files, tc.files)
			if files["inference/models.csv"] == "" {
				delete(files, "inference/models.csv")
			}
			ds, err := pcsv.LoadFS(mapFS(files))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, ds)
		})
	}
}

func TestLoadDirErrors(t *testing.T) {
	t.Run("no such directory", func(t *testing.T) {
		_, err := pcsv.Load(filepath.Join(t.TempDir(), "nope"))
		if procurebot.ErrorCode(err) != procurebot.EINVALID || !strings.Contains(err.Error(), "nope") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("from disk", func(t *testing.T) {
		dir := t.TempDir()
		files := baseFiles()
		files["gpu/offers.csv"] = offersHeader + offerRow + "2024-01-01T00:00:00Z,p,H100,1,2,,maybe,,\n"
		for name, data := range files {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := pcsv.Load(dir)
		want := `gpu/offers.csv:3: column spot: "maybe", want true, false or empty`
		if procurebot.ErrorCode(err) != procurebot.EINVALID || err.Error() != want {
			t.Errorf("error %v, want %s", err, want)
		}
	})
}

package csv_test

import (
	"errors"
	"testing"
	"testing/fstest"
	"time"

	"github.com/procurebot/procurebot"
	pcsv "github.com/procurebot/procurebot/providers/csv"
)

// fuzzLoad loads baseFiles with file replaced by data and wants a data set
// that holds the loader's invariants or an EINVALID *procurebot.Error.
func fuzzLoad(t *testing.T, file string, data []byte) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, d := range baseFiles() {
		fsys[name] = &fstest.MapFile{Data: []byte(d)}
	}
	fsys[file] = &fstest.MapFile{Data: data}
	ds, err := pcsv.LoadFS(fsys)
	if err != nil {
		var e *procurebot.Error
		if !errors.As(err, &e) || e.Code != procurebot.EINVALID || e.Message == "" {
			t.Fatalf("error %v (%T), want an EINVALID *procurebot.Error", err, err)
		}
		return
	}
	checkDataset(t, ds)
}

// checkDataset checks what every loaded data set guarantees.
func checkDataset(t *testing.T, ds *procurebot.Dataset) {
	t.Helper()
	for m, s := range ds.Power {
		n := len(s.Prices)
		if s.Market != m || n == 0 || len(s.Present) != n || !s.Present[0] || !s.Present[n-1] {
			t.Fatalf("series %s: market %q, %d prices, %d flags", m, s.Market, n, len(s.Present))
		}
		if s.Start.Location() != time.UTC || !s.Start.Equal(s.Start.Truncate(time.Hour)) {
			t.Fatalf("series %s starts at %v", m, s.Start)
		}
	}
	for i, s := range ds.GPU {
		if len(s.Offers) == 0 || s.Time.Location() != time.UTC || (i > 0 && !s.Time.After(ds.GPU[i-1].Time)) {
			t.Fatalf("GPU snapshot %d: %d offers at %v", i, len(s.Offers), s.Time)
		}
		for _, o := range s.Offers {
			if o.Provider == "" || o.GPU == "" || o.GPUCount < 0 || o.USDPerHour.Sign() < 0 ||
				o.USDPerGPUHour.Sign() < 0 || !o.PerGPU.Equal(o.PerGPUPrice()) {
				t.Fatalf("offer %+v", o)
			}
		}
	}
	for i, s := range ds.Tokens {
		if len(s.Prices) == 0 || s.Time.Location() != time.UTC || (i > 0 && !s.Time.After(ds.Tokens[i-1].Time)) {
			t.Fatalf("token snapshot %d: %d prices at %v", i, len(s.Prices), s.Time)
		}
		for _, p := range s.Prices {
			if p.Provider == "" || p.Model == "" || p.USDPerMTokIn.Sign() < 0 || p.USDPerMTokOut.Sign() < 0 || p.ContextLength < 0 {
				t.Fatalf("token price %+v", p)
			}
		}
	}
}

// FuzzLoadPower fuzzes power/b.csv, merged with the valid power/a.csv.
func FuzzLoadPower(f *testing.F) {
	for _, s := range []string{
		powerHeader + "2024-01-01T02:00:00Z,M,3\n2024-01-01T05:00:00Z,M,-3.5\n2024-01-01T00:00:00Z,N,0\n",
		powerHeader + "2024-01-01T00:00:00Z,M,3\n",
		"usd_per_mwh,market,time_utc,x\n1,M,2024-01-01T03:00:00+00:00,\"a\"\"b\"\n",
		powerHeader + "2024-01-01T00:30:00Z,M,3\n",
		powerHeader + "0001-01-01T00:00:00Z,M,1\n9999-12-31T23:00:00Z,M,1\n",
		powerHeader + "2024-01-01T07:00:00Z,M,1e3\n",
		powerHeader + "2024-01-01T07:00:00Z,\"M\n\",1\n",
		"\uFEFF" + powerHeader + "2024-02-29T00:00:00Z,M,123456789012345678901234567890.1\r\n",
		powerHeader + "2024-01-01T07:00:00Z,M\"\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLoad(t, "power/b.csv", data) })
}

// FuzzLoadOffers fuzzes gpu/offers.csv.
func FuzzLoadOffers(f *testing.F) {
	for _, s := range []string{
		offersHeader + offerRow + "2024-01-01T00:00:00Z,q,H200,8,80,10,TRUE,eu,x\n2024-01-02T00:00:00Z,p,H100,,,2.5,false,,\n",
		offersHeader + "2024-01-02T00:00:00Z,p,H100,1,2,,,,\n" + offerRow,
		offersHeader + "2024-01-01T00:00:00.999999999Z,p,H100,3,1,,,,\n2024-01-01T00:00:01+00:00,p,H100,7,0.1,,,,\n",
		"note,instance,region,spot,usd_per_gpu_hour,usd_per_hour,gpu_count,gpu,provider,time_utc\nx,i,r,true,1,,2,H100,p,2024-01-01T00:00:00Z\n",
		offersHeader + "2024-01-01T00:00:00Z,p,H100,0,2,,,,\n",
		offersHeader + "2024-01-01T00:00:00Z,p,H100,1,-2,,yes,,\n",
		offersHeader + "2024-01-01T00:00:00Z,p,H1\"00,1,2,,,,\n",
		offersHeader,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLoad(t, "gpu/offers.csv", data) })
}

// FuzzLoadModels fuzzes inference/models.csv.
func FuzzLoadModels(f *testing.F) {
	for _, s := range []string{
		modelsHeader + modelRow + "2024-01-01T00:00:00Z,openrouter,x/y:free,0,0,\n2024-02-01T00:00:00Z,openrouter,m,0.000001,12.5,0\n",
		modelsHeader + "2024-01-02T00:00:00Z,openrouter,m,1,2,100\n" + modelRow,
		modelsHeader + "2024-01-01T00:00:00Z,openrouter,m,-1,2,100\n",
		modelsHeader + "2024-01-01T00:00:00Z,openrouter,m,1,2,1e5\n",
		"context_length,usd_per_mtok_out,usd_per_mtok_in,model,provider,time_utc\n5,1,1,m,p,2024-01-01T00:00:00Z\n",
		modelsHeader + "2024-01-01T00:00:00Z,openrouter,\"m\n\",1,2\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLoad(t, "inference/models.csv", data) })
}

package csv_test

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/procurebot/procurebot"
	pcsv "github.com/procurebot/procurebot/providers/csv"
	"github.com/procurebot/procurebot/sampledata"
	"github.com/shopspring/decimal"
)

// TestSampleData loads the embedded real sample and checks it against the
// figures its SOURCES.md files state.
func TestSampleData(t *testing.T) {
	ds, err := pcsv.LoadFS(sampledata.FS())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("power", func(t *testing.T) {
		if got := ds.Markets(); !slices.Equal(got, []string{"ENTSOE_BE", "ERCOT_HB_NORTH"}) {
			t.Fatalf("markets %v", got)
		}
		tests := []struct {
			market         string
			rows, missing  int
			first, last    string
			min, max       string // rounded to cents
			negative, zero int
			missingHours   []string
			maxGapHours    int
		}{
			{"ERCOT_HB_NORTH", 6864, 5, "2024-02-23T17:00:00Z", "2024-12-05T21:00:00Z", "-30.29", "3048.16", 101, 12,
				[]string{"2024-03-21T21:00:00Z", "2024-04-02T02:00:00Z", "2024-04-02T16:00:00Z", "2024-04-02T17:00:00Z", "2024-05-12T04:00:00Z"}, 2},
			{"ENTSOE_BE", 8760, 0, "2024-12-31T23:00:00Z", "2025-12-31T22:00:00Z", "-499.32", "558.98", 519, 56, nil, 0},
		}
		for _, tc := range tests {
			s := ds.Power[tc.market]
			rows, neg, zero, gap, maxGap := 0, 0, 0, 0, 0
			var missing []string
			lo, hi := decimal.Decimal{}, decimal.Decimal{}
			for i, ok := range s.Present {
				if !ok {
					missing = append(missing, s.Start.Add(time.Duration(i)*time.Hour).Format(time.RFC3339))
					gap++
					maxGap = max(maxGap, gap)
					continue
				}
				gap = 0
				p := s.Prices[i]
				if rows == 0 || p.LessThan(lo) {
					lo = p
				}
				if rows == 0 || p.GreaterThan(hi) {
					hi = p
				}
				rows++
				switch p.Sign() {
				case -1:
					neg++
				case 0:
					zero++
				}
			}
			if rows != tc.rows || len(missing) != tc.missing || neg != tc.negative || zero != tc.zero || maxGap != tc.maxGapHours {
				t.Errorf("%s: %d rows, %d missing, %d negative, %d zero, max gap %d h; want %d, %d, %d, %d, %d",
					tc.market, rows, len(missing), neg, zero, maxGap, tc.rows, tc.missing, tc.negative, tc.zero, tc.maxGapHours)
			}
			if !slices.Equal(missing, tc.missingHours) {
				t.Errorf("%s: missing hours %v, want %v", tc.market, missing, tc.missingHours)
			}
			if got := s.Start.Format(time.RFC3339); got != tc.first {
				t.Errorf("%s: first hour %s, want %s", tc.market, got, tc.first)
			}
			if got := s.End().Add(-time.Hour).Format(time.RFC3339); got != tc.last {
				t.Errorf("%s: last hour %s, want %s", tc.market, got, tc.last)
			}
			if procurebot.Cents(lo) != tc.min || procurebot.Cents(hi) != tc.max {
				t.Errorf("%s: min/max %s / %s, want %s / %s", tc.market, lo, hi, tc.min, tc.max)
			}
		}
	})

	t.Run("gpu", func(t *testing.T) {
		if len(ds.GPU) != 127 {
			t.Errorf("%d GPU snapshots, want 127", len(ds.GPU))
		}
		if got := ds.GPU[0].Time.Format(time.RFC3339); got != "2024-09-24T20:42:36Z" {
			t.Errorf("first snapshot %s", got)
		}
		if got := ds.GPU[len(ds.GPU)-1].Time.Format(time.RFC3339); got != "2025-01-31T00:01:02Z" {
			t.Errorf("last snapshot %s", got)
		}
		days := map[string]bool{}
		type series struct {
			rows     int
			min, max decimal.Decimal
		}
		byKey := map[string]*series{}
		providers, gpus := map[string]bool{}, map[string]bool{}
		rows := 0
		for i, s := range ds.GPU {
			if i > 0 && !s.Time.After(ds.GPU[i-1].Time) {
				t.Fatalf("snapshot %d at %v not after %v", i, s.Time, ds.GPU[i-1].Time)
			}
			days[s.Time.Format(time.DateOnly)] = true
			for _, o := range s.Offers {
				rows++
				providers[o.Provider], gpus[o.GPU] = true, true
				k := o.Provider + "|" + o.GPU
				sr := byKey[k]
				if sr == nil {
					sr = &series{min: o.USDPerHour, max: o.USDPerHour}
					byKey[k] = sr
				}
				sr.rows++
				if o.USDPerHour.LessThan(sr.min) {
					sr.min = o.USDPerHour
				}
				if o.USDPerHour.GreaterThan(sr.max) {
					sr.max = o.USDPerHour
				}
				if o.Spot != procurebot.SpotUnknown || o.Region != "" || o.Instance != "" {
					t.Errorf("offer %+v: spot, region or instance set", o)
				}
				fixed := o.Provider == "aws" || o.Provider == "oci" || o.Provider == "vultr"
				if fixed != (o.GPUCount == 8) || fixed != o.HasPerGPU {
					t.Errorf("offer %+v: gpu_count %d, per-GPU %v", o, o.GPUCount, o.HasPerGPU)
				}
				if !o.PerGPU.Equal(o.PerGPUPrice()) {
					t.Errorf("offer %+v: PerGPU", o)
				}
			}
		}
		if rows != 25145 {
			t.Errorf("%d offers, want 25145", rows)
		}
		var missing []string
		for d := ds.GPU[0].Time; !d.After(ds.GPU[len(ds.GPU)-1].Time); d = d.AddDate(0, 0, 1) {
			if !days[d.Format(time.DateOnly)] {
				missing = append(missing, d.Format(time.DateOnly))
			}
		}
		if !slices.Equal(missing, []string{"2024-10-03", "2024-11-09", "2025-01-14"}) {
			t.Errorf("days without a snapshot: %v", missing)
		}
		if got := strings.Join(slices.Sorted(maps.Keys(providers)), ","); got != "aws,azure,datacrunch,gcp,lambdalabs,oci,runpod,tensordock,vastai,vultr" {
			t.Errorf("providers %s", got)
		}
		if got := strings.Join(slices.Sorted(maps.Keys(gpus)), ","); got != "A100,H100,H200,MI300X" {
			t.Errorf("GPUs %s", got)
		}
		// The series table of gpu/SOURCES.md: rows, min and max usd_per_hour.
		want := map[string]string{
			"aws|A100": "36 6.49 53.09", "aws|H100": "1731 9.83 165.18", "aws|H200": "13 108.15 108.15",
			"azure|A100": "220 0.44 65.54", "datacrunch|A100": "20 0.65 15.12", "datacrunch|H100": "920 0.38 26.80",
			"gcp|A100": "212 1.39 60.48", "gcp|H100": "12489 3.91 126.64", "lambdalabs|A100": "10 1.29 14.32",
			"lambdalabs|H100": "596 2.49 23.92", "oci|A100": "4 24.40 32.00", "oci|H100": "127 80.00 80.00",
			"runpod|A100": "116 0.60 15.12", "runpod|H100": "3616 1.25 27.92", "runpod|H200": "201 0.50 31.92",
			"runpod|MI300X": "1954 0.50 31.92", "tensordock|A100": "19 1.86 2.56", "tensordock|H100": "563 2.27 3.61",
			"vastai|A100": "26 0.24 9.38", "vastai|H100": "2023 0.45 34.29", "vastai|H200": "210 2.67 41.79",
			"vultr|H100": "22 23.92 23.92", "vultr|MI300X": "17 17.52 17.52",
		}
		if len(byKey) != len(want) {
			t.Errorf("%d provider×gpu series, want %d", len(byKey), len(want))
		}
		for k, w := range want {
			sr := byKey[k]
			if sr == nil {
				t.Errorf("series %s missing", k)
				continue
			}
			if got := strings.Join([]string{strconv.Itoa(sr.rows), procurebot.Cents(sr.min), procurebot.Cents(sr.max)}, " "); got != w {
				t.Errorf("series %s: %s, want %s", k, got, w)
			}
		}
		// The first row: aws A100, 8 GPUs, 6.49 per instance, 0.8113 per GPU.
		o := ds.GPU[0].Offers[0]
		if o.Provider != "aws" || o.GPU != "A100" || o.PerGPU.String() != "0.8113" || o.USDPerHour.String() != "6.49" {
			t.Errorf("first offer %+v", o)
		}
	})

	t.Run("tokens", func(t *testing.T) {
		if len(ds.Tokens) != 105 {
			t.Errorf("%d token snapshots, want 105", len(ds.Tokens))
		}
		if got := ds.Tokens[0].Time.Format(time.RFC3339); got != "2024-09-21T02:09:31Z" {
			t.Errorf("first token snapshot %s", got)
		}
		if got := ds.Tokens[len(ds.Tokens)-1].Time.Format(time.RFC3339); got != "2025-01-31T00:24:36Z" {
			t.Errorf("last token snapshot %s", got)
		}
		rows, free, minPer, maxPer := 0, 0, 1<<30, 0
		models := map[string]bool{}
		for _, s := range ds.Tokens {
			rows += len(s.Prices)
			minPer, maxPer = min(minPer, len(s.Prices)), max(maxPer, len(s.Prices))
			for _, p := range s.Prices {
				models[p.Model] = true
				if p.Provider != "openrouter" {
					t.Errorf("provider %q", p.Provider)
				}
				if p.USDPerMTokIn.IsZero() && p.USDPerMTokOut.IsZero() {
					free++
				}
			}
		}
		if rows != 21157 || len(models) != 272 || free != 2514 || minPer != 174 || maxPer != 229 {
			t.Errorf("%d rows, %d models, %d free, %d–%d per snapshot; want 21157, 272, 2514, 174–229",
				rows, len(models), free, minPer, maxPer)
		}
		price := func(s procurebot.TokenSnapshot, model string) string {
			for _, p := range s.Prices {
				if p.Model == model {
					return p.USDPerMTokIn.String() + " / " + p.USDPerMTokOut.String()
				}
			}
			return "absent"
		}
		first, last := ds.Tokens[0], ds.Tokens[len(ds.Tokens)-1]
		if got := price(first, "openai/gpt-4o"); got != "5 / 15" {
			t.Errorf("gpt-4o first %s", got)
		}
		if got := price(last, "openai/gpt-4o"); got != "2.5 / 10" {
			t.Errorf("gpt-4o last %s", got)
		}
		if got := price(last, "meta-llama/llama-3.1-8b-instruct"); got != "0.02 / 0.05" {
			t.Errorf("llama-3.1-8b last %s", got)
		}
	})
}

package scenario

import (
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
)

var day0 = time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)

func hour(h int) time.Time { return day0.Add(time.Duration(h) * time.Hour) }

// series returns market m's hourly prices from hour `from` to hour `to`
// (exclusive), relative to day0, with the hours in missing absent.
func series(m string, from, to int, missing ...int) *procurebot.PowerSeries {
	ps := &procurebot.PowerSeries{Market: m, Start: hour(from)}
	gone := make(map[int]bool)
	for _, h := range missing {
		gone[h] = true
	}
	for h := from; h < to; h++ {
		ps.Prices = append(ps.Prices, decimal.NewFromInt(int64(20+h)))
		ps.Present = append(ps.Present, !gone[h])
	}
	return ps
}

func snap(h int, classes ...string) procurebot.Snapshot {
	s := procurebot.Snapshot{Time: hour(h)}
	for _, c := range classes {
		s.Offers = append(s.Offers, procurebot.Offer{Provider: "runpod", GPU: c, PerGPU: decimal.NewFromInt(2)})
	}
	return s
}

func tokens(h int, models ...string) procurebot.TokenSnapshot {
	s := procurebot.TokenSnapshot{Time: hour(h)}
	for _, m := range models {
		s.Prices = append(s.Prices, procurebot.TokenPrice{Provider: "openrouter", Model: m})
	}
	return s
}

// dataset covers the base scenario's window [day0, day0+48h): ERCOT from a
// day before to a day after, H100 offered from before the window, H200 only
// inside it, MI300X only in a superseded snapshot, A100 only after the end.
func dataset() *procurebot.Dataset {
	return &procurebot.Dataset{
		Power: map[string]*procurebot.PowerSeries{
			"ERCOT": series("ERCOT", -24, 72),
			"PJM":   series("PJM", -24, 72),
		},
		GPU: []procurebot.Snapshot{
			snap(-48, "MI300X"),
			snap(-1, "H100"),
			snap(30, "H100", "H200"),
			snap(48, "A100"),
		},
		Tokens: []procurebot.TokenSnapshot{
			tokens(-48, "old-model"),
			tokens(-1, "llama"),
			tokens(47, "late-model"),
			tokens(48, "future-model"),
		},
	}
}

func TestValidateData(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m map[string]any, ds *procurebot.Dataset)
		want   []string // nil = valid
	}{
		{"valid", func(map[string]any, *procurebot.Dataset) {}, nil},
		{"6-hour gap ok", func(_ map[string]any, ds *procurebot.Dataset) {
			ds.Power["ERCOT"] = series("ERCOT", -24, 72, 10, 11, 12, 13, 14, 15)
		}, nil},
		{"7-hour gap", func(_ map[string]any, ds *procurebot.Dataset) {
			ds.Power["ERCOT"] = series("ERCOT", -24, 72, 10, 11, 12, 13, 14, 15, 16)
		}, []string{`sites[0].power_market: market "ERCOT" has no price for hour 2024-10-01T16:00:00Z`}},
		{"gap before the window ok", func(_ map[string]any, ds *procurebot.Dataset) {
			ds.Power["ERCOT"] = series("ERCOT", -24, 72, -20, -19, -18, -17, -16, -15, -14, -13)
		}, nil},
		{"gap ending at start", func(_ map[string]any, ds *procurebot.Dataset) {
			ds.Power["ERCOT"] = series("ERCOT", -24, 72, -7, -6, -5, -4, -3, -2, -1, 0)
		}, []string{`market "ERCOT" has no price for hour 2024-10-01T00:00:00Z`}},
		{"data starts late", func(_ map[string]any, ds *procurebot.Dataset) {
			ds.Power["ERCOT"] = series("ERCOT", 2, 72)
		}, []string{`sites[0].power_market: market "ERCOT" has no price for hour 2024-10-01T00:00:00Z (its data starts at 2024-10-01T02:00:00Z)`}},
		{"data ends early but within 6h", func(_ map[string]any, ds *procurebot.Dataset) {
			ds.Power["ERCOT"] = series("ERCOT", -24, 42)
		}, nil},
		{"data ends early", func(_ map[string]any, ds *procurebot.Dataset) {
			ds.Power["ERCOT"] = series("ERCOT", -24, 41)
		}, []string{`market "ERCOT" has no price for hour 2024-10-02T23:00:00Z (its last recorded hour is 2024-10-02T16:00:00Z)`}},
		{"missing market", func(m map[string]any, _ *procurebot.Dataset) {
			at(m, "sites", 0)["power_market"] = "CAISO"
		}, []string{`sites[0].power_market: market "CAISO" is not in the data (markets: ERCOT, PJM)`}},
		{"second site's market gap", func(m map[string]any, ds *procurebot.Dataset) {
			m["sites"] = append(m["sites"].([]any), map[string]any{"name": "pa", "power_market": "PJM", "gpu": "H200", "gpus": 1, "kw_per_gpu": 1})
			ds.Power["PJM"] = series("PJM", -24, 72, 30, 31, 32, 33, 34, 35, 36)
		}, []string{`sites[1].power_market: market "PJM" has no price for hour 2024-10-02T12:00:00Z`}},
		{"job class only inside the window ok", func(m map[string]any, _ *procurebot.Dataset) {
			at(m, "jobs", 1)["gpu"] = "H200"
		}, nil},
		{"job class only after the window", func(m map[string]any, _ *procurebot.Dataset) {
			at(m, "jobs", 1)["gpu"] = "A100"
		}, []string{`jobs[1] (id train-b).gpu: no offer of GPU class "A100" in the data from 2024-10-01T00:00:00Z to 2024-10-03T00:00:00Z (classes offered: H100, H200)`}},
		{"job class only in a superseded book", func(m map[string]any, _ *procurebot.Dataset) {
			at(m, "jobs", 0)["gpu"] = "MI300X"
		}, []string{`jobs[0] (id train-a).gpu: no offer of GPU class "MI300X"`}},
		{"job class offered nowhere", func(m map[string]any, ds *procurebot.Dataset) {
			ds.GPU = nil
		}, []string{`jobs[0] (id train-a).gpu: no offer of GPU class "H100"`, "(classes offered: none)"}},
		{"self_host class without a site", func(m map[string]any, _ *procurebot.Dataset) {
			at(m, "inference", 0, "self_host")["gpu"] = "H200"
		}, []string{`inference[0].self_host.gpu: no site has GPU class "H200" (site classes: H100)`}},
		{"model never sold, no self_host", func(m map[string]any, _ *procurebot.Dataset) {
			at(m, "inference", 0)["model"] = "future-model"
			delete(at(m, "inference", 0), "self_host")
		}, []string{`inference[0].model: model "future-model" of workload "chat" is never sold`}},
		{"model only in a superseded snapshot", func(m map[string]any, _ *procurebot.Dataset) {
			at(m, "inference", 0)["model"] = "old-model"
			delete(at(m, "inference", 0), "self_host")
		}, []string{`inference[0].model: model "old-model"`}},
		{"model sold late in the window ok", func(m map[string]any, _ *procurebot.Dataset) {
			at(m, "inference", 0)["model"] = "late-model"
			delete(at(m, "inference", 0), "self_host")
		}, nil},
		{"model sold ok", func(m map[string]any, _ *procurebot.Dataset) {
			delete(at(m, "inference", 0), "self_host")
		}, nil},
		{"model never sold but self-hosted ok", func(m map[string]any, _ *procurebot.Dataset) {
			at(m, "inference", 0)["model"] = "in-house"
		}, nil},
		{"no token data, no self_host", func(m map[string]any, ds *procurebot.Dataset) {
			delete(at(m, "inference", 0), "self_host")
			ds.Tokens = nil
		}, []string{`inference[0].model: model "llama"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ds := base(), dataset()
			tt.mutate(m, ds)
			s := mustParse(t, string(mustMarshal(t, m)))
			err := s.ValidateData(ds)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ValidateData: %v", err)
				}
				return
			}
			wantInvalid(t, err, tt.want...)
			var fe *procurebot.FieldError
			if !errors.As(err, &fe) || fe.Path == "" {
				t.Errorf("error %v has no FieldError cause", err)
			}
		})
	}
}

func TestValidateDataNil(t *testing.T) {
	s := mustParse(t, string(mustMarshal(t, base())))
	wantInvalid(t, s.ValidateData(nil), `sites[0].power_market: market "ERCOT" is not in the data (markets: none)`)
}

func TestValidateDataExample(t *testing.T) {
	s, err := Load("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	start := s.Start.Add(-time.Hour)
	ps := &procurebot.PowerSeries{Market: "ERCOT_HB_NORTH", Start: start}
	for h := start; h.Before(s.End); h = h.Add(time.Hour) {
		ps.Prices = append(ps.Prices, decimal.RequireFromString("31.5"))
		ps.Present = append(ps.Present, true)
	}
	ds := &procurebot.Dataset{
		Power: map[string]*procurebot.PowerSeries{"ERCOT_HB_NORTH": ps},
		GPU:   []procurebot.Snapshot{{Time: start, Offers: []procurebot.Offer{{Provider: "lambdalabs", GPU: "H100"}}}},
	}
	if err := s.ValidateData(ds); err != nil {
		t.Fatal(err)
	}
}

package sim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/sim"
)

// gapScenario runs 12 hourly steps from t0 on one site of market
// ERCOT_HB_TEST with the given power series.
func gapScenario(t *testing.T, step time.Duration, ps *procurebot.PowerSeries) (*procurebot.Scenario, *procurebot.Dataset) {
	t.Helper()
	sc := &procurebot.Scenario{
		Start: t0, End: at(12), Step: step,
		Sites: []procurebot.Site{{Name: "s", PowerMarket: ps.Market, GPU: "H100", GPUs: 1, KWPerGPU: d("1")}},
		Jobs:  []procurebot.Job{{ID: "j", GPU: "H100", MaxGPUs: 1, GPUHours: d("1"), Release: t0, Deadline: at(12)}},
	}
	ds := dataset([]*procurebot.PowerSeries{ps},
		[]procurebot.Snapshot{{Time: t0, Offers: []procurebot.Offer{perGPU("lambdalabs", "H100", "2", procurebot.SpotFalse)}}}, nil)
	sc.SetDefaults()
	if err := sc.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return sc, ds
}

// TestGapRule: a missing hour takes the last earlier price of its market
// from at most 6 hours before it (§5); a 7-hour hole inside the window is an
// EINVALID error naming the market and the hour.
func TestGapRule(t *testing.T) {
	const market = "ERCOT_HB_TEST"
	for _, tc := range []struct {
		name   string
		series *procurebot.PowerSeries
		want   []string // price per step (hours 0…11), when no error
		errAt  string   // the hour the error names
	}{
		{
			// Hours 3…8 missing: 8 is 6 hours after 2.
			name:   "6-hour hole",
			series: hourly(market, at(-1), "1", "10", "11", "12", "", "", "", "", "", "", "19", "20", "21", "22"),
			want:   []string{"10", "11", "12", "12", "12", "12", "12", "12", "12", "19", "20", "21"},
		},
		{
			// Hours 3…9 missing: 9 is 7 hours after 2.
			name:   "7-hour hole",
			series: hourly(market, at(-1), "1", "10", "11", "12", "", "", "", "", "", "", "", "20", "21", "22"),
			errAt:  "2024-03-10T09:00:00Z",
		},
		{
			// The last earlier price may lie before the window: hour −3.
			name:   "carried into the window",
			series: hourly(market, at(-3), "-7", "", "", "", "", "", "16", "17", "18", "19", "20", "21", "22", "23", "24"),
			want:   []string{"-7", "-7", "-7", "16", "17", "18", "19", "20", "21", "22", "23", "24"},
		},
		{
			// …but not from 7 hours before the window's first hour.
			name:   "carried too far into the window",
			series: hourly(market, at(-7), "5", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", ""),
			errAt:  "2024-03-10T00:00:00Z",
		},
		{
			name:   "data starts late",
			series: hourly(market, at(2), "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"),
			errAt:  "2024-03-10T00:00:00Z",
		},
		{
			// Past the last recorded hour (11 is 7 hours after 4).
			name:   "data ends early",
			series: hourly(market, t0, "0", "1", "2", "3", "4"),
			errAt:  "2024-03-10T11:00:00Z",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, ds := gapScenario(t, time.Hour, tc.series)
			m, err := sim.NewMarket(sc, ds)
			if tc.errAt != "" {
				wantCode(t, err, procurebot.EINVALID)
				for _, part := range []string{market, tc.errAt} {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("NewMarket error %q does not name %q", err, part)
					}
				}
				// Run fails the same way, before asking the strategy anything.
				st := &scripted{}
				_, err := runErr(t, sc, ds, st)
				wantCode(t, err, procurebot.EINVALID)
				if len(st.calls) != 0 {
					t.Errorf("strategy called at steps %v", st.calls)
				}
				// ValidateData names the same hour.
				if err := sc.ValidateData(ds); err == nil || !strings.Contains(err.Error(), tc.errAt) {
					t.Errorf("ValidateData = %v, want an error naming %s", err, tc.errAt)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewMarket: %v", err)
			}
			if err := sc.ValidateData(ds); err != nil {
				t.Errorf("ValidateData: %v", err)
			}
			if m.Steps() != len(tc.want) {
				t.Fatalf("Steps = %d, want %d", m.Steps(), len(tc.want))
			}
			for k, w := range tc.want {
				if got := m.Power(0, k); !got.Equal(d(w)) {
					t.Errorf("Power(step %d) = %s, want %s", k, got, w)
				}
			}
		})
	}
}

// TestStepPowerHour: a step's power price is that of the UTC hour containing
// its start (§7.10), for steps shorter than an hour.
func TestStepPowerHour(t *testing.T) {
	prices := make([]string, 12)
	for i := range prices {
		prices[i] = strings.Repeat("1", i+1) // 1, 11, 111, …: distinct
	}
	sc, ds := gapScenario(t, 20*time.Minute, hourly("M", t0, prices...))
	m, err := sim.NewMarket(sc, ds)
	if err != nil {
		t.Fatalf("NewMarket: %v", err)
	}
	if m.Steps() != 36 {
		t.Fatalf("Steps = %d, want 36", m.Steps())
	}
	for k := 0; k < 36; k++ {
		if got, want := m.Power(0, k), d(prices[k/3]); !got.Equal(want) {
			t.Errorf("Power(step %d at %s) = %s, want %s", k, sc.StepTime(k).Format("15:04"), got, want)
		}
	}
}

package procurebot_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestCentsRoundsHalfAwayFromZero(t *testing.T) {
	for in, want := range map[string]string{
		"0.005": "0.01", "-0.005": "-0.01", "1.234": "1.23", "1.235": "1.24", "-1.235": "-1.24",
		"0": "0.00", "123456.785": "123456.79", "0.0049999": "0.00", "-2": "-2.00",
	} {
		if got := procurebot.Cents(d(in)); got != want {
			t.Errorf("Cents(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestPerGPUPriceRule(t *testing.T) {
	cases := []struct {
		name string
		o    procurebot.Offer
		want string
	}{
		{"per-GPU column wins", procurebot.Offer{USDPerHour: d("24"), GPUCount: 8, USDPerGPUHour: d("2.99"), HasPerGPU: true}, "2.99"},
		{"instance over count", procurebot.Offer{USDPerHour: d("23.92"), GPUCount: 8}, "2.99"},
		{"unknown shape is one GPU", procurebot.Offer{USDPerHour: d("1.45")}, "1.45"},
		{"non-terminating division", procurebot.Offer{USDPerHour: d("10"), GPUCount: 3}, "3.3333333333333333"},
	}
	for _, c := range cases {
		if got := c.o.PerGPUPrice(); !got.Equal(d(c.want)) {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestIsSpot(t *testing.T) {
	od := []string{"lambdalabs"}
	cases := []struct {
		provider string
		spot     procurebot.Spot
		want     bool
	}{
		{"lambdalabs", procurebot.SpotUnknown, false},
		{"runpod", procurebot.SpotUnknown, true},
		{"lambdalabs", procurebot.SpotTrue, true},
		{"runpod", procurebot.SpotFalse, false},
	}
	for _, c := range cases {
		o := procurebot.Offer{Provider: c.provider, Spot: c.spot}
		if got := o.IsSpot(od); got != c.want {
			t.Errorf("%s spot=%d: %v, want %v", c.provider, c.spot, got, c.want)
		}
	}
}

func TestWindow(t *testing.T) {
	t0 := time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)
	sc := &procurebot.Scenario{Start: t0, End: t0.Add(10 * time.Hour), Step: time.Hour}
	cases := []struct {
		release, deadline time.Duration
		first, end        int
	}{
		{0, 10 * time.Hour, 0, 10},
		{90 * time.Minute, 5*time.Hour + 30*time.Minute, 2, 5}, // t_k ≥ 1:30 → k ≥ 2; t_k + 1h ≤ 5:30 → k ≤ 4
		{3 * time.Hour, 4 * time.Hour, 3, 4},
	}
	for _, c := range cases {
		j := &procurebot.Job{Release: t0.Add(c.release), Deadline: t0.Add(c.deadline)}
		if f, e := sc.Window(j); f != c.first || e != c.end {
			t.Errorf("release %v deadline %v: window [%d,%d), want [%d,%d)", c.release, c.deadline, f, e, c.first, c.end)
		}
	}
}

func TestPowerSeriesGapRule(t *testing.T) {
	t0 := time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)
	// Prices at hours 0, 1, 8 and 15: hours 2–7 and 9–14 are 6-hour holes.
	p := &procurebot.PowerSeries{Market: "M", Start: t0, Prices: make([]procurebot.Money, 16), Present: make([]bool, 16)}
	set := func(h int, v string) { p.Prices[h], p.Present[h] = d(v), true }
	set(0, "10")
	set(1, "-5")
	set(8, "30")
	set(15, "40")
	cases := []struct {
		at      time.Duration
		want    string
		invalid bool
	}{
		{0, "10", false},
		{90 * time.Minute, "-5", false}, // the hour containing 01:30
		{7 * time.Hour, "-5", false},    // 6 hours after the last price
		{8 * time.Hour, "30", false},
		{14 * time.Hour, "30", false}, // hours 9–14 carried
		{-time.Hour, "", true},        // before the series
		{16 * time.Hour, "40", false}, // after the end, within 6 h
		{22 * time.Hour, "", true},    // 7 hours after the last price
	}
	for _, c := range cases {
		got, err := p.At(t0.Add(c.at))
		if c.invalid {
			if procurebot.ErrorCode(err) != procurebot.EINVALID {
				t.Errorf("at +%v: err %v, want EINVALID", c.at, err)
			}
			continue
		}
		if err != nil || !got.Equal(d(c.want)) {
			t.Errorf("at +%v: %s, %v; want %s", c.at, got, err, c.want)
		}
	}
	// Without hour 8, hour 8 is 7 hours after hour 1: a longer gap.
	p.Present[8] = false
	if _, err := p.At(t0.Add(8 * time.Hour)); procurebot.ErrorCode(err) != procurebot.EINVALID {
		t.Errorf("a 7-hour hole: err %v, want EINVALID", err)
	}
}

func TestGPUClassOf(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"NVIDIA H100 80GB HBM3", "H100"}, {"H100 SXM", "H100"}, {"1x H100 SXM5 80GB", "H100"},
		{"gpu_8x_h100_sxm5", "H100"}, {"h100i", "H100"}, {"GH200 (96 GB)", "GH200"}, {"H200", "H200"},
		{"gpu_8x_a100_80gb_sxm4", "A100"}, {"gpu_1x_a10", "A10"}, {"RTX A1000", "A1000"},
		{"RTX 4090", "RTX4090"}, {"RTX 6000 Ada", "RTX6000"}, {"Quadro RTX 6000", "QRTX6000"}, {"Q RTX 6000", "QRTX6000"},
		{"AMD Instinct MI300X OAM", "MI300X"}, {"RTX A6000", "A6000"}, {"Gaudi2", ""},
	} {
		if got := procurebot.GPUClassOf(tc.in); got != tc.want {
			t.Errorf("GPUClassOf(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

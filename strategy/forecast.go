package strategy

import (
	"math"
	"sort"
	"time"
)

// PowerForecaster predicts an hourly power price from the visible history
// of one market only.
type PowerForecaster interface {
	// Name identifies the forecaster on the command line and in reports.
	Name() string
	// Forecast returns the predicted USD/MWh for hour t, given hist, the
	// market's visible hourly prices from hist.start (NaN = not recorded).
	Forecast(hist *hourly, t time.Time) float64
	// Period is the forecast's repeat for hours after the history: the
	// forecast of t and t + Period are equal (0: the same for every hour).
	// Planners memoise on it.
	Period() time.Duration
}

// hourly is a market's visible price history, hour by hour.
type hourly struct {
	start  time.Time // first hour
	prices []float64 // NaN where unknown
}

// end returns the first hour not in the history.
func (h *hourly) end() time.Time { return h.start.Add(time.Duration(len(h.prices)) * time.Hour) }

// at returns the price of the hour containing t, NaN if unknown.
func (h *hourly) at(t time.Time) float64 {
	i := int(t.Sub(h.start) / time.Hour)
	if t.Before(h.start) || i >= len(h.prices) {
		return math.NaN()
	}
	return h.prices[i]
}

// last returns the latest known price (NaN if none).
func (h *hourly) last() float64 {
	for i := len(h.prices) - 1; i >= 0; i-- {
		if !math.IsNaN(h.prices[i]) {
			return h.prices[i]
		}
	}
	return math.NaN()
}

// Persistence forecasts every hour at the last visible price.
type Persistence struct{}

func (Persistence) Name() string                            { return "persist" }
func (Persistence) Forecast(h *hourly, t time.Time) float64 { return h.last() }
func (Persistence) Period() time.Duration                   { return 0 }

// HourOfDay forecasts the median of the same UTC hour of day over the last
// Days days of history.
type HourOfDay struct{ Days int }

func (f HourOfDay) Name() string          { return "hod" }
func (f HourOfDay) Period() time.Duration { return 24 * time.Hour }
func (f HourOfDay) Forecast(h *hourly, t time.Time) float64 {
	return sameHourMedian(h, t, 24*time.Hour, f.Days)
}

// HourOfWeek forecasts the median of the same hour of the week over the last
// Weeks weeks, falling back to HourOfDay when the history is shorter.
type HourOfWeek struct{ Weeks int }

func (f HourOfWeek) Name() string          { return "how" }
func (f HourOfWeek) Period() time.Duration { return 7 * 24 * time.Hour }
func (f HourOfWeek) Forecast(h *hourly, t time.Time) float64 {
	if v := sameHourMedian(h, t, 7*24*time.Hour, f.Weeks); !math.IsNaN(v) {
		return v
	}
	return sameHourMedian(h, t, 24*time.Hour, 7)
}

// Blend averages hour-of-day shape over Days days, shifted to the level of
// the last Recent hours (so a heat wave or a cold snap carries into the
// forecast while the daily shape comes from history).
type Blend struct {
	Days   int
	Recent int
}

func (f Blend) Name() string          { return "blend" }
func (f Blend) Period() time.Duration { return 24 * time.Hour }
func (f Blend) Forecast(h *hourly, t time.Time) float64 {
	shape := sameHourMedian(h, t, 24*time.Hour, f.Days)
	if math.IsNaN(shape) {
		return h.last()
	}
	// level: median of the last Recent hours minus the median of the same
	// hours' profile values
	var diffs []float64
	end := h.end()
	for i := 1; i <= f.Recent; i++ {
		u := end.Add(-time.Duration(i) * time.Hour)
		v := h.at(u)
		p := sameHourMedian(h, u, 24*time.Hour, f.Days)
		if !math.IsNaN(v) && !math.IsNaN(p) {
			diffs = append(diffs, v-p)
		}
	}
	if len(diffs) == 0 {
		return shape
	}
	return shape + 0.5*median(diffs)
}

// sameHourMedian is the median of h at t − i·period for i = 1.., over the
// last n periods that lie inside the visible history.
func sameHourMedian(h *hourly, t time.Time, period time.Duration, n int) float64 {
	var vals [32]float64
	xs := vals[:0]
	end := h.end()
	u := t
	for u.After(end) || u.Equal(end) {
		u = u.Add(-period)
	}
	for i := 0; i < n && !u.Before(h.start); i++ {
		if v := h.at(u); !math.IsNaN(v) {
			xs = append(xs, v)
		}
		u = u.Add(-period)
	}
	if len(xs) == 0 {
		return math.NaN()
	}
	return medianInPlace(xs)
}

// medianInPlace sorts xs and returns its median.
func medianInPlace(xs []float64) float64 {
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// PowerForecasters lists the forecasters by name, for --forecast.
func PowerForecasters() map[string]PowerForecaster {
	return map[string]PowerForecaster{
		"persist": Persistence{},
		"hod":     HourOfDay{Days: 7},
		"how":     HourOfWeek{Weeks: 4},
		"blend":   Blend{Days: 7, Recent: 6},
	}
}

package procurebot

import (
	"time"
)

// MaxPowerGap is how far back a missing hour may take the last earlier price
// of its market (DESIGN §5).
const MaxPowerGap = 6 * time.Hour

// PowerSeries is one market's hourly wholesale price, USD/MWh, indexed by
// the UTC hour from Start. Hours without a recorded price have Present false.
type PowerSeries struct {
	Market  string
	Start   time.Time // first recorded hour (UTC, on the hour)
	Prices  []Money   // Prices[i] is the price of hour Start + i·1h
	Present []bool
}

// hourIndex returns the index of the UTC hour containing t.
func (p *PowerSeries) hourIndex(t time.Time) int {
	d := t.Sub(p.Start)
	i := int(d / time.Hour)
	if d < 0 && d%time.Hour != 0 {
		i--
	}
	return i
}

// End returns the first hour after the last recorded one.
func (p *PowerSeries) End() time.Time {
	return p.Start.Add(time.Duration(len(p.Prices)) * time.Hour)
}

// At returns the price of the UTC hour containing t. A missing hour takes the
// last earlier price of the market recorded at most MaxPowerGap before it;
// otherwise At returns an EINVALID error naming the market and hour.
func (p *PowerSeries) At(t time.Time) (Money, error) {
	i := p.hourIndex(t)
	maxBack := int(MaxPowerGap / time.Hour)
	for back := 0; back <= maxBack; back++ {
		j := i - back
		if j < 0 {
			break
		}
		if j < len(p.Prices) && p.Present[j] {
			return p.Prices[j], nil
		}
	}
	hour := t.UTC().Truncate(time.Hour)
	return Zero, Invalidf("power market %s: no price for hour %s (no recorded price in the %s before it)",
		p.Market, hour.Format(time.RFC3339), MaxPowerGap)
}

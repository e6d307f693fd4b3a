package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/feed"
	"github.com/procurebot/procurebot/sim"
)

// LiveMarket is the Market of live mode: before each step it waits for the
// step's time on its clock, polls the feeds, and adds what they quote — the
// usable GPU book, token prices, the power prices published by now — to
// the data set the planner sees, so the same strategy and accounting code
// as the backtest runs on live prices. A site's energy is priced at the
// latest published price of its market for the step's hour (the
// settlement price of a real-time market is known only after the hour:
// the bill is the utility's; this is the planner's estimate).
//
// Each step's observation is stored (state key live/<run>/obs/<k>) before
// the planner sees it, so that a restart re-plays the steps done on what
// was seen then, and finishes a step in flight on the same book its
// recorded decision indexes.
type LiveMarket struct {
	*sim.Session
	state   StateStore
	runID   string
	feed    *feed.Feed
	ds      *procurebot.Dataset
	clock   procurebot.Clock
	log     zerolog.Logger
	metrics *Metrics
	timeout time.Duration
}

// NewLiveMarket plans sc with st on fd's quotes, stepping on clock.
func NewLiveMarket(sc *procurebot.Scenario, st procurebot.Strategy, fd *feed.Feed, state StateStore, runID string, clock procurebot.Clock, log zerolog.Logger, metrics *Metrics) (*LiveMarket, error) {
	ds := &procurebot.Dataset{Power: map[string]*procurebot.PowerSeries{}}
	start := sc.Start.UTC().Truncate(time.Hour).Add(-48 * time.Hour)
	for _, s := range sc.Sites {
		if _, ok := ds.Power[s.PowerMarket]; !ok {
			ds.Power[s.PowerMarket] = &procurebot.PowerSeries{Market: s.PowerMarket, Start: start}
		}
	}
	sess, err := sim.NewLiveSession(sc, ds, st)
	if err != nil {
		return nil, err
	}
	if metrics == nil {
		metrics = NewMetrics()
	}
	return &LiveMarket{Session: sess, state: state, runID: runID, feed: fd, ds: ds, clock: clock, log: log, metrics: metrics, timeout: 2 * time.Minute}, nil
}

// Decide waits for the next step's time, observes the feeds and asks the
// planner.
func (m *LiveMarket) Decide(ctx context.Context) (procurebot.Decision, error) {
	k := m.Next()
	t := m.Time(k)
	key := fmt.Sprintf("live/%s/obs/%d", m.runID, k)
	b, seen, err := m.state.GetState(ctx, key)
	if err != nil {
		return procurebot.Decision{}, err
	}
	var o observation
	if seen {
		if err := json.Unmarshal(b, &o); err != nil {
			return procurebot.Decision{}, fmt.Errorf("agent: observation of step %d: %w", k, err)
		}
	} else {
		if err := m.WaitNext(ctx); err != nil {
			return procurebot.Decision{}, err
		}
		if o, err = m.observe(ctx); err != nil {
			return procurebot.Decision{}, err
		}
		b, _ := json.Marshal(o)
		if err := m.state.PutState(ctx, key, b); err != nil {
			return procurebot.Decision{}, err
		}
	}
	m.apply(t, o)
	if err := m.Prepare(); err != nil {
		return procurebot.Decision{}, err
	}
	return m.Session.Decide(ctx)
}

// WaitNext sleeps on the market's clock until the next step's time.
func (m *LiveMarket) WaitNext(ctx context.Context) error {
	if m.Next() >= m.Steps() {
		return nil
	}
	if d := m.Time(m.Next()).Sub(m.clock.Now()); d > 0 {
		return m.clock.Sleep(ctx, d)
	}
	return nil
}

// observation is what the feeds showed at one step.
type observation struct {
	Offers []procurebot.Offer      `json:"offers"`
	Tokens []procurebot.TokenPrice `json:"tokens"`
	Power  []observedHour          `json:"power"`
}

type observedHour struct {
	Market string           `json:"market"`
	Hour   time.Time        `json:"hour"`
	Price  procurebot.Money `json:"usd_per_mwh"`
}

// observe polls the feeds and returns what they show.
func (m *LiveMarket) observe(ctx context.Context) (observation, error) {
	var o observation
	pctx, cancel := context.WithTimeout(ctx, m.timeout)
	errs := m.feed.Poll(pctx)
	cancel()
	for venue, err := range errs {
		if err != nil {
			m.metrics.FeedErrors.WithLabelValues(venue).Inc()
			m.log.Warn().Str("venue", venue).Err(err).Msg("feed poll failed")
		}
	}
	now := m.clock.Now()
	for _, s := range m.feed.Status() {
		if !s.FetchedAt.IsZero() {
			m.metrics.QuoteAgeSeconds.WithLabelValues(s.Venue).Set(now.Sub(s.FetchedAt).Seconds())
		}
	}
	for _, q := range m.feed.GPU() {
		o.Offers = append(o.Offers, q.Offer)
	}
	for _, q := range m.feed.Tokens() {
		if q.Up {
			o.Tokens = append(o.Tokens, q.TokenPrice)
		}
	}
	hours, err := procurebot.HourlyPower(m.feed.Power())
	if err != nil {
		return o, err
	}
	for _, h := range hours {
		o.Power = append(o.Power, observedHour{Market: h.Market, Hour: h.Start, Price: h.USDPerMWh})
	}
	return o, nil
}

// apply adds an observation to the data set as the snapshot at time t. A
// real-time market's price of the hour in progress is published only after
// it: the step is then priced at the latest published hour (the gap rule of
// §5 carries it forward up to 6 hours).
func (m *LiveMarket) apply(t time.Time, o observation) {
	if n := len(m.ds.GPU); n == 0 || t.After(m.ds.GPU[n-1].Time) {
		m.ds.GPU = append(m.ds.GPU, procurebot.Snapshot{Time: t, Offers: o.Offers})
		m.ds.Tokens = append(m.ds.Tokens, procurebot.TokenSnapshot{Time: t, Prices: o.Tokens})
	}
	for _, h := range o.Power {
		if series, ok := m.ds.Power[h.Market]; ok {
			setHour(series, h.Hour, h.Price)
		}
	}
}

// setHour records price for hour in series, growing it as needed.
func setHour(series *procurebot.PowerSeries, hour time.Time, price procurebot.Money) {
	i := int(hour.Sub(series.Start) / time.Hour)
	if i < 0 {
		return
	}
	for len(series.Prices) <= i {
		series.Prices = append(series.Prices, procurebot.Zero)
		series.Present = append(series.Present, false)
	}
	series.Prices[i], series.Present[i] = price, true
}

// Dataset is what the market has observed so far (read-only).
func (m *LiveMarket) Dataset() *procurebot.Dataset { return m.ds }

// String names the market in logs.
func (m *LiveMarket) String() string {
	return fmt.Sprintf("live market, %d steps from %s", m.Steps(), m.Time(0).Format(time.RFC3339))
}

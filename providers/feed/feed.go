package feed

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/procurebot/procurebot"
)

// Options tunes a Feed.
type Options struct {
	Guard GuardConfig
	// PowerBehind and PowerAhead bound the power intervals asked for on each
	// poll: [now − PowerBehind, now + PowerAhead) (defaults 24 h and 48 h,
	// enough for tomorrow's day-ahead prices).
	PowerBehind, PowerAhead time.Duration
	Logger                  zerolog.Logger
}

// Feed polls its sources and keeps, per venue, the newest complete book.
// It is safe for concurrent use.
type Feed struct {
	clock   procurebot.Clock
	opts    Options
	log     zerolog.Logger
	sources []Source

	mu     sync.Mutex
	guard  *Guard
	venues map[string]*venue
}

type venue struct {
	src     Source
	fetched time.Time // fetch time of the newest successful poll
	gpu     []procurebot.Quote
	tokens  []procurebot.TokenQuote
	power   map[powerKey]procurebot.PowerQuote
	quar    []Quarantined
	quarN   int
	errN    int
	lastErr error
	errAt   time.Time
}

type powerKey struct {
	market string
	start  time.Time
}

// New returns a feed over sources. A source is used for every kind it
// implements (GPUSource, TokenSource, PowerSource); two sources with one
// name is an error.
func New(clock procurebot.Clock, opts Options, sources ...Source) (*Feed, error) {
	g, err := NewGuard(opts.Guard)
	if err != nil {
		return nil, err
	}
	if opts.PowerBehind <= 0 {
		opts.PowerBehind = 24 * time.Hour
	}
	if opts.PowerAhead <= 0 {
		opts.PowerAhead = 48 * time.Hour
	}
	f := &Feed{clock: clock, opts: opts, log: opts.Logger, guard: g, venues: map[string]*venue{}}
	for _, s := range sources {
		if _, dup := f.venues[s.Name()]; dup {
			return nil, procurebot.Invalidf("providers.%s: configured twice", s.Name())
		}
		switch s.(type) {
		case GPUSource, TokenSource, PowerSource:
		default:
			return nil, procurebot.Invalidf("providers.%s: sells nothing this feed knows (no GPU, token or power quotes)", s.Name())
		}
		f.venues[s.Name()] = &venue{src: s, power: map[powerKey]procurebot.PowerQuote{}}
		f.sources = append(f.sources, s)
	}
	return f, nil
}

// Guard returns the outlier guard, to seed it from history before the
// first poll. Do not use it concurrently with Poll.
func (f *Feed) Guard() *Guard { return f.guard }

// Poll fetches every source once, concurrently, and returns each venue's
// error (nil map entries for success). A venue that fails keeps its
// previous book, which ages towards stale; a venue that succeeds replaces
// its book, minus quarantined outliers, which are logged.
func (f *Feed) Poll(ctx context.Context) map[string]error {
	type result struct {
		name   string
		gpu    []procurebot.Quote
		tokens []procurebot.TokenQuote
		power  []procurebot.PowerQuote
		err    error
	}
	now := f.clock.Now()
	res := make(chan result, len(f.sources))
	var wg sync.WaitGroup
	for _, s := range f.sources {
		wg.Add(1)
		go func(s Source) {
			defer wg.Done()
			r := result{name: s.Name()}
			if g, ok := s.(GPUSource); ok && r.err == nil {
				r.gpu, r.err = g.GPUQuotes(ctx)
			}
			if t, ok := s.(TokenSource); ok && r.err == nil {
				r.tokens, r.err = t.TokenQuotes(ctx)
			}
			if p, ok := s.(PowerSource); ok && r.err == nil {
				r.power, r.err = p.PowerQuotes(ctx, now.Add(-f.opts.PowerBehind), now.Add(f.opts.PowerAhead))
			}
			if r.err == nil {
				r.err = validateAll(r.gpu, r.tokens, r.power)
			}
			res <- r
		}(s)
	}
	wg.Wait()
	close(res)
	var all []result
	for r := range res {
		all = append(all, r)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })

	f.mu.Lock()
	defer f.mu.Unlock()
	errs := map[string]error{}
	for _, r := range all {
		v := f.venues[r.name]
		errs[r.name] = r.err
		if r.err != nil {
			v.errN++
			v.lastErr, v.errAt = r.err, f.clock.Now()
			f.log.Warn().Str("venue", r.name).Err(r.err).Msg("feed poll failed; keeping the previous book")
			continue
		}
		var q1, q2, q3 []Quarantined
		v.gpu, q1 = f.guard.GPU(r.gpu)
		v.tokens, q2 = f.guard.Tokens(r.tokens)
		var pw []procurebot.PowerQuote
		pw, q3 = f.guard.Power(r.power)
		for _, p := range pw {
			v.power[powerKey{p.Market, p.Start}] = p
		}
		for k := range v.power {
			if k.start.Before(now.Add(-f.opts.PowerBehind)) {
				delete(v.power, k)
			}
		}
		v.quar = append(append(q1, q2...), q3...)
		v.quarN += len(v.quar)
		for _, q := range v.quar {
			f.log.Warn().Str("venue", q.Venue).Str("class", q.Class).Str("price", q.Price.String()).Str("median", q.Median.String()).Str("reason", q.Reason).Msg("quote quarantined")
		}
		v.fetched = newest(r.gpu, r.tokens, r.power, now)
		v.lastErr = nil
	}
	return errs
}

func validateAll(gpu []procurebot.Quote, tok []procurebot.TokenQuote, pow []procurebot.PowerQuote) error {
	for _, q := range gpu {
		if err := q.Validate(); err != nil {
			return err
		}
	}
	for _, q := range tok {
		if err := q.Validate(); err != nil {
			return err
		}
	}
	for _, q := range pow {
		if err := q.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// newest is the latest fetch time in a poll's result, or now when the
// venue answered with an empty book (an empty book is news too).
func newest(gpu []procurebot.Quote, tok []procurebot.TokenQuote, pow []procurebot.PowerQuote, now time.Time) time.Time {
	var t time.Time
	for _, q := range gpu {
		if q.FetchedAt.After(t) {
			t = q.FetchedAt
		}
	}
	for _, q := range tok {
		if q.FetchedAt.After(t) {
			t = q.FetchedAt
		}
	}
	for _, q := range pow {
		if q.FetchedAt.After(t) {
			t = q.FetchedAt
		}
	}
	if t.IsZero() {
		return now
	}
	return t
}

// stale reports whether v's newest quote is older than its maximum age (a
// venue never fetched is stale).
func (v *venue) stale(now time.Time) bool {
	return v.fetched.IsZero() || now.Sub(v.fetched) > v.src.MaxAge()
}

// GPU returns the usable GPU quotes: from venues that are not stale, minus
// quarantined ones, sorted by per-GPU price then venue.
func (f *Feed) GPU() []procurebot.Quote {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	var out []procurebot.Quote
	for _, v := range f.venues {
		if !v.stale(now) {
			out = append(out, v.gpu...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if c := out[i].PerGPU.Cmp(out[j].PerGPU); c != 0 {
			return c < 0
		}
		return out[i].Venue < out[j].Venue
	})
	return out
}

// Tokens returns the usable token quotes of venues that are not stale,
// sorted by model then price.
func (f *Feed) Tokens() []procurebot.TokenQuote {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	var out []procurebot.TokenQuote
	for _, v := range f.venues {
		if !v.stale(now) {
			out = append(out, v.tokens...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Model != out[j].Model {
			return out[i].Model < out[j].Model
		}
		return out[i].USDPerMTokIn.Add(out[i].USDPerMTokOut).LessThan(out[j].USDPerMTokIn.Add(out[j].USDPerMTokOut))
	})
	return out
}

// Power returns the power prices published by now (the visibility rule)
// from venues that are not stale, sorted by market then interval.
func (f *Feed) Power() []procurebot.PowerQuote { return f.power(true) }

// AllPower returns every power price held from venues that are not
// stale, published or not, for recording: a day-ahead price is history
// once fetched even if a decision may not use it yet.
func (f *Feed) AllPower() []procurebot.PowerQuote { return f.power(false) }

func (f *Feed) power(visibleOnly bool) []procurebot.PowerQuote {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	var out []procurebot.PowerQuote
	for _, v := range f.venues {
		if v.stale(now) {
			continue
		}
		for _, p := range v.power {
			if !visibleOnly || p.VisibleAt(now) {
				out = append(out, p)
			}
		}
	}
	procurebot.SortPower(out)
	return out
}

// VenueStatus is what the staleness watchdog knows of a venue.
type VenueStatus struct {
	Venue string
	// FetchedAt is the fetch time of the newest book; zero if never.
	FetchedAt time.Time
	Age       time.Duration
	MaxAge    time.Duration
	Stale     bool
	// Quotes counts the usable quotes of the newest book (GPU + token +
	// power intervals held).
	Quotes int
	// Quarantined counts outliers in the newest book; QuarantinedTotal
	// since start.
	Quarantined, QuarantinedTotal int
	Errors                        int
	LastError                     string
	LastErrorAt                   time.Time
}

// Status reports every venue, sorted by name.
func (f *Feed) Status() []VenueStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	out := make([]VenueStatus, 0, len(f.venues))
	for name, v := range f.venues {
		s := VenueStatus{Venue: name, FetchedAt: v.fetched, MaxAge: v.src.MaxAge(), Stale: v.stale(now),
			Quotes: len(v.gpu) + len(v.tokens) + len(v.power), Quarantined: len(v.quar), QuarantinedTotal: v.quarN,
			Errors: v.errN, LastErrorAt: v.errAt}
		if !v.fetched.IsZero() {
			s.Age = now.Sub(v.fetched)
		}
		if v.lastErr != nil {
			s.LastError = v.lastErr.Error()
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Venue < out[j].Venue })
	return out
}

// Quarantined returns the outliers of each venue's newest book.
func (f *Feed) Quarantined() []Quarantined {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Quarantined
	for _, name := range sortedKeys(f.venues) {
		out = append(out, f.venues[name].quar...)
	}
	return out
}

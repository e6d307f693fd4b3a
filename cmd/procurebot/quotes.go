package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/config"
	"github.com/procurebot/procurebot/providers/csv"
	"github.com/procurebot/procurebot/providers/feed"
	"github.com/procurebot/procurebot/providers/venuehttp"
	"github.com/procurebot/procurebot/providers/venues"
	"github.com/procurebot/procurebot/sampledata"
)

type quotesFlags struct {
	config    string
	providers []string
	gpu       string
	kind      string
	json      bool
	timeout   time.Duration
	limit     int
	quiet     bool
}

func newQuotesCmd(stdout, stderr io.Writer) *cobra.Command {
	var f quotesFlags
	cmd := &cobra.Command{
		Use:   "quotes [--config FILE] [--provider NAME]... [--gpu CLASS] [--kind gpu|tokens|power] [--json]",
		Short: "Show the current normalised quotes of the configured venues",
		Long: `quotes polls every venue of the config file's providers section once and
prints their offers normalised to USD per GPU-hour, cheapest first:
provider, GPU class, GPUs per instance, per-GPU price, spot, region and
the quote's age. With no venue configured (no --config, or a config
without providers) it shows the embedded price history's latest book
instead, and says so in its header.

Every quote keeps what the venue actually bills (cents per instance-hour,
dollars per GPU-hour, a block total, micro-denom per chain block…); --json
shows it (billing_unit, billed_raw, billed_denom), with the spot kind (a
fixed discounted price, or a bid floor), the sub-market (RunPod secure or
community cloud; Shadeform's underlying cloud) and the venue's own key to
re-quote the offer before buying.

A venue whose newest quote is older than its max_age is stale and its
quotes are not shown; a quote far outside the recent range of its class
(below 0.2× or above 5× the median, by default) is quarantined. Both are
reported on stderr, with each venue's errors (a venue that fails does not
stop the others).

Venues: ` + strings.Join(venues.Known(), ", ") + `. Their keys and options are
documented in docs/providers.md.`,
		Example: `  procurebot quotes                                  # embedded history's latest book
  procurebot quotes --config procurebot.yaml --gpu H100
  procurebot quotes --config procurebot.yaml --provider runpod --provider vastai --json
  procurebot quotes --config procurebot.yaml --kind power`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runQuotes(cmd.Context(), f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "config file naming the live venues (providers section)")
	fl.StringSliceVar(&f.providers, "provider", nil, "only these venues or providers (repeat or comma-separate)")
	fl.StringVar(&f.gpu, "gpu", "", "only this GPU class (H100, H200, A100, MI300X…; case-insensitive)")
	fl.StringVar(&f.kind, "kind", "gpu", "what to list: gpu, tokens or power")
	fl.BoolVar(&f.json, "json", false, "print one JSON object on stdout")
	fl.DurationVar(&f.timeout, "timeout", 90*time.Second, "give up on venues that have not answered by then")
	fl.IntVar(&f.limit, "limit", 0, "print at most this many rows (0: all)")
	fl.BoolVar(&f.quiet, "quiet", false, "no logs on stderr")
	return cmd
}

// liveFeed builds the feed of the configured venues (nil when none is
// configured); only keeps the named venues.
func liveFeed(cfg *config.Config, clock procurebot.Clock, log zerolog.Logger, only []string) (*feed.Feed, []string, error) {
	if cfg == nil || len(cfg.Providers.Names()) == 0 {
		if len(only) > 0 {
			return nil, nil, procurebot.Invalidf("--provider %s: no venue is configured (see --config)", strings.Join(only, ","))
		}
		return nil, nil, nil
	}
	env := venuehttp.Env{Clock: clock, Logger: log, HTTP: &http.Client{}}
	srcs, err := cfg.Providers.Build(env, only...)
	if err != nil {
		return nil, nil, err
	}
	f, err := feed.New(clock, feed.Options{Guard: cfg.Feed.Guard, Logger: log}, srcs...)
	if err != nil {
		return nil, nil, err
	}
	// Judge the first poll against the embedded history's latest book, so
	// that a venue quoting in the wrong unit is caught even when it is one
	// of two.
	ds, err := csv.LoadFS(sampledata.FS())
	if err != nil {
		return nil, nil, err
	}
	f.Guard().SeedOffers(ds.GPU[len(ds.GPU)-1].Offers)
	var names []string
	for _, s := range srcs {
		names = append(names, s.Name())
	}
	return f, names, nil
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, nil
	}
	return config.Load(path)
}

// quoteRow is one row of `quotes --json`.
type quoteRow struct {
	Venue         string `json:"venue"`
	Provider      string `json:"provider"`
	GPU           string `json:"gpu"`
	GPUCount      int    `json:"gpu_count"`
	USDPerHour    string `json:"usd_per_hour"`
	USDPerGPUHour string `json:"usd_per_gpu_hour"`
	Spot          *bool  `json:"spot"` // null: not recorded (history)
	SpotKind      string `json:"spot_kind,omitempty"`
	Region        string `json:"region,omitempty"`
	Instance      string `json:"instance,omitempty"`
	Cloud         string `json:"cloud,omitempty"`
	BillingUnit   string `json:"billing_unit"`
	BilledRaw     string `json:"billed_raw"`
	BilledDenom   string `json:"billed_denom,omitempty"`
	TermStart     string `json:"term_start,omitempty"`
	TermEnd       string `json:"term_end,omitempty"`
	Available     *int   `json:"available,omitempty"`
	Ref           string `json:"ref,omitempty"`
	FetchedAt     string `json:"fetched_at"`
	AgeSeconds    int64  `json:"age_s"`
}

type tokenRow struct {
	Venue         string `json:"venue"`
	Provider      string `json:"provider"`
	Upstream      string `json:"upstream,omitempty"`
	Model         string `json:"model"`
	USDPerMTokIn  string `json:"usd_per_mtok_in"`
	USDPerMTokOut string `json:"usd_per_mtok_out"`
	ContextLength int    `json:"context_length,omitempty"`
	Up            bool   `json:"up"`
	FetchedAt     string `json:"fetched_at"`
}

type powerRow struct {
	Venue     string `json:"venue"`
	Market    string `json:"market"`
	Start     string `json:"start"`
	USDPerMWh string `json:"usd_per_mwh"`
	Orig      string `json:"orig_price,omitempty"`
	Currency  string `json:"orig_currency,omitempty"`
	Published string `json:"published"`
}

type venueRow struct {
	Venue       string `json:"venue"`
	FetchedAt   string `json:"fetched_at,omitempty"`
	AgeSeconds  int64  `json:"age_s"`
	MaxAge      string `json:"max_age"`
	Stale       bool   `json:"stale"`
	Quotes      int    `json:"quotes"`
	Quarantined int    `json:"quarantined"`
	Error       string `json:"error,omitempty"`
}

type quotesOut struct {
	Source      string     `json:"source"` // "live" or "history"
	AsOf        string     `json:"as_of"`
	Kind        string     `json:"kind"`
	GPU         []quoteRow `json:"quotes,omitempty"`
	Tokens      []tokenRow `json:"tokens,omitempty"`
	Power       []powerRow `json:"power,omitempty"`
	Venues      []venueRow `json:"venues"`
	Quarantined []string   `json:"quarantined,omitempty"`
}

func runQuotes(ctx context.Context, f quotesFlags, stdout, stderr io.Writer) error {
	if !slices.Contains([]string{"gpu", "tokens", "power"}, f.kind) {
		return usageError{fmt.Errorf("--kind %q: want gpu, tokens or power", f.kind)}
	}
	log := newLogger(stderr, f.quiet || f.json)
	cfg, err := loadConfig(f.config)
	if err != nil {
		return err
	}
	fd, names, err := liveFeed(cfg, procurebot.WallClock{}, log, venueNames(cfg, f.providers))
	if err != nil {
		return err
	}
	out := quotesOut{Source: "live", Kind: f.kind}
	var now time.Time
	if fd == nil {
		ds, err := csv.LoadFS(sampledata.FS())
		if err != nil {
			return err
		}
		now = ds.GPU[len(ds.GPU)-1].Time
		if f.kind == "power" {
			for _, m := range ds.Markets() {
				if e := ds.Power[m].End(); e.After(now) {
					now = e.Add(-time.Hour)
				}
			}
		}
		clock := fixedClock(now)
		fd, err = feed.New(clock, feed.Options{Logger: log, PowerBehind: 24 * time.Hour, PowerAhead: time.Hour}, csv.NewReplay(ds, clock, "history", 0))
		if err != nil {
			return err
		}
		out.Source = "history"
		names = []string{"history"}
	} else {
		now = time.Now().UTC()
		log.Info().Strs("venues", names).Msg("polling")
	}
	pctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	errs := fd.Poll(pctx)
	if out.Source == "live" {
		now = time.Now().UTC()
	}
	out.AsOf = now.Format(time.RFC3339)
	for _, s := range fd.Status() {
		r := venueRow{Venue: s.Venue, AgeSeconds: int64(s.Age / time.Second), MaxAge: s.MaxAge.String(), Stale: s.Stale, Quotes: s.Quotes, Quarantined: s.Quarantined}
		if !s.FetchedAt.IsZero() {
			r.FetchedAt = s.FetchedAt.Format(time.RFC3339)
		}
		if err := errs[s.Venue]; err != nil {
			r.Error = err.Error()
		}
		out.Venues = append(out.Venues, r)
	}
	for _, q := range fd.Quarantined() {
		out.Quarantined = append(out.Quarantined, q.Venue+": "+q.Reason)
	}
	keep := func(venue, provider string) bool {
		return len(f.providers) == 0 || slices.Contains(f.providers, venue) || slices.Contains(f.providers, provider)
	}
	switch f.kind {
	case "gpu":
		for _, q := range fd.GPU() {
			if (f.gpu != "" && !strings.EqualFold(q.GPU, f.gpu)) || !keep(q.Venue, q.Provider) {
				continue
			}
			out.GPU = append(out.GPU, gpuRow(q, now))
		}
	case "tokens":
		for _, q := range fd.Tokens() {
			if keep(q.Venue, q.Provider) {
				out.Tokens = append(out.Tokens, tokenRow{Venue: q.Venue, Provider: q.Provider, Upstream: q.Upstream, Model: q.Model,
					USDPerMTokIn: q.USDPerMTokIn.String(), USDPerMTokOut: q.USDPerMTokOut.String(), ContextLength: q.ContextLength, Up: q.Up,
					FetchedAt: q.FetchedAt.Format(time.RFC3339)})
			}
		}
	case "power":
		for _, q := range fd.Power() {
			out.Power = append(out.Power, powerRow{Venue: q.Venue, Market: q.Market, Start: q.Start.Format(time.RFC3339), USDPerMWh: q.USDPerMWh.String(),
				Orig: q.Orig.String(), Currency: q.Currency, Published: q.Published.Format(time.RFC3339)})
		}
	}
	for _, p := range f.providers {
		if !slices.Contains(names, p) && !sellerSeen(fd, p) {
			return procurebot.Invalidf("--provider %s: no configured venue (%s) and no provider behind them is named so", p, strings.Join(names, ", "))
		}
	}
	if f.limit > 0 {
		out.GPU = out.GPU[:min(f.limit, len(out.GPU))]
		out.Tokens = out.Tokens[:min(f.limit, len(out.Tokens))]
		out.Power = out.Power[:min(f.limit, len(out.Power))]
	}
	failed := 0
	for _, e := range errs {
		if e != nil {
			failed++
		}
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printQuotes(stdout, out)
	}
	for _, v := range out.Venues {
		if v.Error != "" {
			fmt.Fprintf(stderr, "procurebot: %s\n", v.Error)
		} else if v.Stale {
			fmt.Fprintf(stderr, "procurebot: %s is stale (newest quote %ds old, max age %s): not shown\n", v.Venue, v.AgeSeconds, v.MaxAge)
		}
	}
	if n := len(out.Quarantined); n > 0 && !f.json {
		fmt.Fprintf(stderr, "procurebot: %d quotes quarantined as outliers, not shown (--json lists them)\n", n)
	}
	if failed > 0 && failed == len(errs) {
		return procurebot.Errorf(procurebot.EUNAVAILABLE, "no venue answered (%d tried)", failed)
	}
	return nil
}

// venueNames returns the venues to poll for --provider names: when every
// name is a venue, just those (Build refuses one not configured); when
// some name is not a venue (a provider behind one, e.g. "lambdalabs"), all
// configured venues, filtered on venue or provider after polling.
func venueNames(cfg *config.Config, ps []string) []string {
	if cfg == nil || len(cfg.Providers.Names()) == 0 {
		return nil // the embedded history: filtered on provider after
	}
	for _, p := range ps {
		if !slices.Contains(venues.Known(), p) {
			return nil
		}
	}
	return ps
}

// sellerSeen reports whether any usable quote is sold by provider p.
func sellerSeen(fd *feed.Feed, p string) bool {
	for _, q := range fd.GPU() {
		if q.Provider == p {
			return true
		}
	}
	for _, q := range fd.Tokens() {
		if q.Provider == p {
			return true
		}
	}
	return false
}

func decimalInt(n int) decimal.Decimal { return decimal.NewFromInt(int64(n)) }

func mustDec(s string) decimal.Decimal {
	d, _ := decimal.NewFromString(s)
	return d
}

func gpuRow(q procurebot.Quote, now time.Time) quoteRow {
	r := quoteRow{Venue: q.Venue, Provider: q.Provider, GPU: q.GPU, GPUCount: q.GPUCount,
		USDPerHour: q.PerGPU.Mul(decimalInt(q.GPUCount)).String(), USDPerGPUHour: q.PerGPU.String(),
		SpotKind: string(q.SpotKind),
		Region:   q.Region, Instance: q.Instance, Cloud: q.Cloud,
		BillingUnit: string(q.Billing.Unit), BilledRaw: q.Billing.Raw, BilledDenom: q.Billing.Denom, Ref: q.Ref,
		FetchedAt: q.FetchedAt.Format(time.RFC3339), AgeSeconds: int64(now.Sub(q.FetchedAt) / time.Second)}
	if q.USDPerHour.Sign() > 0 {
		r.USDPerHour = q.USDPerHour.String()
	}
	if q.Spot != procurebot.SpotUnknown || q.SpotKind != procurebot.SpotNone {
		spot := q.Spot == procurebot.SpotTrue || q.SpotKind != procurebot.SpotNone
		r.Spot = &spot
	}
	if !q.Term.IsZero() {
		r.TermStart, r.TermEnd = q.Term.Start.Format(time.RFC3339), q.Term.End.Format(time.RFC3339)
	}
	if q.Available >= 0 {
		a := q.Available
		r.Available = &a
	}
	return r
}

func printQuotes(w io.Writer, out quotesOut) {
	if out.Source == "history" {
		fmt.Fprintf(w, "# no venues configured: embedded price history as of %s (not live; see --config)\n", out.AsOf)
	} else {
		var fresh []string
		for _, v := range out.Venues {
			if !v.Stale && v.Error == "" {
				fresh = append(fresh, v.Venue)
			}
		}
		fmt.Fprintf(w, "# live quotes at %s from %s\n", out.AsOf, strings.Join(fresh, ", "))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	switch out.Kind {
	case "gpu":
		fmt.Fprintln(tw, "provider\tgpu\tcount\tusd_per_gpu_h\tspot\tregion\tage\tvenue\tbilled\t")
		for _, r := range out.GPU {
			spot := "?"
			switch {
			case r.Spot == nil:
			case *r.Spot && r.SpotKind != "":
				spot = r.SpotKind
			case *r.Spot:
				spot = "yes"
			default:
				spot = "no"
			}
			if r.TermStart != "" {
				spot += " term " + r.TermStart[5:16] + "→" + r.TermEnd[5:16]
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s %s\t\n", r.Provider, r.GPU, r.GPUCount, procurebot.Cents(mustDec(r.USDPerGPUHour)),
				spot, r.Region, age(r.AgeSeconds), r.Venue, r.BilledRaw, r.BillingUnit)
		}
	case "tokens":
		fmt.Fprintln(tw, "provider\tupstream\tmodel\tusd_per_mtok_in\tusd_per_mtok_out\tcontext\tup\t")
		for _, r := range out.Tokens {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%v\t\n", r.Provider, r.Upstream, r.Model, r.USDPerMTokIn, r.USDPerMTokOut, r.ContextLength, r.Up)
		}
	case "power":
		fmt.Fprintln(tw, "market\tstart\tusd_per_mwh\torig\tpublished\tvenue\t")
		for _, r := range out.Power {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%s\t%s\t\n", r.Market, r.Start, r.USDPerMWh, r.Orig, r.Currency, r.Published, r.Venue)
		}
	}
	tw.Flush()
}

func age(s int64) string {
	d := time.Duration(s) * time.Second
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", s)
	case d < time.Hour:
		return fmt.Sprintf("%dm", s/60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", s/3600)
	}
	return fmt.Sprintf("%dd", s/86400)
}

// fixedClock is a clock stopped at a time: the embedded history's "now".
type fixedClock time.Time

func (c fixedClock) Now() time.Time                                   { return time.Time(c) }
func (c fixedClock) Sleep(ctx context.Context, d time.Duration) error { return nil }

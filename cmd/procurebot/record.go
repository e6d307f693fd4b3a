package main

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/csv"
	"github.com/procurebot/procurebot/providers/feed"
)

type recordFlags struct {
	config    string
	dataDir   string
	every     time.Duration
	polls     int
	providers []string
	timeout   time.Duration
	quiet     bool
}

func newRecordCmd(stdout, stderr io.Writer) *cobra.Command {
	var f recordFlags
	cmd := &cobra.Command{
		Use:   "record --data-dir DIR --config FILE [--every 1h] [--polls N]",
		Short: "Poll the configured venues and append their quotes to a data directory",
		Long: `record polls the venues of the config file's providers section every
--every and appends what they quote to DIR in the format of DESIGN §5, so
that you build your own price history and backtest on it
(procurebot backtest --data DIR):

  gpu/offers.csv          one snapshot per poll: every usable GPU quote
  inference/models.csv    one snapshot per poll: every usable token price
  power/<market>.csv      one row per hour of each power market, the mean
                          of its intervals (ERCOT's 15-minute prices), once
                          the hour is complete; day-ahead hours as soon as
                          they are published

Only what the feed would let a planner use is recorded: stale venues and
quarantined outliers are left out. Rows carry, beyond the §5 columns, the
venue, the billed unit and raw price, the spot kind and the forward term
(backtest ignores them).

It resumes cleanly after a crash or kill -9: every append is journalled
first and completed on restart, so no row is torn or written twice; a GPU
or token snapshot is appended only when newer than the file's newest, and
a power hour only when later than every recorded hour of its market. Two
recorders on one directory are refused. SIGINT or SIGTERM stops it
between polls.`,
		Example: `  procurebot record --data-dir ./history --config procurebot.yaml             # every hour, until stopped
  procurebot record --data-dir ./history --config procurebot.yaml --every 15m
  procurebot record --data-dir ./history --config procurebot.yaml --polls 1  # once (for cron)
  procurebot backtest --data ./history --scenario my.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.dataDir == "" {
				return usageError{errors.New("--data-dir is required: the directory to append the CSV files to")}
			}
			if f.every <= 0 {
				return usageError{errors.New("--every must be positive (e.g. 1h, 15m)")}
			}
			if f.polls < 0 {
				return usageError{errors.New("--polls must not be negative (0: until stopped)")}
			}
			log := newLogger(stderr, f.quiet)
			cfg, err := loadConfig(f.config)
			if err != nil {
				return err
			}
			fd, names, err := liveFeed(cfg, procurebot.WallClock{}, log, f.providers)
			if err != nil {
				return err
			}
			if fd == nil {
				return procurebot.Invalidf("record needs live venues: --config FILE with a providers section (see procurebot quotes --help)")
			}
			log.Info().Strs("venues", names).Str("data_dir", f.dataDir).Dur("every", f.every).Msg("recording")
			return recordLoop(cmd.Context(), fd, procurebot.WallClock{}, f, log)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", "", "data directory to append to (created if missing)")
	fl.StringVar(&f.config, "config", "", "config file naming the venues (providers section)")
	fl.DurationVar(&f.every, "every", time.Hour, "poll interval; polls are aligned to multiples of it")
	fl.IntVar(&f.polls, "polls", 0, "stop after this many polls (0: until stopped)")
	fl.StringSliceVar(&f.providers, "provider", nil, "only these venues (repeat or comma-separate)")
	fl.DurationVar(&f.timeout, "timeout", 2*time.Minute, "per-poll bound on waiting for venues")
	fl.BoolVar(&f.quiet, "quiet", false, "no logs on stderr")
	return cmd
}

// recordLoop polls fd every f.every on clock (aligned to multiples of it)
// and appends each poll to f.dataDir, until ctx ends or f.polls polls.
func recordLoop(ctx context.Context, fd *feed.Feed, clock procurebot.Clock, f recordFlags, log zerolog.Logger) error {
	rec, recovered, err := csv.OpenRecorder(f.dataDir)
	if err != nil {
		return err
	}
	defer rec.Close()
	if len(recovered.Replayed) > 0 {
		log.Warn().Strs("files", recovered.Replayed).Msg("completed an append interrupted by a crash")
	}
	for n := 1; f.polls == 0 || n <= f.polls; n++ {
		pctx, cancel := context.WithTimeout(ctx, f.timeout)
		errs := fd.Poll(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		failed := 0
		for _, e := range errs {
			if e != nil {
				failed++
			}
		}
		hours, err := procurebot.HourlyPower(fd.AllPower())
		if err != nil {
			return err
		}
		w, err := rec.Append(csv.Batch{At: clock.Now(), GPU: fd.GPU(), Tokens: fd.Tokens(), Power: hours})
		if err != nil {
			return err
		}
		log.Info().Int("poll", n).Int("offers", w.Offers).Int("models", w.Models).Int("power_hours", w.PowerHours).
			Int("venues_failed", failed).Int("quarantined", len(fd.Quarantined())).Msg("recorded")
		if failed == len(errs) && len(errs) > 0 {
			log.Error().Msg("no venue answered this poll")
		}
		if f.polls != 0 && n == f.polls {
			break
		}
		now := clock.Now()
		next := now.Truncate(f.every).Add(f.every)
		if err := clock.Sleep(ctx, next.Sub(now)); err != nil {
			return nil // stopped between polls
		}
	}
	return nil
}

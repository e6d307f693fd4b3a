package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/agent"
	slackapprovals "github.com/procurebot/procurebot/approvals/slack"
	"github.com/procurebot/procurebot/config"
	"github.com/procurebot/procurebot/policy"
	"github.com/procurebot/procurebot/providers/venuehttp"
	"github.com/procurebot/procurebot/sim"
	"github.com/procurebot/procurebot/store/bolt"
	"github.com/procurebot/procurebot/wallet"
	"github.com/procurebot/procurebot/wallet/paperchain"
)

type runFlags struct {
	config   string
	dataDir  string
	listen   string
	speed    time.Duration
	data     string
	scenario string
	strategy string
	runID    string
	quiet    bool
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [--config FILE] [--data-dir DIR] [--listen ADDR] [--speed 1s]",
		Short: "Run the bot (paper mode on the embedded defaults when no venue is configured)",
		Long: `run starts the bot: every step it plans with the same strategy code as
the backtest (arbitrage by default), lets spend policy dispose of what the
planner proposes, holds large commitments for a human, pays each seller in
stablecoins through the wallet and records every charge in the ledger.

Paper mode (no venues configured) needs nothing installed: it replays the
embedded price history (or --data/--scenario) at --speed per step, on a
simulated chain (go-ethereum's simulated backend) with the bundled ERC-20,
with its store (bbolt), keystore and checkpoint in --data-dir. Every
purchase settles through the wallet: rentals and tokens to the seller's
address, each site's metered energy to its power market. Kill it at any
moment and run it again: it resumes from its checkpoint, finishes the step
in flight, never pays twice and loses no ledger entry (the paper chain is
rebuilt from the signed transactions the store holds).

It serves on --listen:
  GET  /healthz                    200 when the store and the chain answer
  GET  /metrics                    Prometheus metrics, procurebot_*
  POST /slack/interactions         Slack's signed approval callbacks (with Slack configured)
  /api/approvals, /api/ledger      for "procurebot approvals" and "procurebot ledger"
                                   (bearer token in DIR/admin.token)

The config file (--config) may set policy (caps, allowlists, approval
thresholds: see docs/operations.md) and approvals.slack; SIGINT or SIGTERM
finishes the step in flight and stops.`,
		Example: `  procurebot run                                       # paper mode, one step per second
  procurebot run --data-dir ./paper --speed 100ms --listen 127.0.0.1:7070
  procurebot approvals list --data-dir ./paper
  procurebot ledger --data-dir ./paper --kind payment --json
  curl -s 127.0.0.1:7070/metrics | grep procurebot_`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBot(cmd.Context(), f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "config file: policy, approvals.slack (providers: live mode, not yet available)")
	fl.StringVar(&f.dataDir, "data-dir", defaultDataDir(), "where the store, keystore and checkpoint live")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:7070", "address of /healthz, /metrics, /slack/interactions and the admin API")
	fl.DurationVar(&f.speed, "speed", time.Second, "paper mode: wall time per simulated step (0: as fast as possible)")
	fl.StringVar(&f.data, "data", "", "paper mode: a data directory of DESIGN §5 (default: the embedded history)")
	fl.StringVar(&f.scenario, "scenario", "", "paper mode: the fleet and jobs, a scenario of DESIGN §6 (default: the embedded example)")
	fl.StringVar(&f.strategy, "strategy", "arbitrage", "planner: static, greedy or arbitrage")
	fl.StringVar(&f.runID, "run-id", "paper", "names the run's checkpoint and payment intents")
	fl.BoolVar(&f.quiet, "quiet", false, "no logs on stderr")
	return cmd
}

// runConfig is the part of the config file run reads.
func runConfig(path string) (*config.Config, error) {
	cfg, err := loadConfig(path)
	if err != nil || cfg == nil {
		return cfg, err
	}
	if len(cfg.Providers.Names()) > 0 {
		return nil, procurebot.Invalidf("%s: providers are configured, which asks for live mode; live execution at venues is not available yet (use `procurebot quotes` and `record` with this config; run without providers for paper mode)", path)
	}
	return cfg, nil
}

// paperPolicy is the policy of paper mode with no config: generous caps
// that a paper run meets, approval above 2,000 USD per action.
const paperPolicy = `
policy:
  caps: {hour: "20000", day: "200000", month: "2000000"}
  approval: {above_usd: "2000", expire_after: 30m}
`

func runBot(ctx context.Context, f runFlags, stdout, stderr io.Writer) error {
	if f.speed < 0 {
		return usageError{errors.New("--speed must not be negative")}
	}
	log := newLogger(stderr, f.quiet)
	cfg, err := runConfig(f.config)
	if err != nil {
		return err
	}
	pcfg, err := policy.Parse("paper defaults", []byte(paperPolicy))
	if err != nil {
		return err
	}
	if cfg != nil && cfg.Policy != nil {
		pcfg = *cfg.Policy
	}
	if f.strategy == "oracle" || f.strategy == "all" {
		return usageError{fmt.Errorf("--strategy %s: the bot plans with static, greedy or arbitrage (the oracle needs hindsight)", f.strategy)}
	}
	st, err := newStrategy(f.strategy, defaultArbitrage())
	if err != nil {
		return err
	}
	sc, ds, err := loadInputs(f.data, f.scenario, log)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return procurebot.Invalidf("--data-dir %s: %v", f.dataDir, err)
	}
	store, err := bolt.Open(filepath.Join(f.dataDir, bolt.FileName))
	if err != nil {
		return err
	}
	defer store.Close()

	signer, err := paperSigner(f.dataDir, log)
	if err != nil {
		return err
	}
	intents, err := store.ListIntents(ctx)
	if err != nil {
		return err
	}
	chain, err := paperchain.Start(ctx, signer, paperchain.Options{Replay: paperchain.SignedTxs(intents)})
	if err != nil {
		return err
	}
	defer chain.Close()
	if chain.Replayed > 0 {
		log.Info().Int("transactions", chain.Replayed).Msg("paper chain rebuilt from the stored signed transactions")
	}
	payer, err := wallet.NewPayer(ctx, chain.Client(), store, signer, wallet.WithLedger(store),
		wallet.WithPollInterval(5*time.Millisecond), wallet.WithLogger(log))
	if err != nil {
		return err
	}
	if rep, err := payer.Reconcile(ctx); err != nil {
		return fmt.Errorf("reconcile unfinished payments: %w", err)
	} else if rep.Checked > 0 {
		log.Info().Interface("reconciled", rep).Msg("finished payments a crash interrupted")
	}
	pol, err := policy.New(pcfg, store, nil)
	if err != nil {
		return err
	}
	market, err := sim.NewSession(ctx, sc, ds, st)
	if err != nil {
		return err
	}
	metrics := agent.NewMetrics()
	var notifier agent.Notifier
	var slackHandler http.Handler
	decider := slackapprovals.StoreDecider{Store: store}
	if cfg != nil && cfg.Approvals.Slack != nil {
		env := venuehttp.Env{Logger: log, HTTP: &http.Client{Timeout: 10 * time.Second}}
		n, err := slackapprovals.NewNotifier(*cfg.Approvals.Slack, env)
		if err != nil {
			return err
		}
		notifier = n
		decider.Decided = func(p procurebot.Approval) {
			go func() {
				if err := n.Resolve(context.Background(), p); err != nil {
					log.Error().Err(err).Str("approval", p.ID).Msg("could not update the Slack message")
				}
			}()
		}
		if cfg.Approvals.Slack.SocketMode {
			go func() {
				if err := slackapprovals.RunSocketMode(ctx, *cfg.Approvals.Slack, decider, env); err != nil {
					log.Error().Err(err).Msg("slack socket mode stopped")
				}
			}()
		} else {
			h, err := slackapprovals.NewHandler(*cfg.Approvals.Slack, decider, env)
			if err != nil {
				return err
			}
			slackHandler = h
		}
	}
	a, err := agent.New(agent.Config{RunID: f.runID, Token: chain.Token.Hex(), Decimals: chain.Decimals, Payees: paperPayee, Speed: f.speed},
		agent.Deps{Market: market, Policy: pol, Ledger: store, State: store, Approvals: store, Payer: payer, Spend: store, Notifier: notifier,
			Log: log, Metrics: metrics})
	if err != nil {
		return err
	}
	token, err := adminToken(f.dataDir)
	if err != nil {
		return err
	}
	srv := &agent.Server{Ledger: store, Approvals: store, Decider: decider, Metrics: metrics, Slack: slackHandler, Token: token, Log: log,
		Health: func(ctx context.Context) error {
			if _, _, err := store.GetState(ctx, "health"); err != nil {
				return fmt.Errorf("store: %w", err)
			}
			if _, err := chain.Client().BlockNumber(ctx); err != nil {
				return fmt.Errorf("chain: %w", err)
			}
			return nil
		}}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return procurebot.Invalidf("--listen %s: %v", f.listen, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()
	if err := writeBotInfo(f.dataDir, ln.Addr().String()); err != nil {
		return err
	}
	defer os.Remove(filepath.Join(f.dataDir, botInfoFile))
	log.Info().Str("listen", ln.Addr().String()).Str("data_dir", f.dataDir).Str("strategy", f.strategy).
		Str("wallet", signer.Address().Hex()).Str("token", chain.Token.Hex()).Int("steps", market.Steps()).
		Time("from", sc.Start).Time("to", sc.End).Msg("paper mode: recorded prices, simulated venues and chain")
	if err := a.Run(ctx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		log.Info().Msg("stopped; run again to resume")
	}
	return nil
}

// paperPayee is the address a seller is paid at in paper mode: fixed per
// venue, derived from its name (nobody holds its key).
func paperPayee(venue string) (string, error) {
	h := crypto.Keccak256([]byte("procurebot paper payee:" + venue))
	return common.BytesToAddress(h[12:]).Hex(), nil
}

// paperPassword unlocks the paper keystore: PROCUREBOT_WALLET_PASSWORD (or
// _FILE) when set, else a fixed paper password (the paper chain is a toy).
func paperSigner(dataDir string, log zerolog.Logger) (wallet.Signer, error) {
	pw, err := wallet.PasswordFromEnv()
	if err != nil || pw == "" {
		pw = "procurebot-paper"
	}
	ks, err := wallet.OpenKeystore(filepath.Join(dataDir, "keystore"), pw, wallet.LightScrypt())
	if err != nil {
		return nil, err
	}
	accts := ks.Accounts()
	if len(accts) == 0 {
		addr, err := ks.NewAccount()
		if err != nil {
			return nil, err
		}
		log.Info().Str("address", addr.Hex()).Msg("new paper wallet")
		accts = append(accts, addr)
	}
	return ks.Signer(accts[0])
}

// adminToken returns the admin API token of the data directory, creating
// it (mode 0600) on first use.
func adminToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "admin.token")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	return tok, nil
}

const botInfoFile = "bot.json"

// botInfo tells the CLI where the running bot listens.
type botInfo struct {
	URL string `json:"url"`
	PID int    `json:"pid"`
}

func writeBotInfo(dataDir, addr string) error {
	b, _ := json.Marshal(botInfo{URL: "http://" + addr, PID: os.Getpid()})
	return os.WriteFile(filepath.Join(dataDir, botInfoFile), b, 0o600)
}

// botAPI returns the running bot's URL and admin token for dataDir, or
// false when no bot runs there.
func botAPI(dataDir string) (url, token string, ok bool) {
	b, err := os.ReadFile(filepath.Join(dataDir, botInfoFile))
	if err != nil {
		return "", "", false
	}
	var info botInfo
	if json.Unmarshal(b, &info) != nil || info.URL == "" {
		return "", "", false
	}
	t, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		return "", "", false
	}
	return info.URL, strings.TrimSpace(string(t)), true
}

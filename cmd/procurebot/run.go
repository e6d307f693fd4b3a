package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
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
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/agent"
	slackapprovals "github.com/procurebot/procurebot/approvals/slack"
	"github.com/procurebot/procurebot/config"
	"github.com/procurebot/procurebot/policy"
	"github.com/procurebot/procurebot/providers/venuehttp"
	"github.com/procurebot/procurebot/sim"
	"github.com/procurebot/procurebot/store/bolt"
	redisstore "github.com/procurebot/procurebot/store/redis"
	"github.com/procurebot/procurebot/wallet"
	"github.com/procurebot/procurebot/wallet/paperchain"
	"github.com/procurebot/procurebot/wallet/token"
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
	runIDSet bool
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
thresholds: see docs/operations.md), approvals.slack and store.redis.

Live mode: a config with providers (the venues, see docs/providers.md) and
a fleet section (the scenario schema of DESIGN §6 without start and end:
step, sites, jobs, inference, market) runs the same loop on live quotes,
one step per fleet.step on the wall clock, from live.start (default the
next step boundary) to live.end (default the latest deadline). Orders are
shadow for now: every action is planned, checked by policy and approvals
and recorded in the ledger marked "shadow"; no order is placed at a venue
and nothing is paid.

SIGINT or SIGTERM finishes the step in flight and stops.`,
		Example: `  procurebot run                                       # paper mode, one step per second
  procurebot run --config procurebot.yaml --data-dir /var/lib/procurebot   # live mode, shadow orders
  procurebot run --data-dir ./paper --speed 100ms --listen 127.0.0.1:7070
  procurebot approvals list --data-dir ./paper
  procurebot ledger --data-dir ./paper --kind payment --json
  curl -s 127.0.0.1:7070/metrics | grep procurebot_`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.runIDSet = cmd.Flags().Changed("run-id")
			return runBot(cmd.Context(), f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "config file: policy, approvals.slack, store; with providers and fleet: live mode (shadow orders)")
	fl.StringVar(&f.dataDir, "data-dir", defaultDataDir(), "where the store, keystore and checkpoint live")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:7070", "address of /healthz, /metrics, /slack/interactions and the admin API")
	fl.DurationVar(&f.speed, "speed", time.Second, "paper mode: wall time per simulated step (0: as fast as possible)")
	fl.StringVar(&f.data, "data", "", "paper mode: a data directory of DESIGN §5 (default: the embedded history)")
	fl.StringVar(&f.scenario, "scenario", "", "paper mode: the fleet and jobs, a scenario of DESIGN §6 (default: the embedded example)")
	fl.StringVar(&f.strategy, "strategy", "arbitrage", "planner: static, greedy or arbitrage")
	fl.StringVar(&f.runID, "run-id", "paper", `names the run's checkpoint and payment intents (live mode: default "live")`)
	fl.BoolVar(&f.quiet, "quiet", false, "no logs on stderr")
	return cmd
}

// paperPolicy is the policy of paper mode with no config: generous caps
// that a paper run meets, approval above 2,000 USD per action.
const paperPolicy = `
policy:
  caps: {hour: "20000", day: "200000", month: "2000000"}
  approval: {above_usd: "2000", expire_after: 30m}
`

// botStore is what the bot keeps its state in: bbolt or Redis.
type botStore interface {
	agent.Ledger
	agent.StateStore
	agent.Approvals
	agent.SpendReader
	agent.Leases
	policy.SpendCounter
	wallet.IntentStore
	slackapprovals.ApprovalDecisions
	ListIntents(ctx context.Context, states ...procurebot.IntentState) ([]procurebot.PaymentIntent, error)
	Close() error
}

func openBotStore(ctx context.Context, cfg *config.Config, dataDir string) (botStore, string, error) {
	if cfg != nil && cfg.Store.Redis != nil {
		prefix := cfg.Store.Redis.Prefix
		if prefix == "" {
			prefix = "procurebot:"
		}
		st, err := redisstore.OpenURL(ctx, cfg.Store.Redis.URL, prefix)
		if err != nil {
			return nil, "", err
		}
		return st, "redis", nil
	}
	st, err := bolt.Open(filepath.Join(dataDir, bolt.FileName))
	if err != nil {
		return nil, "", err
	}
	return st, "bbolt", nil
}

func runBot(ctx context.Context, f runFlags, stdout, stderr io.Writer) error {
	if f.speed < 0 {
		return usageError{errors.New("--speed must not be negative")}
	}
	log := newLogger(stderr, f.quiet)
	cfg, err := loadConfig(f.config)
	if err != nil {
		return err
	}
	live := cfg != nil && len(cfg.Providers.Names()) > 0
	if live && (f.data != "" || f.scenario != "") {
		return usageError{errors.New("--data and --scenario are for paper mode; live mode plans the config's fleet on the configured venues")}
	}
	if !live && cfg != nil && (cfg.Chain.RPC != "" || cfg.Wallet.Keystore != "" || cfg.Wallet.Account != "") {
		return procurebot.Invalidf("%s: chain and wallet are for live mode (with providers); paper mode runs its own chain and wallet", f.config)
	}
	if !live && cfg != nil && cfg.Fleet.Kind != 0 {
		return procurebot.Invalidf("%s: fleet is planned in live mode, which needs venues (providers); paper mode plans --scenario (default: the embedded example)", f.config)
	}
	if live && !f.runIDSet {
		f.runID = "live"
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
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return procurebot.Invalidf("--data-dir %s: %v", f.dataDir, err)
	}
	store, storeKind, err := openBotStore(ctx, cfg, f.dataDir)
	if err != nil {
		return err
	}
	defer store.Close()
	var lw *liveWallet
	if live && cfg.Chain.RPC != "" {
		if lw, err = openLiveWallet(ctx, cfg, f.dataDir); err != nil {
			return err
		}
		defer lw.client.Close()
		bal, err := lw.SpendableUSD(ctx)
		if err != nil {
			return err
		}
		log.Info().Str("account", lw.account.Hex()).Str("token", lw.token.Hex()).Str("balance", bal.String()).Msg("wallet")
	}
	var balance policy.Balance
	if lw != nil {
		balance = lw
	}
	pol, err := policy.New(pcfg, store, balance)
	if err != nil {
		return err
	}
	holder, err := nodeID(f.dataDir)
	if err != nil {
		return err
	}
	metrics := agent.NewMetrics()
	acfg := agent.Config{RunID: f.runID, Speed: f.speed}
	deps := agent.Deps{Policy: pol, Ledger: store, State: store, Approvals: store, Spend: store, Leases: store, Holder: holder, Log: log, Metrics: metrics}
	var health func(context.Context) error
	var sc *procurebot.Scenario
	if live {
		fd, names, err := liveFeed(cfg, procurebot.WallClock{}, log, nil)
		if err != nil {
			return err
		}
		if sc, err = liveScenario(ctx, cfg, f.config, store, f.runID, time.Now().UTC()); err != nil {
			return err
		}
		market, err := agent.NewLiveMarket(sc, st, fd, store, f.runID, procurebot.WallClock{}, log, metrics)
		if err != nil {
			return err
		}
		deps.Market, acfg.Speed, acfg.Shadow = market, 0, true
		acfg.LeaseTTL = 2*sc.Step + 5*time.Minute
		health = func(ctx context.Context) error {
			if _, _, err := store.GetState(ctx, "health"); err != nil {
				return fmt.Errorf("store: %w", err)
			}
			if lw != nil {
				if _, err := lw.client.BlockNumber(ctx); err != nil {
					return fmt.Errorf("chain: %w", err)
				}
			}
			for _, s := range fd.Status() {
				if !s.Stale {
					return nil
				}
			}
			return errors.New("feed: every venue is stale")
		}
		log.Warn().Strs("venues", names).Str("store", storeKind).Str("strategy", f.strategy).Int("steps", sc.Steps()).
			Time("from", sc.Start).Time("to", sc.End).
			Msg("live mode, shadow orders: planning on live quotes under policy and approvals, recording shadow ledger entries; no order is placed and nothing is paid")
	} else {
		var ds *procurebot.Dataset
		if sc, ds, err = loadInputs(f.data, f.scenario, log); err != nil {
			return err
		}
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
		// The payer's step-by-step lines are debug noise here: the agent logs
		// each payment with its intent id and transaction hash.
		payLog := log
		if log.GetLevel() >= zerolog.InfoLevel {
			payLog = log.Level(zerolog.WarnLevel)
		}
		payer, err := wallet.NewPayer(ctx, chain.Client(), store, signer, wallet.WithLedger(store),
			wallet.WithPollInterval(5*time.Millisecond), wallet.WithLogger(payLog))
		if err != nil {
			return err
		}
		if rep, err := payer.Reconcile(ctx); err != nil {
			return fmt.Errorf("reconcile unfinished payments: %w", err)
		} else if rep.Checked > 0 {
			log.Info().Interface("reconciled", rep).Msg("finished payments a crash interrupted")
		}
		market, err := sim.NewSession(ctx, sc, ds, st)
		if err != nil {
			return err
		}
		deps.Market, deps.Payer = market, payer
		acfg.Token, acfg.Decimals, acfg.Payees = chain.Token.Hex(), chain.Decimals, paperPayee
		health = func(ctx context.Context) error {
			if _, _, err := store.GetState(ctx, "health"); err != nil {
				return fmt.Errorf("store: %w", err)
			}
			if _, err := chain.Client().BlockNumber(ctx); err != nil {
				return fmt.Errorf("chain: %w", err)
			}
			return nil
		}
		log.Info().Str("data_dir", f.dataDir).Str("store", storeKind).Str("strategy", f.strategy).
			Str("wallet", signer.Address().Hex()).Str("token", chain.Token.Hex()).Int("steps", market.Steps()).
			Time("from", sc.Start).Time("to", sc.End).Msg("paper mode: recorded prices, simulated venues and chain")
	}

	var slackHandler http.Handler
	decider := slackapprovals.StoreDecider{Store: store}
	if cfg != nil && cfg.Approvals.Slack != nil {
		env := venuehttp.Env{Logger: log, HTTP: &http.Client{Timeout: 10 * time.Second}}
		n, err := slackapprovals.NewNotifier(*cfg.Approvals.Slack, env)
		if err != nil {
			return err
		}
		deps.Notifier = n
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
	acfg.Fingerprint = fingerprint(sc, f.strategy, f.data, live)
	a, err := agent.New(acfg, deps)
	if err != nil {
		return err
	}
	token, err := adminToken(f.dataDir)
	if err != nil {
		return err
	}
	srv := &agent.Server{Ledger: store, Approvals: store, Decider: decider, Metrics: metrics, Slack: slackHandler, Token: token, Log: log, Health: health}
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
	log.Info().Str("listen", ln.Addr().String()).Msg("serving /healthz, /metrics and the admin API")
	if err := a.Run(ctx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		log.Info().Msg("stopped; run again to resume")
	}
	return nil
}

// liveScenario builds live mode's scenario from the config's fleet: from
// live.start (default the next step boundary after the run's first start,
// kept in the store so that a restart resumes the same window) to
// live.end (default the latest job deadline).
func liveScenario(ctx context.Context, cfg *config.Config, name string, store agent.StateStore, runID string, now time.Time) (*procurebot.Scenario, error) {
	key := "live/" + runID + "/start"
	if cfg.Live.Start.IsZero() {
		b, ok, err := store.GetState(ctx, key)
		if err != nil {
			return nil, err
		}
		if ok {
			t, err := time.Parse(time.RFC3339, string(b))
			if err != nil {
				return nil, fmt.Errorf("run %s: stored start %q: %w", runID, b, err)
			}
			cfg.Live.Start = t
		}
	}
	sc, err := liveWindow(cfg, name, now)
	if err != nil {
		return nil, err
	}
	return sc, store.PutState(ctx, key, []byte(sc.Start.UTC().Format(time.RFC3339)))
}

func liveWindow(cfg *config.Config, name string, now time.Time) (*procurebot.Scenario, error) {
	step := time.Hour
	if cfg.Fleet.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(cfg.Fleet.Content); i += 2 {
			if cfg.Fleet.Content[i].Value == "step" {
				d, err := time.ParseDuration(cfg.Fleet.Content[i+1].Value)
				if err != nil || d <= 0 {
					return nil, procurebot.Invalidf("%s: line %d: fleet.step: %q is not a positive duration", name, cfg.Fleet.Content[i+1].Line, cfg.Fleet.Content[i+1].Value)
				}
				step = d
			}
		}
	}
	start := cfg.Live.Start
	if start.IsZero() {
		start = now.Truncate(step).Add(step)
	}
	end := cfg.Live.End
	if end.IsZero() {
		probe, err := cfg.Scenario(name, start, start.Add(366*24*time.Hour))
		if err != nil {
			return nil, err
		}
		for _, j := range probe.Jobs {
			if j.Deadline.After(end) {
				end = j.Deadline
			}
		}
		if !end.After(start) {
			return nil, procurebot.Invalidf("%s: every job's deadline is before live mode starts (%s); set live.end", name, start.Format(time.RFC3339))
		}
	}
	return cfg.Scenario(name, start, end)
}

// liveWallet is live mode's paying account on a real chain: its
// stablecoin balance feeds the policy's wallet reserve rule.
type liveWallet struct {
	client   *ethclient.Client
	token    common.Address
	account  common.Address
	decimals uint8
}

func openLiveWallet(ctx context.Context, cfg *config.Config, dataDir string) (*liveWallet, error) {
	c, err := ethclient.DialContext(ctx, cfg.Chain.RPC)
	if err != nil {
		return nil, procurebot.Invalidf("chain.rpc %s: %v", cfg.Chain.RPC, err)
	}
	lw := &liveWallet{client: c, token: common.HexToAddress(cfg.Chain.Token)}
	if lw.decimals, err = tokenDecimals(ctx, c, lw.token, false, 0); err != nil {
		c.Close()
		return nil, fmt.Errorf("chain.token: %w", err)
	}
	dir := cfg.Wallet.Keystore
	if dir == "" {
		dir = filepath.Join(dataDir, "keystore")
	}
	pw, _ := wallet.PasswordFromEnv() // listing accounts needs no password; signing will
	ks, err := wallet.OpenKeystore(dir, pw)
	if err != nil {
		c.Close()
		return nil, err
	}
	switch accts := ks.Accounts(); {
	case cfg.Wallet.Account != "":
		lw.account = common.HexToAddress(cfg.Wallet.Account)
	case len(accts) == 1:
		lw.account = accts[0]
	default:
		c.Close()
		return nil, procurebot.Invalidf("wallet: keystore %s holds %d accounts; name one in wallet.account (procurebot wallet new creates one)", dir, len(accts))
	}
	return lw, nil
}

// SpendableUSD is the account's stablecoin balance (shadow orders pay
// nothing, so nothing is under way).
func (l *liveWallet) SpendableUSD(ctx context.Context) (procurebot.Money, error) {
	tok := token.NewToken()
	out, err := callToken(ctx, l.client, l.token, tok.PackBalanceOf(l.account), "balanceOf()")
	if err != nil {
		return procurebot.Zero, err
	}
	units, err := tok.UnpackBalanceOf(out)
	if err != nil {
		return procurebot.Zero, err
	}
	return wallet.FromBaseUnits(units, l.decimals), nil
}

// fingerprint identifies a run: its scenario, planner and market data.
func fingerprint(sc *procurebot.Scenario, strategy, data string, live bool) string {
	b, _ := json.Marshal(struct {
		Scenario *procurebot.Scenario
		Strategy string
		Data     string
		Live     bool
	}{sc, strategy, data, live})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// nodeID names this bot for the leader lease: the host and an id kept in
// the data directory, so that a bot restarted after a crash takes its own
// lease back at once, while a bot on another host or data directory (two
// replicas on one Redis) waits for it to expire.
func nodeID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "node.id")
	b, err := os.ReadFile(path)
	if err != nil {
		buf := make([]byte, 8)
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		b = []byte(hex.EncodeToString(buf))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return "", err
		}
	}
	host, _ := os.Hostname()
	return host + "/" + strings.TrimSpace(string(b)), nil
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

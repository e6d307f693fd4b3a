package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"

	"github.com/rs/zerolog"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/agent"
	"github.com/procurebot/procurebot/policy"
	"github.com/procurebot/procurebot/providers/csv"
	"github.com/procurebot/procurebot/sampledata"
	"github.com/procurebot/procurebot/scenario"
	"github.com/procurebot/procurebot/sim"
	"github.com/procurebot/procurebot/store/bolt"
	redisstore "github.com/procurebot/procurebot/store/redis"
	"github.com/procurebot/procurebot/store/redis/redistest"
	"github.com/procurebot/procurebot/strategy"
	"github.com/procurebot/procurebot/wallet"
	"github.com/procurebot/procurebot/wallet/paperchain"
	"github.com/procurebot/procurebot/wallet/token"
)

var (
	dsOnce sync.Once
	ds     *procurebot.Dataset
)

func dataset(t *testing.T) *procurebot.Dataset {
	t.Helper()
	dsOnce.Do(func() {
		var err error
		if ds, err = csv.LoadFS(sampledata.FS()); err != nil {
			t.Fatal(err)
		}
	})
	return ds
}

func loadScenario(t *testing.T) *procurebot.Scenario {
	t.Helper()
	sc, err := scenario.Load(filepath.Join("testdata", "three-days.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.ValidateData(dataset(t)); err != nil {
		t.Fatal(err)
	}
	return sc
}

// recording wraps a strategy and keeps every decision it returns.
type recording struct {
	procurebot.Strategy
	got []procurebot.Decision
}

func (r *recording) Decide(ctx context.Context, v procurebot.View) (procurebot.Decision, error) {
	d, err := r.Strategy.Decide(ctx, v)
	r.got = append(r.got, d)
	return d, err
}

type world struct {
	store  *bolt.Store
	sess   *sim.Session
	rec    *recording
	agent  *agent.Agent
	policy *policy.Policy
	logs   *bytes.Buffer
}

func newWorld(t *testing.T, path string, pcfg policy.Config, payer agent.Payer, cfg agent.Config) *world {
	t.Helper()
	st, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newWorldOn(t, st, pcfg, payer, cfg)
}

func newWorldOn(t *testing.T, st *bolt.Store, pcfg policy.Config, payer agent.Payer, cfg agent.Config) *world {
	t.Helper()
	rec := &recording{Strategy: strategy.NewArbitrage()}
	sess, err := sim.NewSession(context.Background(), loadScenario(t), dataset(t), rec)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.New(pcfg, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	if cfg.RunID == "" {
		cfg.RunID = "test"
	}
	a, err := agent.New(cfg, agent.Deps{Market: sess, Policy: pol, Ledger: st, State: st, Approvals: st, Payer: payer, Spend: st, Log: zerolog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	return &world{store: st, sess: sess, rec: rec, agent: a, policy: pol, logs: logs}
}

// totals sums the ledger by kind.
func totals(t *testing.T, st *bolt.Store) map[procurebot.EntryKind]procurebot.Money {
	t.Helper()
	es, err := st.List(context.Background(), procurebot.LedgerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[procurebot.EntryKind]procurebot.Money{}
	for _, e := range es {
		out[e.Kind] = out[e.Kind].Add(e.AmountUSD)
	}
	return out
}

// TestSharedPath runs one scenario through the backtest and through the
// agent (simulated clock and venues, permissive policy): the decisions are
// the same step by step, and the ledger's totals are the backtest's.
func TestSharedPath(t *testing.T) {
	ctx := context.Background()
	back := &recording{Strategy: strategy.NewArbitrage()}
	want, err := sim.Run(ctx, loadScenario(t), dataset(t), back, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, filepath.Join(t.TempDir(), "p.db"), policy.Config{}, nil, agent.Config{})
	if err := w.agent.Run(ctx); err != nil {
		t.Fatalf("%v\n%s", err, w.logs)
	}
	if len(w.rec.got) != len(back.got) || len(back.got) != 72 {
		t.Fatalf("%d agent decisions, %d backtest decisions, want 72", len(w.rec.got), len(back.got))
	}
	for k := range back.got {
		a, _ := json.Marshal(w.rec.got[k])
		b, _ := json.Marshal(back.got[k])
		if !bytes.Equal(a, b) {
			t.Fatalf("step %d: agent decided %s, backtest %s", k, a, b)
		}
	}
	got := totals(t, w.store)
	for _, c := range []struct {
		kind procurebot.EntryKind
		want procurebot.Money
	}{
		{procurebot.KindRental, want.RentalCostUSD}, {procurebot.KindEnergy, want.EnergyCostUSD},
		{procurebot.KindInference, want.InferenceCostUSD}, {procurebot.KindLeaseIncome, want.RevenueUSD},
	} {
		if !got[c.kind].Equal(c.want) {
			t.Errorf("ledger %s total %s, backtest %s", c.kind, got[c.kind], c.want)
		}
	}
	if want.RentalCostUSD.Sign() <= 0 || want.EnergyCostUSD.Sign() <= 0 || want.InferenceCostUSD.Sign() <= 0 {
		t.Errorf("the scenario should exercise rentals, energy and tokens: %+v", want)
	}
	t.Logf("backtest and agent: rental %s energy %s tokens %s lease income %s", got[procurebot.KindRental], got[procurebot.KindEnergy],
		got[procurebot.KindInference], got[procurebot.KindLeaseIncome])
}

// TestPolicyBelowPlanner gives the planner caps it wants to break every
// hour: nothing over a cap reaches the ledger, the refused actions are
// dropped from the decision (not retried around the cap) and counted.
func TestPolicyBelowPlanner(t *testing.T) {
	pcfg, err := policy.Parse("p.yaml", []byte(`
policy:
  caps: {hour: "3"}
  providers:
    default: {day: "20"}
  max_usd_per_gpu_hour: {H100: "2.00"}
`))
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, filepath.Join(t.TempDir(), "p.db"), pcfg, nil, agent.Config{})
	if err := w.agent.Run(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, w.logs)
	}
	es, err := w.store.List(context.Background(), procurebot.LedgerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	perHour := map[string]procurebot.Money{}
	perDay := map[string]procurebot.Money{}
	for _, e := range es {
		if e.Kind == procurebot.KindLeaseIncome || e.AmountUSD.Sign() <= 0 {
			continue
		}
		h := e.Time.Format("2006-01-02T15")
		perHour[h] = perHour[h].Add(e.AmountUSD)
		d := e.Venue + "|" + e.Time.Format("2006-01-02")
		perDay[d] = perDay[d].Add(e.AmountUSD)
	}
	for h, m := range perHour {
		if m.GreaterThan(procurebot.NewMoneyFrac(3, 1)) {
			t.Errorf("hour %s spent %s > the 3 USD cap", h, m)
		}
	}
	for d, m := range perDay {
		if m.GreaterThan(procurebot.NewMoneyFrac(20, 1)) {
			t.Errorf("%s spent %s > the 20 USD provider day cap", d, m)
		}
	}
	if n := testutilCount(t, w.agent.Metrics(), "procurebot_spend_cap_usd"); n == 0 {
		t.Error("no procurebot_spend_cap_usd gauge")
	}
	refusals := testutilCount(t, w.agent.Metrics(), "procurebot_policy_refusals_total")
	if refusals == 0 {
		t.Fatal("the planner never hit a cap: the test proves nothing")
	}
	t.Logf("%d actions refused; %d hours with spend, none over a cap", refusals, len(perHour))
}

// TestSharedPathPaid is TestSharedPath with the wallet: every charge is
// paid on the simulated chain through payment intents, and what the payees
// received is what the ledger says was spent.
func TestSharedPathPaid(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ks, err := wallet.OpenKeystore(filepath.Join(dir, "keystore"), "pw", wallet.LightScrypt())
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := ks.NewAccount()
	signer, err := ks.Signer(addr)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := paperchain.Start(ctx, signer, paperchain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	st, err := bolt.Open(filepath.Join(dir, "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	payer, err := wallet.NewPayer(ctx, chain.Client(), st, signer, wallet.WithLedger(st), wallet.WithPollInterval(2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	payees := map[string]common.Address{}
	payee := func(venue string) (string, error) {
		if _, ok := payees[venue]; !ok {
			payees[venue] = common.BigToAddress(big.NewInt(int64(0x1000 + len(payees))))
		}
		return payees[venue].Hex(), nil
	}
	back, err := sim.Run(ctx, loadScenario(t), dataset(t), strategy.NewArbitrage(), sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorldOn(t, st, policy.Config{}, payer, agent.Config{Token: chain.Token.Hex(), Decimals: chain.Decimals, Payees: payee})
	if err := w.agent.Run(ctx); err != nil {
		t.Fatalf("%v\n%s", err, w.logs)
	}
	got := totals(t, w.store)
	spend := back.RentalCostUSD.Add(back.InferenceCostUSD)
	var positiveEnergy procurebot.Money
	es, _ := w.store.List(ctx, procurebot.LedgerFilter{Kinds: []procurebot.EntryKind{procurebot.KindEnergy}})
	for _, e := range es {
		if e.AmountUSD.Sign() > 0 {
			positiveEnergy = positiveEnergy.Add(e.AmountUSD)
		}
	}
	spend = spend.Add(positiveEnergy)
	// Payments round each charge up to the token's 6 decimals.
	if got[procurebot.KindPayment].LessThan(spend) || got[procurebot.KindPayment].Sub(spend).GreaterThan(procurebot.NewMoneyFrac(1, 1000)) {
		t.Errorf("payments %s USD for spend %s", got[procurebot.KindPayment], spend)
	}
	if !got[procurebot.KindRental].Equal(back.RentalCostUSD) || !got[procurebot.KindEnergy].Equal(back.EnergyCostUSD) {
		t.Errorf("ledger rental %s energy %s, backtest %s %s", got[procurebot.KindRental], got[procurebot.KindEnergy], back.RentalCostUSD, back.EnergyCostUSD)
	}
	// On chain: the payees hold exactly the payments.
	var onChain procurebot.Money
	tok := token.NewToken()
	for _, a := range payees {
		out, err := chain.Client().CallContract(ctx, ethereum.CallMsg{To: &chain.Token, Data: tok.PackBalanceOf(a)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := tok.UnpackBalanceOf(out)
		onChain = onChain.Add(wallet.FromBaseUnits(b, chain.Decimals))
	}
	if !onChain.Equal(got[procurebot.KindPayment]) {
		t.Errorf("payees hold %s USD, ledger payments %s", onChain, got[procurebot.KindPayment])
	}
	t.Logf("%d payees hold %s USD = the ledger's payments; spend %s", len(payees), onChain, spend)
}

// Two bots on one store and run: the second finds the leader lease held
// and does not run; once the first is done, the lease is free again.
func TestLeaderLease(t *testing.T) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	other, err := st.AcquireLease(ctx, "agent/test/leader", "other-host:1", time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sess, _ := sim.NewSession(ctx, loadScenario(t), dataset(t), strategy.NewGreedy())
	pol, _ := policy.New(policy.Config{}, st, nil)
	a, err := agent.New(agent.Config{RunID: "test"}, agent.Deps{Market: sess, Policy: pol, Ledger: st, State: st, Approvals: st, Leases: st, Holder: "me:2", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(ctx)
	if procurebot.ErrorCode(err) != procurebot.ECONFLICT || !strings.Contains(err.Error(), "other-host:1") {
		t.Fatalf("second bot: %v, want ECONFLICT naming the holder", err)
	}
	if es, _ := st.List(ctx, procurebot.LedgerFilter{}); len(es) != 0 {
		t.Fatalf("the second bot wrote %d ledger entries", len(es))
	}
	if err := st.ReleaseLease(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AcquireLease(ctx, "agent/test/leader", "next:3", time.Minute, time.Now()); err != nil {
		t.Errorf("lease not released after the run: %v", err)
	}
}

// TestOnRedis runs the agent on the Redis store (several replicas share
// one): the same decisions and ledger totals as on bbolt, the leader lease
// held by one bot at a time, and a restart that resumes from the
// checkpoint in Redis.
func TestOnRedis(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	prefix := redistest.NewPrefix(t)
	open := func() *redisstore.Store {
		st, err := redisstore.Open(ctx, srv.Options(), prefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	back, err := sim.Run(ctx, loadScenario(t), dataset(t), strategy.NewArbitrage(), sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	newAgent := func(st *redisstore.Store, holder string, m agent.Market) *agent.Agent {
		pol, _ := policy.New(policy.Config{}, st, nil)
		a, err := agent.New(agent.Config{RunID: "redis"}, agent.Deps{Market: m, Policy: pol, Ledger: st, State: st, Approvals: st,
			Leases: st, Holder: holder, Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// The first bot stops after 20 steps (its context ends).
	st1 := open()
	sess1, _ := sim.NewSession(ctx, loadScenario(t), dataset(t), strategy.NewArbitrage())
	cctx, cancel := context.WithCancel(ctx)
	a1 := newAgent(st1, "host-a", &cancelAt{Market: sess1, n: 20, cancel: cancel})
	if err := a1.Run(cctx); err != nil {
		t.Fatal(err)
	}
	// Another replica, while nobody holds the lease, resumes and finishes.
	st2 := open()
	sess2, _ := sim.NewSession(ctx, loadScenario(t), dataset(t), strategy.NewArbitrage())
	if err := newAgent(st2, "host-b", sess2).Run(ctx); err != nil {
		t.Fatal(err)
	}
	es, err := st2.List(ctx, procurebot.LedgerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	sum := map[procurebot.EntryKind]procurebot.Money{}
	for _, e := range es {
		sum[e.Kind] = sum[e.Kind].Add(e.AmountUSD)
	}
	if !sum[procurebot.KindRental].Equal(back.RentalCostUSD) || !sum[procurebot.KindEnergy].Equal(back.EnergyCostUSD) ||
		!sum[procurebot.KindInference].Equal(back.InferenceCostUSD) || !sum[procurebot.KindLeaseIncome].Equal(back.RevenueUSD) {
		t.Errorf("ledger on Redis across two replicas %v, backtest rental %s energy %s tokens %s income %s", sum,
			back.RentalCostUSD, back.EnergyCostUSD, back.InferenceCostUSD, back.RevenueUSD)
	}
}

// cancelAt cancels the run's context when step n is about to be decided.
type cancelAt struct {
	agent.Market
	n      int
	cancel context.CancelFunc
}

func (c *cancelAt) Decide(ctx context.Context) (procurebot.Decision, error) {
	if c.Next() == c.n {
		c.cancel()
	}
	return c.Market.Decide(ctx)
}

// WaitNext passes a live market's wait through.
func (c *cancelAt) WaitNext(ctx context.Context) error {
	if w, ok := c.Market.(agent.Waiter); ok {
		return w.WaitNext(ctx)
	}
	return nil
}

func (c *cancelAt) Scenario() *procurebot.Scenario { return c.Market.(agent.Scenarioed).Scenario() }
func (c *cancelAt) BookNow() []procurebot.Offer    { return c.Market.(agent.Scenarioed).BookNow() }

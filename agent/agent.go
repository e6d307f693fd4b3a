// Package agent is procurebot's loop: every step it observes the market,
// asks the planner (the same strategy code as the backtest) for a
// decision, turns the decision into actions, lets spend policy dispose of
// them (refused actions are dropped from the decision, never retried
// around a cap), holds actions above the approval threshold for a human,
// carries out the rest, pays each seller through the wallet (a durable
// payment intent per action, so that no payment is made twice) and records
// every charge in the ledger — durably, and idempotently, so that a kill -9
// at any moment is finished or reconciled on restart.
//
// The market is a Market: a sim.Session in paper mode (recorded prices at
// a chosen speed, simulated venues and chain) — which is why a paper run
// and a backtest of the same scenario give identical decisions and money
// (TestSharedPath).
package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/policy"
	"github.com/procurebot/procurebot/sim"
)

// Market is where the agent observes, plans and executes. sim.Session is
// one (paper mode).
type Market interface {
	// Steps is the number of steps of the run; Next the next step to do.
	Steps() int
	Next() int
	// Time is the start of step k.
	Time(k int) time.Time
	// Decide asks the planner for the next step's decision.
	Decide(ctx context.Context) (procurebot.Decision, error)
	// Quote prices a decision for the next step without carrying it out.
	Quote(d procurebot.Decision) (*sim.Bill, error)
	// Apply carries out d as the next step and returns what it cost.
	Apply(d procurebot.Decision) (*sim.Bill, error)
}

// Waiter is a Market whose steps happen at set times (live mode): Run
// waits for the next step, outside the step's own time bound and while a
// stop can still end the wait.
type Waiter interface {
	// WaitNext returns when the next step's time has come, or ctx.Err().
	WaitNext(ctx context.Context) error
}

// Ledger is the append-only ledger (store.Ledger).
type Ledger interface {
	// Append stores e durably (see store.Ledger).
	Append(ctx context.Context, e *procurebot.LedgerEntry) error
	// List returns the entries matching f, oldest first.
	List(ctx context.Context, f procurebot.LedgerFilter) ([]procurebot.LedgerEntry, error)
}

// StateStore keeps the agent's checkpoint (store.StateStore).
type StateStore interface {
	// PutState stores value under key durably.
	PutState(ctx context.Context, key string, value []byte) error
	// GetState returns the value under key, and false if none.
	GetState(ctx context.Context, key string) ([]byte, bool, error)
}

// Approvals keeps approval requests (store.ApprovalStore).
type Approvals interface {
	// CreateApproval stores p if no approval has its ID (idempotent).
	CreateApproval(ctx context.Context, p *procurebot.Approval) (*procurebot.Approval, bool, error)
	// DecideApproval moves a pending approval once (compare-and-set).
	DecideApproval(ctx context.Context, id string, state procurebot.ApprovalState, by string, at time.Time) (*procurebot.Approval, error)
	// SetApprovalMessage records the chat message that asked.
	SetApprovalMessage(ctx context.Context, id, channel, ts string) error
	// ListApprovals lists approvals in any of states.
	ListApprovals(ctx context.Context, states ...procurebot.ApprovalState) ([]procurebot.Approval, error)
}

// Payer pays a payment intent exactly once (wallet.Payer).
type Payer interface {
	// Pay makes the payment and returns the intent Confirmed, or an error.
	Pay(ctx context.Context, intent *procurebot.PaymentIntent) (*procurebot.PaymentIntent, error)
}

// Admitter is spend policy (policy.Policy).
type Admitter interface {
	// Admit admits a spending action, reserving its amount on every cap,
	// or refuses it with a *policy.Refusal.
	Admit(ctx context.Context, a *procurebot.Action, now time.Time) (policy.Reservation, error)
	// CheckPayment re-checks the allowlists once the payment is routed.
	CheckPayment(a *procurebot.Action, token, recipient string) error
	// NeedsApproval reports whether a waits for a human.
	NeedsApproval(a *procurebot.Action) bool
	// ApprovalExpiry is how long a request waits before it is rejected.
	ApprovalExpiry() time.Duration
}

// SpendReader reads the spend counters (store.SpendCounter), for the
// spend-against-cap gauges. Optional.
type SpendReader interface {
	// Spent returns the counter of key in the bucket of w that contains at.
	Spent(ctx context.Context, at time.Time, key procurebot.SpendKey, w procurebot.Window) (procurebot.Money, error)
}

// Leases elects the one agent that runs a run (store.LeaseStore), so two
// bots sharing a Redis store never both pay. Optional (a bbolt store is
// locked to one process anyway).
type Leases interface {
	// AcquireLease takes or renews the lease name for holder until now+ttl.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (procurebot.Lease, error)
	// RenewLease extends a held lease; ECONFLICT once it was lost.
	RenewLease(ctx context.Context, l procurebot.Lease, ttl time.Duration, now time.Time) (procurebot.Lease, error)
	// ReleaseLease frees it.
	ReleaseLease(ctx context.Context, l procurebot.Lease) error
}

// Notifier asks humans (Slack). Optional.
type Notifier interface {
	// Ask posts the request and returns the message's channel and ts.
	Ask(ctx context.Context, a procurebot.Approval) (channel, ts string, err error)
	// Resolve updates the message with the answer.
	Resolve(ctx context.Context, a procurebot.Approval) error
}

// Payees routes payments: the address each seller is paid at.
type Payees func(venue string) (string, error)

// Config is what the agent is told.
type Config struct {
	// RunID namespaces the run's checkpoint, action ids and payment
	// intents ("paper", or the live config's name).
	RunID string
	// Token is the stablecoin paid in (ERC-20 address) and Decimals its
	// decimals.
	Token    string
	Decimals uint8
	// Payees routes payments; nil pays nothing (accounting only).
	Payees Payees
	// Grant is how long an approval covers later actions of the same kind,
	// venue and subject at no more than the approved amount and price
	// (default 24 h).
	Grant time.Duration
	// Speed is the wall time between steps (paper mode); zero runs flat
	// out.
	Speed time.Duration
	// StepTimeout bounds one step (default 2 min): payments waiting on an
	// unreachable chain give up, and the step is finished on restart.
	StepTimeout time.Duration
	// Fingerprint identifies what the run plans (scenario, data, planner):
	// a checkpoint written under another fingerprint is refused rather
	// than replayed onto a different run. Empty: not checked.
	Fingerprint string
	// LeaseTTL is the leader lease's life (default 5 min; live mode: two
	// steps and more).
	LeaseTTL time.Duration
	// Shadow records what would be done without doing it (live mode while
	// orders at venues are not placed): ledger entries are marked shadow
	// and nothing is paid.
	Shadow bool
}

// Agent runs the loop. Build with New; Run it once.
type Agent struct {
	cfg       Config
	market    Market
	policy    Admitter
	ledger    Ledger
	state     StateStore
	approvals Approvals
	payer     Payer
	spend     SpendReader
	leases    Leases
	holder    string
	lease     procurebot.Lease
	notifier  Notifier
	clock     procurebot.Clock // wall time: approvals, pacing
	log       zerolog.Logger
	metrics   *Metrics

	// replayed says the steps before the checkpoint have been re-applied.
	replayed bool
}

// Deps are the parts an agent joins.
type Deps struct {
	Market    Market
	Policy    Admitter
	Ledger    Ledger
	State     StateStore
	Approvals Approvals
	Payer     Payer       // nil: no payments (accounting only)
	Spend     SpendReader // nil: no spend gauges
	Leases    Leases      // nil: no leader election
	Holder    string      // this process, for the lease (default host:pid)
	Notifier  Notifier    // nil: approvals only through the CLI / HTTP API
	Clock     procurebot.Clock
	Log       zerolog.Logger
	Metrics   *Metrics
}

// New returns an agent.
func New(cfg Config, d Deps) (*Agent, error) {
	switch {
	case d.Market == nil || d.Policy == nil || d.Ledger == nil || d.State == nil || d.Approvals == nil:
		return nil, procurebot.Errorf(procurebot.EINTERNAL, "agent: market, policy, ledger, state and approvals are required")
	case cfg.RunID == "" || strings.ContainsAny(cfg.RunID, "/ "):
		return nil, procurebot.Invalidf("agent: run id %q must be non-empty, without / or spaces", cfg.RunID)
	case d.Payer != nil && (cfg.Payees == nil || cfg.Token == ""):
		return nil, procurebot.Errorf(procurebot.EINTERNAL, "agent: paying needs payees and a token")
	case d.Payer != nil && cfg.Shadow:
		return nil, procurebot.Errorf(procurebot.EINTERNAL, "agent: a shadow run pays nothing")
	}
	if cfg.Grant <= 0 {
		cfg.Grant = 24 * time.Hour
	}
	if d.Clock == nil {
		d.Clock = procurebot.WallClock{}
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics()
	}
	if d.Holder == "" {
		host, _ := os.Hostname()
		d.Holder = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	return &Agent{cfg: cfg, market: d.Market, policy: d.Policy, ledger: d.Ledger, state: d.State, approvals: d.Approvals,
		payer: d.Payer, spend: d.Spend, leases: d.Leases, holder: d.Holder, notifier: d.Notifier, clock: d.Clock, log: d.Log, metrics: d.Metrics}, nil
}

// Metrics returns the agent's metrics.
func (a *Agent) Metrics() *Metrics { return a.metrics }

// cursor is the checkpoint: the next step to do, and whether its decision
// is already durable (the step is in flight).
type cursor struct {
	Next     int  `json:"next"`
	InFlight bool `json:"in_flight"`
}

func (a *Agent) key(parts ...string) string {
	return "agent/" + a.cfg.RunID + "/" + strings.Join(parts, "/")
}

func (a *Agent) loadCursor(ctx context.Context) (cursor, error) {
	var c cursor
	b, ok, err := a.state.GetState(ctx, a.key("cursor"))
	if err != nil || !ok {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("agent: checkpoint %s: %w", a.key("cursor"), err)
	}
	return c, nil
}

func (a *Agent) putCursor(ctx context.Context, c cursor) error {
	b, _ := json.Marshal(c)
	return a.state.PutState(ctx, a.key("cursor"), b)
}

func (a *Agent) decisionKey(k int) string { return a.key("decision", strconv.Itoa(k)) }

// stepRecord is what the checkpoint keeps of a step before carrying it
// out: the decision policy left, and the charges policy refused that the
// decision cannot avoid (a site that cannot be curtailed draws power):
// recorded in the ledger as owed, not paid.
type stepRecord struct {
	procurebot.Decision
	Owed []string `json:"owed,omitempty"`
}

func (a *Agent) loadDecision(ctx context.Context, k int) (stepRecord, error) {
	var d stepRecord
	b, ok, err := a.state.GetState(ctx, a.decisionKey(k))
	if err != nil {
		return d, err
	}
	if !ok {
		return d, procurebot.Errorf(procurebot.EINTERNAL, "agent: checkpoint has no decision for step %d", k)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("agent: decision of step %d: %w", k, err)
	}
	return d, nil
}

// Run steps the market to its end (or until ctx ends), resuming from the
// checkpoint: steps already done are re-applied from their recorded
// decisions (the planner re-decides them to rebuild its state, but what
// was done stands), and a step in flight is finished with its recorded
// decision — its payments and ledger entries are idempotent.
func (a *Agent) Run(ctx context.Context) error {
	if a.leases != nil {
		l, err := a.leases.AcquireLease(ctx, a.key("leader"), a.holder, a.leaseTTL(), time.Now())
		if err != nil {
			return fmt.Errorf("agent: run %s: %w", a.cfg.RunID, err)
		}
		a.lease = l
		a.log.Info().Str("holder", l.Holder).Uint64("fencing_token", l.Token).Msg("leader lease taken")
		defer a.leases.ReleaseLease(context.WithoutCancel(ctx), a.lease)
	}
	if err := a.checkFingerprint(ctx); err != nil {
		return err
	}
	c, err := a.loadCursor(ctx)
	if err != nil {
		return err
	}
	if !a.replayed {
		if c.Next > 0 {
			a.log.Info().Int("steps", c.Next).Msg("resuming: re-applying the steps already done")
		}
		for a.market.Next() < c.Next {
			k := a.market.Next()
			if _, err := a.market.Decide(ctx); err != nil {
				return err
			}
			d, err := a.loadDecision(ctx, k)
			if err != nil {
				return err
			}
			if _, err := a.market.Apply(d.Decision); err != nil {
				return fmt.Errorf("agent: re-applying step %d: %w", k, err)
			}
		}
		a.replayed = true
	}
	for a.market.Next() < a.market.Steps() {
		if err := ctx.Err(); err != nil {
			return nil
		}
		k := a.market.Next()
		inFlight := c.InFlight && c.Next == k
		if w, ok := a.market.(Waiter); ok && !inFlight {
			if err := w.WaitNext(ctx); err != nil {
				return nil // stopped while waiting for the step
			}
		}
		if a.leases != nil {
			l, err := a.leases.RenewLease(ctx, a.lease, a.leaseTTL(), time.Now())
			if err != nil {
				return fmt.Errorf("agent: lost the leader lease of run %s; stopping before step %d: %w", a.cfg.RunID, k, err)
			}
			a.lease = l
		}
		// A stop (SIGTERM) lets the step in flight finish: it runs on a
		// context that is not cancelled with ctx, bounded in time; if it
		// cannot finish, its decision is journalled and a restart ends it.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.stepTimeout())
		err := a.Step(sctx, inFlight)
		cancel()
		if err != nil {
			return err
		}
		c = cursor{Next: k + 1}
		if a.cfg.Speed > 0 && a.market.Next() < a.market.Steps() {
			if err := a.clock.Sleep(ctx, a.cfg.Speed); err != nil {
				return nil
			}
		}
	}
	a.log.Info().Int("steps", a.market.Steps()).Msg("run complete")
	return nil
}

// leaseTTL is how long the leader lease outlives a silent leader: each
// step renews it, so it must exceed the time between two renewals — the
// longest step plus the wait for the next (Config.LeaseTTL; default 5 min).
func (a *Agent) leaseTTL() time.Duration {
	if a.cfg.LeaseTTL > 0 {
		return a.cfg.LeaseTTL
	}
	return 5 * time.Minute
}

// checkFingerprint records the run's fingerprint on its first start and
// refuses to resume a checkpoint made by a different run.
func (a *Agent) checkFingerprint(ctx context.Context) error {
	if a.cfg.Fingerprint == "" {
		return nil
	}
	b, ok, err := a.state.GetState(ctx, a.key("fingerprint"))
	if err != nil {
		return err
	}
	if !ok {
		return a.state.PutState(ctx, a.key("fingerprint"), []byte(a.cfg.Fingerprint))
	}
	if string(b) != a.cfg.Fingerprint {
		return procurebot.Invalidf("run %s in this store was started with another scenario, data or planner; resume it as it was, or start a new run with --run-id NAME or another --data-dir", a.cfg.RunID)
	}
	return nil
}

func (a *Agent) stepTimeout() time.Duration {
	if a.cfg.StepTimeout > 0 {
		return a.cfg.StepTimeout
	}
	return 2 * time.Minute
}

// Step does the market's next step: plan, policy, approvals, then (the
// decision durable first) execute, pay and record. With inFlight, the
// step's decision was recorded before a crash: it is carried out as it
// was, not planned again.
func (a *Agent) Step(ctx context.Context, inFlight bool) error {
	k := a.market.Next()
	at := a.market.Time(k)
	log := a.log.With().Int("step", k).Time("step_time", at).Logger()
	began := time.Now()
	raw, err := a.market.Decide(ctx)
	if err != nil {
		return err
	}
	var d stepRecord
	if inFlight {
		if d, err = a.loadDecision(ctx, k); err != nil {
			return err
		}
		log.Warn().Msg("finishing a step interrupted by a crash")
	} else {
		pending, err := a.expireApprovals(ctx)
		if err != nil {
			return err
		}
		if d, err = a.dispose(ctx, raw, pending, log); err != nil {
			return err
		}
		b, _ := json.Marshal(d)
		if err := a.state.PutState(ctx, a.decisionKey(k), b); err != nil {
			return err
		}
		if err := a.putCursor(ctx, cursor{Next: k, InFlight: true}); err != nil {
			return err
		}
	}
	a.metrics.DecisionSeconds.Observe(time.Since(began).Seconds())
	bill, err := a.market.Apply(d.Decision)
	if err != nil {
		return err
	}
	acts := a.actions(bill)
	if err := a.settle(ctx, bill, acts, d.Owed, log); err != nil {
		return err
	}
	a.spendGauges(ctx, acts)
	if err := a.putCursor(ctx, cursor{Next: k + 1}); err != nil {
		return err
	}
	a.metrics.Decisions.Inc()
	a.metrics.Step.Set(float64(k + 1))
	log.Info().Str("rental_usd", procurebot.Cents(bill.RentalUSD)).Str("energy_usd", procurebot.Cents(bill.EnergyUSD)).
		Str("tokens_usd", procurebot.Cents(bill.TokenUSD)).Str("lease_income_usd", procurebot.Cents(bill.IncomeUSD)).
		Bool("budget_blocked", bill.Blocked).Msg("step done")
	return nil
}

// actions turns a bill into the step's actions, in the order policy
// admits them: energy first (power already drawn is the least avoidable
// charge), then tokens, then rentals, then lease income.
func (a *Agent) actions(b *sim.Bill) []procurebot.Action {
	var out []procurebot.Action
	id := func(kind procurebot.ActionKind, venue, subject string) string {
		return ActionID(a.cfg.RunID, b.Step, kind, venue, subject)
	}
	for _, c := range b.Energy {
		if c.AmountUSD.Sign() <= 0 {
			continue // negative prices: the seller pays; recorded, not paid
		}
		out = append(out, procurebot.Action{ID: id(procurebot.ActEnergy, c.Venue, c.Site), Kind: procurebot.ActEnergy, Step: b.Time, Hours: b.Hours,
			Venue: c.Venue, Site: c.Site, GPU: c.GPU, AmountUSD: c.AmountUSD})
	}
	for _, c := range b.Tokens {
		out = append(out, procurebot.Action{ID: id(procurebot.ActTokens, c.Venue, c.Job), Kind: procurebot.ActTokens, Step: b.Time, Hours: b.Hours,
			Venue: c.Venue, Job: c.Job, AmountUSD: c.AmountUSD})
	}
	book, sc := bookOf(a.market), scenarioOf(a.market)
	for _, c := range b.Rentals {
		cheapest, _ := procurebot.LeasePrice(book, c.GPU, &sc.Market)
		out = append(out, procurebot.Action{ID: id(procurebot.ActRent, c.Venue, c.Job), Kind: procurebot.ActRent, Step: b.Time, Hours: b.Hours,
			Venue: c.Venue, Job: c.Job, GPU: c.GPU, GPUs: c.GPUs, USDPerGPUHour: c.MaxUSDPerGPUHour, AmountUSD: c.AmountUSD,
			CheapestUSDPerGPUHour: cheapest})
	}
	for _, c := range b.Leases {
		out = append(out, procurebot.Action{ID: id(procurebot.ActLease, c.Venue, c.Site), Kind: procurebot.ActLease, Step: b.Time, Hours: b.Hours,
			Venue: c.Venue, Site: c.Site, GPU: c.GPU, GPUs: c.GPUs, AmountUSD: c.AmountUSD})
	}
	return out
}

// ActionID is the id of the action of run at step k of kind, paid to or by
// venue, for subject (a job, a site or an inference workload): the
// payment intent's idempotency key and the ledger entry's note.
func ActionID(run string, k int, kind procurebot.ActionKind, venue, subject string) string {
	return fmt.Sprintf("%s/%d/%s/%s/%s", run, k, kind, venue, subject)
}

// grantKey is what an approval covers: the kind, venue and subject.
func grantKey(x *procurebot.Action) string {
	return string(x.Kind) + "|" + x.Venue + "|" + x.Job + "|" + x.Site
}

// dispose is "the model proposes, policy disposes": every spending action
// of the proposed decision passes approvals and Admit, or its part of the
// decision is dropped; the decision is re-priced until every action left
// is admitted, and each admitted reservation is trimmed to what the final
// decision spends.
func (a *Agent) dispose(ctx context.Context, d procurebot.Decision, pending map[string]bool, log zerolog.Logger) (stepRecord, error) {
	held := map[string]policy.Reservation{}
	refusedOnce, limited := map[string]bool{}, map[string]bool{}
	limits := map[[2]string]int{}
	var owed []string
	fail := func(err error) (stepRecord, error) { return stepRecord{Decision: d}, err }
	granted, err := a.grants(ctx)
	if err != nil {
		return fail(err)
	}
	for round := 0; ; round++ {
		bill, err := a.market.Quote(d)
		if err != nil {
			return fail(err)
		}
		acts := a.actions(bill)
		var refused []procurebot.Action
		trim := false
		for i := range acts {
			x := &acts[i]
			if !x.Kind.Spends() {
				a.metrics.Actions.WithLabelValues(string(x.Kind), x.Venue, "done").Inc()
				continue
			}
			if refusedOnce[x.ID] {
				// Dropping its part did not remove it: a site that cannot
				// be curtailed still draws power. Owed, not paid.
				if !slices.Contains(owed, x.ID) {
					owed = append(owed, x.ID)
					a.metrics.Actions.WithLabelValues(string(x.Kind), x.Venue, "owed").Inc()
					log.Error().Str("action", x.ID).Str("amount_usd", x.AmountUSD.String()).Msg("policy refused a charge the fleet cannot avoid: recorded as owed, not paid")
				}
				continue
			}
			if r, ok := held[x.ID]; ok && !x.AmountUSD.GreaterThan(r.Amount()) {
				continue
			} else if ok {
				if err := r.Release(ctx); err != nil {
					return fail(err)
				}
				delete(held, x.ID)
			}
			if g := granted[grantKey(x)]; a.policy.NeedsApproval(x) && !covered(g, x) {
				if err := a.requestApproval(ctx, x, pending, log); err != nil {
					return fail(err)
				}
				// A rental above its grant is cut to the granted GPUs (the
				// bigger request waits for a human meanwhile).
				if x.Kind == procurebot.ActRent && g != nil && g.Action.GPUs.Sign() > 0 && !limited[x.ID] {
					limited[x.ID] = true
					limits[[2]string{x.Venue, x.Job}] = int(g.Action.GPUs.IntPart())
					trim = true
					a.metrics.Actions.WithLabelValues(string(x.Kind), x.Venue, "cut_to_grant").Inc()
					continue
				}
				refusedOnce[x.ID] = true
				a.metrics.Actions.WithLabelValues(string(x.Kind), x.Venue, "awaiting_approval").Inc()
				refused = append(refused, *x)
				continue
			}
			r, err := a.policy.Admit(ctx, x, x.Step)
			if err != nil {
				ref, ok := policy.AsRefusal(err)
				if !ok {
					return fail(err)
				}
				refusedOnce[x.ID] = true
				a.metrics.Refusals.WithLabelValues(ref.Rule).Inc()
				a.metrics.Actions.WithLabelValues(string(x.Kind), x.Venue, "refused").Inc()
				log.Warn().Str("action", x.ID).Str("rule", ref.Rule).Str("amount_usd", x.AmountUSD.String()).Str("reason", ref.Error()).Msg("policy refused action")
				refused = append(refused, *x)
				continue
			}
			held[x.ID] = r
		}
		if len(refused) == 0 && !trim {
			// Trim: give back what the final decision does not spend.
			final := map[string]procurebot.Money{}
			for _, x := range acts {
				final[x.ID] = x.AmountUSD
			}
			for id, r := range held {
				amt, ok := final[id]
				if ok && amt.Equal(r.Amount()) {
					a.metrics.Actions.WithLabelValues(kindOf(id), venueOf(id), "admitted").Inc()
					continue
				}
				if err := r.Release(ctx); err != nil {
					return fail(err)
				}
				if ok && amt.Sign() > 0 {
					x := findAction(acts, id)
					if _, err := a.policy.Admit(ctx, x, x.Step); err != nil {
						return fail(fmt.Errorf("agent: re-admitting %s at its final %s USD: %w", id, amt, err))
					}
					a.metrics.Actions.WithLabelValues(kindOf(id), venueOf(id), "admitted").Inc()
				}
			}
			return stepRecord{Decision: d, Owed: owed}, nil
		}
		if round > 8 {
			return fail(procurebot.Errorf(procurebot.EINTERNAL, "agent: decision still refused after %d rounds", round))
		}
		d = drop(a.market, d, refused, limits)
	}
}

func findAction(acts []procurebot.Action, id string) *procurebot.Action {
	for i := range acts {
		if acts[i].ID == id {
			return &acts[i]
		}
	}
	return nil
}

func kindOf(id string) string  { return part(id, 2) }
func venueOf(id string) string { return part(id, 3) }

func part(id string, i int) string {
	p := strings.SplitN(id, "/", 5)
	if i < len(p) {
		return p[i]
	}
	return ""
}

// covered reports whether an approved grant covers x: approved, still
// valid, and x at no more than the approved amount and price.
func covered(g *procurebot.Approval, x *procurebot.Action) bool {
	if g == nil {
		return false
	}
	if x.AmountUSD.GreaterThan(g.Action.AmountUSD) {
		return false
	}
	if g.Action.USDPerGPUHour.Sign() > 0 && x.USDPerGPUHour.GreaterThan(g.Action.USDPerGPUHour) {
		return false
	}
	return true
}

// drop removes the refused actions' parts from d: a refused rental drops
// the job's GPUs from that provider; refused tokens leave the workload
// unserved; refused energy curtails the site (its jobs, self-hosting and
// leases). limits caps the GPUs a job rents from a provider.
func drop(m Market, d procurebot.Decision, refused []procurebot.Action, limits map[[2]string]int) procurebot.Decision {
	sc := scenarioOf(m)
	out := procurebot.Decision{NoTokens: append([]int(nil), d.NoTokens...)}
	rent := map[[2]string]bool{}
	curtail := map[string]bool{}
	for _, x := range refused {
		switch x.Kind {
		case procurebot.ActRent:
			rent[[2]string{x.Venue, x.Job}] = true
		case procurebot.ActTokens:
			for w := range sc.Inference {
				if sc.Inference[w].ID == x.Job {
					out.NoTokens = append(out.NoTokens, w)
				}
			}
		case procurebot.ActEnergy:
			curtail[x.Site] = true
		}
	}
	book := bookOf(m)
	used := map[[2]string]int{}
	for _, j := range d.Jobs {
		if j.Site >= 0 {
			if curtail[sc.Sites[j.Site].Name] {
				continue
			}
		} else if j.Offer >= 0 && j.Offer < len(book) {
			k := [2]string{book[j.Offer].Provider, sc.Jobs[j.Job].ID}
			if rent[k] {
				continue
			}
			if lim, ok := limits[k]; ok {
				j.GPUs = min(j.GPUs, lim-used[k])
				if j.GPUs <= 0 {
					continue
				}
				used[k] += j.GPUs
			}
		}
		out.Jobs = append(out.Jobs, j)
	}
	for _, s := range d.SelfHost {
		if !curtail[sc.Sites[s.Site].Name] {
			out.SelfHost = append(out.SelfHost, s)
		}
	}
	if d.Leased != nil {
		out.Leased = append([]procurebot.Money(nil), d.Leased...)
		for i := range out.Leased {
			if curtail[sc.Sites[i].Name] {
				out.Leased[i] = decimal.Zero
			}
		}
	}
	sort.Ints(out.NoTokens)
	out.NoTokens = dedupe(out.NoTokens)
	return out
}

func dedupe(xs []int) []int {
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Scenarioed is a Market that shows its scenario and book (sim.Session
// through PaperMarket).
type Scenarioed interface {
	Scenario() *procurebot.Scenario
	BookNow() []procurebot.Offer
}

func scenarioOf(m Market) *procurebot.Scenario {
	if s, ok := m.(Scenarioed); ok {
		return s.Scenario()
	}
	return &procurebot.Scenario{}
}

func bookOf(m Market) []procurebot.Offer {
	if s, ok := m.(Scenarioed); ok {
		return s.BookNow()
	}
	return nil
}

// settle pays and records a step's bill: one payment per spending action
// (intent id = action id: paid once across crashes), then one ledger
// entry per charge (skipped if the step's ledger already has it).
func (a *Agent) settle(ctx context.Context, b *sim.Bill, acts []procurebot.Action, owed []string, log zerolog.Logger) error {
	existing, err := a.ledger.List(ctx, procurebot.LedgerFilter{Since: b.Time, Until: b.Time.Add(time.Nanosecond)})
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, e := range existing {
		id, _, _ := strings.Cut(e.Note, " ")
		have[string(e.Kind)+"|"+id] = true
	}
	// Energy at negative prices is a credit: recorded, nothing paid (added
	// to a copy: the caller's actions stay as they are).
	acts = acts[:len(acts):len(acts)]
	for _, c := range b.Energy {
		if c.AmountUSD.Sign() < 0 {
			acts = append(acts, procurebot.Action{ID: ActionID(a.cfg.RunID, b.Step, procurebot.ActEnergy, c.Venue, c.Site),
				Kind: procurebot.ActEnergy, Step: b.Time, Venue: c.Venue, Site: c.Site, AmountUSD: c.AmountUSD})
		}
	}
	for i := range acts {
		x := &acts[i]
		if x.Kind.Spends() && a.payer != nil && x.AmountUSD.Sign() > 0 && !slices.Contains(owed, x.ID) {
			if err := a.pay(ctx, x, log); err != nil {
				return err
			}
		}
		kind := ledgerKind(x.Kind)
		if have[string(kind)+"|"+x.ID] {
			continue
		}
		e := &procurebot.LedgerEntry{Time: b.Time, Kind: kind, AmountUSD: x.AmountUSD, Venue: x.Venue, Note: x.ID}
		if a.cfg.Shadow {
			e.Note += " (shadow: not ordered, not paid)"
		}
		if slices.Contains(owed, x.ID) {
			e.Note += " (owed: refused by policy, not paid)"
		}
		if err := a.ledger.Append(ctx, e); err != nil {
			return fmt.Errorf("agent: ledger entry for %s: %w", x.ID, err)
		}
		if x.Kind.Spends() && x.AmountUSD.Sign() > 0 { // a credit (negative energy) is not spend
			f, _ := x.AmountUSD.Float64()
			a.metrics.SpendUSD.WithLabelValues(x.Venue).Add(f)
		}
	}
	return nil
}

func ledgerKind(k procurebot.ActionKind) procurebot.EntryKind {
	switch k {
	case procurebot.ActRent:
		return procurebot.KindRental
	case procurebot.ActTokens:
		return procurebot.KindInference
	case procurebot.ActEnergy:
		return procurebot.KindEnergy
	case procurebot.ActLease:
		return procurebot.KindLeaseIncome
	}
	return procurebot.KindReservation
}

// spendGauges sets procurebot_spend_window_usd and _cap_usd for every cap
// the step's spending actions fall under.
func (a *Agent) spendGauges(ctx context.Context, acts []procurebot.Action) {
	cp, ok := a.policy.(interface{ Config() policy.Config })
	if a.spend == nil || !ok {
		return
	}
	cfg := cp.Config()
	seen := map[string]bool{}
	for _, x := range acts {
		if !x.Kind.Spends() {
			continue
		}
		for _, c := range cfg.Caps(x) {
			k := c.Key.String() + "|" + string(c.Window)
			if seen[k] {
				continue
			}
			seen[k] = true
			spent, err := a.spend.Spent(ctx, x.Step, c.Key, c.Window)
			if err != nil {
				return
			}
			f, _ := spent.Float64()
			l, _ := c.LimitUSD.Float64()
			a.metrics.SpendWindowUSD.WithLabelValues(string(c.Window), c.Key.String()).Set(f)
			a.metrics.SpendCapUSD.WithLabelValues(string(c.Window), c.Key.String()).Set(l)
		}
	}
	if q, ok := a.market.(interface{ BookAge() time.Duration }); ok {
		a.metrics.QuoteAgeSeconds.WithLabelValues("history").Set(q.BookAge().Seconds())
	}
}

// pay routes x's payment and pays it once.
func (a *Agent) pay(ctx context.Context, x *procurebot.Action, log zerolog.Logger) error {
	to, err := a.cfg.Payees(x.Venue)
	if err != nil {
		return err
	}
	if err := a.policy.CheckPayment(x, a.cfg.Token, to); err != nil {
		if ref, ok := policy.AsRefusal(err); ok {
			a.metrics.Refusals.WithLabelValues(ref.Rule).Inc()
		}
		log.Error().Str("action", x.ID).Err(err).Msg("payment refused by policy; owed, not paid")
		return nil
	}
	usd := x.AmountUSD.RoundUp(int32(a.cfg.Decimals))
	units := usd.Shift(int32(a.cfg.Decimals)).BigInt()
	in := &procurebot.PaymentIntent{ID: x.ID, Token: a.cfg.Token, To: to, Amount: units, AmountUSD: usd, Venue: x.Venue}
	began := time.Now()
	out, err := a.payer.Pay(ctx, in)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		a.metrics.PaymentFailures.Inc()
		log.Error().Str("intent_id", x.ID).Err(err).Msg("payment failed")
		if procurebot.ErrorCode(err) == procurebot.EINVALID {
			return nil // e.g. balance too low: owed, the step goes on
		}
		return err
	}
	a.metrics.PaymentSeconds.Observe(time.Since(began).Seconds())
	log.Info().Str("intent_id", out.ID).Str("tx_hash", out.Mined).Str("venue", x.Venue).Str("amount_usd", usd.String()).Msg("paid")
	return nil
}

// grants returns the newest approved grant per key still valid now.
func (a *Agent) grants(ctx context.Context) (map[string]*procurebot.Approval, error) {
	as, err := a.approvals.ListApprovals(ctx, procurebot.ApprovalApproved)
	if err != nil {
		return nil, err
	}
	now := a.clock.Now()
	out := map[string]*procurebot.Approval{}
	for i := range as {
		g := &as[i]
		if now.After(g.Decided.Add(a.cfg.Grant)) {
			continue
		}
		out[grantKey(&g.Action)] = g
	}
	return out, nil
}

// requestApproval asks a human about x unless a request for its grant key
// is already pending.
func (a *Agent) requestApproval(ctx context.Context, x *procurebot.Action, pending map[string]bool, log zerolog.Logger) error {
	k := grantKey(x)
	if pending[k] {
		return nil
	}
	now := a.clock.Now()
	p := &procurebot.Approval{ID: x.ID, Action: *x, State: procurebot.ApprovalPending, Requested: now, Expires: now.Add(a.policy.ApprovalExpiry())}
	stored, created, err := a.approvals.CreateApproval(ctx, p)
	if err != nil {
		return err
	}
	pending[k] = true
	if !created {
		return nil
	}
	log.Warn().Str("approval", p.ID).Str("action", x.String()).Msg("waiting for approval")
	if a.notifier != nil {
		ch, ts, err := a.notifier.Ask(ctx, *stored)
		if err != nil {
			log.Error().Err(err).Str("approval", p.ID).Msg("could not post the approval request; answer it with procurebot approvals")
			return nil
		}
		if err := a.approvals.SetApprovalMessage(ctx, p.ID, ch, ts); err != nil {
			return err
		}
	}
	return nil
}

// expireApprovals rejects the requests nobody answered in time and returns
// the grant keys of those still pending.
func (a *Agent) expireApprovals(ctx context.Context) (map[string]bool, error) {
	ps, err := a.approvals.ListApprovals(ctx, procurebot.ApprovalPending)
	if err != nil {
		return nil, err
	}
	now := a.clock.Now()
	pending := map[string]bool{}
	for _, p := range ps {
		if now.Before(p.Expires) {
			pending[grantKey(&p.Action)] = true
			continue
		}
		got, err := a.approvals.DecideApproval(ctx, p.ID, procurebot.ApprovalExpired, "expiry", now)
		if procurebot.ErrorCode(err) == procurebot.ECONFLICT {
			continue // answered meanwhile
		}
		if err != nil {
			return nil, err
		}
		a.log.Warn().Str("approval", p.ID).Msg("approval expired unanswered: rejected")
		if a.notifier != nil && got.MessageTS != "" {
			if err := a.notifier.Resolve(ctx, *got); err != nil {
				a.log.Error().Err(err).Str("approval", p.ID).Msg("could not update the approval message")
			}
		}
	}
	a.metrics.ApprovalsPending.Set(float64(len(pending)))
	return pending, nil
}

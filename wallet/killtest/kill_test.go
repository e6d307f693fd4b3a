package killtest_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/rs/zerolog"

	"github.com/procurebot/procurebot"
	storebolt "github.com/procurebot/procurebot/store/bolt"
	"github.com/procurebot/procurebot/wallet"
	"github.com/procurebot/procurebot/wallet/gethtest"
)

// Environment of the test and of its payer processes.
const (
	// envKills sets how many times the payer is killed (default 200).
	envKills = "PROCUREBOT_KILLS"
	// envSeed replays a run: the seed of the random kill schedule.
	envSeed = "PROCUREBOT_KILL_SEED"
	// envChild makes the test binary a payer process: the path of its
	// config file (see TestMain).
	envChild = "PROCUREBOT_KILLTEST_CHILD"
	// envMode tells a payer process where to kill itself (see child).
	envMode = "PROCUREBOT_KILLTEST_MODE"
	// envReport names a file the final line is appended to: go test shows
	// a passing package's output only with -v, so .ci/run prints the line
	// from this file after the tests.
	envReport = "PROCUREBOT_KILL_REPORT"
)

const (
	defaultKills = 200
	password     = "kill test password 9c1e"
	decimals     = 6
	payees       = 3
	// childTimeout bounds one payer process.
	childTimeout = 60 * time.Second
)

// Exit codes of a payer process that was not killed.
const (
	exitOK        = 0
	exitSetup     = 2
	exitPay       = 3
	exitReconcile = 4
	exitUnpaid    = 5
)

// Lines a payer process writes on stdout as it goes.
const (
	markReconcile = "reconcile"
	markPay       = "pay"
	markDone      = "done"
)

// TestMain runs the test binary as a payer process when envChild is set.
func TestMain(m *testing.M) {
	if path := os.Getenv(envChild); path != "" {
		os.Exit(child(path, os.Getenv(envMode)))
	}
	os.Exit(m.Run())
}

// config is what a payer process is given: where the chain, the keystore
// and the store are, and the batch of intents to pay.
type config struct {
	URL      string
	Keystore string
	Store    string
	From     common.Address
	Token    common.Address
	Intents  []intentSpec
}

type intentSpec struct {
	ID     string
	To     common.Address
	Amount *big.Int
}

func (s intentSpec) intent(tok common.Address) *procurebot.PaymentIntent {
	return &procurebot.PaymentIntent{ID: s.ID, Token: tok.Hex(), To: s.To.Hex(), Amount: new(big.Int).Set(s.Amount),
		AmountUSD: wallet.FromBaseUnits(s.Amount, decimals), Venue: "kill-test"}
}

// TestKill is the proof of exactly-once payments: a payer process paying a
// fixed batch of intents against geth --dev (a separate process, so the
// chain survives) is killed with SIGKILL PROCUREBOT_KILLS times (default
// 200) and restarted each time; then one last run finishes the batch, and
// the chain and the store are checked: every intent paid exactly once (its
// Transfer event, the payees' balances, the payer's balance and nonce),
// none lost (all Confirmed, each with the hash of its mined transaction).
//
// Where each kill lands is chosen at random among: a random moment
// (killed by the test, from outside); just before Pay writes a new intent;
// after it is written (StepCreated); between signing and broadcast
// (StepSigned); after the broadcast before Sent is recorded
// (StepBroadcast); after Sent before the receipt (StepSent); and, when
// the last kill left an intent unfinished, during Reconcile (at one of its
// steps, or a random moment after it starts).
func TestKill(t *testing.T) {
	kills := defaultKills
	if s := os.Getenv(envKills); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number of kills", envKills, s)
		}
		kills = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(envSeed); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned integer", envSeed, s)
		}
		seed = n
	}
	t.Logf("%d kills, seed %d (%s=%d replays the schedule)", kills, seed, envSeed, seed)
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	// The chain: geth --dev, a fresh keystore account funded by the
	// developer account, holding a freshly deployed token.
	node := gethtest.Start(t)
	dir := t.TempDir()
	cfg := config{URL: node.URL, Keystore: filepath.Join(dir, "keystore"), Store: filepath.Join(dir, storebolt.FileName)}
	ks, err := wallet.OpenKeystore(cfg.Keystore, password, wallet.LightScrypt())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.From, err = ks.NewAccount(); err != nil {
		t.Fatal(err)
	}
	if err := node.Fund(ctx, cfg.From, new(big.Int).Mul(big.NewInt(100), big.NewInt(1e18))); err != nil {
		t.Fatal(err)
	}
	supply := new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(1_000_000)) // 1,000,000 tokens
	if cfg.Token, err = node.DeployToken(ctx, "Test Dollar", "TUSD", decimals, supply, cfg.From); err != nil {
		t.Fatal(err)
	}

	// The batch: kill-000, kill-001, …, each a distinct amount to one of a
	// few payees.
	var to [payees]common.Address
	for i := range to {
		to[i] = crypto.PubkeyToAddress(mustKey(t).PublicKey)
	}
	n := max(20, kills)
	for i := range n {
		cfg.Intents = append(cfg.Intents, intentSpec{ID: fmt.Sprintf("kill-%03d", i), To: to[i%payees],
			Amount: big.NewInt(1_000_000 + 1_001*int64(i))}) // 1.000000, 1.001001, 1.002002, … tokens
	}
	cfgPath := filepath.Join(dir, "config.json")
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	setup := time.Since(started)

	// The kills.
	r := &runner{t: t, cfgPath: cfgPath, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seed: seed,
		node: node}
	byMode := map[string]int{}
	leftIn := map[procurebot.IntentState]int{}
	completed := 0
	for iter := 0; r.kills < kills; iter++ {
		if iter >= 4*kills+20 {
			t.Fatalf("seed %d: only %d kills in %d runs of the payer", seed, r.kills, iter)
		}
		st := inspect(t, cfg.Store, len(cfg.Intents))
		m := r.choose(st)
		res := r.run(m)
		switch {
		case res.killed:
			r.kills++
			name := m.name()
			if m.kind == modeRandom || m.kind == modePayRandom || m.kind == modeReconcileRandom {
				name += " (in " + cmp.Or(res.phase, "start-up") + ")"
			}
			byMode[name]++
			after := inspect(t, cfg.Store, len(cfg.Intents))
			if after.unfinished != nil {
				leftIn[after.unfinished.State]++
			} else {
				leftIn["none"]++
			}
		case res.code == exitOK:
			completed++
		default:
			t.Fatalf("seed %d: payer run %d (mode %s) exited with %v\n--- its output:\n%s\n--- geth output (tail):\n%s",
				seed, iter, m, res.state, res.output, node.Output())
		}
	}
	killLoop := time.Since(started) - setup
	paidDuringKills := inspect(t, cfg.Store, len(cfg.Intents)).confirmed

	// One last run pays what is left.
	res := r.run(mode{kind: modeFinal})
	if res.killed || res.code != exitOK {
		t.Fatalf("seed %d: final payer run exited with %v\n--- its output:\n%s\n--- geth output (tail):\n%s",
			seed, res.state, res.output, node.Output())
	}

	dups, lost := verify(t, ctx, node, cfg)
	t.Logf("setup %s, kill loop %s, total %s; %d intents, %d confirmed before the final run; %d payer runs completed without being killed",
		setup.Round(time.Millisecond), killLoop.Round(time.Millisecond), time.Since(started).Round(time.Millisecond),
		len(cfg.Intents), paidDuringKills, completed)
	t.Logf("kills by where they were aimed: %s", formatCounts(byMode))
	t.Logf("what each kill left unfinished in the store: %s", formatCounts(leftIn))
	line := fmt.Sprintf("%d kills, %d duplicates, %d lost", r.kills, dups, lost)
	t.Log(line)
	fmt.Fprintln(os.Stderr, line)
	if path := os.Getenv(envReport); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err == nil {
			_, err = fmt.Fprintln(f, line)
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			t.Errorf("%s: %v", envReport, err)
		}
	}
	if dups != 0 || lost != 0 {
		t.Fatalf("seed %d: %s", seed, line)
	}
}

// verify checks the chain and the store after the last run and returns the
// number of duplicate payments (transfers beyond one per intent, and
// transfers from the payer that pay no intent) and of lost intents (not
// Confirmed, or not paid on chain). Other mismatches — balances, nonces, a
// ledger that does not match the chain — fail the test.
func verify(t *testing.T, ctx context.Context, node *gethtest.Node, cfg config) (dups, lost int) {
	t.Helper()
	s, err := storebolt.Open(cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stored, err := s.ListIntents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]procurebot.PaymentIntent{}
	for _, in := range stored {
		byID[in.ID] = in
	}
	if len(stored) != len(cfg.Intents) {
		t.Errorf("the store holds %d intents, the batch has %d", len(stored), len(cfg.Intents))
	}

	evs, err := node.Transfers(ctx, cfg.Token, &cfg.From)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		to     common.Address
		amount string
	}
	onChain := map[key][]common.Hash{}
	for _, ev := range evs {
		k := key{ev.To, ev.Value.String()}
		onChain[k] = append(onChain[k], ev.Raw.TxHash)
	}
	wantPayee := map[common.Address]*big.Int{}
	total := new(big.Int)
	matched := 0
	for _, spec := range cfg.Intents {
		k := key{spec.To, spec.Amount.String()}
		hashes := onChain[k]
		matched += len(hashes)
		if len(hashes) > 1 {
			dups += len(hashes) - 1
			t.Errorf("intent %s paid %d times: %v", spec.ID, len(hashes), hashes)
		}
		in, ok := byID[spec.ID]
		switch {
		case !ok:
			lost++
			t.Errorf("intent %s is not in the store", spec.ID)
			continue
		case len(hashes) == 0 || in.State != procurebot.IntentConfirmed:
			lost++
			t.Errorf("intent %s: %d transfers on chain, %s in the store (%s)", spec.ID, len(hashes), in.State, in.Error)
			continue
		}
		if in.Mined != hashes[0].Hex() || !slices.Contains(in.TxHashes, in.Mined) {
			t.Errorf("intent %s: the store says %s was mined (txs %v), the chain has its transfer in %s", spec.ID, in.Mined, in.TxHashes, hashes[0].Hex())
		}
		tx, _, err := node.Client.TransactionByHash(ctx, hashes[0])
		if err != nil {
			t.Fatal(err)
		}
		rcpt, err := node.Client.TransactionReceipt(ctx, hashes[0])
		if err != nil {
			t.Fatal(err)
		}
		if tx.Nonce() != in.Nonce || rcpt.Status != types.ReceiptStatusSuccessful {
			t.Errorf("intent %s: mined tx %s has nonce %d (store: %d), status %d", spec.ID, hashes[0].Hex(), tx.Nonce(), in.Nonce, rcpt.Status)
		}
		if wantPayee[spec.To] == nil {
			wantPayee[spec.To] = new(big.Int)
		}
		wantPayee[spec.To].Add(wantPayee[spec.To], spec.Amount)
		total.Add(total, spec.Amount)
	}
	if extra := len(evs) - matched; extra > 0 {
		dups += extra
		t.Errorf("%d transfers from the payer pay no intent of the batch", extra)
	}

	// The ledger matches the chain: one payment entry per intent, naming
	// the mined transaction, and no other payment entry.
	entries, err := s.List(ctx, procurebot.LedgerFilter{Kinds: []procurebot.EntryKind{procurebot.KindPayment}})
	if err != nil {
		t.Fatal(err)
	}
	ledger := map[string][]procurebot.LedgerEntry{}
	for _, e := range entries {
		ledger[e.IntentID] = append(ledger[e.IntentID], e)
	}
	for _, spec := range cfg.Intents {
		es, in := ledger[spec.ID], byID[spec.ID]
		if len(es) != 1 || es[0].TxHash != in.Mined {
			t.Errorf("intent %s: ledger payment entries %+v, mined %s", spec.ID, es, in.Mined)
		}
	}
	if len(entries) != len(cfg.Intents) {
		t.Errorf("the ledger holds %d payment entries, the batch has %d intents", len(entries), len(cfg.Intents))
	}

	// Balances: each payee holds the sum of its intents; the payer lost
	// exactly the total.
	supply := new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(1_000_000))
	for addr, want := range wantPayee {
		got, err := node.TokenBalance(ctx, cfg.Token, addr)
		if err != nil {
			t.Fatal(err)
		}
		if got.Cmp(want) != 0 {
			t.Errorf("payee %s holds %s, its intents sum to %s", addr.Hex(), got, want)
		}
	}
	got, err := node.TokenBalance(ctx, cfg.Token, cfg.From)
	if err != nil {
		t.Fatal(err)
	}
	if spent := new(big.Int).Sub(supply, got); spent.Cmp(total) != 0 {
		t.Errorf("the payer's balance fell by %s, the intents total %s", spent, total)
	}
	// One transaction per intent: the account's nonce counts them, none is
	// left in the pool.
	mined, err := node.Client.NonceAt(ctx, cfg.From, nil)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := node.Client.PendingNonceAt(ctx, cfg.From)
	if err != nil {
		t.Fatal(err)
	}
	if mined != uint64(len(cfg.Intents)) || pending != mined {
		t.Errorf("the payer's nonce is %d (pending %d); %d intents were paid", mined, pending, len(cfg.Intents))
	}
	return dups, lost
}

// state is what the store holds between two payer runs.
type state struct {
	confirmed  int
	unfinished *procurebot.PaymentIntent // Pending, Signed or Sent (at most one: Pay is sequential)
}

func inspect(t *testing.T, path string, n int) state {
	t.Helper()
	s, err := storebolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all, err := s.ListIntents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var st state
	for i, in := range all {
		switch in.State {
		case procurebot.IntentConfirmed:
			st.confirmed++
		case procurebot.IntentFailed:
			t.Fatalf("intent %s failed: %s", in.ID, in.Error)
		default:
			if st.unfinished != nil {
				t.Fatalf("two unfinished intents, %s (%s) and %s (%s): Pay is sequential", st.unfinished.ID, st.unfinished.State, in.ID, in.State)
			}
			st.unfinished = &all[i]
		}
	}
	if len(all) > n {
		t.Fatalf("the store holds %d intents, the batch %d", len(all), n)
	}
	return st
}

// Where a payer run is killed.
const (
	modeRandom          = "random"           // by the test, a random delay after the process starts
	modePayRandom       = "pay-random"       // by the test, a random delay after Reconcile ends
	modeBeforeCreate    = "before-create"    // just before Pay of the at-th new intent
	modePay             = "pay"              // at the at-th hook of step during Pay
	modeReconcile       = "reconcile"        // at the first hook of step during Reconcile
	modeReconcileRandom = "reconcile-random" // by the test, a random delay after Reconcile starts
	modeFinal           = "final"            // not killed: finishes the batch
)

type mode struct {
	kind  string
	step  wallet.Step
	at    int
	delay time.Duration
}

func (m mode) String() string {
	return fmt.Sprintf("%s:%s:%d:%s", m.kind, m.step, m.at, m.delay)
}

func (m mode) name() string {
	if m.step != "" {
		return m.kind + "@" + string(m.step)
	}
	return m.kind
}

func parseMode(s string) (mode, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 4 {
		return mode{}, fmt.Errorf("mode %q: want kind:step:at:delay", s)
	}
	at, err := strconv.Atoi(parts[2])
	if err != nil {
		return mode{}, fmt.Errorf("mode %q: %w", s, err)
	}
	d, err := time.ParseDuration(parts[3])
	if err != nil {
		return mode{}, fmt.Errorf("mode %q: %w", s, err)
	}
	return mode{kind: parts[0], step: wallet.Step(parts[1]), at: at, delay: d}, nil
}

type runner struct {
	t       *testing.T
	cfgPath string
	rng     *rand.Rand
	seed    uint64
	node    *gethtest.Node
	kills   int
}

// Random kills land within these delays: from the start of the process
// (start-up takes some 60 ms here), from the start of Reconcile (one
// unfinished intent: a few ms), from the start of the payments (some 20 ms
// each).
const (
	maxStartDelay     = 100 * time.Millisecond
	maxReconcileDelay = 6 * time.Millisecond
	maxPayDelay       = 60 * time.Millisecond
)

var payerSteps = []wallet.Step{wallet.StepCreated, wallet.StepSigned, wallet.StepBroadcast, wallet.StepSent}

// choose picks where the next run is killed.
func (r *runner) choose(st state) mode {
	if in := st.unfinished; in != nil && r.rng.IntN(5) < 2 {
		// During Reconcile: at a step it will pass for this intent, or at
		// a random moment.
		var steps []wallet.Step
		switch in.State {
		case procurebot.IntentPending:
			steps = []wallet.Step{wallet.StepSigned, wallet.StepBroadcast, wallet.StepSent}
		case procurebot.IntentSigned:
			steps = []wallet.Step{wallet.StepBroadcast, wallet.StepSent}
		}
		if k := r.rng.IntN(len(steps) + 1); k < len(steps) {
			return mode{kind: modeReconcile, step: steps[k], at: 1}
		}
		return mode{kind: modeReconcileRandom, delay: r.delay(maxReconcileDelay)}
	}
	at := 1 + r.rng.IntN(2)
	switch k := r.rng.IntN(9); {
	case k < 2:
		return mode{kind: modeRandom, delay: r.delay(maxStartDelay)}
	case k < 4:
		return mode{kind: modePayRandom, delay: r.delay(maxPayDelay)}
	case k == 4:
		return mode{kind: modeBeforeCreate, at: at}
	default:
		return mode{kind: modePay, step: payerSteps[k-5], at: at}
	}
}

func (r *runner) delay(max time.Duration) time.Duration {
	return time.Duration(r.rng.Int64N(int64(max) + 1))
}

type result struct {
	killed bool
	phase  string // the last phase marker the process wrote
	code   int
	state  *os.ProcessState
	output string
}

// run starts a payer process in mode m and waits for it to end, killing it
// itself for the random modes.
func (r *runner) run(m mode) result {
	r.t.Helper()
	out := &lineWatcher{watch: markReconcile, seen: make(chan struct{})}
	if m.kind == modePayRandom {
		out.watch = markPay
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, wallet.PasswordFileEnv+"=") || strings.HasPrefix(kv, wallet.PasswordEnv+"=")
	})
	cmd.Env = append(env, envChild+"="+r.cfgPath, envMode+"="+m.String(), wallet.PasswordEnv+"="+password)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	exited, done := make(chan error, 1), make(chan struct{})
	defer close(done)
	go func() { exited <- cmd.Wait() }()
	kill := func() { _ = cmd.Process.Signal(syscall.SIGKILL) }
	timeout := time.NewTimer(childTimeout)
	defer timeout.Stop()
	var killAt <-chan time.Time
	switch m.kind {
	case modeRandom:
		killAt = time.After(m.delay)
	case modeReconcileRandom, modePayRandom:
		go func() {
			select {
			case <-out.seen:
				time.Sleep(m.delay)
				kill()
			case <-done:
			}
		}()
	}
	for {
		select {
		case <-exited:
			ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
			res := result{state: cmd.ProcessState, output: out.String(), code: cmd.ProcessState.ExitCode(),
				killed: ws.Signaled() && ws.Signal() == syscall.SIGKILL, phase: out.Phase()}
			return res
		case <-killAt:
			kill()
		case <-timeout.C:
			kill()
			<-exited
			r.t.Fatalf("seed %d: payer run (mode %s) still running after %s\n--- its output:\n%s\n--- geth output (tail):\n%s",
				r.seed, m, childTimeout, out.String(), r.node.Output())
		}
	}
}

// lineWatcher keeps a process's output, notes the last phase marker line
// in it, and closes seen when the line watch appears.
type lineWatcher struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	scanned int // bytes of buf looked at for marker lines
	phase   string
	watch   string
	seen    chan struct{}
	done    bool
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		rest := w.buf.Bytes()[w.scanned:]
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		switch line := string(rest[:i]); line {
		case markReconcile, markPay, markDone:
			w.phase = line
			if line == w.watch && !w.done {
				w.done = true
				close(w.seen)
			}
		}
		w.scanned += i + 1
	}
	return len(p), nil
}

// Phase returns the last phase marker the process wrote ("" before the
// first).
func (w *lineWatcher) Phase() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.phase
}

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// child is a payer process: it reconciles, then pays every intent of the
// batch in order, and kills itself with SIGKILL where modeStr says. It
// returns its exit code.
func child(cfgPath, modeStr string) int {
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "payer: "+format+"\n", args...)
		return code
	}
	m, err := parseMode(modeStr)
	if err != nil {
		return fail(exitSetup, "%v", err)
	}
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		return fail(exitSetup, "%v", err)
	}
	var cfg config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fail(exitSetup, "config: %v", err)
	}
	ctx := context.Background()

	pw, err := wallet.PasswordFromEnv()
	if err != nil {
		return fail(exitSetup, "%v", err)
	}
	ks, err := wallet.OpenKeystore(cfg.Keystore, pw, wallet.LightScrypt())
	if err != nil {
		return fail(exitSetup, "%v", err)
	}
	signer, err := ks.Signer(cfg.From)
	if err != nil {
		return fail(exitSetup, "%v", err)
	}
	client, err := ethclient.Dial(cfg.URL)
	if err != nil {
		return fail(exitSetup, "dial %s: %v", cfg.URL, err)
	}
	st, err := storebolt.Open(cfg.Store)
	if err != nil {
		return fail(exitSetup, "%v", err)
	}

	phase := markReconcile
	hits := 0
	hook := func(step wallet.Step, in *procurebot.PaymentIntent) error {
		// Pay passes StepCreated for an intent it finds finished too: only
		// unfinished ones count.
		if step == m.step && !in.State.Final() &&
			(m.kind == modePay && phase == markPay || m.kind == modeReconcile && phase == markReconcile) {
			if hits++; hits == m.at {
				die()
			}
		}
		return nil
	}
	p, err := wallet.NewPayer(ctx, client, st, signer,
		wallet.WithConfirmations(1), wallet.WithPollInterval(5*time.Millisecond),
		wallet.WithRebroadcastInterval(time.Second), wallet.WithStepHook(hook), wallet.WithLedger(st),
		wallet.WithLogger(zerolog.New(os.Stderr).With().Timestamp().Logger().Level(zerolog.InfoLevel)))
	if err != nil {
		return fail(exitSetup, "%v", err)
	}

	fmt.Println(markReconcile)
	rep, err := p.Reconcile(ctx)
	if err != nil && procurebot.ErrorCode(err) != procurebot.EUNAVAILABLE {
		return fail(exitReconcile, "reconcile: %v (report %+v)", err, rep)
	}
	phase = markPay
	fmt.Println(markPay)
	// Pay in order from the intent before the first one the store does not
	// hold Confirmed (paying a Confirmed one again returns it at once, as
	// the repeated Pay here checks; skipping the rest keeps a run short
	// however many kills came before).
	from := 0
	for i, spec := range cfg.Intents {
		in, err := st.GetIntent(ctx, spec.ID)
		if err != nil || in.State != procurebot.IntentConfirmed {
			from = max(0, i-1)
			break
		}
		from = i
	}
	created := 0
	for _, spec := range cfg.Intents[from:] {
		if m.kind == modeBeforeCreate {
			if _, err := st.GetIntent(ctx, spec.ID); procurebot.ErrorCode(err) == procurebot.ENOTFOUND {
				if created++; created == m.at {
					die()
				}
			}
		}
		out, err := p.Pay(ctx, spec.intent(cfg.Token))
		if err != nil {
			return fail(exitPay, "pay %s: %v", spec.ID, err)
		}
		if out.State != procurebot.IntentConfirmed {
			return fail(exitUnpaid, "pay %s: ended %s", spec.ID, out.State)
		}
	}
	fmt.Println(markDone)
	return exitOK
}

// die kills the process at once, as a crash or kill -9 would: no deferred
// function runs, no file is closed.
func die() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func formatCounts[K ~string](m map[K]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[K(k)]))
	}
	return strings.Join(parts, ", ")
}

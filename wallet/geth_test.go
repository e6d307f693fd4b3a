package wallet_test

import (
	"context"
	"errors"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/rs/zerolog"

	"github.com/procurebot/procurebot"
	storebolt "github.com/procurebot/procurebot/store/bolt"
	"github.com/procurebot/procurebot/wallet"
	"github.com/procurebot/procurebot/wallet/gethtest"
	"github.com/procurebot/procurebot/wallet/token"
)

// TestGeth runs the Payer against a real node: geth --dev started by the
// test (wallet/gethtest), JSON-RPC over loopback (ethclient.Dial), intents
// in a bbolt file (store/bolt). Each subtest pays from a fresh keystore
// account funded by the node's developer account, with its own token.
func TestGeth(t *testing.T) {
	node := gethtest.Start(t)

	t.Run("happy-path", func(t *testing.T) {
		g := newGethEnv(t, node)
		p := g.payer()
		payee := newAddr(t)
		amount := units(t, "12.34", 6)
		before := g.balance(g.from)

		out, err := p.Pay(g.ctx, g.intent("geth-pay-1", payee, amount))
		if err != nil {
			t.Fatal(err)
		}
		if out.State != procurebot.IntentConfirmed || len(out.TxHashes) != 1 || out.Mined != out.TxHashes[0] ||
			out.Nonce != 0 || out.Chain != gethtest.ChainID || out.From != g.from.Hex() {
			t.Fatalf("intent after Pay: %+v", out)
		}
		if got := g.balance(payee); got.Cmp(amount) != 0 {
			t.Fatalf("payee holds %s, want %s", got, amount)
		}
		if got := new(big.Int).Sub(before, g.balance(g.from)); got.Cmp(amount) != 0 {
			t.Fatalf("payer's balance fell by %s, want %s", got, amount)
		}
		evs := g.transfers()
		if len(evs) != 1 || evs[0].From != g.from || evs[0].To != payee || evs[0].Value.Cmp(amount) != 0 ||
			evs[0].Raw.TxHash.Hex() != out.Mined {
			t.Fatalf("Transfer events from the payer: %+v", evs)
		}
		r, err := g.client.TransactionReceipt(g.ctx, common.HexToHash(out.Mined))
		if err != nil || r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("receipt of %s: %+v %v", out.Mined, r, err)
		}
		if stored := g.get(out.ID); stored.State != procurebot.IntentConfirmed || stored.Mined != out.Mined {
			t.Fatalf("stored intent: %+v", stored)
		}
		if n := g.nonce(); n != 1 {
			t.Fatalf("account nonce %d, want 1", n)
		}
	})

	t.Run("idempotent", func(t *testing.T) {
		g := newGethEnv(t, node)
		p := g.payer()
		payee := newAddr(t)
		amount := units(t, "7.5", 6)
		first, err := p.Pay(g.ctx, g.intent("geth-once", payee, amount))
		if err != nil {
			t.Fatal(err)
		}
		second, err := p.Pay(g.ctx, g.intent("geth-once", payee, amount))
		if err != nil {
			t.Fatal(err)
		}
		if second.State != procurebot.IntentConfirmed || second.Mined != first.Mined || second.Nonce != first.Nonce {
			t.Fatalf("second Pay: %+v, first: %+v", second, first)
		}
		// A new Payer over a reopened store (a restart) pays it no more.
		g.restart()
		third, err := g.payer().Pay(g.ctx, g.intent("geth-once", payee, amount))
		if err != nil || third.Mined != first.Mined {
			t.Fatalf("Pay after restart: %+v %v", third, err)
		}
		// Concurrent Pays of one new ID from two Payers sharing a nonce
		// manager: one transfer.
		nm := wallet.NewNonceManager()
		payers := []*wallet.Payer{g.payer(wallet.WithNonceManager(nm)), g.payer(wallet.WithNonceManager(nm))}
		var wg sync.WaitGroup
		results := make([]*procurebot.PaymentIntent, 6)
		for i := range results {
			wg.Go(func() {
				out, err := payers[i%2].Pay(g.ctx, g.intent("geth-race", payee, big.NewInt(3)))
				if err != nil {
					t.Error(err)
				}
				results[i] = out
			})
		}
		wg.Wait()
		for _, r := range results {
			if r == nil || r.State != procurebot.IntentConfirmed || r.Mined != results[0].Mined {
				t.Fatalf("concurrent Pay results differ: %+v vs %+v", r, results[0])
			}
		}
		if evs := g.transfers(); len(evs) != 2 {
			t.Fatalf("%d Transfer events from the payer, want 2 (geth-once, geth-race)", len(evs))
		}
		want := new(big.Int).Add(amount, big.NewInt(3))
		if got := g.balance(payee); got.Cmp(want) != 0 {
			t.Fatalf("payee holds %s, want %s", got, want)
		}
		if n := g.nonce(); n != 2 {
			t.Fatalf("account nonce %d, want 2", n)
		}
	})

	for _, step := range []wallet.Step{wallet.StepCreated, wallet.StepSigned, wallet.StepBroadcast, wallet.StepSent} {
		t.Run("crash-after-"+string(step)+"-then-reconcile", func(t *testing.T) {
			g := newGethEnv(t, node)
			payee := newAddr(t)
			amount := units(t, "42.000001", 6)
			crashing := g.payer(wallet.WithStepHook(func(s wallet.Step, _ *procurebot.PaymentIntent) error {
				if s == step {
					return errCrash
				}
				return nil
			}))
			if _, err := crashing.Pay(g.ctx, g.intent("geth-crash", payee, amount)); !errors.Is(err, errCrash) {
				t.Fatalf("Pay: %v, want the simulated crash", err)
			}
			atCrash := g.get("geth-crash")

			g.restart()
			p := g.payer()
			rep, err := p.Reconcile(g.ctx)
			if err != nil || rep.Checked != 1 || len(rep.Conflicts) != 0 {
				t.Fatalf("Reconcile: %+v %v", rep, err)
			}
			out, err := p.Wait(g.ctx, "geth-crash")
			if err != nil {
				t.Fatal(err)
			}
			if out.State != procurebot.IntentConfirmed || len(out.TxHashes) != 1 || out.Mined != out.TxHashes[0] {
				t.Fatalf("after Reconcile and Wait: %+v", out)
			}
			if atCrash.State != procurebot.IntentPending && out.Mined != atCrash.TxHashes[0] {
				t.Fatalf("the intent got a new transaction: %s at the crash, %s mined", atCrash.TxHashes[0], out.Mined)
			}
			evs := g.transfers()
			if len(evs) != 1 || evs[0].To != payee || evs[0].Value.Cmp(amount) != 0 || evs[0].Raw.TxHash.Hex() != out.Mined {
				t.Fatalf("Transfer events from the payer: %+v", evs)
			}
			if n := g.nonce(); n != 1 {
				t.Fatalf("account nonce %d, want 1", n)
			}
			if rep, err := p.Reconcile(g.ctx); err != nil || rep.Checked != 0 {
				t.Fatalf("second Reconcile: %+v %v", rep, err)
			}
			if again, err := p.Pay(g.ctx, g.intent("geth-crash", payee, amount)); err != nil || again.Mined != out.Mined {
				t.Fatalf("Pay after Reconcile: %+v %v", again, err)
			}
		})
	}
}

// gethEnv is a fresh keystore account funded on a geth --dev node, holding
// all of a newly deployed token, and a bbolt intent store.
type gethEnv struct {
	t         *testing.T
	ctx       context.Context
	node      *gethtest.Node
	client    *ethclient.Client
	from      common.Address
	token     common.Address
	ksDir     string
	storePath string
	store     *storebolt.Store
	logs      *syncBuffer
}

const gethDecimals = 6

func newGethEnv(t *testing.T, node *gethtest.Node) *gethEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	g := &gethEnv{t: t, ctx: ctx, node: node, ksDir: filepath.Join(t.TempDir(), "keystore"),
		storePath: filepath.Join(t.TempDir(), storebolt.FileName), logs: &syncBuffer{}}
	ks, err := wallet.OpenKeystore(g.ksDir, testPassword, wallet.LightScrypt())
	if err != nil {
		t.Fatal(err)
	}
	if g.from, err = ks.NewAccount(); err != nil {
		t.Fatal(err)
	}
	if err := node.Fund(ctx, g.from, ether(10)); err != nil {
		t.Fatal(err)
	}
	if g.token, err = node.DeployToken(ctx, "Test Dollar", "TUSD", gethDecimals, units(t, "1000", gethDecimals), g.from); err != nil {
		t.Fatal(err)
	}
	if g.client, err = ethclient.Dial(node.URL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.client.Close)
	g.openStore()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("payer log:\n%s\n--- geth output (tail):\n%s", g.logs, node.Output())
		}
	})
	return g
}

func (g *gethEnv) openStore() {
	s, err := storebolt.Open(g.storePath)
	if err != nil {
		g.t.Fatal(err)
	}
	g.store = s
	g.t.Cleanup(func() { _ = s.Close() })
}

// restart closes the store and opens it again, as a new process would.
func (g *gethEnv) restart() {
	if err := g.store.Close(); err != nil {
		g.t.Fatal(err)
	}
	g.openStore()
}

// payer opens the keystore anew and returns a Payer over a new JSON-RPC
// connection and the current store.
func (g *gethEnv) payer(opts ...wallet.Option) *wallet.Payer {
	g.t.Helper()
	ks, err := wallet.OpenKeystore(g.ksDir, testPassword)
	if err != nil {
		g.t.Fatal(err)
	}
	signer, err := ks.Signer(g.from)
	if err != nil {
		g.t.Fatal(err)
	}
	client, err := ethclient.Dial(g.node.URL)
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(client.Close)
	base := []wallet.Option{wallet.WithPollInterval(10 * time.Millisecond), wallet.WithConfirmations(1),
		wallet.WithLogger(zerolog.New(g.logs).Level(zerolog.DebugLevel))}
	p, err := wallet.NewPayer(g.ctx, client, g.store, signer, append(base, opts...)...)
	if err != nil {
		g.t.Fatal(err)
	}
	return p
}

func (g *gethEnv) intent(id string, to common.Address, amount *big.Int) *procurebot.PaymentIntent {
	return &procurebot.PaymentIntent{ID: id, Token: g.token.Hex(), To: to.Hex(), Amount: amount,
		AmountUSD: wallet.FromBaseUnits(amount, gethDecimals), Venue: "geth-venue"}
}

func (g *gethEnv) balance(addr common.Address) *big.Int {
	g.t.Helper()
	b, err := g.node.TokenBalance(g.ctx, g.token, addr)
	if err != nil {
		g.t.Fatal(err)
	}
	return b
}

// transfers returns the token's Transfer events from the payer.
func (g *gethEnv) transfers() []*token.TokenTransfer {
	g.t.Helper()
	evs, err := g.node.Transfers(g.ctx, g.token, &g.from)
	if err != nil {
		g.t.Fatal(err)
	}
	return evs
}

func (g *gethEnv) nonce() uint64 {
	g.t.Helper()
	n, err := g.client.NonceAt(g.ctx, g.from, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	if pending, err := g.client.PendingNonceAt(g.ctx, g.from); err != nil || pending != n {
		g.t.Fatalf("pending nonce %d (err %v), mined nonce %d: a transaction is left in the pool", pending, err, n)
	}
	return n
}

func (g *gethEnv) get(id string) *procurebot.PaymentIntent {
	g.t.Helper()
	in, err := g.store.GetIntent(g.ctx, id)
	if err != nil {
		g.t.Fatal(err)
	}
	return in
}

package wallet_test

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/rs/zerolog"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/wallet"
)

// flakyChain is the simulated chain with an outage switch per method: a
// method that is down fails as an unreachable node does.
type flakyChain struct {
	wallet.Chain
	mu   sync.Mutex
	down map[string]bool
}

func (f *flakyChain) set(method string, down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down[method] = down
}

func (f *flakyChain) fail(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[method] {
		return errors.New("Post \"http://127.0.0.1:8545\": dial tcp 127.0.0.1:8545: connect: connection refused")
	}
	return nil
}

func (f *flakyChain) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	if err := f.fail("SendTransaction"); err != nil {
		return err
	}
	return f.Chain.SendTransaction(ctx, tx)
}

func (f *flakyChain) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	if err := f.fail("TransactionReceipt"); err != nil {
		return nil, err
	}
	return f.Chain.TransactionReceipt(ctx, h)
}

func (e *env) flakyPayer(opts ...wallet.Option) (*wallet.Payer, *flakyChain) {
	e.t.Helper()
	ks, err := wallet.OpenKeystore(e.ksDir, testPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	signer, err := ks.Signer(e.from)
	if err != nil {
		e.t.Fatal(err)
	}
	fc := &flakyChain{Chain: e.client, down: map[string]bool{}}
	base := []wallet.Option{wallet.WithPollInterval(5 * time.Millisecond),
		wallet.WithLogger(zerolog.New(e.logs).Level(zerolog.TraceLevel))}
	p, err := wallet.NewPayer(e.ctx, fc, e.store, signer, append(base, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	return p, fc
}

// TestOutageDuringBroadcast: the node is unreachable when the signed
// transfer is broadcast; Pay returns EUNAVAILABLE with the intent Signed,
// and Reconcile later sends the same transaction.
func TestOutageDuringBroadcast(t *testing.T) {
	e := newEnv(t, 6, units(t, "100", 6))
	p, fc := e.flakyPayer()
	payee := newAddr(t)
	fc.set("SendTransaction", true)
	out, err := p.Pay(e.ctx, e.intent("o1", payee, big.NewInt(77)))
	if procurebot.ErrorCode(err) != procurebot.EUNAVAILABLE || !strings.Contains(err.Error(), "o1") {
		t.Fatalf("Pay: %v", err)
	}
	if out.State != procurebot.IntentSigned || len(out.TxHashes) != 1 || !strings.Contains(out.Error, "connection refused") {
		t.Fatalf("intent: %+v", out)
	}
	fc.set("SendTransaction", false)
	rep, err := p.Reconcile(e.ctx)
	if err != nil || len(rep.InFlight) != 1 {
		t.Fatalf("Reconcile: %+v %v", rep, err)
	}
	e.mine()
	done, err := p.Wait(e.ctx, "o1")
	if err != nil || done.Mined != out.TxHashes[0] || done.Error != "" {
		t.Fatalf("Wait: %+v %v", done, err)
	}
	if evs := e.transfersTo(payee); len(evs) != 1 {
		t.Fatalf("%d transfers", len(evs))
	}
}

// TestOutageWhileWaiting: receipts cannot be read for a while; Pay keeps
// waiting and confirms once the node answers again.
func TestOutageWhileWaiting(t *testing.T) {
	e := newEnv(t, 6, units(t, "100", 6))
	p, fc := e.flakyPayer()
	payee := newAddr(t)
	fc.set("TransactionReceipt", true)
	e.mine()
	done := make(chan error, 1)
	go func() {
		_, err := p.Pay(e.ctx, e.intent("o2", payee, big.NewInt(5)))
		done <- err
	}()
	e.waitState("o2", procurebot.IntentSent)
	time.Sleep(100 * time.Millisecond)
	if !strings.Contains(e.logs.String(), "chain unavailable while waiting") {
		t.Fatalf("no outage logged:\n%s", e.logs)
	}
	fc.set("TransactionReceipt", false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Pay did not finish after the outage")
	}
	if got := e.get("o2"); got.State != procurebot.IntentConfirmed {
		t.Fatalf("state %s", got.State)
	}
}

// TestPayContextEnds: no block is mined and ctx ends while Pay waits for
// the receipt; Pay returns EUNAVAILABLE with the intent Sent, and Wait
// finishes it later.
func TestPayContextEnds(t *testing.T) {
	e := newEnv(t, 6, units(t, "100", 6))
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	p := e.payer(wallet.WithStepHook(func(s wallet.Step, _ *procurebot.PaymentIntent) error {
		if s == wallet.StepSent {
			cancel()
		}
		return nil
	}))
	out, err := p.Pay(ctx, e.intent("slow", newAddr(t), big.NewInt(5)))
	if procurebot.ErrorCode(err) != procurebot.EUNAVAILABLE || !strings.Contains(err.Error(), "Reconcile") ||
		!errors.Is(err, context.Canceled) || out == nil || out.State != procurebot.IntentSent {
		t.Fatalf("Pay: %+v %v", out, err)
	}
	e.mine()
	if done, err := p.Wait(e.ctx, "slow"); err != nil || done.State != procurebot.IntentConfirmed || done.Mined != out.TxHashes[0] {
		t.Fatalf("Wait: %+v %v", done, err)
	}
}

// TestNonceConflictWhenSent: a Sent intent's transaction is replaced in the
// pool by another transaction of the same key and nonce, which is mined.
func TestNonceConflictWhenSent(t *testing.T) {
	e := newEnv(t, 6, units(t, "100", 6))
	if _, err := e.payer(wallet.WithStepHook(func(s wallet.Step, _ *procurebot.PaymentIntent) error {
		if s == wallet.StepSent {
			return errCrash
		}
		return nil
	})).Pay(e.ctx, e.intent("clash2", newAddr(t), big.NewInt(1))); !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	sent := e.get("clash2")
	old := decodeTx(t, sent.SignedTx)
	auth := bind.NewKeyedTransactor(e.key, big.NewInt(1337))
	auth.Nonce = new(big.Int).SetUint64(sent.Nonce)
	auth.GasTipCap = new(big.Int).Mul(old.GasTipCap(), big.NewInt(3))
	auth.GasFeeCap = new(big.Int).Mul(old.GasFeeCap(), big.NewInt(3))
	if _, err := bind.Transact(e.tok.Instance(e.client, e.token), auth, e.tok.PackTransfer(newAddr(t), big.NewInt(2))); err != nil {
		t.Fatal(err)
	}
	e.backend.Commit()
	rep, err := e.payer().Reconcile(e.ctx)
	if !errors.Is(err, wallet.ErrNonceConflict) || len(rep.Conflicts) != 1 || !strings.Contains(err.Error(), "clash2") {
		t.Fatalf("Reconcile: %+v %v", rep, err)
	}
	if got := e.get("clash2"); got.State != procurebot.IntentSent || !strings.Contains(got.Error, "another signer") {
		t.Fatalf("intent changed: %+v", got)
	}
	if _, err := e.payer().Bump(e.ctx, "clash2"); !errors.Is(err, wallet.ErrNonceConflict) {
		t.Fatalf("Bump: %v", err)
	}
}

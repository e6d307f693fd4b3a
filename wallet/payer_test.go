package wallet_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/wallet"
)

func TestPayHappyPath(t *testing.T) {
	e := newEnv(t, 6, units(t, "1000", 6))
	e.mine()
	p := e.payer(wallet.WithConfirmations(3))
	payee := newAddr(t)
	amount := units(t, "12.34", 6)
	before, eth0 := e.balance(e.from), e.ethBalance(e.from)

	out, err := p.Pay(e.ctx, e.intent("rent-h100-0001", payee, amount))
	if err != nil {
		t.Fatal(err)
	}
	if out.State != procurebot.IntentConfirmed || out.Mined == "" || len(out.TxHashes) != 1 || out.Mined != out.TxHashes[0] {
		t.Fatalf("intent after Pay: %+v", out)
	}
	if out.From != e.from.Hex() || out.Chain != 1337 || out.Nonce != 1 || out.Error != "" {
		t.Fatalf("intent fields: %+v", out)
	}
	if tx := decodeTx(t, out.SignedTx); tx.Hash().Hex() != out.Mined || tx.Type() != types.DynamicFeeTxType {
		t.Fatalf("signed tx %s type %d, mined %s", tx.Hash().Hex(), tx.Type(), out.Mined)
	}
	if got := e.balance(payee); got.Cmp(amount) != 0 {
		t.Fatalf("payee holds %s, want %s", got, amount)
	}
	if got := new(big.Int).Sub(before, e.balance(e.from)); got.Cmp(amount) != 0 {
		t.Fatalf("payer lost %s, want %s", got, amount)
	}
	evs := e.transfersTo(payee)
	if len(evs) != 1 || evs[0].From != e.from || evs[0].Value.Cmp(amount) != 0 {
		t.Fatalf("Transfer events to payee: %+v", evs)
	}
	// Confirmations: the including block and two more.
	r, err := e.client.TransactionReceipt(e.ctx, common.HexToHash(out.Mined))
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("receipt: %+v %v", r, err)
	}
	if eth1 := e.ethBalance(e.from); eth1.Cmp(eth0) >= 0 {
		t.Fatalf("gas was not paid: %s → %s", eth0, eth1)
	}
	stored := e.get(out.ID)
	if stored.State != procurebot.IntentConfirmed || stored.Mined != out.Mined {
		t.Fatalf("stored intent: %+v", stored)
	}
	if !strings.Contains(e.logs.String(), `"message":"transfer confirmed"`) {
		t.Fatalf("no confirmation logged:\n%s", e.logs)
	}
}

func TestPayWaitsForConfirmations(t *testing.T) {
	e := newEnv(t, 6, units(t, "1000", 6))
	p := e.payer(wallet.WithConfirmations(3))
	payee := newAddr(t)
	done := make(chan *procurebot.PaymentIntent, 1)
	go func() {
		out, err := p.Pay(e.ctx, e.intent("c1", payee, big.NewInt(5)))
		if err != nil {
			t.Error(err)
		}
		done <- out
	}()
	e.waitState("c1", procurebot.IntentSent)
	e.backend.Commit() // 1 confirmation
	e.backend.Commit() // 2
	time.Sleep(50 * time.Millisecond)
	if s := e.get("c1").State; s != procurebot.IntentSent {
		t.Fatalf("after 2 of 3 confirmations: %s", s)
	}
	e.backend.Commit() // 3
	select {
	case out := <-done:
		if out == nil || out.State != procurebot.IntentConfirmed {
			t.Fatalf("after 3 confirmations: %+v", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Pay did not return after 3 confirmations")
	}
}

func TestPayIdempotent(t *testing.T) {
	e := newEnv(t, 6, units(t, "1000", 6))
	e.mine()
	p := e.payer()
	payee := newAddr(t)
	amount := units(t, "7.5", 6)

	first, err := p.Pay(e.ctx, e.intent("once", payee, amount))
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.Pay(e.ctx, e.intent("once", payee, amount))
	if err != nil {
		t.Fatal(err)
	}
	if second.State != procurebot.IntentConfirmed || second.Mined != first.Mined || second.Nonce != first.Nonce {
		t.Fatalf("second Pay: %+v, first: %+v", second, first)
	}
	// The same ID with another amount or payee is refused.
	_, err = p.Pay(e.ctx, e.intent("once", payee, big.NewInt(1)))
	if procurebot.ErrorCode(err) != procurebot.ECONFLICT || !strings.Contains(err.Error(), "once") {
		t.Fatalf("same ID, other amount: %v", err)
	}
	_, err = p.Pay(e.ctx, e.intent("once", newAddr(t), amount))
	if procurebot.ErrorCode(err) != procurebot.ECONFLICT {
		t.Fatalf("same ID, other payee: %v", err)
	}

	// Many concurrent Pays of one new ID, from two Payers sharing a nonce
	// manager: one transfer.
	nm := wallet.NewNonceManager()
	payers := []*wallet.Payer{e.payer(wallet.WithNonceManager(nm)), e.payer(wallet.WithNonceManager(nm))}
	var wg sync.WaitGroup
	results := make([]*procurebot.PaymentIntent, 8)
	for i := range results {
		wg.Go(func() {
			out, err := payers[i%2].Pay(e.ctx, e.intent("race", payee, big.NewInt(3)))
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
	evs := e.transfersTo(payee)
	if len(evs) != 2 {
		t.Fatalf("want 2 transfers to the payee (once, race), got %d", len(evs))
	}
	want := new(big.Int).Add(amount, big.NewInt(3))
	if got := e.balance(payee); got.Cmp(want) != 0 {
		t.Fatalf("payee holds %s, want %s", got, want)
	}
	if n := e.nonce(); n != 3 { // deploy, once, race
		t.Fatalf("account nonce %d, want 3", n)
	}
}

func TestPayConcurrentIntentsGetDistinctNonces(t *testing.T) {
	e := newEnv(t, 6, units(t, "1000", 6))
	e.mine()
	p := e.payer()
	payee := newAddr(t)
	const n = 6
	var wg sync.WaitGroup
	nonces := make([]uint64, n)
	for i := range n {
		wg.Go(func() {
			out, err := p.Pay(e.ctx, e.intent(fmt.Sprintf("par-%d", i), payee, big.NewInt(int64(i+1))))
			if err != nil {
				t.Error(err)
				return
			}
			nonces[i] = out.Nonce
		})
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for _, nc := range nonces {
		if seen[nc] || nc < 1 || nc > n {
			t.Fatalf("nonces %v: not distinct 1..%d", nonces, n)
		}
		seen[nc] = true
	}
	if got := e.balance(payee); got.Int64() != n*(n+1)/2 {
		t.Fatalf("payee holds %s", got)
	}
}

// TestCrashAndReconcile stops a Payer right after each step, as a crash
// would, then builds a new Payer over the reopened store and reconciles:
// every payment lands exactly once, on the nonce it was first given.
func TestCrashAndReconcile(t *testing.T) {
	for _, c := range []struct {
		name          string
		step          wallet.Step
		mineBeforeRun bool // blocks are mined between the crash and the restart
	}{
		{"after-create", wallet.StepCreated, false},
		{"after-signed-before-broadcast", wallet.StepSigned, false},
		{"after-signed-before-broadcast-mining", wallet.StepSigned, true},
		{"after-broadcast-before-sent", wallet.StepBroadcast, false},
		{"after-broadcast-mined-before-restart", wallet.StepBroadcast, true},
		{"after-sent-before-receipt", wallet.StepSent, false},
		{"after-sent-mined-before-restart", wallet.StepSent, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 6, units(t, "1000", 6))
			payee := newAddr(t)
			amount := units(t, "42.000001", 6)
			crashing := e.payer(wallet.WithStepHook(func(s wallet.Step, _ *procurebot.PaymentIntent) error {
				if s == c.step {
					return errCrash
				}
				return nil
			}))
			_, err := crashing.Pay(e.ctx, e.intent("crash-1", payee, amount))
			if !errors.Is(err, errCrash) {
				t.Fatalf("Pay: %v, want the simulated crash", err)
			}
			atCrash := e.get("crash-1")
			if c.mineBeforeRun {
				e.backend.Commit()
				e.backend.Commit()
			}

			e.restart()
			p := e.payer()
			rep, err := p.Reconcile(e.ctx)
			if err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			if rep.Checked != 1 || len(rep.Conflicts) != 0 {
				t.Fatalf("report: %+v", rep)
			}
			e.mine()
			out, err := p.Wait(e.ctx, "crash-1")
			if err != nil {
				t.Fatal(err)
			}
			if out.State != procurebot.IntentConfirmed || len(out.TxHashes) != 1 {
				t.Fatalf("after reconcile: %+v", out)
			}
			if atCrash.State != procurebot.IntentPending && (out.Nonce != atCrash.Nonce || out.TxHashes[0] != atCrash.TxHashes[0]) {
				t.Fatalf("the intent got a new transaction: crash %+v, end %+v", atCrash, out)
			}
			if evs := e.transfersTo(payee); len(evs) != 1 || evs[0].Value.Cmp(amount) != 0 {
				t.Fatalf("Transfer events to the payee: %d", len(evs))
			}
			if n := e.nonce(); n != 2 { // deploy + one transfer: no second nonce used
				t.Fatalf("account nonce %d, want 2", n)
			}
			// A further Reconcile and Pay change nothing.
			if rep, err := p.Reconcile(e.ctx); err != nil || rep.Checked != 0 {
				t.Fatalf("second Reconcile: %+v %v", rep, err)
			}
			if again, err := p.Pay(e.ctx, e.intent("crash-1", payee, amount)); err != nil || again.Mined != out.Mined {
				t.Fatalf("Pay after reconcile: %+v %v", again, err)
			}
			e.stopMining()
			if n := e.pendingNonce(); n != 2 {
				t.Fatalf("pending nonce %d, want 2", n)
			}
		})
	}
}

// TestCrashDuringReconcile: a crash after create, then a Reconcile that
// itself crashes after signing, then another Reconcile.
func TestCrashDuringReconcile(t *testing.T) {
	e := newEnv(t, 6, units(t, "1000", 6))
	payee := newAddr(t)
	stopAt := func(step wallet.Step) wallet.Option {
		return wallet.WithStepHook(func(s wallet.Step, _ *procurebot.PaymentIntent) error {
			if s == step {
				return errCrash
			}
			return nil
		})
	}
	if _, err := e.payer(stopAt(wallet.StepCreated)).Pay(e.ctx, e.intent("r1", payee, big.NewInt(10))); !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	e.restart()
	if _, err := e.payer(stopAt(wallet.StepSigned)).Reconcile(e.ctx); !errors.Is(err, errCrash) {
		t.Fatalf("Reconcile: %v", err)
	}
	signed := e.get("r1")
	if signed.State != procurebot.IntentSigned {
		t.Fatalf("after crashed reconcile: %s", signed.State)
	}
	e.restart()
	p := e.payer()
	if _, err := p.Reconcile(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.mine()
	out, err := p.Wait(e.ctx, "r1")
	if err != nil || out.TxHashes[0] != signed.TxHashes[0] || len(out.TxHashes) != 1 {
		t.Fatalf("%+v %v", out, err)
	}
	if evs := e.transfersTo(payee); len(evs) != 1 {
		t.Fatalf("%d transfers", len(evs))
	}
}

// TestReconcileMany: intents left in every state by crashes, with a nonce
// gap (a signed, never broadcast transaction below a broadcast one), are all
// paid exactly once by one Reconcile.
func TestReconcileMany(t *testing.T) {
	e := newEnv(t, 18, units(t, "1000", 18))
	steps := []wallet.Step{wallet.StepSigned, wallet.StepSent, wallet.StepCreated, wallet.StepBroadcast, wallet.StepSigned}
	payees := make([]common.Address, len(steps))
	for i, step := range steps {
		payees[i] = newAddr(t)
		p := e.payer(wallet.WithStepHook(func(s wallet.Step, _ *procurebot.PaymentIntent) error {
			if s == step {
				return errCrash
			}
			return nil
		}))
		if _, err := p.Pay(e.ctx, e.intent(fmt.Sprintf("m%d", i), payees[i], units(t, "0.000000000000000001", 18))); !errors.Is(err, errCrash) {
			t.Fatalf("intent %d: %v", i, err)
		}
	}
	e.restart()
	p := e.payer()
	rep, err := p.Reconcile(e.ctx)
	if err != nil || rep.Checked != len(steps) || len(rep.InFlight) != len(steps) {
		t.Fatalf("Reconcile: %+v %v", rep, err)
	}
	e.backend.Commit()
	rep, err = p.Reconcile(e.ctx)
	if err != nil || len(rep.Confirmed) != len(steps) {
		t.Fatalf("second Reconcile: %+v %v", rep, err)
	}
	for i, payee := range payees {
		if evs := e.transfersTo(payee); len(evs) != 1 {
			t.Fatalf("payee %d: %d transfers", i, len(evs))
		}
	}
	if n := e.nonce(); n != uint64(1+len(steps)) {
		t.Fatalf("account nonce %d, want %d", n, 1+len(steps))
	}
}

func TestBumpReplacesStuckTransaction(t *testing.T) {
	e := newEnv(t, 6, units(t, "1000", 6))
	p := e.payer()
	payee := newAddr(t)
	amount := units(t, "3", 6)
	type result struct {
		in  *procurebot.PaymentIntent
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := p.Pay(e.ctx, e.intent("stuck", payee, amount))
		done <- result{out, err}
	}()
	sent := e.waitState("stuck", procurebot.IntentSent) // no block is mined: it is stuck
	old := decodeTx(t, sent.SignedTx)

	bumped, err := p.Bump(e.ctx, "stuck")
	if err != nil {
		t.Fatal(err)
	}
	if bumped.State != procurebot.IntentSent || len(bumped.TxHashes) != 2 || bumped.TxHashes[0] != sent.TxHashes[0] || bumped.Nonce != sent.Nonce {
		t.Fatalf("after Bump: %+v", bumped)
	}
	nw := decodeTx(t, bumped.SignedTx)
	if nw.Hash().Hex() != bumped.TxHashes[1] || nw.Nonce() != old.Nonce() || nw.Gas() != old.Gas() || !bytesEqual(nw.Data(), old.Data()) {
		t.Fatalf("replacement differs from the original beyond fees")
	}
	atLeast10 := func(newV, oldV *big.Int) bool {
		return new(big.Int).Mul(newV, big.NewInt(100)).Cmp(new(big.Int).Mul(oldV, big.NewInt(110))) >= 0
	}
	if !atLeast10(nw.GasTipCap(), old.GasTipCap()) || !atLeast10(nw.GasFeeCap(), old.GasFeeCap()) {
		t.Fatalf("fees not +10 %%: tip %s → %s, cap %s → %s", old.GasTipCap(), nw.GasTipCap(), old.GasFeeCap(), nw.GasFeeCap())
	}

	e.backend.Commit()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Pay did not return")
	}
	if r.err != nil || r.in.State != procurebot.IntentConfirmed || r.in.Mined != bumped.TxHashes[1] {
		t.Fatalf("Pay: %+v %v", r.in, r.err)
	}
	if _, err := e.client.TransactionReceipt(e.ctx, common.HexToHash(bumped.TxHashes[0])); !errors.Is(err, ethereum.NotFound) {
		t.Fatalf("the replaced transaction landed too: %v", err)
	}
	if evs := e.transfersTo(payee); len(evs) != 1 || evs[0].Value.Cmp(amount) != 0 {
		t.Fatalf("%d transfers", len(evs))
	}
	for range 3 {
		e.backend.Commit()
	}
	if n := e.pendingNonce(); n != 2 {
		t.Fatalf("pending nonce %d, want 2", n)
	}
	// Bumping a confirmed intent does nothing.
	if again, err := p.Bump(e.ctx, "stuck"); err != nil || len(again.TxHashes) != 2 {
		t.Fatalf("Bump of a confirmed intent: %+v %v", again, err)
	}
}

// TestBumpAfterCrash: the replacement is recorded, then the payer crashes
// before broadcasting it; Reconcile broadcasts the replacement, and the
// original (already in the pool) is replaced.
func TestBumpAfterCrash(t *testing.T) {
	e := newEnv(t, 6, units(t, "1000", 6))
	payee := newAddr(t)
	if _, err := e.payer(wallet.WithStepHook(func(s wallet.Step, _ *procurebot.PaymentIntent) error {
		if s == wallet.StepSent {
			return errCrash
		}
		return nil
	})).Pay(e.ctx, e.intent("b", payee, big.NewInt(9))); !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	bumping := e.payer(wallet.WithStepHook(func(s wallet.Step, _ *procurebot.PaymentIntent) error {
		if s == wallet.StepSigned {
			return errCrash
		}
		return nil
	}))
	if _, err := bumping.Bump(e.ctx, "b"); !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	rec := e.get("b")
	if rec.State != procurebot.IntentSigned || len(rec.TxHashes) != 2 {
		t.Fatalf("after crashed bump: %+v", rec)
	}
	e.restart()
	p := e.payer()
	if _, err := p.Reconcile(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.backend.Commit()
	out, err := p.Wait(e.ctx, "b")
	if err != nil || out.Mined != rec.TxHashes[1] {
		t.Fatalf("%+v %v", out, err)
	}
	if evs := e.transfersTo(payee); len(evs) != 1 {
		t.Fatalf("%d transfers", len(evs))
	}
}

func TestInsufficientTokenBalance(t *testing.T) {
	e := newEnv(t, 6, units(t, "100", 6))
	e.mine()
	p := e.payer()
	payee := newAddr(t)
	nonce := e.pendingNonce()
	out, err := p.Pay(e.ctx, e.intent("too-much", payee, units(t, "100.000001", 6)))
	if procurebot.ErrorCode(err) != procurebot.EINVALID || !errors.Is(err, wallet.ErrInsufficientToken) {
		t.Fatalf("Pay: %v", err)
	}
	for _, want := range []string{"too-much", e.from.Hex(), e.token.Hex(), "100 (100000000 base units)", "100.000001 (100000001 base units)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if out.State != procurebot.IntentFailed || len(out.SignedTx) != 0 || len(out.TxHashes) != 0 || out.Error == "" {
		t.Fatalf("intent: %+v", out)
	}
	if n := e.pendingNonce(); n != nonce {
		t.Fatalf("a transaction was sent: pending nonce %d → %d", nonce, n)
	}
	// Unconfirmed payments hold their amounts: two payments of 60 from 100.
	e.stopMining()
	p2 := e.payer()
	go func() { _, _ = p2.Pay(e.ctx, e.intent("sixty-a", payee, units(t, "60", 6))) }()
	e.waitState("sixty-a", procurebot.IntentSent)
	_, err = p.Pay(e.ctx, e.intent("sixty-b", payee, units(t, "60", 6)))
	if !errors.Is(err, wallet.ErrInsufficientToken) || !strings.Contains(err.Error(), "held by unconfirmed payments") {
		t.Fatalf("second 60: %v", err)
	}
	e.mine()
	if _, err := p.Wait(e.ctx, "sixty-a"); err != nil {
		t.Fatal(err)
	}
	// Failed is final: paying it again returns the failure, nothing sent.
	if _, err := p.Pay(e.ctx, e.intent("too-much", payee, units(t, "100.000001", 6))); procurebot.ErrorCode(err) != procurebot.EINVALID {
		t.Fatalf("Pay of a failed intent: %v", err)
	}
	if evs := e.transfersTo(payee); len(evs) != 1 {
		t.Fatalf("%d transfers", len(evs))
	}
}

func TestInsufficientGas(t *testing.T) {
	e := newEnv(t, 6, units(t, "100", 6))
	// A second account holding tokens but no ether.
	poor, err := newKeystoreAccount(t, e)
	if err != nil {
		t.Fatal(err)
	}
	auth := bind.NewKeyedTransactor(e.key, big.NewInt(1337))
	if _, err := bind.Transact(e.tok.Instance(e.client, e.token), auth, e.tok.PackTransfer(poor.Address(), big.NewInt(50))); err != nil {
		t.Fatal(err)
	}
	e.backend.Commit()
	e.mine()
	p, err := wallet.NewPayer(e.ctx, e.client, e.store, poor)
	if err != nil {
		t.Fatal(err)
	}
	in := e.intent("no-gas", newAddr(t), big.NewInt(10))
	out, err := p.Pay(e.ctx, in)
	if procurebot.ErrorCode(err) != procurebot.EINVALID || !errors.Is(err, wallet.ErrInsufficientGas) {
		t.Fatalf("Pay: %v", err)
	}
	for _, want := range []string{"no-gas", poor.Address().Hex(), e.token.Hex(), "holds 0 wei"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if out.State != procurebot.IntentFailed || len(out.TxHashes) != 0 {
		t.Fatalf("intent: %+v", out)
	}
	if n, _ := e.client.PendingNonceAt(e.ctx, poor.Address()); n != 0 {
		t.Fatalf("the poor account sent %d transactions", n)
	}
}

// TestRevertedTransfer: the account's tokens are spent by another
// transaction between the checks and the mining, so the transfer reverts.
func TestRevertedTransfer(t *testing.T) {
	e := newEnv(t, 6, units(t, "100", 6))
	p := e.payer()
	payee := newAddr(t)
	// Pending (not yet mined) drain of the whole balance, signed outside the payer.
	auth := bind.NewKeyedTransactor(e.key, big.NewInt(1337))
	if _, err := bind.Transact(e.tok.Instance(e.client, e.token), auth, e.tok.PackTransfer(newAddr(t), units(t, "100", 6))); err != nil {
		t.Fatal(err)
	}
	type result struct {
		in  *procurebot.PaymentIntent
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := p.Pay(e.ctx, e.intent("rev", payee, units(t, "10", 6)))
		done <- result{out, err}
	}()
	sent := e.waitState("rev", procurebot.IntentSent)
	e.backend.Commit()
	r := <-done
	if !errors.Is(r.err, wallet.ErrReverted) || procurebot.ErrorCode(r.err) != procurebot.EINVALID {
		t.Fatalf("Pay: %v", r.err)
	}
	// A mined, reverted transfer spends the nonce: the intent ends Failed,
	// naming the reverted transaction.
	wantState := procurebot.IntentFailed
	if r.in.State != wantState || r.in.Mined != sent.TxHashes[0] || !strings.Contains(r.in.Error, "reverted") {
		t.Fatalf("intent: %+v", r.in)
	}
	if e.balance(payee).Sign() != 0 {
		t.Fatal("the payee was paid")
	}
	// Reconcile reports it and sends nothing new.
	nonce := e.pendingNonce()
	rep, err := e.payer().Reconcile(e.ctx)
	if err != nil || len(rep.InFlight) != 0 {
		t.Fatalf("Reconcile: %+v %v", rep, err)
	}
	e.backend.Commit()
	if n := e.pendingNonce(); n != nonce {
		t.Fatalf("Reconcile sent something: nonce %d → %d", nonce, n)
	}
	if got := e.get("rev"); got.State != wantState || len(got.TxHashes) != 1 {
		t.Fatalf("after Reconcile: %+v", got)
	}
}

// TestNonceConflict: the intent's nonce is used by a transaction signed
// elsewhere with the same key; Reconcile reports ECONFLICT and leaves it.
func TestNonceConflict(t *testing.T) {
	e := newEnv(t, 6, units(t, "100", 6))
	if _, err := e.payer(wallet.WithStepHook(func(s wallet.Step, _ *procurebot.PaymentIntent) error {
		if s == wallet.StepSigned {
			return errCrash
		}
		return nil
	})).Pay(e.ctx, e.intent("clash", newAddr(t), big.NewInt(1))); !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	signed := e.get("clash")
	auth := bind.NewKeyedTransactor(e.key, big.NewInt(1337))
	auth.Nonce = new(big.Int).SetUint64(signed.Nonce)
	if _, err := bind.Transact(e.tok.Instance(e.client, e.token), auth, e.tok.PackTransfer(newAddr(t), big.NewInt(2))); err != nil {
		t.Fatal(err)
	}
	e.backend.Commit()
	rep, err := e.payer().Reconcile(e.ctx)
	if procurebot.ErrorCode(err) != procurebot.ECONFLICT || !errors.Is(err, wallet.ErrNonceConflict) || len(rep.Conflicts) != 1 {
		t.Fatalf("Reconcile: %+v %v", rep, err)
	}
	if !strings.Contains(err.Error(), "clash") || !strings.Contains(err.Error(), e.from.Hex()) {
		t.Fatalf("error does not name the intent and account: %v", err)
	}
	if got := e.get("clash"); got.State != procurebot.IntentSigned || len(got.TxHashes) != 1 || !strings.Contains(got.Error, "another signer") {
		t.Fatalf("intent changed: %+v", got)
	}
}

func TestPayInvalidIntent(t *testing.T) {
	e := newEnv(t, 6, units(t, "100", 6))
	p := e.payer()
	for name, in := range map[string]*procurebot.PaymentIntent{
		"no id":       {Token: e.token.Hex(), To: newAddr(t).Hex(), Amount: big.NewInt(1)},
		"zero amount": {ID: "z", Token: e.token.Hex(), To: newAddr(t).Hex(), Amount: big.NewInt(0)},
		"bad payee":   {ID: "p", Token: e.token.Hex(), To: "0x123", Amount: big.NewInt(1)},
		"zero payee":  {ID: "q", Token: e.token.Hex(), To: common.Address{}.Hex(), Amount: big.NewInt(1)},
		"other from":  {ID: "f", Token: e.token.Hex(), To: newAddr(t).Hex(), From: newAddr(t).Hex(), Amount: big.NewInt(1)},
		"other chain": {ID: "c", Chain: 1, Token: e.token.Hex(), To: newAddr(t).Hex(), Amount: big.NewInt(1)},
	} {
		if _, err := p.Pay(e.ctx, in); procurebot.ErrorCode(err) != procurebot.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A token address with no contract: Failed, nothing signed.
	e.mine()
	in := e.intent("no-token", newAddr(t), big.NewInt(1))
	in.Token = newAddr(t).Hex()
	out, err := p.Pay(e.ctx, in)
	if procurebot.ErrorCode(err) != procurebot.EINVALID || out.State != procurebot.IntentFailed {
		t.Fatalf("no token contract: %+v %v", out, err)
	}
}

func (e *env) ethBalance(addr common.Address) *big.Int {
	b, err := e.client.BalanceAt(e.ctx, addr, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func newKeystoreAccount(t *testing.T, e *env) (*wallet.AccountSigner, error) {
	ks, err := wallet.OpenKeystore(e.ksDir, testPassword, wallet.LightScrypt())
	if err != nil {
		return nil, err
	}
	addr, err := ks.NewAccount()
	if err != nil {
		return nil, err
	}
	return ks.Signer(addr)
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// TestPayRecordsLedger: with WithLedger, a confirmed payment has exactly one
// ledger payment entry naming its mined transaction, whatever is paid or
// reconciled again; the entry is written before the intent is Confirmed,
// so a crash in between leaves a Sent intent that Reconcile confirms
// without a second entry.
func TestPayRecordsLedger(t *testing.T) {
	e := newEnv(t, 6, units(t, "1000", 6))
	e.mine()
	payee := newAddr(t)
	in := e.intent("led", payee, units(t, "2.5", 6))
	in.AmountUSD = decimal.RequireFromString("2.5")
	in.Venue = "runpod"
	out, err := e.payer(wallet.WithLedger(e.store)).Pay(e.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	// Pay again and reconcile: still one entry.
	if _, err := e.payer(wallet.WithLedger(e.store)).Pay(e.ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := e.payer(wallet.WithLedger(e.store)).Reconcile(e.ctx); err != nil {
		t.Fatal(err)
	}
	entries, err := e.store.List(e.ctx, procurebot.LedgerFilter{Kinds: []procurebot.EntryKind{procurebot.KindPayment}})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].IntentID != "led" || entries[0].TxHash != out.Mined ||
		!entries[0].AmountUSD.Equal(in.AmountUSD) || entries[0].Venue != "runpod" {
		t.Fatalf("ledger: %+v (mined %s)", entries, out.Mined)
	}

	// The entry is written before the intent becomes Confirmed: with a
	// ledger that fails, the transfer lands but the intent stays unconfirmed.
	in2 := e.intent("led-2", payee, units(t, "1", 6))
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second) // Pay retries an unavailable ledger until ctx ends
	_, err = e.payer(wallet.WithLedger(failingLedger{})).Pay(ctx, in2)
	cancel()
	if err == nil {
		t.Fatal("Pay with a failing ledger: no error")
	}
	got, err := e.store.GetIntent(e.ctx, "led-2")
	if err != nil {
		t.Fatal(err)
	}
	if got.State == procurebot.IntentConfirmed {
		t.Fatalf("confirmed without a ledger entry: %+v", got)
	}
	// A working ledger finishes it: one entry, Confirmed.
	if _, err := e.payer(wallet.WithLedger(e.store)).Pay(e.ctx, in2); err != nil {
		t.Fatal(err)
	}
	entries, err = e.store.List(e.ctx, procurebot.LedgerFilter{Kinds: []procurebot.EntryKind{procurebot.KindPayment}})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[1].IntentID != "led-2" {
		t.Fatalf("ledger after the retry: %+v", entries)
	}
	if n := len(e.transfersTo(payee)); n != 2 {
		t.Fatalf("%d transfers to the payee, want 2", n)
	}
}

// failingLedger refuses every append, as an unreachable store would.
type failingLedger struct{}

func (failingLedger) Append(context.Context, *procurebot.LedgerEntry) error {
	return procurebot.Errorf(procurebot.EUNAVAILABLE, "ledger down")
}

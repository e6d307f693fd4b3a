package wallet_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/rs/zerolog"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/wallet"
)

// TestNoSecretsInLogsOrErrors runs whole payments — success, crash and
// reconcile, bump, insufficient balance, revert, nonce conflict, outage,
// timeout, bad keys and passwords — capturing every zerolog line (trace
// level) and every error (as %v, %+v and %#v), and checks that neither the
// private key (hex, with or without 0x, any case, nor any 12-digit piece
// of it) nor the password appears anywhere.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	e := newEnv(t, 6, units(t, "100", 6))
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	keyHex := hex.EncodeToString(crypto.FromECDSA(e.key))

	// Password from a file, keystore operations, bad input.
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(wallet.PasswordEnv, testPassword)
	t.Setenv(wallet.PasswordFileEnv, pwFile)
	_, err := wallet.PasswordFromEnv() // both set: an error
	note(err)
	ks, err := wallet.OpenKeystore(e.ksDir, testPassword, wallet.LightScrypt())
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{keyHex, "0x" + keyHex, strings.ToUpper(keyHex), keyHex[:63] + "g", "0x" + keyHex[:40], keyHex + "00"} {
		_, err := ks.ImportHex(bad)
		note(err)
	}
	wrong, _ := wallet.OpenKeystore(e.ksDir, testPassword+"-wrong")
	_, err = wrong.Signer(e.from)
	note(err)
	_, err = wallet.OpenKeystore(e.ksDir, "")
	note(err)
	signer, err := ks.Signer(e.from)
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(e.logs).Level(zerolog.TraceLevel)
	log.Info().Str("keystore", fmt.Sprint(ks)).Interface("keystore_obj", ks).Interface("signer", signer).Msg("keystore opened")

	// A payment, a crashed one reconciled, a bumped one, failures.
	e.mine()
	p := e.payer()
	payee := newAddr(t)
	_, err = p.Pay(e.ctx, e.intent("ok", payee, big.NewInt(10)))
	note(err)
	_, err = e.payer(wallet.WithStepHook(func(s wallet.Step, _ *procurebot.PaymentIntent) error {
		if s == wallet.StepSigned {
			return errCrash
		}
		return nil
	})).Pay(e.ctx, e.intent("crash", payee, big.NewInt(11)))
	note(err)
	_, err = p.Reconcile(e.ctx)
	note(err)
	_, err = p.Wait(e.ctx, "crash")
	note(err)
	_, err = p.Pay(e.ctx, e.intent("too-much", payee, units(t, "1000", 6)))
	note(err)
	_, err = p.Pay(e.ctx, e.intent("ok", payee, big.NewInt(99))) // same ID, other amount
	note(err)
	_, err = p.Bump(e.ctx, "too-much")
	note(err)
	e.stopMining()
	go func() { _, _ = p.Pay(e.ctx, e.intent("stuck", payee, big.NewInt(12))) }()
	e.waitState("stuck", procurebot.IntentSent)
	_, err = p.Bump(e.ctx, "stuck")
	note(err)
	ctx, cancel := context.WithTimeout(e.ctx, 50*time.Millisecond)
	_, err = p.Pay(ctx, e.intent("timeout", payee, big.NewInt(13)))
	cancel()
	note(err)
	e.mine()
	_, err = p.Wait(e.ctx, "stuck")
	note(err)
	_, err = p.Wait(e.ctx, "timeout")
	note(err)

	// An outage at broadcast, then Reconcile once the node is back.
	fp, fc := e.flakyPayer()
	fc.set("SendTransaction", true)
	_, err = fp.Pay(e.ctx, e.intent("outage", payee, big.NewInt(1)))
	note(err)
	fc.set("SendTransaction", false)
	_, err = fp.Reconcile(e.ctx)
	note(err)
	_, err = fp.Wait(e.ctx, "outage")
	note(err)

	// A nonce conflict: the intent's nonce used by a transaction signed
	// elsewhere with the same key.
	e.stopMining()
	_, err = e.payer(wallet.WithStepHook(func(s wallet.Step, _ *procurebot.PaymentIntent) error {
		if s == wallet.StepSigned {
			return errCrash
		}
		return nil
	})).Pay(e.ctx, e.intent("clash", payee, big.NewInt(1)))
	note(err)
	auth := bind.NewKeyedTransactor(e.key, big.NewInt(1337))
	auth.Nonce = new(big.Int).SetUint64(e.get("clash").Nonce)
	if _, err := bind.Transact(e.tok.Instance(e.client, e.token), auth, e.tok.PackTransfer(newAddr(t), big.NewInt(1))); err != nil {
		t.Fatal(err)
	}
	e.backend.Commit()
	_, err = p.Reconcile(e.ctx)
	note(err)
	_, err = p.Bump(e.ctx, "clash")
	note(err)

	// A reverted transfer: the balance is drained by another transaction
	// mined first.
	auth.Nonce = nil
	rest := e.balance(e.from)
	if _, err := bind.Transact(e.tok.Instance(e.client, e.token), auth, e.tok.PackTransfer(newAddr(t), rest)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := p.Pay(e.ctx, e.intent("revert", payee, big.NewInt(1))); done <- err }()
	e.waitState("revert", procurebot.IntentSent)
	e.backend.Commit()
	note(<-done)
	_, err = p.Pay(e.ctx, e.intent("broke", payee, big.NewInt(1)))
	note(err)

	if len(errs) < 15 {
		t.Fatalf("only %d errors collected: the run did not go through its failures", len(errs))
	}
	var all strings.Builder
	all.WriteString(e.logs.String())
	for _, err := range errs {
		fmt.Fprintf(&all, "%v\n%+v\n%#v\n", err, err, err)
		for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
			fmt.Fprintf(&all, "%v\n", u)
		}
	}
	out := strings.ToLower(all.String())
	for _, want := range []string{"transfer confirmed", "transfer reverted", "replaced with higher fees", "connection refused",
		"insufficient token balance", "nonce used by a transaction not recorded", "wrong password", "stopped after step"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the run did not go through %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, strings.ToLower(testPassword)) {
		t.Fatalf("the password appears in the output")
	}
	for i := 0; i+12 <= len(keyHex); i++ {
		if strings.Contains(out, keyHex[i:i+12]) {
			t.Fatalf("a piece of the private key (digits %d–%d) appears in the output", i, i+12)
		}
	}
	t.Logf("%d log lines and %d errors checked", strings.Count(e.logs.String(), "\n"), len(errs))
}

package main

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/store/bolt"
	"github.com/procurebot/procurebot/wallet"
	"github.com/procurebot/procurebot/wallet/gethtest"
)

const walletTestPassword = "pw-9f1c horse battery staple"

// secretCLI runs the command line and fails the test if stdout or stderr
// of any run contains one of its secrets (the password, private keys as
// hex).
type secretCLI struct {
	t       *testing.T
	secrets []string
	outputs []string // of every run, checked again at the end against keys learnt later
}

func newSecretCLI(t *testing.T) *secretCLI {
	s := &secretCLI{t: t, secrets: []string{walletTestPassword}}
	t.Cleanup(func() {
		for _, o := range s.outputs {
			for _, sec := range s.secrets {
				if strings.Contains(o, sec) {
					t.Errorf("an output contains a secret (password or private key):\n%s", o)
				}
			}
		}
	})
	return s
}

func (s *secretCLI) addKey(k *ecdsa.PrivateKey) {
	h := hex.EncodeToString(crypto.FromECDSA(k))
	s.secrets = append(s.secrets, h, strings.ToUpper(h))
}

func (s *secretCLI) run(args ...string) (int, string, string) {
	s.t.Helper()
	code, out, errs := runCLI(s.t, args...)
	s.outputs = append(s.outputs, out+errs)
	for _, sec := range s.secrets {
		if strings.Contains(out, sec) || strings.Contains(errs, sec) {
			s.t.Errorf("%v: output contains a secret (password or private key)", args)
		}
	}
	return code, out, errs
}

// walletEnv sets the password variable and light scrypt for the test.
func walletEnv(t *testing.T) {
	t.Setenv(wallet.PasswordEnv, walletTestPassword)
	t.Setenv(wallet.PasswordFileEnv, "")
	os.Unsetenv(wallet.PasswordFileEnv)
	t.Setenv(lightScryptEnv, "1")
}

func unsetEnv(t *testing.T, k string) {
	t.Setenv(k, "")
	os.Unsetenv(k)
}

// keysIn decrypts every key file of a keystore directory.
func keysIn(t *testing.T, dir string) map[common.Address]*ecdsa.PrivateKey {
	t.Helper()
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[common.Address]*ecdsa.PrivateKey{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		k, err := keystore.DecryptKey(b, walletTestPassword)
		if err != nil {
			t.Fatalf("%s: %v", f.Name(), err)
		}
		out[k.Address] = k.PrivateKey
	}
	return out
}

func wantUsage(t *testing.T, code int, errs string, want ...string) {
	t.Helper()
	if code != exitInvalid {
		t.Errorf("exit %d, want 2; stderr: %s", code, errs)
	}
	for _, w := range want {
		if !strings.Contains(errs, w) {
			t.Errorf("stderr %q does not name %q", errs, w)
		}
	}
}

func TestWalletNewAndAddress(t *testing.T) {
	walletEnv(t)
	cli := newSecretCLI(t)
	data := t.TempDir()

	code, out, errs := cli.run("wallet", "new", "--data-dir", data)
	if code != 0 {
		t.Fatalf("new: exit %d: %s", code, errs)
	}
	a1 := strings.TrimSpace(out)
	if !common.IsHexAddress(a1) || strings.Count(out, "\n") != 1 {
		t.Fatalf("new printed %q, want one address", out)
	}
	if !strings.Contains(errs, "light scrypt") {
		t.Errorf("no light-scrypt warning on stderr: %q", errs)
	}
	code, out, errs = cli.run("wallet", "address", "--data-dir", data)
	if code != 0 || strings.TrimSpace(out) != a1 {
		t.Fatalf("address: exit %d, %q (stderr %s); want %s", code, out, errs, a1)
	}

	// A second account; address lists both, as JSON too.
	code, out, errs = cli.run("wallet", "new", "--data-dir", data)
	if code != 0 {
		t.Fatalf("second new: exit %d: %s", code, errs)
	}
	a2 := strings.TrimSpace(out)
	code, out, _ = cli.run("wallet", "address", "--data-dir", data, "--json")
	var got struct{ Accounts []string }
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil {
		t.Fatalf("address --json: exit %d, %v: %q", code, err, out)
	}
	if len(got.Accounts) != 2 || !(got.Accounts[0] == a1 && got.Accounts[1] == a2 || got.Accounts[0] == a2 && got.Accounts[1] == a1) {
		t.Errorf("accounts %v, want %s and %s", got.Accounts, a1, a2)
	}

	// The keys on disk are the accounts', and no run printed them.
	keys := keysIn(t, filepath.Join(data, "keystore"))
	for _, a := range []string{a1, a2} {
		k, ok := keys[common.HexToAddress(a)]
		if !ok {
			t.Fatalf("no key file for %s", a)
		}
		cli.addKey(k)
	}

	// The password from a file (trailing newline ignored), --keystore given.
	pwFile := writeFile(t, t.TempDir(), "pw", walletTestPassword+"\n")
	unsetEnv(t, wallet.PasswordEnv)
	t.Setenv(wallet.PasswordFileEnv, pwFile)
	code, out, errs = cli.run("wallet", "new", "--keystore", filepath.Join(data, "keystore"))
	if code != 0 || !common.IsHexAddress(strings.TrimSpace(out)) {
		t.Fatalf("new with password file: exit %d, %q: %s", code, out, errs)
	}
	for _, k := range keysIn(t, filepath.Join(data, "keystore")) {
		cli.addKey(k)
	}

	// A wrong password does not add a second password to the keystore.
	unsetEnv(t, wallet.PasswordFileEnv)
	t.Setenv(wallet.PasswordEnv, "wrong-pass-93ab")
	code, _, errs = cli.run("wallet", "new", "--data-dir", data)
	wantUsage(t, code, errs, "wrong password", wallet.PasswordEnv)
	if strings.Contains(errs, "wrong-pass-93ab") {
		t.Errorf("stderr repeats the wrong password: %q", errs)
	}

	// No password at all.
	unsetEnv(t, wallet.PasswordEnv)
	code, _, errs = cli.run("wallet", "new", "--data-dir", data)
	wantUsage(t, code, errs, wallet.PasswordEnv, wallet.PasswordFileEnv)

	// address needs no password; a missing keystore names --keystore.
	code, out, _ = cli.run("wallet", "address", "--data-dir", data)
	if code != 0 || strings.Count(out, "\n") != 3 {
		t.Errorf("address without password: exit %d, %q", code, out)
	}
	code, _, errs = cli.run("wallet", "address", "--data-dir", t.TempDir())
	wantUsage(t, code, errs, "--keystore", "no keystore")

	// Mistyped subcommands and stray arguments are refused and not echoed.
	code, _, errs = cli.run("wallet", "adress-typo")
	wantUsage(t, code, errs, "unknown subcommand")
	if strings.Contains(errs, "adress-typo") {
		t.Errorf("stderr repeats the argument: %q", errs)
	}
}

func TestWalletImport(t *testing.T) {
	walletEnv(t)
	cli := newSecretCLI(t)
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cli.addKey(key)
	want := crypto.PubkeyToAddress(key.PublicKey).Hex()
	keyHex := hex.EncodeToString(crypto.FromECDSA(key))
	data := t.TempDir()
	kf := writeFile(t, t.TempDir(), "key.hex", "0x"+keyHex+"\n")

	code, out, errs := cli.run("wallet", "import", "--data-dir", data, "--key-file", kf)
	if code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("import: exit %d, %q (stderr %s); want %s", code, out, errs, want)
	}
	keys := keysIn(t, filepath.Join(data, "keystore"))
	if k := keys[common.HexToAddress(want)]; k == nil || !k.Equal(key) {
		t.Fatal("the keystore does not hold the imported key")
	}
	// Again: the same address, nothing new.
	code, out, errs = cli.run("wallet", "import", "--data-dir", data, "--key-file", kf)
	if code != 0 || strings.TrimSpace(out) != want || !strings.Contains(errs, "already") {
		t.Errorf("import again: exit %d, %q, stderr %q", code, out, errs)
	}
	if n := len(keysIn(t, filepath.Join(data, "keystore"))); n != 1 {
		t.Errorf("%d key files after importing one key twice", n)
	}
	code, out, _ = cli.run("wallet", "address", "--data-dir", data)
	if code != 0 || strings.TrimSpace(out) != want {
		t.Errorf("address: exit %d, %q", code, out)
	}

	// The key never comes from the command line, and is not echoed when
	// someone tries.
	code, _, errs = cli.run("wallet", "import", "--data-dir", data, keyHex)
	wantUsage(t, code, errs, "no arguments")
	code, _, errs = cli.run("wallet", "import", "--data-dir", data, "--key="+keyHex)
	wantUsage(t, code, errs, "--key")

	code, _, errs = cli.run("wallet", "import", "--data-dir", data)
	wantUsage(t, code, errs, "--key-file")
	code, _, errs = cli.run("wallet", "import", "--data-dir", data, "--key-file", filepath.Join(data, "nope"))
	wantUsage(t, code, errs, "--key-file")
	bad := writeFile(t, t.TempDir(), "bad.hex", keyHex[:60]+"zz\n")
	code, _, errs = cli.run("wallet", "import", "--data-dir", data, "--key-file", bad)
	wantUsage(t, code, errs, "--key-file", "64 hex digits")
	if strings.Contains(errs, keyHex[:60]) {
		t.Errorf("stderr repeats the malformed key: %q", errs)
	}
}

// tokenBalance is balanceOf(acc) of the token tok on the node.
func tokenBalance(t *testing.T, n *gethtest.Node, tok, acc common.Address) *big.Int {
	t.Helper()
	b, err := n.TokenBalance(context.Background(), tok, acc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// transfers counts the token's Transfer events from one account to another.
func transfers(t *testing.T, n *gethtest.Node, tok, from, to common.Address) int {
	t.Helper()
	evs, err := n.Transfers(context.Background(), tok, &from)
	if err != nil {
		t.Fatal(err)
	}
	c := 0
	for _, ev := range evs {
		if ev.To == to {
			c++
		}
	}
	return c
}

// TestWalletBalanceSendReconcile drives balance, send and reconcile
// against a real geth --dev (wallet/gethtest) over JSON-RPC on loopback.
func TestWalletBalanceSendReconcile(t *testing.T) {
	walletEnv(t)
	cli := newSecretCLI(t)
	ctx := context.Background()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cli.addKey(key)
	from := crypto.PubkeyToAddress(key.PublicKey)
	chain := gethtest.Start(t)
	if err := chain.Fund(ctx, from, new(big.Int).Mul(big.NewInt(100), big.NewInt(1e18))); err != nil {
		t.Fatal(err)
	}
	// The bundled token, 6 decimals like USDC, 1000 tokens to the account.
	tokAddr, err := chain.DeployToken(ctx, "Test Dollar", "TUSD", 6, big.NewInt(1000_000_000), from)
	if err != nil {
		t.Fatal(err)
	}
	tok := tokAddr.Hex()

	data := t.TempDir()
	kf := writeFile(t, t.TempDir(), "key.hex", hex.EncodeToString(crypto.FromECDSA(key)))
	if code, out, errs := cli.run("wallet", "import", "--data-dir", data, "--key-file", kf); code != 0 || strings.TrimSpace(out) != from.Hex() {
		t.Fatalf("import: exit %d, %q: %s", code, out, errs)
	}

	// balance needs no password.
	unsetEnv(t, wallet.PasswordEnv)
	code, out, errs := cli.run("wallet", "balance", "--data-dir", data, "--rpc", chain.URL, "--token", tok, "--json")
	if code != 0 {
		t.Fatalf("balance: exit %d: %s", code, errs)
	}
	var bal map[string]any
	if err := json.Unmarshal([]byte(out), &bal); err != nil {
		t.Fatalf("balance --json: %v: %q", err, out)
	}
	wei, err := chain.Client.BalanceAt(ctx, from, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bal["account"] != from.Hex() || bal["chain_id"] != 1337.0 || bal["wei"] != wei.String() ||
		bal["eth"] != wallet.FromBaseUnits(wei, 18).String() || bal["token"] != tok || bal["token_symbol"] != "TUSD" ||
		bal["token_decimals"] != 6.0 || bal["token_balance"] != "1000" || bal["token_base_units"] != "1000000000" {
		t.Errorf("balance = %v (wei %s)", bal, wei)
	}
	if bal["eth"] != "100" {
		t.Errorf("eth = %v, want 100", bal["eth"])
	}
	code, out, _ = cli.run("wallet", "balance", "--data-dir", data, "--rpc", chain.URL, "--token", tok, "--decimals", "2")
	if code != 0 || !strings.Contains(out, "token_balance  10000000\n") || !strings.Contains(out, "(TUSD), 2 decimals") {
		t.Errorf("balance --decimals 2: exit %d:\n%s", code, out)
	}
	t.Setenv(wallet.PasswordEnv, walletTestPassword)

	payee := common.HexToAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
	send := func(extra ...string) (int, string, string) {
		args := append([]string{"wallet", "send", "--data-dir", data, "--rpc", chain.URL, "--token", tok,
			"--to", payee.Hex(), "--poll", "20ms", "--timeout", "60s"}, extra...)
		return cli.run(args...)
	}
	began := time.Now()
	code, first, errs := send("--amount", "12.34", "--id", "pay-1", "--venue", "runpod", "--json")
	if code != 0 {
		t.Fatalf("send: exit %d: %s", code, errs)
	}
	t.Logf("send confirmed in %v", time.Since(began).Round(time.Millisecond))
	var in map[string]any
	if err := json.Unmarshal([]byte(first), &in); err != nil {
		t.Fatalf("send --json: %v: %q", err, first)
	}
	hash, _ := in["tx_hash"].(string)
	if in["id"] != "pay-1" || in["state"] != "confirmed" || len(hash) != 66 || in["nonce"] != 0.0 ||
		in["amount"] != "12.34" || in["amount_base_units"] != "12340000" || in["venue"] != "runpod" ||
		in["from"] != from.Hex() || in["to"] != payee.Hex() || in["token"] != tok || in["chain_id"] != 1337.0 {
		t.Errorf("send printed %v", in)
	}
	if !strings.Contains(errs, "transfer confirmed") {
		t.Errorf("no log line on stderr: %q", errs)
	}

	// The same command again pays nothing and prints the same.
	code, again, errs := send("--amount", "12.34", "--id", "pay-1", "--venue", "runpod", "--json")
	if code != 0 || again != first {
		t.Errorf("send again: exit %d (stderr %s)\n%s\nwant\n%s", code, errs, again, first)
	}
	code, text, _ := send("--amount", "12.34", "--id", "pay-1", "--quiet")
	if code != 0 || !strings.Contains(text, "\nstate     confirmed\n") || !strings.Contains(text, hash) {
		t.Errorf("send as text: exit %d:\n%s", code, text)
	}
	if got := tokenBalance(t, chain, tokAddr, payee); got.Cmp(big.NewInt(12_340_000)) != 0 {
		t.Errorf("payee holds %s base units, want 12340000", got)
	}
	if n := transfers(t, chain, tokAddr, from, payee); n != 1 {
		t.Errorf("%d transfers to the payee, want 1", n)
	}
	code, out, _ = cli.run("wallet", "balance", "--rpc", chain.URL, "--token", tok, "--account", payee.Hex(), "--json")
	if code != 0 || !strings.Contains(out, `"token_balance":"12.34"`) {
		t.Errorf("payee balance: exit %d: %s", code, out)
	}

	// One payment entry in the ledger.
	code, out, errs = runCLI(t, "ledger", "--data-dir", data, "--json")
	var led struct{ Entries []map[string]any }
	if err := json.Unmarshal([]byte(out), &led); code != 0 || err != nil {
		t.Fatalf("ledger: exit %d, %v: %s", code, err, errs)
	}
	if len(led.Entries) != 1 || led.Entries[0]["kind"] != "payment" || led.Entries[0]["intent_id"] != "pay-1" ||
		led.Entries[0]["tx_hash"] != hash || led.Entries[0]["amount_usd"] != "12.34" || led.Entries[0]["venue"] != "runpod" {
		t.Errorf("ledger = %v", led.Entries)
	}

	// Bad input: exit 2 naming the flag or variable, nothing sent.
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--amount", "13", "--id", "pay-1"}, []string{"--id pay-1", "already used"}},
		{[]string{"--amount", "0.0000001", "--id", "pay-2"}, []string{"--amount", "decimals", "6"}},
		{[]string{"--amount", "1.234", "--decimals", "2", "--id", "pay-2"}, []string{"--amount", "--decimals 2"}},
		{[]string{"--amount", "-1", "--id", "pay-2"}, []string{"--amount", "positive"}},
		{[]string{"--amount", "twelve", "--id", "pay-2"}, []string{"--amount"}},
		{[]string{"--amount", "1"}, []string{"--id"}},
		{[]string{"--amount", "1", "--id", "pay-2", "--to", "0x1234"}, []string{"--to", "not an address"}},
		{[]string{"--amount", "1", "--id", "pay-2", "--to", "0x70997970c51812dc3A010C7d01b50e0d17dc79C8"}, []string{"--to", "checksum"}},
		{[]string{"--amount", "1", "--id", "pay-2", "--to", "0x0000000000000000000000000000000000000000"}, []string{"--to", "zero"}},
		{[]string{"--amount", "1", "--id", "pay-2", "--confirmations", "0"}, []string{"--confirmations"}},
		{[]string{"--amount", "1", "--id", "pay-2", "--account", payee.Hex()}, []string{"--account", "not in the keystore"}},
	} {
		code, _, errs := send(c.args...)
		wantUsage(t, code, errs, c.want...)
	}
	code, _, errs = cli.run("wallet", "send", "--data-dir", data, "--rpc", chain.URL, "--token", "0xnope", "--to", payee.Hex(), "--amount", "1", "--id", "x")
	wantUsage(t, code, errs, "--token")
	code, _, errs = cli.run("wallet", "send", "--data-dir", data, "--rpc", chain.URL, "--token", payee.Hex(), "--to", payee.Hex(), "--amount", "1", "--id", "x")
	wantUsage(t, code, errs, "--token", "decimals()")
	code, _, errs = cli.run("wallet", "send", "--data-dir", data, "--rpc", "ftp://x", "--token", tok, "--to", payee.Hex(), "--amount", "1", "--id", "x")
	wantUsage(t, code, errs, "--rpc")
	unsetEnv(t, wallet.PasswordEnv)
	code, _, errs = send("--amount", "1", "--id", "pay-2")
	wantUsage(t, code, errs, wallet.PasswordEnv)
	t.Setenv(wallet.PasswordEnv, "wrong-pass-93ab")
	code, _, errs = send("--amount", "1", "--id", "pay-2")
	wantUsage(t, code, errs, "wrong password", wallet.PasswordEnv)
	t.Setenv(wallet.PasswordEnv, walletTestPassword)

	// More than the account holds: failed, nothing signed, exit 2.
	code, out, errs = send("--amount", "5000", "--id", "pay-big", "--json")
	wantUsage(t, code, errs, "insufficient token balance")
	if !strings.Contains(out, `"state":"failed"`) || !strings.Contains(out, `"nonce":null`) {
		t.Errorf("failed send printed %s", out)
	}

	// The node unreachable: exit 1, saying so; the URL's path (often an
	// API key) is not printed.
	code, _, errs = send("--amount", "1", "--id", "pay-3")
	if code != 0 {
		t.Fatalf("send pay-3: exit %d: %s", code, errs)
	}
	for _, args := range [][]string{
		{"wallet", "send", "--data-dir", data, "--rpc", "http://127.0.0.1:1/v3/secret-api-key", "--token", tok, "--to", payee.Hex(), "--amount", "1", "--id", "pay-4"},
		{"wallet", "balance", "--data-dir", data, "--rpc", "http://127.0.0.1:1/v3/secret-api-key"},
		{"wallet", "reconcile", "--data-dir", data, "--rpc", "http://127.0.0.1:1/v3/secret-api-key"},
	} {
		code, _, errs := cli.run(args...)
		if code != exitInternal || !strings.Contains(errs, "cannot reach the node (unavailable)") || strings.Contains(errs, "secret-api-key") {
			t.Errorf("%v: exit %d, stderr %q; want 1, unavailable, no API key", args[1], code, errs)
		}
	}

	// An intent left pending by a crash is finished by reconcile.
	st, err := bolt.Open(filepath.Join(data, bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, _, err := st.CreateIntent(ctx, &procurebot.PaymentIntent{ID: "pay-crashed", CreatedAt: now, UpdatedAt: now,
		State: procurebot.IntentPending, Chain: gethtest.ChainID, Token: tok, From: from.Hex(), To: payee.Hex(),
		Amount: big.NewInt(500_000), AmountUSD: procurebot.NewMoneyFrac(1, 2), Venue: "vast"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out, errs = cli.run("wallet", "reconcile", "--data-dir", data, "--rpc", chain.URL, "--json", "--quiet")
		if code != 0 {
			t.Fatalf("reconcile: exit %d: %s", code, errs)
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("reconcile --json: %v: %q", err, out)
		}
		if rep["checked"] == 0.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pay-crashed not confirmed: %v", rep)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := tokenBalance(t, chain, tokAddr, payee); got.Cmp(big.NewInt(12_340_000+1_000_000+500_000)) != 0 {
		t.Errorf("payee holds %s base units, want 13840000", got)
	}
	code, out, _ = cli.run("wallet", "reconcile", "--data-dir", data, "--rpc", chain.URL)
	if code != 0 || !strings.Contains(out, "checked    0") || !strings.Contains(out, "confirmed  -") {
		t.Errorf("reconcile as text: exit %d:\n%s", code, out)
	}
	code, out, _ = runCLI(t, "ledger", "--data-dir", data, "--kind", "payment", "--json")
	if err := json.Unmarshal([]byte(out), &led); code != 0 || err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, e := range led.Entries {
		ids[e["intent_id"].(string)]++
	}
	if len(led.Entries) != 3 || ids["pay-1"] != 1 || ids["pay-3"] != 1 || ids["pay-crashed"] != 1 {
		t.Errorf("payment entries %v, want pay-1, pay-3, pay-crashed once each", ids)
	}
	if n := transfers(t, chain, tokAddr, from, payee); n != 3 {
		t.Errorf("%d transfers to the payee, want 3", n)
	}
}

package wallet_test

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/wallet"
)

func TestPasswordFromEnv(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	crlf := filepath.Join(dir, "crlf")
	if err := os.WriteFile(crlf, []byte("windows\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unset := "\x00unset"
	for _, c := range []struct {
		name, env, file, want string // want "" = an EINVALID error
	}{
		{"env", "s3cret", unset, "s3cret"},
		{"file", unset, file, "from a file"},
		{"file crlf", unset, crlf, "windows"},
		{"both", "s3cret", file, ""},
		{"neither", unset, unset, ""},
		{"empty env", "", unset, ""},
		{"empty file", unset, empty, ""},
		{"missing file", unset, filepath.Join(dir, "nope"), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			setenv(t, wallet.PasswordEnv, c.env, unset)
			setenv(t, wallet.PasswordFileEnv, c.file, unset)
			got, err := wallet.PasswordFromEnv()
			if c.want == "" {
				if procurebot.ErrorCode(err) != procurebot.EINVALID || !strings.Contains(err.Error(), "PROCUREBOT_WALLET_PASSWORD") {
					t.Fatalf("got %q, %v; want an EINVALID error naming the variable", got, err)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "from a file") {
					t.Fatalf("error shows the password: %v", err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// setenv sets (or, for the unset marker, unsets) an environment variable
// for the test.
func setenv(t *testing.T, k, v, unset string) {
	t.Setenv(k, "") // restores the old value after the test
	if v == unset {
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Setenv(k, v)
}

func TestKeystore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ks")
	ks, err := wallet.OpenKeystore(dir, testPassword, wallet.LightScrypt())
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("keystore dir: %v %v", st.Mode(), err)
	}
	addr, err := ks.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := crypto.GenerateKey()
	imported, err := ks.ImportHex("0x" + common.Bytes2Hex(crypto.FromECDSA(key)))
	if err != nil || imported != crypto.PubkeyToAddress(key.PublicKey) {
		t.Fatalf("ImportHex: %v %v", imported, err)
	}
	if _, err := ks.ImportKey(key); procurebot.ErrorCode(err) != procurebot.ECONFLICT {
		t.Fatalf("second import: %v", err)
	}
	if got := ks.Accounts(); len(got) != 2 {
		t.Fatalf("accounts: %v", got)
	}
	// The key files are encrypted: the key is not in them.
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(dir, f.Name()))
		var kf struct {
			Crypto struct {
				KDF string `json:"kdf"`
			} `json:"crypto"`
		}
		if err := json.Unmarshal(b, &kf); err != nil || kf.Crypto.KDF != "scrypt" {
			t.Fatalf("key file %s: kdf %q %v", f.Name(), kf.Crypto.KDF, err)
		}
		if strings.Contains(strings.ToLower(string(b)), common.Bytes2Hex(crypto.FromECDSA(key))) {
			t.Fatalf("key file %s holds the key in clear", f.Name())
		}
	}

	// Reopened with the standard parameters (existing files keep theirs),
	// the signer signs for the account.
	ks2, err := wallet.OpenKeystore(dir, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ks2.Signer(imported)
	if err != nil {
		t.Fatal(err)
	}
	chainID := big.NewInt(1337)
	tx, err := s.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Nonce: 1, Gas: 21000, GasFeeCap: big.NewInt(1), GasTipCap: big.NewInt(1), To: &addr, Value: big.NewInt(1)}), chainID)
	if err != nil {
		t.Fatal(err)
	}
	if from, err := types.Sender(types.LatestSignerForChainID(chainID), tx); err != nil || from != imported {
		t.Fatalf("signed by %v %v", from, err)
	}
	if err := ks2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignTx(tx, chainID); err == nil {
		t.Fatal("a locked account signed")
	}

	// Wrong password, unknown account: EINVALID, naming dir and account.
	bad, err := wallet.OpenKeystore(dir, "wrong password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Signer(addr); procurebot.ErrorCode(err) != procurebot.EINVALID ||
		!strings.Contains(err.Error(), addr.Hex()) || !strings.Contains(err.Error(), "wrong password") {
		t.Fatalf("wrong password: %v", err)
	}
	other := common.HexToAddress("0x00000000000000000000000000000000000000aa")
	if _, err := ks.Signer(other); procurebot.ErrorCode(err) != procurebot.EINVALID || !strings.Contains(err.Error(), other.Hex()) {
		t.Fatalf("unknown account: %v", err)
	}
	if _, err := wallet.OpenKeystore(dir, ""); procurebot.ErrorCode(err) != procurebot.EINVALID {
		t.Fatalf("empty password: %v", err)
	}

	// Printing the keystore never shows the password.
	for _, s := range []string{fmt.Sprint(ks), fmt.Sprintf("%v %+v %#v %s %q", ks, ks, ks, ks, ks), fmt.Sprintf("%+v %#v", *ks, *ks)} {
		if strings.Contains(s, testPassword) {
			t.Fatalf("formatting shows the password: %s", s)
		}
	}
}

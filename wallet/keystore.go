package wallet

import (
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/procurebot/procurebot"
)

// Environment variables PasswordFromEnv reads.
const (
	// PasswordEnv holds the keystore password itself.
	PasswordEnv = "PROCUREBOT_WALLET_PASSWORD"
	// PasswordFileEnv names a file whose content (less one trailing
	// newline) is the keystore password.
	PasswordFileEnv = "PROCUREBOT_WALLET_PASSWORD_FILE"
)

// PasswordFromEnv returns the keystore password from PROCUREBOT_WALLET_PASSWORD
// or, if that is unset, from the file named by PROCUREBOT_WALLET_PASSWORD_FILE
// (one trailing "\n" or "\r\n" removed). Setting both, neither, or giving an
// empty password is an EINVALID error naming the variables; the password
// itself never appears in an error.
func PasswordFromEnv() (string, error) {
	pw, pwSet := os.LookupEnv(PasswordEnv)
	file, fileSet := os.LookupEnv(PasswordFileEnv)
	switch {
	case pwSet && fileSet:
		return "", procurebot.Invalidf("wallet password: both %s and %s are set; set one", PasswordEnv, PasswordFileEnv)
	case pwSet:
		if pw == "" {
			return "", procurebot.Invalidf("wallet password: %s is empty", PasswordEnv)
		}
		return pw, nil
	case fileSet:
		if file == "" {
			return "", procurebot.Invalidf("wallet password: %s is empty", PasswordFileEnv)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			// *PathError names the file and the cause, never the content.
			return "", &procurebot.Error{Code: procurebot.EINVALID,
				Message: fmt.Sprintf("wallet password: %s=%s cannot be read", PasswordFileEnv, file), Err: err}
		}
		pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if pw == "" {
			return "", procurebot.Invalidf("wallet password: file %s (%s) is empty", file, PasswordFileEnv)
		}
		return pw, nil
	}
	return "", procurebot.Invalidf("wallet password: set %s or %s", PasswordEnv, PasswordFileEnv)
}

// KeystoreOption changes how OpenKeystore sets up a keystore.
type KeystoreOption func(*keystoreConfig)

type keystoreConfig struct{ scryptN, scryptP int }

// LightScrypt makes the keystore encrypt new and imported keys with
// go-ethereum's light scrypt parameters (N=4096, p=6) instead of the
// standard ones (N=262144, p=1, about a second and 256 MB per use). FOR
// TESTS ONLY: light parameters make a stolen key file far cheaper to brute
// force. Existing key files keep the parameters they were written with.
func LightScrypt() KeystoreOption {
	return func(c *keystoreConfig) { c.scryptN, c.scryptP = keystore.LightScryptN, keystore.LightScryptP }
}

// Keystore is a directory of go-ethereum encrypted key files (the
// "keystore" format geth and clef use) opened with one password. It creates
// and imports accounts and hands out Signers. Printing a Keystore with fmt
// shows its directory only.
type Keystore struct {
	dir string
	ks  *keystore.KeyStore
	pw  secret
}

// secret is a string that prints as [REDACTED] through fmt, JSON and text
// marshalling.
type secret string

func (secret) String() string                 { return "[REDACTED]" }
func (secret) GoString() string               { return "[REDACTED]" }
func (secret) MarshalText() ([]byte, error)   { return []byte("[REDACTED]"), nil }
func (s secret) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(s.String())) }
func (s secret) MarshalJSON() ([]byte, error) { return []byte(`"[REDACTED]"`), nil }

// OpenKeystore opens (creating it with mode 0700 if missing) the keystore
// directory dir, whose key files are encrypted with password. An empty
// password is an EINVALID error. The password is checked when an account is
// first used (Signer).
func OpenKeystore(dir string, password string, opts ...KeystoreOption) (*Keystore, error) {
	if dir == "" {
		return nil, procurebot.Invalidf("keystore: directory is required")
	}
	if password == "" {
		return nil, procurebot.Invalidf("keystore %s: empty password", dir)
	}
	cfg := keystoreConfig{scryptN: keystore.StandardScryptN, scryptP: keystore.StandardScryptP}
	for _, o := range opts {
		o(&cfg)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, &procurebot.Error{Code: procurebot.EINVALID, Message: fmt.Sprintf("keystore %s", dir), Err: err}
	}
	return &Keystore{dir: dir, ks: keystore.NewKeyStore(dir, cfg.scryptN, cfg.scryptP), pw: secret(password)}, nil
}

// Format prints the keystore as wallet.Keystore{dir} whatever the verb, so
// that no formatting of it can reveal the password.
func (k Keystore) Format(f fmt.State, _ rune) { fmt.Fprintf(f, "wallet.Keystore{%s}", k.dir) }

// Dir returns the keystore directory.
func (k *Keystore) Dir() string { return k.dir }

// Accounts returns the addresses of the keys in the keystore, in the
// keystore's order (by file name, which starts with the creation time).
func (k *Keystore) Accounts() []common.Address {
	accs := k.ks.Accounts()
	out := make([]common.Address, len(accs))
	for i, a := range accs {
		out[i] = a.Address
	}
	return out
}

// NewAccount creates a new random key, writes it encrypted to the keystore
// and returns its address.
func (k *Keystore) NewAccount() (common.Address, error) {
	a, err := k.ks.NewAccount(string(k.pw))
	if err != nil {
		return common.Address{}, &procurebot.Error{Code: procurebot.EINTERNAL, Message: fmt.Sprintf("keystore %s: new account", k.dir), Err: err}
	}
	return a.Address, nil
}

// ImportKey writes key encrypted into the keystore and returns its address.
// Importing a key that is already there is an ECONFLICT error.
func (k *Keystore) ImportKey(key *ecdsa.PrivateKey) (common.Address, error) {
	if key == nil {
		return common.Address{}, procurebot.Invalidf("keystore %s: import: no key", k.dir)
	}
	addr := crypto.PubkeyToAddress(key.PublicKey)
	a, err := k.ks.ImportECDSA(key, string(k.pw))
	if errors.Is(err, keystore.ErrAccountAlreadyExists) {
		return addr, procurebot.Errorf(procurebot.ECONFLICT, "keystore %s: account %s is already there", k.dir, addr.Hex())
	}
	if err != nil {
		return common.Address{}, &procurebot.Error{Code: procurebot.EINTERNAL, Message: fmt.Sprintf("keystore %s: import account %s", k.dir, addr.Hex()), Err: err}
	}
	return a.Address, nil
}

// ImportHex imports a private key given as 64 hex digits (with or without
// 0x). A malformed key is an EINVALID error that does not repeat any of it.
func (k *Keystore) ImportHex(hexKey string) (common.Address, error) {
	s := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(hexKey), "0x"), "0X")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return common.Address{}, procurebot.Invalidf("keystore %s: import: a private key is 64 hex digits", k.dir)
	}
	key, err := crypto.ToECDSA(b)
	clear(b)
	if err != nil {
		return common.Address{}, procurebot.Invalidf("keystore %s: import: not a valid secp256k1 private key", k.dir)
	}
	return k.ImportKey(key)
}

// Signer unlocks the account addr with the keystore's password and returns
// a Signer for it. The key stays decrypted in memory until Close or Lock. A
// wrong password or an unknown account is an EINVALID error naming the
// directory and the account.
func (k *Keystore) Signer(addr common.Address) (*AccountSigner, error) {
	acc := accounts.Account{Address: addr}
	if !k.ks.HasAddress(addr) {
		return nil, procurebot.Invalidf("keystore %s: no account %s", k.dir, addr.Hex())
	}
	if err := k.ks.Unlock(acc, string(k.pw)); err != nil {
		if errors.Is(err, keystore.ErrDecrypt) {
			return nil, procurebot.Invalidf("keystore %s: account %s: wrong password", k.dir, addr.Hex())
		}
		return nil, &procurebot.Error{Code: procurebot.EINVALID, Message: fmt.Sprintf("keystore %s: unlock account %s", k.dir, addr.Hex()), Err: err}
	}
	return &AccountSigner{ks: k.ks, acc: acc}, nil
}

// Lock removes the decrypted key of addr from memory; its Signers fail
// until Signer unlocks it again.
func (k *Keystore) Lock(addr common.Address) error {
	return k.ks.Lock(addr)
}

// Close locks every account of the keystore.
func (k *Keystore) Close() error {
	var errs []error
	for _, a := range k.ks.Accounts() {
		errs = append(errs, k.ks.Lock(a.Address))
	}
	return errors.Join(errs...)
}

// Signer signs transactions for one account. Keystore.Signer returns one;
// any other signer (a hardware wallet, a remote signer) can stand in.
type Signer interface {
	// Address returns the account the signer signs for.
	Address() common.Address
	// SignTx returns tx signed for chainID (EIP-155 / EIP-1559).
	SignTx(tx *types.Transaction, chainID *big.Int) (*types.Transaction, error)
}

// AccountSigner is the Signer of an unlocked keystore account.
type AccountSigner struct {
	ks  *keystore.KeyStore
	acc accounts.Account
}

// Address returns the account's address.
func (s *AccountSigner) Address() common.Address { return s.acc.Address }

// SignTx signs tx for chainID with the account's key. It fails if the
// account was locked since.
func (s *AccountSigner) SignTx(tx *types.Transaction, chainID *big.Int) (*types.Transaction, error) {
	signed, err := s.ks.SignTx(s.acc, tx, chainID)
	if err != nil {
		return nil, &procurebot.Error{Code: procurebot.EINVALID, Message: fmt.Sprintf("sign with account %s", s.acc.Address.Hex()), Err: err}
	}
	return signed, nil
}

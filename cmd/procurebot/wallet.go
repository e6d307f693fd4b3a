package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/store/bolt"
	"github.com/procurebot/procurebot/wallet"
	"github.com/procurebot/procurebot/wallet/token"
)

// lightScryptEnv, set to 1, makes `wallet new` and `wallet import` encrypt
// keys with light scrypt parameters. For tests only.
const lightScryptEnv = "PROCUREBOT_WALLET_LIGHT_SCRYPT"

// rpcProbeTimeout bounds the first call to the node, so that an address
// that swallows packets fails instead of hanging.
const rpcProbeTimeout = 20 * time.Second

// walletFlags are the flags every wallet subcommand shares.
type walletFlags struct {
	dataDir  string
	keystore string
}

// keystoreDir is --keystore, or <data-dir>/keystore.
func (w *walletFlags) keystoreDir() string {
	if w.keystore != "" {
		return w.keystore
	}
	return filepath.Join(w.dataDir, "keystore")
}

const walletLong = `wallet manages procurebot's payment account and pays ERC-20 stablecoins
(USDC, USDT, PYUSD or any ERC-20, by contract address) from it, each payment
exactly once.

Keys live in go-ethereum's encrypted keystore (scrypt; the key-file format
geth and clef use) in --keystore, default <data-dir>/keystore. The password
comes from the environment, never from a flag or an argument:

  PROCUREBOT_WALLET_PASSWORD       the password itself, or
  PROCUREBOT_WALLET_PASSWORD_FILE  a file holding it (one trailing newline
                                   is ignored)

"address" and "balance" need no password. Neither the password nor a private
key is ever printed or logged.

Payments ("send") are payment intents in the bot's store (<data-dir>/
procurebot.db, the same file "procurebot ledger" reads): the intent id is the
idempotency key, so running the same send twice pays once. A confirmed
payment is also appended to the ledger (kind payment, with intent_id and
tx_hash).

--data-dir defaults to $PROCUREBOT_DATA_DIR, else $XDG_DATA_HOME/procurebot,
else ~/.local/share/procurebot.

Exit status: 0 success; 2 bad input (the message names the flag or the
environment variable); 1 anything else, e.g. the node cannot be reached
(unavailable).`

func newWalletCmd(stdout, stderr io.Writer) *cobra.Command {
	w := &walletFlags{}
	cmd := &cobra.Command{
		Use:   "wallet new|import|address|balance|send|reconcile",
		Short: "Manage the payment account and pay stablecoins exactly once",
		Long:  walletLong,
		Example: `  export PROCUREBOT_WALLET_PASSWORD_FILE=~/.procurebot-pw
  procurebot wallet new
  procurebot wallet balance --rpc https://base-rpc.example --token 0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913
  procurebot wallet send --rpc https://base-rpc.example --token 0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913 \
      --to 0x1111111111111111111111111111111111111111 --amount 12.34 --id invoice-2024-10-042 --venue runpod`,
		// Runnable, so that a mistyped subcommand is refused by noArgs
		// (exit 2) without being repeated.
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&w.dataDir, "data-dir", defaultDataDir(), "the bot's data directory (holds procurebot.db and, by default, the keystore)")
	pf.StringVar(&w.keystore, "keystore", "", "keystore directory (default <data-dir>/keystore)")
	cmd.AddCommand(newWalletNewCmd(w, stdout, stderr), newWalletImportCmd(w, stdout, stderr),
		newWalletAddressCmd(w, stdout), newWalletBalanceCmd(w, stdout),
		newWalletSendCmd(w, stdout, stderr), newWalletReconcileCmd(w, stdout, stderr))
	return cmd
}

// noArgs refuses positional arguments without repeating them: one might be
// a private key pasted in the wrong place.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 && cmd.HasSubCommands() {
		return usageError{fmt.Errorf("%s: unknown subcommand (want new, import, address, balance, send or reconcile; what was given is not repeated in case it is a key)",
			cmd.CommandPath())}
	}
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s takes no arguments (%d given; not repeated here in case one is a key); see %s --help",
			cmd.CommandPath(), len(args), cmd.CommandPath())}
	}
	return nil
}

// keystoreOptions are the options of keystores that write keys.
func keystoreOptions(stderr io.Writer) []wallet.KeystoreOption {
	if os.Getenv(lightScryptEnv) == "1" {
		fmt.Fprintf(stderr, "warning: %s=1: keys are encrypted with light scrypt (for tests only)\n", lightScryptEnv)
		return []wallet.KeystoreOption{wallet.LightScrypt()}
	}
	return nil
}

// password reads the keystore password from the environment.
func password() (string, error) {
	pw, err := wallet.PasswordFromEnv()
	if err != nil {
		return "", err // EINVALID, names the variables, never the password
	}
	return pw, nil
}

// checkPassword makes sure pw opens the keystore's existing accounts, so
// that one keystore never mixes passwords. It costs one scrypt decryption.
func checkPassword(ks *wallet.Keystore) error {
	accs := ks.Accounts()
	if len(accs) == 0 {
		return nil
	}
	if _, err := ks.Signer(accs[0]); err != nil {
		return passwordHint(err)
	}
	return ks.Lock(accs[0])
}

// passwordHint adds where the password came from to a wrong-password error.
func passwordHint(err error) error {
	if err != nil && strings.Contains(err.Error(), "wrong password") {
		return &procurebot.Error{Code: procurebot.EINVALID,
			Message: fmt.Sprintf("%v (check %s or %s)", err, wallet.PasswordEnv, wallet.PasswordFileEnv)}
	}
	return err
}

// existingKeystore checks that dir is a keystore directory with at least
// one account and returns the accounts, reading no key.
func existingKeystore(dir string) ([]common.Address, error) {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return nil, procurebot.Invalidf("--keystore %s: no keystore there (create an account with `procurebot wallet new` or `procurebot wallet import`)", dir)
	}
	ks := keystore.NewKeyStore(dir, keystore.LightScryptN, keystore.LightScryptP)
	var out []common.Address
	for _, a := range ks.Accounts() {
		out = append(out, a.Address)
	}
	if len(out) == 0 {
		return nil, procurebot.Invalidf("--keystore %s: no accounts (create one with `procurebot wallet new` or `procurebot wallet import`)", dir)
	}
	return out, nil
}

// pickAccount returns --account if given (it must be in accs when mustOwn),
// else the keystore's only account.
func pickAccount(accs []common.Address, flag string, dir string, mustOwn bool) (common.Address, error) {
	if flag != "" {
		a, err := parseAddress("account", flag)
		if err != nil {
			return a, err
		}
		if mustOwn {
			found := false
			for _, x := range accs {
				found = found || x == a
			}
			if !found {
				return a, usageError{fmt.Errorf("--account: %s is not in the keystore %s", a.Hex(), dir)}
			}
		}
		return a, nil
	}
	if len(accs) == 1 {
		return accs[0], nil
	}
	hexes := make([]string, len(accs))
	for i, a := range accs {
		hexes[i] = a.Hex()
	}
	return common.Address{}, usageError{fmt.Errorf("--account: the keystore %s holds %d accounts (%s); say which", dir, len(accs), strings.Join(hexes, ", "))}
}

// parseAddress parses a 0x address given to --flag, checking its EIP-55
// checksum when it is mixed-case.
func parseAddress(flag, s string) (common.Address, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return common.Address{}, usageError{fmt.Errorf("--%s: required (a 0x address)", flag)}
	}
	if !strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "0X") || !common.IsHexAddress(s) {
		return common.Address{}, usageError{fmt.Errorf("--%s: %q is not an address (0x and 40 hex digits)", flag, s)}
	}
	a := common.HexToAddress(s)
	body := s[2:]
	if body != strings.ToLower(body) && body != strings.ToUpper(body) && a.Hex() != "0x"+body {
		return common.Address{}, usageError{fmt.Errorf("--%s: %s fails its EIP-55 checksum (mistyped? the checksummed form differs)", flag, s)}
	}
	return a, nil
}

// redactURL shows an RPC URL without what may be a credential: user info,
// path and query (https://mainnet.example/v3/KEY → https://mainnet.example/…).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	if u.User == nil && (u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.Fragment == "" {
		return raw
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// redactedError is err with the raw RPC URL replaced by its redacted form
// in its message; codes are still found through Unwrap.
type redactedError struct {
	err error
	msg string
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }

func redactErr(err error, rawURL string) error {
	if err == nil || rawURL == "" {
		return err
	}
	r := redactURL(rawURL)
	if r == rawURL || !strings.Contains(err.Error(), rawURL) {
		return err
	}
	return redactedError{err: err, msg: strings.ReplaceAll(err.Error(), rawURL, r)}
}

// dial connects to the node at --rpc and reads its chain id.
func dial(ctx context.Context, raw string) (*ethclient.Client, *big.Int, error) {
	if raw == "" {
		return nil, nil, usageError{errors.New("--rpc: required (the node's JSON-RPC URL, e.g. http://127.0.0.1:8545)")}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("--rpc: %q is not a URL", redactURL(raw))}
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
		if u.Host == "" {
			return nil, nil, usageError{fmt.Errorf("--rpc: %q has no host", redactURL(raw))}
		}
	case "": // an IPC socket path
	default:
		return nil, nil, usageError{fmt.Errorf("--rpc: scheme %q not supported (http, https, ws, wss or an IPC socket path)", u.Scheme)}
	}
	pctx, cancel := context.WithTimeout(ctx, rpcProbeTimeout)
	defer cancel()
	c, err := ethclient.DialContext(pctx, raw)
	if err != nil {
		return nil, nil, &procurebot.Error{Code: procurebot.EUNAVAILABLE,
			Message: fmt.Sprintf("--rpc %s: cannot reach the node (unavailable)", redactURL(raw)), Err: err}
	}
	id, err := c.ChainID(pctx)
	if err != nil {
		c.Close()
		return nil, nil, &procurebot.Error{Code: procurebot.EUNAVAILABLE,
			Message: fmt.Sprintf("--rpc %s: cannot reach the node (unavailable)", redactURL(raw)), Err: err}
	}
	return c, id, nil
}

// callToken calls a view function of the token. A JSON-RPC error answer or
// empty data means the address does not answer as an ERC-20 (EINVALID); any
// other failure is the node's (EUNAVAILABLE).
func callToken(ctx context.Context, c *ethclient.Client, tok common.Address, data []byte, what string) ([]byte, error) {
	out, err := c.CallContract(ctx, ethereum.CallMsg{To: &tok, Data: data}, nil)
	if err != nil {
		var re rpc.Error
		if errors.As(err, &re) {
			return nil, &procurebot.Error{Code: procurebot.EINVALID,
				Message: fmt.Sprintf("--token %s: %s failed; is it an ERC-20 contract on this chain?", tok.Hex(), what), Err: err}
		}
		return nil, &procurebot.Error{Code: procurebot.EUNAVAILABLE, Message: fmt.Sprintf("--token %s: call %s", tok.Hex(), what), Err: err}
	}
	if len(out) == 0 {
		return nil, procurebot.Invalidf("--token %s: %s returned nothing; is it an ERC-20 contract on this chain?", tok.Hex(), what)
	}
	return out, nil
}

// tokenDecimals is --decimals when given, else the token's decimals().
func tokenDecimals(ctx context.Context, c *ethclient.Client, tok common.Address, flagSet bool, flag uint8) (uint8, error) {
	if flagSet {
		return flag, nil
	}
	erc20 := token.NewToken()
	out, err := callToken(ctx, c, tok, erc20.PackDecimals(), "decimals()")
	if err != nil {
		return 0, fmt.Errorf("%w (or give --decimals)", err)
	}
	d, err := erc20.UnpackDecimals(out)
	if err != nil {
		return 0, &procurebot.Error{Code: procurebot.EINVALID,
			Message: fmt.Sprintf("--token %s: decimals() answer is not a uint8 (give --decimals)", tok.Hex()), Err: err}
	}
	return d, nil
}

// parseAmount parses --amount: a positive decimal number of whole tokens.
func parseAmount(s string) (procurebot.Money, error) {
	if strings.TrimSpace(s) == "" {
		return procurebot.Zero, usageError{errors.New("--amount: required (a decimal number of whole tokens, e.g. 12.34)")}
	}
	d, err := decimal.NewFromString(strings.TrimSpace(s))
	if err != nil {
		return procurebot.Zero, usageError{fmt.Errorf("--amount: %q is not a decimal number", s)}
	}
	if !d.IsPositive() {
		return procurebot.Zero, usageError{fmt.Errorf("--amount: must be positive, got %s", d.String())}
	}
	return d, nil
}

func writeJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// --- new ---

func newWalletNewCmd(w *walletFlags, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "new [--keystore DIR]",
		Short: "Create a new account in the encrypted keystore and print its address",
		Long: `new creates a random private key, writes it to the keystore encrypted with
the password of PROCUREBOT_WALLET_PASSWORD or PROCUREBOT_WALLET_PASSWORD_FILE,
and prints its address (only the address, on stdout). If the keystore
already holds accounts, the password must open them: one keystore, one
password.

Back up the keystore directory and the password: without both, the money of
the account is lost.

PROCUREBOT_WALLET_LIGHT_SCRYPT=1 encrypts with light scrypt parameters: FOR
TESTS ONLY (fast, and a stolen key file is far cheaper to brute force).`,
		Example: `  PROCUREBOT_WALLET_PASSWORD_FILE=~/.procurebot-pw procurebot wallet new --keystore ./keys`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := password()
			if err != nil {
				return err
			}
			dir := w.keystoreDir()
			ks, err := wallet.OpenKeystore(dir, pw, keystoreOptions(stderr)...)
			if err != nil {
				return err
			}
			defer ks.Close()
			if err := checkPassword(ks); err != nil {
				return err
			}
			addr, err := ks.NewAccount()
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "created account %s in keystore %s; back up the directory and the password\n", addr.Hex(), dir)
			fmt.Fprintln(stdout, addr.Hex())
			return nil
		},
	}
}

// --- import ---

func newWalletImportCmd(w *walletFlags, stdout, stderr io.Writer) *cobra.Command {
	var keyFile string
	cmd := &cobra.Command{
		Use:   "import --key-file FILE [--keystore DIR]",
		Short: "Import a hex private key from a file into the encrypted keystore",
		Long: `import reads a private key (64 hex digits, 0x optional, surrounding white
space ignored) from --key-file, writes it to the keystore encrypted with the
password of PROCUREBOT_WALLET_PASSWORD or PROCUREBOT_WALLET_PASSWORD_FILE, and
prints its address. The key is taken from a file only, never from a flag or
an argument, so that it does not land in shell history; delete the file
afterwards. Importing a key that is already there prints its address again.

PROCUREBOT_WALLET_LIGHT_SCRYPT=1 encrypts with light scrypt parameters: FOR
TESTS ONLY.`,
		Example: `  procurebot wallet import --key-file ./key.hex && shred -u ./key.hex`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				return usageError{errors.New("--key-file: required (a file holding the hex private key)")}
			}
			pw, err := password()
			if err != nil {
				return err
			}
			b, err := os.ReadFile(keyFile)
			if err != nil {
				// *PathError names the file and the cause, never the content.
				return &procurebot.Error{Code: procurebot.EINVALID, Message: "--key-file", Err: err}
			}
			key := string(b)
			clear(b)
			dir := w.keystoreDir()
			ks, err := wallet.OpenKeystore(dir, pw, keystoreOptions(stderr)...)
			if err != nil {
				return err
			}
			defer ks.Close()
			if err := checkPassword(ks); err != nil {
				return err
			}
			addr, err := ks.ImportHex(key)
			switch {
			case procurebot.ErrorCode(err) == procurebot.ECONFLICT:
				fmt.Fprintf(stderr, "account %s is already in keystore %s\n", addr.Hex(), dir)
			case procurebot.ErrorCode(err) == procurebot.EINVALID:
				// ImportHex's message repeats none of the key.
				return &procurebot.Error{Code: procurebot.EINVALID, Message: fmt.Sprintf("--key-file %s", keyFile), Err: err}
			case err != nil:
				return err
			default:
				fmt.Fprintf(stderr, "imported account %s into keystore %s; delete %s\n", addr.Hex(), dir, keyFile)
			}
			fmt.Fprintln(stdout, addr.Hex())
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key-file", "", "file holding the private key as hex (required)")
	return cmd
}

// --- address ---

func newWalletAddressCmd(w *walletFlags, stdout io.Writer) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "address [--keystore DIR] [--json]",
		Short: "Print the address of each account in the keystore",
		Long: `address prints the address of each account in the keystore, one a line,
oldest first. It needs no password. --json prints {"accounts":["0x…",…]}.`,
		Example: `  procurebot wallet address --data-dir ./state`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			accs, err := existingKeystore(w.keystoreDir())
			if err != nil {
				return err
			}
			hexes := make([]string, len(accs))
			for i, a := range accs {
				hexes[i] = a.Hex()
			}
			if asJSON {
				return writeJSON(stdout, map[string][]string{"accounts": hexes})
			}
			for _, h := range hexes {
				fmt.Fprintln(stdout, h)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print one JSON object {"accounts":[…]}`)
	return cmd
}

// --- balance ---

type balanceFlags struct {
	rpc, token, account string
	decimals            uint8
	json                bool
}

type balanceJSON struct {
	Account        string `json:"account"`
	ChainID        uint64 `json:"chain_id"`
	ETH            string `json:"eth"`
	Wei            string `json:"wei"`
	Token          string `json:"token,omitempty"`
	TokenSymbol    string `json:"token_symbol,omitempty"`
	TokenDecimals  *uint8 `json:"token_decimals,omitempty"`
	TokenBalance   string `json:"token_balance,omitempty"`
	TokenBaseUnits string `json:"token_base_units,omitempty"`
}

func newWalletBalanceCmd(w *walletFlags, stdout io.Writer) *cobra.Command {
	var f balanceFlags
	cmd := &cobra.Command{
		Use:   "balance --rpc URL [--token ADDR] [--decimals N] [--account ADDR] [--json]",
		Short: "Print the account's native (ETH) and token balances",
		Long: `balance prints the account's balance of the chain's native coin (ETH, exact
from wei: it pays the gas) and, with --token, of that ERC-20 (exact, in whole
tokens from base units with the token's decimals(), or --decimals if given).

The account is --account (any address), else the keystore's only account.
It needs no password.

--json prints one object: account, chain_id, eth, wei, and with --token:
token, token_symbol, token_decimals, token_balance, token_base_units (amounts
as decimal strings).`,
		Example: `  procurebot wallet balance --rpc http://127.0.0.1:8545 --token 0x5FbDB2315678afecb367f032d93F642f64180aa3
  procurebot wallet balance --rpc https://base-rpc.example --token 0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913 --decimals 6 --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return redactErr(runWalletBalance(cmd.Context(), w, f, cmd.Flags().Changed("decimals"), stdout), f.rpc)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.rpc, "rpc", "", "the node's JSON-RPC URL (http, https, ws, wss or an IPC path) (required)")
	fl.StringVar(&f.token, "token", "", "ERC-20 contract address whose balance to show")
	fl.Uint8Var(&f.decimals, "decimals", 0, "the token's decimals (default: ask the token)")
	fl.StringVar(&f.account, "account", "", "the account to show (default: the keystore's only account)")
	fl.BoolVar(&f.json, "json", false, "print one JSON object")
	return cmd
}

func runWalletBalance(ctx context.Context, w *walletFlags, f balanceFlags, decSet bool, stdout io.Writer) error {
	var tok common.Address
	var err error
	if f.token != "" {
		if tok, err = parseAddress("token", f.token); err != nil {
			return err
		}
	}
	var acc common.Address
	if f.account != "" {
		if acc, err = parseAddress("account", f.account); err != nil {
			return err
		}
	} else {
		dir := w.keystoreDir()
		accs, err := existingKeystore(dir)
		if err != nil {
			return err
		}
		if acc, err = pickAccount(accs, "", dir, false); err != nil {
			return err
		}
	}
	c, chainID, err := dial(ctx, f.rpc)
	if err != nil {
		return err
	}
	defer c.Close()
	wei, err := c.BalanceAt(ctx, acc, nil)
	if err != nil {
		return &procurebot.Error{Code: procurebot.EUNAVAILABLE, Message: fmt.Sprintf("read the balance of %s", acc.Hex()), Err: err}
	}
	out := balanceJSON{Account: acc.Hex(), ChainID: chainID.Uint64(), ETH: wallet.FromBaseUnits(wei, 18).String(), Wei: wei.String()}
	if f.token != "" {
		dec, err := tokenDecimals(ctx, c, tok, decSet, f.decimals)
		if err != nil {
			return err
		}
		erc20 := token.NewToken()
		raw, err := callToken(ctx, c, tok, erc20.PackBalanceOf(acc), "balanceOf()")
		if err != nil {
			return err
		}
		units, err := erc20.UnpackBalanceOf(raw)
		if err != nil {
			return &procurebot.Error{Code: procurebot.EINVALID, Message: fmt.Sprintf("--token %s: balanceOf() answer is not a uint256", tok.Hex()), Err: err}
		}
		if raw, err := callToken(ctx, c, tok, erc20.PackSymbol(), "symbol()"); err == nil {
			if s, err := erc20.UnpackSymbol(raw); err == nil {
				out.TokenSymbol = s
			}
		}
		out.Token, out.TokenDecimals = tok.Hex(), &dec
		out.TokenBalance, out.TokenBaseUnits = wallet.FromBaseUnits(units, dec).String(), units.String()
	}
	if f.json {
		return writeJSON(stdout, out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "account\t%s\n", out.Account)
	fmt.Fprintf(tw, "chain_id\t%d\n", out.ChainID)
	fmt.Fprintf(tw, "eth\t%s\n", out.ETH)
	if out.Token != "" {
		sym := ""
		if out.TokenSymbol != "" {
			sym = " (" + out.TokenSymbol + ")"
		}
		fmt.Fprintf(tw, "token\t%s%s, %d decimals\n", out.Token, sym, *out.TokenDecimals)
		fmt.Fprintf(tw, "token_balance\t%s\n", out.TokenBalance)
	}
	return tw.Flush()
}

// --- send ---

type sendFlags struct {
	rpc, token, to, amount, id, venue, account string
	decimals                                   uint8
	confirmations                              uint64
	poll, timeout                              time.Duration
	json, quiet                                bool
}

// intentJSON is how send prints a payment intent.
type intentJSON struct {
	ID              string   `json:"id"`
	State           string   `json:"state"`
	TxHash          string   `json:"tx_hash"`
	Nonce           *uint64  `json:"nonce"`
	ChainID         uint64   `json:"chain_id"`
	Token           string   `json:"token"`
	From            string   `json:"from"`
	To              string   `json:"to"`
	Amount          string   `json:"amount"`
	AmountBaseUnits string   `json:"amount_base_units"`
	Venue           string   `json:"venue,omitempty"`
	TxHashes        []string `json:"tx_hashes"`
	Error           string   `json:"error,omitempty"`
	CreatedAt       string   `json:"created_at"`
	UpdatedAt       string   `json:"updated_at"`
}

// txHash is the intent's mined transaction, else its latest one, else "".
func txHash(in *procurebot.PaymentIntent) string {
	if in.Mined != "" {
		return in.Mined
	}
	if len(in.TxHashes) > 0 {
		return in.TxHashes[len(in.TxHashes)-1]
	}
	return ""
}

func toIntentJSON(in *procurebot.PaymentIntent, decimals uint8) intentJSON {
	out := intentJSON{ID: in.ID, State: string(in.State), TxHash: txHash(in), ChainID: in.Chain, Token: in.Token,
		From: in.From, To: in.To, Amount: wallet.FromBaseUnits(in.Amount, decimals).String(), Venue: in.Venue,
		TxHashes: append([]string{}, in.TxHashes...), Error: in.Error,
		CreatedAt: in.CreatedAt.UTC().Format(time.RFC3339Nano), UpdatedAt: in.UpdatedAt.UTC().Format(time.RFC3339Nano)}
	if in.Amount != nil {
		out.AmountBaseUnits = in.Amount.String()
	}
	if len(in.TxHashes) > 0 { // a nonce was taken
		n := in.Nonce
		out.Nonce = &n
	}
	return out
}

func printIntent(stdout io.Writer, in *procurebot.PaymentIntent, decimals uint8, asJSON bool) error {
	o := toIntentJSON(in, decimals)
	if asJSON {
		return writeJSON(stdout, o)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\n", o.ID)
	fmt.Fprintf(tw, "state\t%s\n", o.State)
	fmt.Fprintf(tw, "tx_hash\t%s\n", orDefault(o.TxHash, "-"))
	if o.Nonce != nil {
		fmt.Fprintf(tw, "nonce\t%d\n", *o.Nonce)
	} else {
		fmt.Fprintf(tw, "nonce\t-\n")
	}
	fmt.Fprintf(tw, "chain_id\t%d\n", o.ChainID)
	fmt.Fprintf(tw, "token\t%s\n", o.Token)
	fmt.Fprintf(tw, "from\t%s\n", o.From)
	fmt.Fprintf(tw, "to\t%s\n", o.To)
	fmt.Fprintf(tw, "amount\t%s (%s base units)\n", o.Amount, o.AmountBaseUnits)
	if o.Venue != "" {
		fmt.Fprintf(tw, "venue\t%s\n", o.Venue)
	}
	if o.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", o.Error)
	}
	return tw.Flush()
}

func newWalletSendCmd(w *walletFlags, stdout, stderr io.Writer) *cobra.Command {
	var f sendFlags
	cmd := &cobra.Command{
		Use:   "send --rpc URL --token ADDR --to ADDR --amount DECIMAL --id INTENT_ID [--venue NAME] [--confirmations N] [--json]",
		Short: "Pay an ERC-20 amount exactly once, keyed by an intent id",
		Long: `send transfers --amount whole tokens of the ERC-20 --token to --to, exactly
once: --id is the idempotency key. The payment intent is recorded in the
store (<data-dir>/procurebot.db) before anything is signed, the signed
transaction before it is broadcast; send then waits for --confirmations
blocks (the block that includes the transfer counts as the first).

Running the same send again never pays twice: a confirmed intent is printed
as it is; an unfinished one (the process was stopped, the node went away) is
finished with its recorded transaction, never a new nonce. The same --id
with another payee, token, amount or account is refused (exit 2).

--amount is exact: it may have at most as many decimals as the token
(decimals() of the token, or --decimals); for a USD stablecoin it is USD and
is what the ledger records as amount_usd. The account (--account, else the
keystore's only one) needs the tokens and the chain's coin for gas; if it
holds too little, nothing is signed (exit 2).

It prints the intent: id, state (confirmed, or failed with the reason),
tx_hash, nonce, and the payment; --json prints it as one JSON object with
the keys id, state, tx_hash, nonce, chain_id, token, from, to, amount,
amount_base_units, venue, tx_hashes, error, created_at, updated_at. Logs go
to stderr.

If it stops before the confirmation (Ctrl-C, --timeout, the node is
unreachable), the payment may still land: run the same command again, or
"procurebot wallet reconcile".`,
		Example: `  # pay 12.34 USDC on Base for an invoice, waiting for 3 blocks
  procurebot wallet send --rpc https://base-rpc.example \
      --token 0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913 --to 0x1111111111111111111111111111111111111111 \
      --amount 12.34 --id runpod-invoice-2024-10-042 --venue runpod --confirmations 3 --json

  # against a local geth --dev, with its own data directory
  procurebot wallet send --data-dir ./state --rpc http://127.0.0.1:8545 --token 0x5FbDB2315678afecb367f032d93F642f64180aa3 \
      --to 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --amount 5 --id test-1`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return redactErr(runWalletSend(cmd.Context(), w, f, cmd.Flags().Changed("decimals"), stdout, stderr), f.rpc)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.rpc, "rpc", "", "the node's JSON-RPC URL (http, https, ws, wss or an IPC path) (required)")
	fl.StringVar(&f.token, "token", "", "ERC-20 contract address (required)")
	fl.StringVar(&f.to, "to", "", "payee address (required)")
	fl.StringVar(&f.amount, "amount", "", "amount in whole tokens, e.g. 12.34 (required)")
	fl.StringVar(&f.id, "id", "", "payment intent id: the idempotency key (required)")
	fl.StringVar(&f.venue, "venue", "", "provider or seller paid (recorded with the intent and in the ledger)")
	fl.StringVar(&f.account, "account", "", "the paying account (default: the keystore's only account)")
	fl.Uint8Var(&f.decimals, "decimals", 0, "the token's decimals (default: ask the token)")
	fl.Uint64Var(&f.confirmations, "confirmations", 1, "blocks that make the payment final (at least 1)")
	fl.DurationVar(&f.poll, "poll", 2*time.Second, "how often to ask the node for the receipt")
	fl.DurationVar(&f.timeout, "timeout", 0, "stop waiting after this long (0: wait until confirmed or interrupted)")
	fl.BoolVar(&f.json, "json", false, "print the intent as one JSON object (logs stay on stderr)")
	fl.BoolVar(&f.quiet, "quiet", false, "no logs")
	return cmd
}

func runWalletSend(ctx context.Context, w *walletFlags, f sendFlags, decSet bool, stdout, stderr io.Writer) error {
	// Everything that can be checked without the node or the key first.
	if f.rpc == "" {
		return usageError{errors.New("--rpc: required (the node's JSON-RPC URL, e.g. http://127.0.0.1:8545)")}
	}
	tok, err := parseAddress("token", f.token)
	if err != nil {
		return err
	}
	to, err := parseAddress("to", f.to)
	if err != nil {
		return err
	}
	if to == (common.Address{}) {
		return usageError{errors.New("--to: the zero address burns the tokens; refused")}
	}
	amount, err := parseAmount(f.amount)
	if err != nil {
		return err
	}
	id := strings.TrimSpace(f.id)
	if id == "" {
		return usageError{errors.New("--id: required (the payment intent id, its idempotency key: e.g. the invoice number)")}
	}
	if f.confirmations < 1 {
		return usageError{fmt.Errorf("--confirmations: must be at least 1, got %d", f.confirmations)}
	}
	if f.poll <= 0 {
		return usageError{fmt.Errorf("--poll: must be positive, got %s", f.poll)}
	}
	if f.timeout < 0 {
		return usageError{fmt.Errorf("--timeout: must not be negative, got %s", f.timeout)}
	}
	if decSet {
		if _, err := wallet.ToBaseUnits(amount, f.decimals); err != nil {
			return usageError{fmt.Errorf("--amount: %s has more decimals than --decimals %d", amount.String(), f.decimals)}
		}
	}
	pw, dir, from, err := w.signingAccount(f.account)
	if err != nil {
		return err
	}

	c, chainID, err := dial(ctx, f.rpc)
	if err != nil {
		return err
	}
	defer c.Close()
	dec, err := tokenDecimals(ctx, c, tok, decSet, f.decimals)
	if err != nil {
		return err
	}
	units, err := wallet.ToBaseUnits(amount, dec)
	if err != nil {
		return usageError{fmt.Errorf("--amount: %s has more decimals than the token's %d", amount.String(), dec)}
	}

	st, err := bolt.Open(filepath.Join(w.dataDir, bolt.FileName))
	if err != nil {
		return err
	}
	defer st.Close()
	// The same id for another payment is a mistake on the command line.
	if old, err := st.GetIntent(ctx, id); err == nil {
		if err := sameIntent(old, from, tok, to, units, chainID.Uint64()); err != nil {
			return usageError{fmt.Errorf("--id %s: already used for another payment (%v); pick another id", id, err)}
		}
	} else if procurebot.ErrorCode(err) != procurebot.ENOTFOUND {
		return err
	}

	signer, closeKeys, err := unlock(dir, pw, from)
	if err != nil {
		return err
	}
	defer closeKeys()
	log := newLogger(stderr, f.quiet)
	payer, err := wallet.NewPayer(ctx, c, st, signer, wallet.WithConfirmations(f.confirmations), wallet.WithLedger(st),
		wallet.WithPollInterval(f.poll), wallet.WithLogger(log))
	if err != nil {
		return err
	}
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	out, payErr := payer.Pay(ctx, &procurebot.PaymentIntent{ID: id, Token: tok.Hex(), To: to.Hex(), Amount: units,
		AmountUSD: amount, Venue: f.venue})
	if out != nil {
		if err := printIntent(stdout, out, dec, f.json); err != nil {
			return err
		}
		if payErr != nil && (out.State == procurebot.IntentSigned || out.State == procurebot.IntentSent) {
			payErr = fmt.Errorf("%w\nthe payment may still land: run the same command again, or `procurebot wallet reconcile`", payErr)
		}
	}
	return payErr
}

// sameIntent reports how a stored intent differs from the payment asked
// for, or nil.
func sameIntent(old *procurebot.PaymentIntent, from, tok, to common.Address, units *big.Int, chain uint64) error {
	switch {
	case common.HexToAddress(old.To) != to:
		return fmt.Errorf("payee %s, not %s", old.To, to.Hex())
	case common.HexToAddress(old.Token) != tok:
		return fmt.Errorf("token %s, not %s", old.Token, tok.Hex())
	case old.Amount == nil || old.Amount.Cmp(units) != 0:
		return fmt.Errorf("%v base units, not %s", old.Amount, units)
	case common.HexToAddress(old.From) != from:
		return fmt.Errorf("paid from %s, not %s", old.From, from.Hex())
	case old.Chain != chain:
		return fmt.Errorf("on chain %d, not %d", old.Chain, chain)
	}
	return nil
}

// --- reconcile ---

type reconcileFlags struct {
	rpc, account  string
	confirmations uint64
	json, quiet   bool
}

type reconcileJSON struct {
	Account   string   `json:"account"`
	ChainID   uint64   `json:"chain_id"`
	Checked   int      `json:"checked"`
	Confirmed []string `json:"confirmed"`
	InFlight  []string `json:"in_flight"`
	Failed    []string `json:"failed"`
	Reverted  []string `json:"reverted"`
	Conflicts []string `json:"conflicts"`
	Pending   []string `json:"pending"`
}

func newWalletReconcileCmd(w *walletFlags, stdout, stderr io.Writer) *cobra.Command {
	var f reconcileFlags
	cmd := &cobra.Command{
		Use:   "reconcile --rpc URL [--account ADDR] [--confirmations N] [--json]",
		Short: "Finish every unfinished payment of the account, as after a crash",
		Long: `reconcile makes one pass over every unfinished payment intent (pending,
signed or sent) of the account in the store (<data-dir>/procurebot.db) and
moves each as far as it goes without waiting for new blocks: a pending one
is signed and broadcast; a signed or sent one is confirmed if its
transaction is mined with --confirmations blocks, else broadcast again with
the same signed transaction (never a new nonce). Confirmed payments are
appended to the ledger. Run it again to finish what is still in flight.

It prints what it found, by intent id: checked (how many), confirmed,
in_flight, failed, reverted, conflicts (the intent's nonce was used by a
transaction it does not know: another signer uses the key; resolve by hand),
pending (the node could not be reached). --json prints one JSON object with
those keys plus account and chain_id. Errors of the intents it could not
settle go to stderr, exit status 1.`,
		Example: `  procurebot wallet reconcile --rpc http://127.0.0.1:8545 --data-dir ./state --json`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return redactErr(runWalletReconcile(cmd.Context(), w, f, stdout, stderr), f.rpc)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.rpc, "rpc", "", "the node's JSON-RPC URL (http, https, ws, wss or an IPC path) (required)")
	fl.StringVar(&f.account, "account", "", "the paying account (default: the keystore's only account)")
	fl.Uint64Var(&f.confirmations, "confirmations", 1, "blocks that make a payment final (at least 1)")
	fl.BoolVar(&f.json, "json", false, "print one JSON object (logs stay on stderr)")
	fl.BoolVar(&f.quiet, "quiet", false, "no logs")
	return cmd
}

func runWalletReconcile(ctx context.Context, w *walletFlags, f reconcileFlags, stdout, stderr io.Writer) error {
	if f.rpc == "" {
		return usageError{errors.New("--rpc: required (the node's JSON-RPC URL, e.g. http://127.0.0.1:8545)")}
	}
	if f.confirmations < 1 {
		return usageError{fmt.Errorf("--confirmations: must be at least 1, got %d", f.confirmations)}
	}
	pw, dir, from, err := w.signingAccount(f.account)
	if err != nil {
		return err
	}
	c, chainID, err := dial(ctx, f.rpc)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := bolt.Open(filepath.Join(w.dataDir, bolt.FileName))
	if err != nil {
		return err
	}
	defer st.Close()
	signer, closeKeys, err := unlock(dir, pw, from)
	if err != nil {
		return err
	}
	defer closeKeys()
	payer, err := wallet.NewPayer(ctx, c, st, signer, wallet.WithConfirmations(f.confirmations), wallet.WithLedger(st),
		wallet.WithLogger(newLogger(stderr, f.quiet)))
	if err != nil {
		return err
	}
	rep, recErr := payer.Reconcile(ctx)
	nz := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	out := reconcileJSON{Account: from.Hex(), ChainID: chainID.Uint64(), Checked: rep.Checked,
		Confirmed: nz(rep.Confirmed), InFlight: nz(rep.InFlight), Failed: nz(rep.Failed), Reverted: nz(rep.Reverted),
		Conflicts: nz(rep.Conflicts), Pending: nz(rep.Pending)}
	if f.json {
		if err := writeJSON(stdout, out); err != nil {
			return err
		}
		return recErr
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	list := func(s []string) string { return orDefault(strings.Join(s, ", "), "-") }
	fmt.Fprintf(tw, "account\t%s\n", out.Account)
	fmt.Fprintf(tw, "chain_id\t%d\n", out.ChainID)
	fmt.Fprintf(tw, "checked\t%d\n", out.Checked)
	fmt.Fprintf(tw, "confirmed\t%s\n", list(out.Confirmed))
	fmt.Fprintf(tw, "in_flight\t%s\n", list(out.InFlight))
	fmt.Fprintf(tw, "failed\t%s\n", list(out.Failed))
	fmt.Fprintf(tw, "reverted\t%s\n", list(out.Reverted))
	fmt.Fprintf(tw, "conflicts\t%s\n", list(out.Conflicts))
	fmt.Fprintf(tw, "pending\t%s\n", list(out.Pending))
	if err := tw.Flush(); err != nil {
		return err
	}
	return recErr
}

// signingAccount reads the keystore password and picks the account that
// signs (--account, or the keystore's only one).
func (w *walletFlags) signingAccount(account string) (pw, dir string, from common.Address, err error) {
	if pw, err = password(); err != nil {
		return "", "", common.Address{}, err
	}
	dir = w.keystoreDir()
	accs, err := existingKeystore(dir)
	if err != nil {
		return "", "", common.Address{}, err
	}
	from, err = pickAccount(accs, account, dir, true)
	return pw, dir, from, err
}

// unlock opens the keystore in dir and unlocks account from for signing;
// the returned function closes the keystore.
func unlock(dir, pw string, from common.Address) (wallet.Signer, func(), error) {
	ks, err := wallet.OpenKeystore(dir, pw)
	if err != nil {
		return nil, nil, err
	}
	signer, err := ks.Signer(from)
	if err != nil {
		ks.Close()
		return nil, nil, passwordHint(err)
	}
	return signer, func() { ks.Close() }, nil
}

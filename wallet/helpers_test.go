package wallet_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/rs/zerolog"

	"github.com/procurebot/procurebot"
	storebolt "github.com/procurebot/procurebot/store/bolt"
	"github.com/procurebot/procurebot/wallet"
	"github.com/procurebot/procurebot/wallet/token"
)

const testPassword = "correct horse battery staple 7f3a"

var errCrash = errors.New("simulated crash")

// env is a simulated chain with the bundled token deployed by a funded
// account, that account's key in an encrypted keystore, and the bbolt store
// (store/bolt) on a file.
type env struct {
	t         *testing.T
	ctx       context.Context
	backend   *simulated.Backend
	client    simulated.Client
	key       *ecdsa.PrivateKey
	from      common.Address
	token     common.Address
	decimals  uint8
	tok       *token.Token
	ksDir     string
	storePath string
	store     *storebolt.Store
	logs      *syncBuffer

	minerMu   sync.Mutex
	stopMiner func()
}

// syncBuffer is a bytes.Buffer safe for concurrent writes (zerolog from
// several goroutines).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T, decimals uint8, supply *big.Int) *env {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), key: key, from: crypto.PubkeyToAddress(key.PublicKey),
		decimals: decimals, tok: token.NewToken(), ksDir: filepath.Join(t.TempDir(), "keystore"),
		storePath: filepath.Join(t.TempDir(), "intents.db"), logs: &syncBuffer{}}
	e.backend = simulated.NewBackend(types.GenesisAlloc{e.from: {Balance: ether(100)}})
	t.Cleanup(func() { _ = e.backend.Close() })
	t.Cleanup(e.stopMining)
	e.client = e.backend.Client()

	auth := bind.NewKeyedTransactor(key, big.NewInt(1337))
	addr, tx, err := bind.DeployContract(auth, common.FromHex(token.TokenMetaData.Bin), e.client,
		e.tok.PackConstructor("Test Dollar", "TUSD", decimals, supply))
	if err != nil {
		t.Fatal(err)
	}
	e.backend.Commit()
	if _, err := bind.WaitDeployed(e.ctx, e.client, tx.Hash()); err != nil {
		t.Fatal(err)
	}
	e.token = addr

	ks, err := wallet.OpenKeystore(e.ksDir, testPassword, wallet.LightScrypt())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.ImportKey(key); err != nil {
		t.Fatal(err)
	}
	e.openStore()
	return e
}

// openStore opens the bbolt store file (store/bolt, fsync on every write).
func (e *env) openStore() {
	s, err := storebolt.Open(e.storePath)
	if err != nil {
		e.t.Fatal(err)
	}
	e.store = s
	e.t.Cleanup(func() { _ = s.Close() })
}

// restart closes the intent store file and opens it again, as a new
// process would.
func (e *env) restart() {
	if err := e.store.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.openStore()
}

// payer opens the keystore anew (as a new process would) and returns a
// Payer over the current store.
func (e *env) payer(opts ...wallet.Option) *wallet.Payer {
	e.t.Helper()
	ks, err := wallet.OpenKeystore(e.ksDir, testPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	signer, err := ks.Signer(e.from)
	if err != nil {
		e.t.Fatal(err)
	}
	base := []wallet.Option{wallet.WithPollInterval(5 * time.Millisecond),
		wallet.WithLogger(zerolog.New(e.logs).Level(zerolog.TraceLevel))}
	p, err := wallet.NewPayer(e.ctx, e.client, e.store, signer, append(base, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// mine commits a block every few milliseconds until stopMining.
func (e *env) mine() {
	e.minerMu.Lock()
	defer e.minerMu.Unlock()
	if e.stopMiner != nil {
		return
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				e.backend.Commit()
			}
		}
	}()
	e.stopMiner = func() { close(done); <-stopped }
}

func (e *env) stopMining() {
	e.minerMu.Lock()
	defer e.minerMu.Unlock()
	if e.stopMiner != nil {
		e.stopMiner()
		e.stopMiner = nil
	}
}

func (e *env) intent(id string, to common.Address, amount *big.Int) *procurebot.PaymentIntent {
	return &procurebot.PaymentIntent{ID: id, Token: e.token.Hex(), To: to.Hex(), Amount: amount,
		AmountUSD: wallet.FromBaseUnits(amount, e.decimals), Venue: "test-venue"}
}

func (e *env) balance(addr common.Address) *big.Int {
	e.t.Helper()
	out, err := e.client.CallContract(e.ctx, ethereum.CallMsg{To: &e.token, Data: e.tok.PackBalanceOf(addr)}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := e.tok.UnpackBalanceOf(out)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// transfers returns the token's Transfer events, mint included.
func (e *env) transfers() []*token.TokenTransfer {
	e.t.Helper()
	logs, err := e.client.FilterLogs(e.ctx, ethereum.FilterQuery{FromBlock: big.NewInt(0), Addresses: []common.Address{e.token},
		Topics: [][]common.Hash{{e.tok.GetABI().Events["Transfer"].ID}}})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*token.TokenTransfer
	for i := range logs {
		ev, err := e.tok.UnpackTransferEvent(&logs[i])
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// transfersTo returns the Transfer events to addr.
func (e *env) transfersTo(addr common.Address) []*token.TokenTransfer {
	var out []*token.TokenTransfer
	for _, ev := range e.transfers() {
		if ev.To == addr {
			out = append(out, ev)
		}
	}
	return out
}

func (e *env) nonce() uint64 {
	n, err := e.client.NonceAt(e.ctx, e.from, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) pendingNonce() uint64 {
	n, err := e.client.PendingNonceAt(e.ctx, e.from)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) get(id string) *procurebot.PaymentIntent {
	e.t.Helper()
	in, err := e.store.GetIntent(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return in
}

// waitState polls the store until intent id is in state s.
func (e *env) waitState(id string, s procurebot.IntentState) *procurebot.PaymentIntent {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if in, err := e.store.GetIntent(e.ctx, id); err == nil && in.State == s {
			return in
		}
		time.Sleep(2 * time.Millisecond)
	}
	e.t.Fatalf("intent %s never reached %s (is %s)", id, s, e.get(id).State)
	return nil
}

func ether(n int64) *big.Int {
	return new(big.Int).Mul(big.NewInt(n), big.NewInt(1e18))
}

func units(t *testing.T, s string, decimals uint8) *big.Int {
	t.Helper()
	v, err := wallet.ToBaseUnits(mustDec(t, s), decimals)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustDec(t *testing.T, s string) procurebot.Money {
	t.Helper()
	d, err := parseDec(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newAddr(t *testing.T) common.Address {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return crypto.PubkeyToAddress(k.PublicKey)
}

func decodeTx(t *testing.T, raw []byte) *types.Transaction {
	t.Helper()
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(raw); err != nil {
		t.Fatal(err)
	}
	return tx
}

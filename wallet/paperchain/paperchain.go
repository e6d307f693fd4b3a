// Package paperchain is the chain of paper mode: go-ethereum's simulated
// backend (ethclient/simulated) with the bundled ERC-20 deployed by the
// agent's own account, which holds its whole supply, and a miner that
// commits a block every few milliseconds.
//
// The simulated backend lives in memory, so a paper run that is killed
// loses its chain. Start rebuilds it: the token is deployed again at the
// same address (the account's first transaction, nonce 0) and every
// payment transaction the intent store holds signed is replayed in nonce
// order — the same signed bytes, so the same transaction hashes the
// ledger names. What was paid stays paid; nothing is signed anew.
package paperchain

import (
	"context"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient/simulated"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/wallet"
	"github.com/procurebot/procurebot/wallet/token"
)

// Chain is a running paper chain.
type Chain struct {
	backend *simulated.Backend
	// Token is the stablecoin's address; Decimals its decimals.
	Token    common.Address
	Decimals uint8
	// Replayed counts the payment transactions re-mined at start.
	Replayed int

	stop func()
}

// Client is the chain's RPC client (implements wallet.Chain).
func (c *Chain) Client() simulated.Client { return c.backend.Client() }

// Close stops the miner and the chain.
func (c *Chain) Close() error {
	c.stop()
	return c.backend.Close()
}

// Options of a paper chain.
type Options struct {
	// Decimals of the token (default 6, as USDC) and Supply in whole
	// tokens minted to the account (default 10,000,000).
	Decimals uint8
	Supply   int64
	// Block is the miner's period (default 5 ms).
	Block time.Duration
	// Replay are the signed payment transactions to mine again, any order.
	Replay [][]byte
}

// Start deploys the token from signer's account (funded with ether at
// genesis) and replays opts.Replay.
func Start(ctx context.Context, signer wallet.Signer, opts Options) (*Chain, error) {
	if opts.Decimals == 0 {
		opts.Decimals = 6
	}
	if opts.Supply == 0 {
		opts.Supply = 10_000_000
	}
	if opts.Block <= 0 {
		opts.Block = 5 * time.Millisecond
	}
	from := signer.Address()
	eth := new(big.Int).Exp(big.NewInt(10), big.NewInt(24), nil) // a million ether for gas
	b := simulated.NewBackend(types.GenesisAlloc{from: {Balance: eth}})
	c := &Chain{backend: b, Decimals: opts.Decimals, stop: func() {}}
	client := b.Client()
	chainID, err := client.ChainID(ctx)
	if err != nil {
		b.Close()
		return nil, err
	}
	auth := &bind.TransactOpts{From: from, Context: ctx, Signer: func(a common.Address, tx *types.Transaction) (*types.Transaction, error) {
		return signer.SignTx(tx, chainID)
	}}
	supply := new(big.Int).Mul(big.NewInt(opts.Supply), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(opts.Decimals)), nil))
	addr, tx, err := bind.DeployContract(auth, common.FromHex(token.TokenMetaData.Bin), client,
		token.NewToken().PackConstructor("Paper Dollar", "pUSD", opts.Decimals, supply))
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("paperchain: deploy the token: %w", err)
	}
	b.Commit()
	if _, err := bind.WaitDeployed(ctx, client, tx.Hash()); err != nil {
		b.Close()
		return nil, fmt.Errorf("paperchain: deploy the token: %w", err)
	}
	c.Token = addr
	if err := c.replay(ctx, opts.Replay); err != nil {
		b.Close()
		return nil, err
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(opts.Block)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				b.Commit()
			}
		}
	}()
	var once sync.Once
	c.stop = func() { once.Do(func() { close(done); <-stopped }) }
	return c, nil
}

// replay mines the signed transactions again in nonce order, one block
// each. A transaction whose nonce is already spent (a replaced one) is
// skipped.
func (c *Chain) replay(ctx context.Context, raw [][]byte) error {
	var txs []*types.Transaction
	for _, r := range raw {
		tx := new(types.Transaction)
		if err := tx.UnmarshalBinary(r); err != nil {
			return fmt.Errorf("paperchain: a stored signed transaction does not decode: %w", err)
		}
		txs = append(txs, tx)
	}
	sort.SliceStable(txs, func(i, j int) bool { return txs[i].Nonce() < txs[j].Nonce() })
	client := c.backend.Client()
	for _, tx := range txs {
		if err := client.SendTransaction(ctx, tx); err != nil {
			if isStale(err) {
				continue
			}
			return fmt.Errorf("paperchain: replay transaction %s (nonce %d): %w", tx.Hash().Hex(), tx.Nonce(), err)
		}
		c.backend.Commit()
		c.Replayed++
	}
	return nil
}

func isStale(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "nonce too low") || strings.Contains(s, "already known")
}

// SignedTxs returns the signed transactions of the intents that were
// signed (signed, sent, confirmed), for Start's Replay.
func SignedTxs(intents []procurebot.PaymentIntent) [][]byte {
	var out [][]byte
	for _, in := range intents {
		if len(in.SignedTx) > 0 && (in.State == procurebot.IntentSigned || in.State == procurebot.IntentSent || in.State == procurebot.IntentConfirmed) {
			out = append(out, in.SignedTx)
		}
	}
	return out
}

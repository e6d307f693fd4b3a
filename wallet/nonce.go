package wallet

import (
	"context"
	"sync"

	"github.com/ethereum/go-ethereum/common"

	"github.com/procurebot/procurebot"
)

// NonceManager serialises the sends of each account within a process:
// everything a Payer does from choosing a nonce to recording the signed
// transaction, and every later change to an intent of that account, runs
// with the account's lock held. Payers in one process that sign for the
// same account must share one NonceManager (WithNonceManager); across
// processes, run one Payer per key.
type NonceManager struct {
	mu    sync.Mutex
	locks map[common.Address]chan struct{}
}

// NewNonceManager returns a NonceManager with no account locked.
func NewNonceManager() *NonceManager {
	return &NonceManager{locks: map[common.Address]chan struct{}{}}
}

// Lock takes the lock of account addr, waiting until it is free or ctx is
// done, and returns the function that releases it.
func (m *NonceManager) Lock(ctx context.Context, addr common.Address) (unlock func(), err error) {
	m.mu.Lock()
	ch, ok := m.locks[addr]
	if !ok {
		ch = make(chan struct{}, 1)
		m.locks[addr] = ch
	}
	m.mu.Unlock()
	select {
	case ch <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-ch }) }, nil
	case <-ctx.Done():
		return func() {}, &procurebot.Error{Code: procurebot.EUNAVAILABLE,
			Message: "waiting for the nonce lock of account " + addr.Hex(), Err: ctx.Err()}
	}
}

// NextNonce returns the nonce for the next transaction of account from:
// the chain's pending nonce (mined and pooled transactions), or one past
// the highest nonce held by an unfinished intent of the account (signed,
// perhaps not yet broadcast), whichever is higher. Call it with the
// account's lock held, and record the nonce durably before releasing it.
func NextNonce(pending uint64, from common.Address, held []procurebot.PaymentIntent) uint64 {
	next := pending
	for _, h := range held {
		if (h.State == procurebot.IntentSigned || h.State == procurebot.IntentSent) &&
			common.HexToAddress(h.From) == from && h.Nonce+1 > next {
			next = h.Nonce + 1
		}
	}
	return next
}

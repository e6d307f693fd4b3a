package wallet

import (
	"context"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/core/types"

	"github.com/procurebot/procurebot"
)

// Bump replaces the stuck transaction of a Signed or Sent intent: the same
// transfer, the same nonce and gas, a tip and fee cap each at least 10 %
// above the last (and at least the node's current suggestion: tip + 2 ×
// base fee). The new transaction is recorded (its hash appended to
// TxHashes, the intent Signed) before it is broadcast (then Sent). Only one
// of the intent's transactions can be mined, as they share the nonce.
// Bump does not wait for the receipt (Wait does). A Pending intent is an
// EINVALID error; a finished one is returned as it is; an intent already
// mined is settled instead of bumped.
func (p *Payer) Bump(ctx context.Context, id string) (*procurebot.PaymentIntent, error) {
	cur, mined, err := p.bumpSign(ctx, id)
	if err != nil || cur == nil {
		return cur, err
	}
	if cur.State.Final() {
		return cur, nil
	}
	if mined {
		return p.drive(ctx, id, false)
	}
	if err := p.runHook(StepSigned, cur); err != nil {
		return cur, err
	}
	if _, err := p.broadcast(ctx, id); err != nil {
		return p.latest(ctx, cur), err
	}
	return p.get(ctx, id)
}

func (p *Payer) bumpSign(ctx context.Context, id string) (cur *procurebot.PaymentIntent, mined bool, err error) {
	unlock, err := p.nonces.Lock(ctx, p.from)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	if cur, err = p.get(ctx, id); err != nil {
		return nil, false, err
	}
	if err := p.owns(cur); err != nil {
		return cur, false, err
	}
	switch cur.State {
	case procurebot.IntentPending:
		return cur, false, p.wrap(procurebot.EINVALID, cur, nil, "bump: nothing is signed yet (Pay or Reconcile signs it)")
	case procurebot.IntentConfirmed, procurebot.IntentFailed:
		return cur, false, nil
	}
	onChain, err := p.chain.NonceAt(ctx, p.from, nil)
	if err != nil {
		return cur, false, p.unavailable(cur, err, "read the account's nonce")
	}
	r, _, err := p.receipt(ctx, cur)
	if err != nil {
		return cur, false, err
	}
	if r != nil {
		return cur, true, nil
	}
	if onChain > cur.Nonce {
		return cur, false, p.wrap(procurebot.ECONFLICT, cur, ErrNonceConflict,
			"bump: nonce %d of account %s is used on chain by none of %s; resolve by hand",
			cur.Nonce, p.from.Hex(), strings.Join(cur.TxHashes, ", "))
	}
	old, err := p.intentTx(cur)
	if err != nil {
		return cur, false, err
	}
	tip, feeCap, _, err := p.fees(ctx, cur)
	if err != nil {
		return cur, false, err
	}
	newTip := maxBig(bumped(old.GasTipCap()), tip)
	newCap := maxBig(bumped(old.GasFeeCap()), feeCap, newTip)
	eth, err := p.chain.BalanceAt(ctx, p.from, nil)
	if err != nil {
		return cur, false, p.unavailable(cur, err, "read the account's balance")
	}
	cost := new(big.Int).Mul(new(big.Int).SetUint64(old.Gas()), newCap)
	if eth.Cmp(cost) < 0 {
		return cur, false, p.wrap(procurebot.EINVALID, cur, ErrInsufficientGas,
			"bump: account %s holds %s wei, the replacement needs up to %s wei of gas (%d gas at %s wei); nothing was signed",
			p.from.Hex(), eth, cost, old.Gas(), newCap)
	}
	tx, raw, err := p.signTx(cur, &types.DynamicFeeTx{
		ChainID: p.chainID, Nonce: cur.Nonce, GasTipCap: newTip, GasFeeCap: newCap, Gas: old.Gas(),
		To: old.To(), Value: old.Value(), Data: old.Data(),
	})
	if err != nil {
		return cur, false, err
	}
	upd := cloneIntent(cur)
	upd.State = procurebot.IntentSigned
	upd.SignedTx = raw
	upd.TxHashes = append(upd.TxHashes, tx.Hash().Hex())
	upd.Error = ""
	upd.UpdatedAt = p.clock.Now().UTC()
	if err := p.store.UpdateIntent(ctx, upd, cur.State); err != nil {
		return cur, false, p.wrap(procurebot.ErrorCode(err), cur, err, "bump: record the replacement")
	}
	p.logger(upd).Info().Uint64("nonce", upd.Nonce).Str("tx", tx.Hash().Hex()).Str("replaces", lastHash(cur)).
		Str("tip_wei", newTip.String()).Str("fee_cap_wei", newCap.String()).Msg("transfer replaced with higher fees")
	return upd, false, nil
}

// bumped returns v + 10 %, rounded up, and at least v + 1.
func bumped(v *big.Int) *big.Int {
	b := new(big.Int).Mul(v, big.NewInt(110))
	b.Add(b, big.NewInt(99))
	b.Div(b, big.NewInt(100))
	if b.Cmp(v) <= 0 {
		b.Add(v, big.NewInt(1))
	}
	return b
}

func maxBig(vs ...*big.Int) *big.Int {
	m := new(big.Int).Set(vs[0])
	for _, v := range vs[1:] {
		if v.Cmp(m) > 0 {
			m.Set(v)
		}
	}
	return m
}

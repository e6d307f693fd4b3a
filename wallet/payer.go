package wallet

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/rs/zerolog"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/wallet/token"
)

// Chain is what the Payer needs from an Ethereum node. go-ethereum's
// *ethclient.Client (ethclient.Dial of any JSON-RPC URL) and the simulated
// backend's client (ethclient/simulated) both implement it.
type Chain interface {
	ChainID(ctx context.Context) (*big.Int, error)
	BlockNumber(ctx context.Context) (uint64, error)
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	NonceAt(ctx context.Context, account common.Address, blockNumber *big.Int) (uint64, error)
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
	BalanceAt(ctx context.Context, account common.Address, blockNumber *big.Int) (*big.Int, error)
	CallContract(ctx context.Context, msg ethereum.CallMsg, blockNumber *big.Int) ([]byte, error)
	EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error)
	SuggestGasTipCap(ctx context.Context) (*big.Int, error)
	SendTransaction(ctx context.Context, tx *types.Transaction) error
	TransactionReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error)
}

// Step names a point in a payment's life after which a StepHook runs.
type Step string

// The steps, in the order a payment passes them.
const (
	// StepCreated: the intent is durable (Pending); nothing is signed.
	StepCreated Step = "created"
	// StepSigned: the signed transaction, its nonce and hash are durable
	// (Signed); it is not yet broadcast. Bump passes it too.
	StepSigned Step = "signed"
	// StepBroadcast: the node accepted the transaction; Sent is not yet
	// recorded.
	StepBroadcast Step = "broadcast"
	// StepSent: Sent is durable; the receipt is not yet seen.
	StepSent Step = "sent"
)

// StepHook runs after each Step of a payment with the intent as it then
// is. If it returns an error, the Payer stops right there, as a crash
// would, and returns that error (errors.Is finds it). It exists for fault
// injection: tests stop a payment at a chosen step, or kill the process.
// It may run with the account's lock held and must not call the Payer.
type StepHook func(step Step, p *procurebot.PaymentIntent) error

// Errors the Payer wraps (errors.Is finds them) in its *procurebot.Error
// values.
var (
	// ErrInsufficientToken: the account holds fewer tokens than the payment
	// (and its unconfirmed payments) need. Code EINVALID; nothing is signed.
	ErrInsufficientToken = errors.New("insufficient token balance")
	// ErrInsufficientGas: the account holds too little of the chain's coin
	// for the gas. Code EINVALID; nothing is signed.
	ErrInsufficientGas = errors.New("insufficient funds for gas")
	// ErrReverted: a transaction of the intent was mined and reverted; the
	// tokens did not move and the intent's nonce is spent. Code EINVALID.
	ErrReverted = errors.New("transfer reverted on chain")
	// ErrNonceConflict: the intent's nonce was used on chain by a
	// transaction that is not one of the intent's. Code ECONFLICT. It means
	// something else signs for the same key; it must be resolved by hand.
	ErrNonceConflict = errors.New("nonce used by a transaction not recorded for the intent")
)

// Option configures a Payer.
type Option func(*Payer)

// WithConfirmations sets how many blocks (the one that includes the
// transfer counts as the first) make a payment Confirmed; default 1, and
// 0 counts as 1.
func WithConfirmations(n uint64) Option {
	return func(p *Payer) { p.confirmations = max(n, 1) }
}

// WithPollInterval sets how often a waiting payment asks the chain for its
// receipt; default 2 s.
func WithPollInterval(d time.Duration) Option {
	return func(p *Payer) {
		if d > 0 {
			p.poll = d
		}
	}
}

// WithRebroadcastInterval sets how often a waiting payment hands its signed
// transaction to the node again (in case the node dropped it); default 1
// minute.
func WithRebroadcastInterval(d time.Duration) Option {
	return func(p *Payer) {
		if d > 0 {
			p.rebroadcast = d
		}
	}
}

// WithGasMargin sets the head room added to the gas estimate, in percent;
// default 20 (unused gas is not charged).
func WithGasMargin(percent uint64) Option {
	return func(p *Payer) { p.gasMargin = percent }
}

// WithLogger sets the logger; default none. Log lines name intents,
// accounts, tokens, amounts, nonces and transaction hashes, never keys or
// passwords.
func WithLogger(l zerolog.Logger) Option {
	return func(p *Payer) { p.log = l }
}

// WithClock sets the clock the Payer reads time from and sleeps on; default
// the wall clock.
func WithClock(c procurebot.Clock) Option {
	return func(p *Payer) {
		if c != nil {
			p.clock = c
		}
	}
}

// WithStepHook sets the hook run after each Step (see StepHook).
func WithStepHook(h StepHook) Option {
	return func(p *Payer) { p.hook = h }
}

// WithLedger makes the Payer append a payment entry (intent id, mined
// transaction hash, AmountUSD, venue) to l for every transfer it confirms,
// before the intent is recorded Confirmed — so a Confirmed intent always
// has its entry, and a crash in between is finished by Reconcile (the
// entry's intent id keeps it single).
func WithLedger(l Ledger) Option {
	return func(p *Payer) { p.ledger = l }
}

// WithNonceManager makes the Payer take account locks from m, shared with
// other Payers of the process; default a NonceManager of its own.
func WithNonceManager(m *NonceManager) Option {
	return func(p *Payer) {
		if m != nil {
			p.nonces = m
		}
	}
}

// Payer pays ERC-20 transfers from one account, each payment intent exactly
// once. Every step is recorded in the IntentStore before the next one
// starts, so a Payer built anew after a crash (another process, the same
// store and key) finishes what the last one started: Reconcile.
//
// A payment's life: Pay stores the intent Pending; then, with the account's
// nonce lock held, checks the token and gas balances, estimates the gas,
// takes the next nonce, signs an EIP-1559 transfer (tip: the node's
// suggestion; fee cap: tip + 2 × base fee) and records it Signed; then
// broadcasts it and records it Sent; then waits for its receipt and the
// configured confirmations and records it Confirmed. A signed intent is
// never given another nonce.
//
// A transfer that is mined but reverts (the token refused it: paused,
// blacklisted payee, balance spent meanwhile) moved nothing and spent the
// nonce, so none of the intent's transactions can ever transfer. The
// Payer records the reverted hash in Mined and the reason in Error and
// moves the intent to Failed (the one way a Signed or Sent intent fails:
// procurebot.IntentState.CanMove, procurebot.MovesToFailed); Pay reports
// it with ErrReverted and nothing is ever re-sent for it.
type Payer struct {
	chain   Chain
	store   IntentStore
	signer  Signer
	from    common.Address
	chainID *big.Int
	erc20   *token.Token

	nonces        *NonceManager
	confirmations uint64
	poll          time.Duration
	rebroadcast   time.Duration
	gasMargin     uint64
	log           zerolog.Logger
	clock         procurebot.Clock
	hook          StepHook
	ledger        Ledger

	decMu    sync.Mutex
	decimals map[common.Address]uint8
}

// NewPayer returns a Payer that signs with signer, records intents in
// store and talks to chain (whose chain ID it reads now).
func NewPayer(ctx context.Context, chain Chain, store IntentStore, signer Signer, opts ...Option) (*Payer, error) {
	if chain == nil || store == nil || signer == nil {
		return nil, procurebot.Invalidf("wallet: NewPayer needs a chain, a store and a signer")
	}
	id, err := chain.ChainID(ctx)
	if err != nil {
		return nil, &procurebot.Error{Code: procurebot.EUNAVAILABLE, Message: "wallet: read the chain id", Err: err}
	}
	p := &Payer{
		chain: chain, store: store, signer: signer, from: signer.Address(), chainID: id,
		erc20: token.NewToken(), nonces: NewNonceManager(), confirmations: 1,
		poll: 2 * time.Second, rebroadcast: time.Minute, gasMargin: 20,
		log: zerolog.Nop(), clock: procurebot.WallClock{}, decimals: map[common.Address]uint8{},
	}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// Address returns the account the Payer pays from.
func (p *Payer) Address() common.Address { return p.from }

// ChainID returns the chain's id.
func (p *Payer) ChainID() *big.Int { return new(big.Int).Set(p.chainID) }

// Pay makes the payment in intent exactly once and returns the intent as
// it ends: Confirmed, or Failed with an error. intent.ID is the
// idempotency key: if an intent with that ID exists, Pay continues it from
// its recorded state (returning it at once if it is finished) and never
// pays it twice; an existing intent with another payee, token, amount or
// account is an ECONFLICT error. From and Chain may be left empty (the
// Payer's account and chain); State must be empty or Pending.
//
// Insufficient token or gas balance, an invalid intent, or a transfer the
// token would refuse are EINVALID errors and end the intent Failed with
// nothing signed. If Pay returns an error with the intent Signed or Sent
// (node unreachable, ctx done), the payment may still land: Wait or
// Reconcile finishes it; never pay it again under another ID.
func (p *Payer) Pay(ctx context.Context, intent *procurebot.PaymentIntent) (*procurebot.PaymentIntent, error) {
	in, err := p.normalise(intent)
	if err != nil {
		return nil, err
	}
	existing, created, err := p.store.CreateIntent(ctx, in)
	if err != nil {
		return nil, p.wrap(procurebot.ErrorCode(err), in, err, "record the intent")
	}
	if created {
		p.logger(in).Info().Str("amount", in.Amount.String()).Str("to", in.To).Msg("payment intent created")
	} else {
		if existing == nil {
			if existing, err = p.get(ctx, in.ID); err != nil {
				return nil, err
			}
		}
		if err := sameIntent(existing, in); err != nil {
			return existing, p.wrap(procurebot.ECONFLICT, existing, err, "already exists")
		}
		in = existing
		p.logger(in).Info().Msg("payment intent exists; continuing it")
	}
	if err := p.runHook(StepCreated, in); err != nil {
		return in, err
	}
	return p.drive(ctx, in.ID, true)
}

// Wait drives the intent id to its end as Pay would (signing and sending
// it if need be, then waiting for its receipt) and returns it Confirmed, or
// Failed with an error, or as it is with an error if ctx ends first.
func (p *Payer) Wait(ctx context.Context, id string) (*procurebot.PaymentIntent, error) {
	return p.drive(ctx, id, true)
}

// normalise checks a new intent and fills in what the Payer knows.
func (p *Payer) normalise(intent *procurebot.PaymentIntent) (*procurebot.PaymentIntent, error) {
	if intent == nil {
		return nil, procurebot.Invalidf("payment intent: none given")
	}
	in := cloneIntent(intent)
	if in.State == "" {
		in.State = procurebot.IntentPending
	}
	if in.From == "" {
		in.From = p.from.Hex()
	}
	if in.Chain == 0 {
		in.Chain = p.chainID.Uint64()
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	switch {
	case in.State != procurebot.IntentPending:
		return nil, procurebot.Invalidf("payment intent %s: a new intent is pending, not %s", in.ID, in.State)
	case !common.IsHexAddress(in.From) || common.HexToAddress(in.From) != p.from:
		return nil, procurebot.Invalidf("payment intent %s: account %q is not this payer's %s", in.ID, in.From, p.from.Hex())
	case in.Chain != p.chainID.Uint64():
		return nil, procurebot.Invalidf("payment intent %s: chain %d is not this payer's %d", in.ID, in.Chain, p.chainID.Uint64())
	case common.HexToAddress(in.To) == (common.Address{}):
		return nil, procurebot.Invalidf("payment intent %s: payee is the zero address", in.ID)
	case len(in.SignedTx) != 0 || len(in.TxHashes) != 0 || in.Mined != "":
		return nil, procurebot.Invalidf("payment intent %s: a new intent has no transaction yet", in.ID)
	}
	in.From = p.from.Hex()
	in.Token = common.HexToAddress(in.Token).Hex()
	in.To = common.HexToAddress(in.To).Hex()
	now := p.clock.Now().UTC()
	if in.CreatedAt.IsZero() {
		in.CreatedAt = now
	}
	in.UpdatedAt = now
	return in, nil
}

// sameIntent reports how an existing intent differs from a new one with
// the same ID, or nil if it is the same payment.
func sameIntent(old, in *procurebot.PaymentIntent) error {
	switch {
	case common.HexToAddress(old.To) != common.HexToAddress(in.To):
		return fmt.Errorf("with payee %s, not %s", old.To, in.To)
	case common.HexToAddress(old.Token) != common.HexToAddress(in.Token):
		return fmt.Errorf("with token %s, not %s", old.Token, in.Token)
	case old.Amount == nil || old.Amount.Cmp(in.Amount) != 0:
		return fmt.Errorf("with amount %v, not %s", old.Amount, in.Amount)
	case common.HexToAddress(old.From) != common.HexToAddress(in.From):
		return fmt.Errorf("paid from %s, not %s", old.From, in.From)
	case old.Chain != in.Chain:
		return fmt.Errorf("on chain %d, not %d", old.Chain, in.Chain)
	}
	return nil
}

// drive moves intent id on until it is final. With wait, it polls the chain
// until the transfer is confirmed; without, it makes one pass (sign, send or
// re-send, confirm if already mined) and returns.
func (p *Payer) drive(ctx context.Context, id string, wait bool) (out *procurebot.PaymentIntent, err error) {
	defer func() {
		var stop *stopError
		if err != nil && ctx.Err() != nil && !errors.As(err, &stop) {
			out, err = p.interrupted(ctx, id, out)
		}
	}()
	var lastSend time.Time
	for {
		cur, err := p.get(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := p.owns(cur); err != nil {
			return cur, err
		}
		switch cur.State {
		case procurebot.IntentConfirmed:
			return cur, nil
		case procurebot.IntentFailed:
			return cur, p.failedError(cur)
		case procurebot.IntentPending:
			if _, err := p.sign(ctx, id); err != nil {
				return p.latest(ctx, cur), err
			}
		case procurebot.IntentSigned:
			if _, err := p.broadcast(ctx, id); err != nil {
				return p.latest(ctx, cur), err
			}
			lastSend = p.clock.Now()
		case procurebot.IntentSent:
			cur, final, err := p.settle(ctx, id)
			if err != nil {
				if wait && procurebot.ErrorCode(err) == procurebot.EUNAVAILABLE && ctx.Err() == nil {
					p.logger(cur).Warn().Err(err).Msg("chain unavailable while waiting; retrying")
				} else {
					return cur, err
				}
			}
			if final {
				continue
			}
			if !wait {
				if lastSend.IsZero() {
					if err := p.resend(ctx, id); err != nil {
						return p.latest(ctx, cur), err
					}
				}
				return p.latest(ctx, cur), nil
			}
			if lastSend.IsZero() || p.clock.Now().Sub(lastSend) >= p.rebroadcast {
				if err := p.resend(ctx, id); err != nil && procurebot.ErrorCode(err) != procurebot.EUNAVAILABLE {
					return p.latest(ctx, cur), err
				}
				lastSend = p.clock.Now()
			}
			if err := p.clock.Sleep(ctx, p.poll); err != nil {
				return cur, err
			}
		default:
			return cur, p.wrap(procurebot.EINVALID, cur, nil, "unknown state %q", cur.State)
		}
	}
}

// interrupted is what drive returns when ctx ends: the intent as stored
// and an EUNAVAILABLE error wrapping ctx.Err() that says where it stopped.
func (p *Payer) interrupted(ctx context.Context, id string, cur *procurebot.PaymentIntent) (*procurebot.PaymentIntent, error) {
	if in, err := p.store.GetIntent(context.WithoutCancel(ctx), id); err == nil {
		cur = in
	}
	if cur == nil {
		return nil, &procurebot.Error{Code: procurebot.EUNAVAILABLE, Err: ctx.Err(),
			Message: fmt.Sprintf("payment intent %s (account %s): stopped; Wait or Reconcile finishes it", id, p.from.Hex())}
	}
	if cur.State == procurebot.IntentPending {
		return cur, p.wrap(procurebot.EUNAVAILABLE, cur, ctx.Err(), "stopped while pending, nothing signed; Wait or Reconcile finishes it")
	}
	return cur, p.wrap(procurebot.EUNAVAILABLE, cur, ctx.Err(),
		"stopped waiting for the receipt of %s (state %s, nonce %d); Wait or Reconcile finishes it", lastHash(cur), cur.State, cur.Nonce)
}

// sign takes a Pending intent to Signed: balances checked, gas estimated,
// nonce taken, transaction signed and recorded, all under the account lock.
// If the intent is no longer Pending it does nothing.
func (p *Payer) sign(ctx context.Context, id string) (*procurebot.PaymentIntent, error) {
	unlock, err := p.nonces.Lock(ctx, p.from)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cur, err := p.get(ctx, id)
	if err != nil || cur.State != procurebot.IntentPending {
		return cur, err
	}
	tokenAddr, to := common.HexToAddress(cur.Token), common.HexToAddress(cur.To)
	data, err := p.erc20.TryPackTransfer(to, cur.Amount)
	if err != nil {
		return cur, p.fail(ctx, cur, p.wrap(procurebot.EINVALID, cur, err, "pack the transfer"))
	}

	// What unconfirmed payments of this account already hold.
	latestNonce, err := p.chain.NonceAt(ctx, p.from, nil)
	if err != nil {
		return cur, p.unavailable(cur, err, "read the account's nonce")
	}
	held, err := p.held(ctx)
	if err != nil {
		return cur, err
	}
	heldTokens, heldWei := new(big.Int), new(big.Int)
	for _, h := range held {
		if h.Nonce < latestNonce { // mined already
			continue
		}
		if common.HexToAddress(h.Token) == tokenAddr && h.Amount != nil {
			heldTokens.Add(heldTokens, h.Amount)
		}
		if tx, err := decodeTx(h.SignedTx); err == nil {
			heldWei.Add(heldWei, tx.Cost())
		}
	}

	// Token balance.
	bal, err := p.tokenBalance(ctx, cur, tokenAddr)
	if err != nil {
		return cur, err
	}
	need := new(big.Int).Add(cur.Amount, heldTokens)
	if bal.Cmp(need) < 0 {
		err := p.wrap(procurebot.EINVALID, cur, ErrInsufficientToken,
			"account %s holds %s of token %s, the payment needs %s%s; nothing was signed",
			p.from.Hex(), p.describe(ctx, tokenAddr, bal), tokenAddr.Hex(), p.describe(ctx, tokenAddr, cur.Amount),
			heldNote(heldTokens, func(v *big.Int) string { return p.describe(ctx, tokenAddr, v) }))
		return cur, p.fail(ctx, cur, err)
	}

	// Fees and gas.
	tip, feeCap, baseFee, err := p.fees(ctx, cur)
	if err != nil {
		return cur, err
	}
	gas, err := p.chain.EstimateGas(ctx, ethereum.CallMsg{From: p.from, To: &tokenAddr, Data: data})
	if err != nil {
		if definitive(err) {
			return cur, p.fail(ctx, cur, p.wrap(procurebot.EINVALID, cur, err,
				"the transfer of %s to %s would fail (gas estimate); nothing was signed", cur.Amount, cur.To))
		}
		return cur, p.unavailable(cur, err, "estimate the gas")
	}
	gas += gas * p.gasMargin / 100
	eth, err := p.chain.BalanceAt(ctx, p.from, nil)
	if err != nil {
		return cur, p.unavailable(cur, err, "read the account's balance")
	}
	cost := new(big.Int).Mul(new(big.Int).SetUint64(gas), feeCap)
	if needWei := new(big.Int).Add(cost, heldWei); eth.Cmp(needWei) < 0 {
		err := p.wrap(procurebot.EINVALID, cur, ErrInsufficientGas,
			"account %s holds %s wei, the transfer of token %s needs up to %s wei of gas (%d gas at %s wei; base fee %s)%s; nothing was signed",
			p.from.Hex(), eth, tokenAddr.Hex(), cost, gas, feeCap, baseFee,
			heldNote(heldWei, func(v *big.Int) string { return v.String() + " wei" }))
		return cur, p.fail(ctx, cur, err)
	}

	// Nonce, signature, record.
	pending, err := p.chain.PendingNonceAt(ctx, p.from)
	if err != nil {
		return cur, p.unavailable(cur, err, "read the account's pending nonce")
	}
	nonce := NextNonce(pending, p.from, held)
	tx, raw, err := p.signTx(cur, &types.DynamicFeeTx{
		ChainID: p.chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas,
		To: &tokenAddr, Value: new(big.Int), Data: data,
	})
	if err != nil {
		return cur, err
	}
	upd := cloneIntent(cur)
	upd.State = procurebot.IntentSigned
	upd.Nonce = nonce
	upd.SignedTx = raw
	upd.TxHashes = []string{tx.Hash().Hex()}
	upd.Error = ""
	upd.UpdatedAt = p.clock.Now().UTC()
	if err := p.store.UpdateIntent(ctx, upd, procurebot.IntentPending); err != nil {
		if procurebot.ErrorCode(err) == procurebot.ECONFLICT {
			// Someone else moved it on; this signature is dropped unsent.
			p.logger(cur).Warn().Err(err).Msg("intent moved while signing; signature dropped")
			return p.get(ctx, id)
		}
		return cur, p.wrap(procurebot.ErrorCode(err), cur, err, "record the signed transaction")
	}
	p.logger(upd).Info().Uint64("nonce", nonce).Str("tx", tx.Hash().Hex()).Uint64("gas", gas).
		Str("tip_wei", tip.String()).Str("fee_cap_wei", feeCap.String()).Msg("transfer signed")
	return upd, p.runHook(StepSigned, upd)
}

// broadcast hands the Signed intent's transaction to the node and records
// it Sent. If the intent is no longer Signed it does nothing.
func (p *Payer) broadcast(ctx context.Context, id string) (*procurebot.PaymentIntent, error) {
	unlock, err := p.nonces.Lock(ctx, p.from)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cur, err := p.get(ctx, id)
	if err != nil || cur.State != procurebot.IntentSigned {
		return cur, err
	}
	if err := p.send(ctx, cur); err != nil {
		return p.note(ctx, cur, err), err
	}
	if err := p.runHook(StepBroadcast, cur); err != nil {
		return cur, err
	}
	upd := cloneIntent(cur)
	upd.State = procurebot.IntentSent
	upd.Error = ""
	upd.UpdatedAt = p.clock.Now().UTC()
	if err := p.store.UpdateIntent(ctx, upd, procurebot.IntentSigned); err != nil {
		if procurebot.ErrorCode(err) == procurebot.ECONFLICT {
			return p.get(ctx, id)
		}
		return cur, p.wrap(procurebot.ErrorCode(err), cur, err, "record the broadcast")
	}
	p.logger(upd).Info().Uint64("nonce", upd.Nonce).Str("tx", lastHash(upd)).Msg("transfer broadcast")
	return upd, p.runHook(StepSent, upd)
}

// resend hands a Sent intent's latest signed transaction to the node again.
func (p *Payer) resend(ctx context.Context, id string) error {
	unlock, err := p.nonces.Lock(ctx, p.from)
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := p.get(ctx, id)
	if err != nil || cur.State != procurebot.IntentSent {
		return err
	}
	if err := p.send(ctx, cur); err != nil {
		p.note(ctx, cur, err)
		return err
	}
	p.logger(cur).Debug().Uint64("nonce", cur.Nonce).Str("tx", lastHash(cur)).Msg("transfer re-broadcast")
	return nil
}

// send broadcasts cur.SignedTx. A node that already has it, or whose chain
// already holds one of the intent's transactions, is not an error.
func (p *Payer) send(ctx context.Context, cur *procurebot.PaymentIntent) error {
	tx, err := p.intentTx(cur)
	if err != nil {
		return err
	}
	err = p.chain.SendTransaction(ctx, tx)
	if err == nil {
		return nil
	}
	// Nodes word these answers differently (geth, Erigon: "already known",
	// "nonce too low"; Nethermind: AlreadyKnown, OldNonce; Besu:
	// NONCE_TOO_LOW); compare without case, spaces or underscores.
	msg := strings.NewReplacer(" ", "", "_", "").Replace(strings.ToLower(err.Error()))
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("alreadyknown", "knowntransaction", "alreadyimported", "alreadyinmempool", "alreadyexists"):
		return nil
	case has("noncetoolow", "nonceistoolow", "oldnonce"):
		r, _, rerr := p.receipt(ctx, cur)
		if rerr != nil {
			return rerr
		}
		if r != nil {
			return nil // ours is mined
		}
		return p.wrap(procurebot.ECONFLICT, cur, ErrNonceConflict,
			"nonce %d of account %s is used on chain by none of %s (node: %v); another signer uses this key? Left %s; resolve by hand",
			cur.Nonce, p.from.Hex(), strings.Join(cur.TxHashes, ", "), err, cur.State)
	case has("replacementtransactionunderpriced", "replacementunderpriced"):
		return p.wrap(procurebot.ECONFLICT, cur, err,
			"the node holds another transaction with nonce %d of account %s at an equal or higher fee, none of %s",
			cur.Nonce, p.from.Hex(), strings.Join(cur.TxHashes, ", "))
	case has("underpriced", "feecaplessthanblockbasefee", "feetoolow"):
		return p.unavailable(cur, err, "the node refuses the fees of %s now; Bump raises them", lastHash(cur))
	case has("insufficientfunds"):
		return p.wrap(procurebot.EINVALID, cur, err,
			"account %s cannot pay the gas of %s; top it up and Reconcile re-sends it", p.from.Hex(), lastHash(cur))
	}
	return p.unavailable(cur, err, "broadcast %s", lastHash(cur))
}

// settle looks for a mined transaction of a Signed or Sent intent and, with
// enough confirmations, records the outcome. final reports that the intent
// has ended (Confirmed, Failed, or reverted and left Sent).
func (p *Payer) settle(ctx context.Context, id string) (cur *procurebot.PaymentIntent, final bool, err error) {
	unlock, err := p.nonces.Lock(ctx, p.from)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	if cur, err = p.get(ctx, id); err != nil {
		return nil, false, err
	}
	if cur.State != procurebot.IntentSigned && cur.State != procurebot.IntentSent {
		return cur, cur.State.Final(), nil
	}
	// The nonce first, then the receipts: a transaction of ours mined in
	// between is then found, never taken for a conflict.
	onChain, err := p.chain.NonceAt(ctx, p.from, nil)
	if err != nil {
		return cur, false, p.unavailable(cur, err, "read the account's nonce")
	}
	r, hash, err := p.receipt(ctx, cur)
	if err != nil {
		return cur, false, err
	}
	if r == nil {
		if onChain > cur.Nonce {
			err := p.wrap(procurebot.ECONFLICT, cur, ErrNonceConflict,
				"nonce %d of account %s is used on chain (account nonce %d) by none of %s; another signer uses this key? Left %s; resolve by hand",
				cur.Nonce, p.from.Hex(), onChain, strings.Join(cur.TxHashes, ", "), cur.State)
			return p.note(ctx, cur, err), false, err
		}
		return cur, false, nil
	}
	head, err := p.chain.BlockNumber(ctx)
	if err != nil {
		return cur, false, p.unavailable(cur, err, "read the block number")
	}
	if r.BlockNumber == nil || head+1 < r.BlockNumber.Uint64()+p.confirmations {
		return cur, false, nil
	}
	upd := cloneIntent(cur)
	upd.Mined = hash
	upd.UpdatedAt = p.clock.Now().UTC()
	if r.Status == types.ReceiptStatusSuccessful {
		upd.State = procurebot.IntentConfirmed
		upd.Error = ""
		if err := p.recordPayment(ctx, upd); err != nil {
			return cur, false, err
		}
		if err := p.store.UpdateIntent(ctx, upd, cur.State); err != nil {
			if procurebot.ErrorCode(err) == procurebot.ECONFLICT {
				return p.latest(ctx, cur), false, nil
			}
			return cur, false, p.wrap(procurebot.ErrorCode(err), cur, err, "record the confirmation")
		}
		p.logger(upd).Info().Str("tx", hash).Uint64("block", r.BlockNumber.Uint64()).
			Uint64("gas_used", r.GasUsed).Msg("transfer confirmed")
		return upd, true, nil
	}
	// Mined and reverted: nothing moved, the nonce is spent.
	reason := fmt.Sprintf("transaction %s (nonce %d) reverted in block %d: the token refused the transfer; nothing was paid and the nonce is spent",
		hash, cur.Nonce, r.BlockNumber.Uint64())
	upd.Error = reason
	upd.State = procurebot.IntentSent
	if cur.State.CanMove(procurebot.IntentFailed) {
		upd.State = procurebot.IntentFailed
	}
	if cur.Mined != hash || cur.Error != reason || cur.State != upd.State {
		if err := p.store.UpdateIntent(ctx, upd, cur.State); err != nil {
			if procurebot.ErrorCode(err) == procurebot.ECONFLICT {
				return p.latest(ctx, cur), false, nil
			}
			return cur, false, p.wrap(procurebot.ErrorCode(err), cur, err, "record the revert")
		}
		p.logger(upd).Error().Str("tx", hash).Uint64("block", r.BlockNumber.Uint64()).
			Str("state", string(upd.State)).Msg("transfer reverted")
	}
	return upd, true, p.wrap(procurebot.EINVALID, upd, ErrReverted, "%s", reason)
}

// fees returns the node's suggested tip and the fee cap tip + 2 × base fee.
func (p *Payer) fees(ctx context.Context, cur *procurebot.PaymentIntent) (tip, feeCap, baseFee *big.Int, err error) {
	tip, err = p.chain.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, nil, nil, p.unavailable(cur, err, "read the suggested tip")
	}
	head, err := p.chain.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, nil, nil, p.unavailable(cur, err, "read the latest header")
	}
	if head.BaseFee == nil {
		return nil, nil, nil, p.wrap(procurebot.EINVALID, cur, nil, "chain %s has no base fee (no EIP-1559): not supported", p.chainID)
	}
	baseFee = new(big.Int).Set(head.BaseFee)
	feeCap = new(big.Int).Add(tip, new(big.Int).Mul(baseFee, big.NewInt(2)))
	return tip, feeCap, baseFee, nil
}

// signTx signs an unsigned transaction with the Payer's signer and returns
// it with its binary encoding.
func (p *Payer) signTx(cur *procurebot.PaymentIntent, unsigned *types.DynamicFeeTx) (*types.Transaction, []byte, error) {
	tx, err := p.signer.SignTx(types.NewTx(unsigned), p.chainID)
	if err != nil {
		return nil, nil, p.wrap(procurebot.ErrorCode(err), cur, err, "sign the transfer")
	}
	if sender, err := types.Sender(types.LatestSignerForChainID(p.chainID), tx); err != nil || sender != p.from {
		return nil, nil, p.wrap(procurebot.EINTERNAL, cur, err, "the signer signed for %s, not %s", sender.Hex(), p.from.Hex())
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		return nil, nil, p.wrap(procurebot.EINTERNAL, cur, err, "encode the signed transfer")
	}
	return tx, raw, nil
}

// receipt returns the receipt of whichever of the intent's transactions is
// mined (newest first), or nil if none is.
func (p *Payer) receipt(ctx context.Context, cur *procurebot.PaymentIntent) (*types.Receipt, string, error) {
	for _, h := range slices.Backward(cur.TxHashes) {
		r, err := p.chain.TransactionReceipt(ctx, common.HexToHash(h))
		if errors.Is(err, ethereum.NotFound) {
			continue
		}
		if err != nil {
			return nil, "", p.unavailable(cur, err, "read the receipt of %s", h)
		}
		if r != nil {
			return r, h, nil
		}
	}
	return nil, "", nil
}

// tokenBalance reads balanceOf(from) of the token.
func (p *Payer) tokenBalance(ctx context.Context, cur *procurebot.PaymentIntent, tok common.Address) (*big.Int, error) {
	out, err := p.chain.CallContract(ctx, ethereum.CallMsg{From: p.from, To: &tok, Data: p.erc20.PackBalanceOf(p.from)}, nil)
	if err != nil {
		if definitive(err) {
			return nil, p.fail(ctx, cur, p.wrap(procurebot.EINVALID, cur, err, "token %s refuses balanceOf(%s)", tok.Hex(), p.from.Hex()))
		}
		return nil, p.unavailable(cur, err, "read the token balance")
	}
	bal, err := p.erc20.UnpackBalanceOf(out)
	if err != nil {
		return nil, p.fail(ctx, cur, p.wrap(procurebot.EINVALID, cur, err,
			"token %s does not answer balanceOf: is it an ERC-20 contract on chain %s?", tok.Hex(), p.chainID))
	}
	return bal, nil
}

// describe renders base units of a token as "12.5 (12500000 base units)",
// or as base units only if the token's decimals cannot be read.
func (p *Payer) describe(ctx context.Context, tok common.Address, units *big.Int) string {
	p.decMu.Lock()
	dec, ok := p.decimals[tok]
	p.decMu.Unlock()
	if !ok {
		out, err := p.chain.CallContract(ctx, ethereum.CallMsg{To: &tok, Data: p.erc20.PackDecimals()}, nil)
		if err == nil {
			if d, err := p.erc20.UnpackDecimals(out); err == nil {
				dec, ok = d, true
				p.decMu.Lock()
				p.decimals[tok] = d
				p.decMu.Unlock()
			}
		}
	}
	if !ok {
		return units.String() + " base units"
	}
	return fmt.Sprintf("%s (%s base units)", FromBaseUnits(units, dec).String(), units)
}

func heldNote(v *big.Int, show func(*big.Int) string) string {
	if v.Sign() == 0 {
		return ""
	}
	return " plus " + show(v) + " held by unconfirmed payments"
}

// held returns the account's Signed and Sent intents on this chain.
func (p *Payer) held(ctx context.Context) ([]procurebot.PaymentIntent, error) {
	all, err := p.store.ListIntents(ctx, procurebot.IntentSigned, procurebot.IntentSent)
	if err != nil {
		return nil, &procurebot.Error{Code: procurebot.ErrorCode(err),
			Message: fmt.Sprintf("account %s: list unfinished payment intents", p.from.Hex()), Err: err}
	}
	out := all[:0]
	for _, h := range all {
		if common.HexToAddress(h.From) == p.from && h.Chain == p.chainID.Uint64() {
			out = append(out, h)
		}
	}
	return out, nil
}

// fail records a Pending intent as Failed with cause and returns cause.
func (p *Payer) fail(ctx context.Context, cur *procurebot.PaymentIntent, cause error) error {
	upd := cloneIntent(cur)
	upd.State = procurebot.IntentFailed
	upd.Error = cause.Error()
	upd.UpdatedAt = p.clock.Now().UTC()
	if err := p.store.UpdateIntent(ctx, upd, cur.State); err != nil {
		return errors.Join(cause, p.wrap(procurebot.ErrorCode(err), cur, err, "record the failure"))
	}
	p.logger(upd).Error().Str("error", upd.Error).Msg("payment failed; nothing was signed")
	return cause
}

// note records err as the intent's last transient error (its state
// unchanged) and returns the intent as stored. Called with the account
// lock held; a failure to record is logged, not returned.
func (p *Payer) note(ctx context.Context, cur *procurebot.PaymentIntent, err error) *procurebot.PaymentIntent {
	if cur.Error == err.Error() {
		return cur
	}
	upd := cloneIntent(cur)
	upd.Error = err.Error()
	upd.UpdatedAt = p.clock.Now().UTC()
	if werr := p.store.UpdateIntent(context.WithoutCancel(ctx), upd, cur.State); werr != nil {
		p.logger(cur).Warn().Err(werr).Msg("could not record the error")
		return cur
	}
	p.logger(upd).Warn().Err(err).Msg("transient error recorded")
	return upd
}

// failedError is the error Pay returns for an intent found Failed.
func (p *Payer) failedError(cur *procurebot.PaymentIntent) error {
	return p.wrap(procurebot.EINVALID, cur, nil, "failed: %s", cur.Error)
}

func (p *Payer) owns(cur *procurebot.PaymentIntent) error {
	if common.HexToAddress(cur.From) != p.from || cur.Chain != p.chainID.Uint64() {
		return p.wrap(procurebot.EINVALID, cur, nil, "belongs to account %s on chain %d, not this payer's %s on chain %s",
			cur.From, cur.Chain, p.from.Hex(), p.chainID)
	}
	return nil
}

func (p *Payer) get(ctx context.Context, id string) (*procurebot.PaymentIntent, error) {
	in, err := p.store.GetIntent(ctx, id)
	if err != nil {
		return nil, &procurebot.Error{Code: procurebot.ErrorCode(err),
			Message: fmt.Sprintf("payment intent %s (account %s)", id, p.from.Hex()), Err: err}
	}
	return in, nil
}

// latest re-reads an intent for returning it, falling back to cur.
func (p *Payer) latest(ctx context.Context, cur *procurebot.PaymentIntent) *procurebot.PaymentIntent {
	if cur == nil {
		return nil
	}
	if in, err := p.store.GetIntent(context.WithoutCancel(ctx), cur.ID); err == nil {
		return in
	}
	return cur
}

// intentTx decodes the intent's latest signed transaction and checks it
// is the intent's.
func (p *Payer) intentTx(cur *procurebot.PaymentIntent) (*types.Transaction, error) {
	tx, err := decodeTx(cur.SignedTx)
	if err != nil {
		return nil, p.wrap(procurebot.EINTERNAL, cur, err, "decode the recorded signed transaction")
	}
	if tx.Nonce() != cur.Nonce || tx.To() == nil || *tx.To() != common.HexToAddress(cur.Token) ||
		len(cur.TxHashes) == 0 || tx.Hash().Hex() != cur.TxHashes[len(cur.TxHashes)-1] {
		return nil, p.wrap(procurebot.EINTERNAL, cur, nil, "the recorded signed transaction %s does not match the intent", tx.Hash().Hex())
	}
	return tx, nil
}

func decodeTx(raw []byte) (*types.Transaction, error) {
	if len(raw) == 0 {
		return nil, errors.New("no signed transaction")
	}
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(raw); err != nil {
		return nil, err
	}
	return tx, nil
}

// runHook runs the step hook, wrapping its error as a stop.
func (p *Payer) runHook(step Step, in *procurebot.PaymentIntent) error {
	if p.hook == nil {
		return nil
	}
	if err := p.hook(step, cloneIntent(in)); err != nil {
		return &stopError{step: step, id: in.ID, err: err}
	}
	return nil
}

// stopError is a StepHook's error: the Payer stopped after step.
type stopError struct {
	step Step
	id   string
	err  error
}

func (e *stopError) Error() string {
	return fmt.Sprintf("payment intent %s: stopped after step %s: %v", e.id, e.step, e.err)
}
func (e *stopError) Unwrap() error { return e.err }

// wrap returns a *procurebot.Error naming the intent, account and token.
func (p *Payer) wrap(code string, in *procurebot.PaymentIntent, err error, format string, args ...any) error {
	if code == "" {
		code = procurebot.EINTERNAL
	}
	return &procurebot.Error{Code: code, Message: p.prefix(in) + ": " + fmt.Sprintf(format, args...), Err: err}
}

func (p *Payer) unavailable(in *procurebot.PaymentIntent, err error, format string, args ...any) error {
	return p.wrap(procurebot.EUNAVAILABLE, in, err, format, args...)
}

func (p *Payer) prefix(in *procurebot.PaymentIntent) string {
	if in == nil {
		return "account " + p.from.Hex()
	}
	return fmt.Sprintf("payment intent %s (account %s, token %s)", in.ID, p.from.Hex(), in.Token)
}

func (p *Payer) logger(in *procurebot.PaymentIntent) *zerolog.Logger {
	l := p.log.With().Str("intent", in.ID).Str("from", p.from.Hex()).Str("token", in.Token).Str("state", string(in.State)).Logger()
	return &l
}

// definitive reports whether a node's error answers the request (the call
// reverts, funds are short) rather than failing to reach the node.
func definitive(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "execution reverted") || strings.Contains(msg, "insufficient funds") ||
		strings.Contains(msg, "invalid opcode") || strings.Contains(msg, "out of gas")
}

func lastHash(in *procurebot.PaymentIntent) string {
	if in == nil || len(in.TxHashes) == 0 {
		return "(none)"
	}
	return in.TxHashes[len(in.TxHashes)-1]
}

func cloneIntent(in *procurebot.PaymentIntent) *procurebot.PaymentIntent {
	c := *in
	if in.Amount != nil {
		c.Amount = new(big.Int).Set(in.Amount)
	}
	c.SignedTx = slices.Clone(in.SignedTx)
	c.TxHashes = slices.Clone(in.TxHashes)
	return &c
}

// recordPayment appends the ledger's payment entry of the confirmed intent
// in (see WithLedger); an entry already there for its id is kept.
func (p *Payer) recordPayment(ctx context.Context, in *procurebot.PaymentIntent) error {
	if p.ledger == nil {
		return nil
	}
	venue := in.Venue
	if venue == "" {
		venue = in.To
	}
	e := procurebot.LedgerEntry{Time: in.UpdatedAt.UTC(), Kind: procurebot.KindPayment, AmountUSD: in.AmountUSD,
		Venue: venue, IntentID: in.ID, TxHash: in.Mined,
		Note: fmt.Sprintf("token %s to %s on chain %d", in.Token, in.To, in.Chain)}
	if err := p.ledger.Append(ctx, &e); err != nil && procurebot.ErrorCode(err) != procurebot.ECONFLICT {
		return p.wrap(procurebot.ErrorCode(err), in, err, "record the payment in the ledger")
	}
	return nil
}

package procurebot

import (
	"math/big"
	"time"
)

// IntentState is where a payment intent is in its life (see
// PaymentIntent).
type IntentState string

// Payment intent states. An intent is created Pending (durable before
// anything is signed), becomes Signed when its signed transaction and hash
// are durable (before broadcast), Sent once broadcast, and ends Confirmed
// (the transfer is on chain with enough confirmations) or Failed (nothing
// of it can be on chain). A Signed or Sent intent is never given a new
// nonce: it is re-broadcast, or replaced with the same nonce and higher
// fees (a new signed transaction whose hash is added to TxHashes).
const (
	IntentPending   IntentState = "pending"
	IntentSigned    IntentState = "signed"
	IntentSent      IntentState = "sent"
	IntentConfirmed IntentState = "confirmed"
	IntentFailed    IntentState = "failed"
)

// Final reports whether s ends an intent's life.
func (s IntentState) Final() bool { return s == IntentConfirmed || s == IntentFailed }

// intentMoves lists the allowed state changes.
var intentMoves = map[IntentState][]IntentState{
	IntentPending: {IntentPending, IntentSigned, IntentFailed},
	IntentSigned:  {IntentSigned, IntentSent, IntentConfirmed, IntentFailed},
	IntentSent:    {IntentSent, IntentSigned, IntentConfirmed, IntentFailed},
}

// CanMove reports whether an intent may go from s to next. A Signed or Sent
// intent becomes Failed only when one of its own transactions was mined and
// reverted (receipt status 0): that spends the nonce all its transactions
// share, so none of them can ever transfer. Stores enforce it: such a move
// must name that transaction in Mined (see MovesToFailed).
func (s IntentState) CanMove(next IntentState) bool {
	for _, n := range intentMoves[s] {
		if n == next {
			return true
		}
	}
	return false
}

// PaymentIntent is a payment the agent has decided to make, kept durable
// through its whole life so that it is made exactly once.
type PaymentIntent struct {
	ID        string // idempotency key: the same ID is never paid twice
	CreatedAt time.Time
	UpdatedAt time.Time
	State     IntentState

	Chain     uint64   // chain id
	Token     string   // ERC-20 contract address (0x…)
	From      string   // paying account (0x…)
	To        string   // payee (0x…)
	Amount    *big.Int // token base units
	AmountUSD Money    // what it pays for, in USD (for caps and the ledger)
	Venue     string   // provider or seller paid

	Nonce    uint64   // valid from Signed on
	SignedTx []byte   // the latest signed transaction (binary), from Signed on
	TxHashes []string // every transaction signed for it, oldest first
	Mined    string   // hash of the transaction that made it to chain
	Error    string   // why it failed, or the last transient error
}

// Validate reports the first problem with p as an EINVALID error.
func (p *PaymentIntent) Validate() error {
	switch {
	case p.ID == "":
		return Invalidf("payment intent: id is required")
	case !isHexAddress(p.Token):
		return Invalidf("payment intent %s: token %q is not an address", p.ID, p.Token)
	case !isHexAddress(p.To):
		return Invalidf("payment intent %s: payee %q is not an address", p.ID, p.To)
	case p.Amount == nil || p.Amount.Sign() <= 0:
		return Invalidf("payment intent %s: amount must be positive", p.ID)
	case p.State == "":
		return Invalidf("payment intent %s: state is required", p.ID)
	}
	return nil
}

func isHexAddress(s string) bool {
	if len(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return false
	}
	for _, c := range s[2:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// MovesToFailed checks a move of an intent from stored to Failed: from
// Pending always allowed; from Signed or Sent only with Mined set to one of
// stored's own transactions (the one that reverted). It returns a reason
// when the move is refused.
func MovesToFailed(stored, next *PaymentIntent) (ok bool, reason string) {
	if next.State != IntentFailed || stored.State == IntentPending {
		return true, ""
	}
	if next.Mined == "" {
		return false, "a signed or sent intent fails only when one of its transactions reverted on chain (Mined must name it)"
	}
	for _, h := range stored.TxHashes {
		if equalFoldASCII(h, next.Mined) {
			return true, ""
		}
	}
	return false, "the reverted transaction " + next.Mined + " is not one of the intent's"
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Lease is a named lock held by one holder until Expires, with a fencing
// token that grows with every new acquisition, so a holder that lost the
// lease can be refused by whatever it writes to.
type Lease struct {
	Name    string
	Holder  string
	Token   uint64
	Expires time.Time
}

// Package codec holds what both store implementations share: the stored
// form of ledger entries, payment intents, leases and approvals (JSON with
// explicit field names, independent of the domain types' Go field names;
// money as decimal strings, times in UTC), the
// ordered ledger key, the naming of spend counters, the checking of
// arguments, and the planning of a spend against its caps. Keeping it in
// one place makes the bbolt and Redis stores agree on every rule the
// conformance suite checks.
package codec

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
)

// entryRecord is the stored form of a ledger entry. Seq is not in it: it is
// part of the entry's key.
type entryRecord struct {
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	AmountUSD string    `json:"amount_usd"`
	Venue     string    `json:"venue,omitempty"`
	IntentID  string    `json:"intent_id,omitempty"`
	TxHash    string    `json:"tx_hash,omitempty"`
	Note      string    `json:"note,omitempty"`
}

// EncodeEntry returns the stored form of e, without its Seq.
func EncodeEntry(e *procurebot.LedgerEntry) ([]byte, error) {
	return json.Marshal(entryRecord{
		Time: e.Time.UTC(), Kind: string(e.Kind), AmountUSD: e.AmountUSD.String(),
		Venue: e.Venue, IntentID: e.IntentID, TxHash: e.TxHash, Note: e.Note,
	})
}

// DecodeEntry decodes an entry stored by EncodeEntry and gives it seq.
func DecodeEntry(seq uint64, b []byte) (procurebot.LedgerEntry, error) {
	var r entryRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return procurebot.LedgerEntry{}, fmt.Errorf("decode ledger entry %d: %w", seq, err)
	}
	amount, err := decimal.NewFromString(r.AmountUSD)
	if err != nil {
		return procurebot.LedgerEntry{}, fmt.Errorf("decode ledger entry %d: amount_usd: %w", seq, err)
	}
	return procurebot.LedgerEntry{
		Seq: seq, Time: r.Time.UTC(), Kind: procurebot.EntryKind(r.Kind), AmountUSD: amount,
		Venue: r.Venue, IntentID: r.IntentID, TxHash: r.TxHash, Note: r.Note,
	}, nil
}

// CheckEntry validates e for Append (EINVALID).
func CheckEntry(e *procurebot.LedgerEntry) error {
	if e == nil {
		return procurebot.Invalidf("ledger entry: nil")
	}
	return e.Validate()
}

// CheckFilter validates f for List (EINVALID).
func CheckFilter(f *procurebot.LedgerFilter) error {
	if f.Limit < 0 {
		return procurebot.Invalidf("ledger filter: limit must not be negative, got %d", f.Limit)
	}
	return nil
}

// TimeKeyLen is the length of TimeKey's result; LedgerKeyLen of LedgerKey's.
const (
	TimeKeyLen   = 12
	LedgerKeyLen = TimeKeyLen + 8
)

// TimeKey returns 12 bytes that sort like t: the Unix seconds with the sign
// bit flipped, big-endian, then the nanoseconds, big-endian.
func TimeKey(t time.Time) []byte {
	k := make([]byte, TimeKeyLen, LedgerKeyLen)
	binary.BigEndian.PutUint64(k, uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(k[8:], uint32(t.Nanosecond()))
	return k
}

// LedgerKey returns the key that orders ledger entries by time, then seq.
func LedgerKey(t time.Time, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(TimeKey(t), seq)
}

// SeqOfLedgerKey returns the seq in a key made by LedgerKey.
func SeqOfLedgerKey(k []byte) (uint64, error) {
	if len(k) != LedgerKeyLen {
		return 0, fmt.Errorf("ledger key %x: want %d bytes, got %d", k, LedgerKeyLen, len(k))
	}
	return binary.BigEndian.Uint64(k[TimeKeyLen:]), nil
}

// HexTimeKey is TimeKey in lower-case hex (24 characters), for stores that
// order strings.
func HexTimeKey(t time.Time) string { return hex.EncodeToString(TimeKey(t)) }

// HexLedgerKeyLen is the length of LedgerKey in hex.
const HexLedgerKeyLen = 2 * LedgerKeyLen

// SeqOfHexLedgerKey returns the seq in the first HexLedgerKeyLen characters
// of s, a hex ledger key.
func SeqOfHexLedgerKey(s string) (uint64, error) {
	if len(s) < HexLedgerKeyLen {
		return 0, fmt.Errorf("ledger key %q: too short", s)
	}
	k, err := hex.DecodeString(s[:HexLedgerKeyLen])
	if err != nil {
		return 0, fmt.Errorf("ledger key %q: %w", s[:HexLedgerKeyLen], err)
	}
	return SeqOfLedgerKey(k)
}

// intentRecord is the stored form of a payment intent.
type intentRecord struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	State     string    `json:"state"`
	Chain     uint64    `json:"chain"`
	Token     string    `json:"token"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to"`
	Amount    string    `json:"amount"` // base units, decimal
	AmountUSD string    `json:"amount_usd"`
	Venue     string    `json:"venue,omitempty"`
	Nonce     uint64    `json:"nonce"`
	SignedTx  []byte    `json:"signed_tx,omitempty"` // base64
	TxHashes  []string  `json:"tx_hashes,omitempty"`
	Mined     string    `json:"mined,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// EncodeIntent returns the stored form of p.
func EncodeIntent(p *procurebot.PaymentIntent) ([]byte, error) {
	return json.Marshal(intentRecord{
		ID: p.ID, CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(), State: string(p.State),
		Chain: p.Chain, Token: p.Token, From: p.From, To: p.To, Amount: p.Amount.String(),
		AmountUSD: p.AmountUSD.String(), Venue: p.Venue, Nonce: p.Nonce, SignedTx: p.SignedTx,
		TxHashes: p.TxHashes, Mined: p.Mined, Error: p.Error,
	})
}

// DecodeIntent decodes an intent stored by EncodeIntent.
func DecodeIntent(b []byte) (*procurebot.PaymentIntent, error) {
	var r intentRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode payment intent: %w", err)
	}
	amount, ok := new(big.Int).SetString(r.Amount, 10)
	if !ok {
		return nil, fmt.Errorf("decode payment intent %s: amount %q is not an integer", r.ID, r.Amount)
	}
	usd, err := decimal.NewFromString(r.AmountUSD)
	if err != nil {
		return nil, fmt.Errorf("decode payment intent %s: amount_usd: %w", r.ID, err)
	}
	return &procurebot.PaymentIntent{
		ID: r.ID, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		State: procurebot.IntentState(r.State), Chain: r.Chain, Token: r.Token, From: r.From,
		To: r.To, Amount: amount, AmountUSD: usd, Venue: r.Venue, Nonce: r.Nonce,
		SignedTx: r.SignedTx, TxHashes: r.TxHashes, Mined: r.Mined, Error: r.Error,
	}, nil
}

// CheckNewIntent validates p for CreateIntent (EINVALID).
func CheckNewIntent(p *procurebot.PaymentIntent) error {
	if p == nil {
		return procurebot.Invalidf("payment intent: nil")
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if p.State != procurebot.IntentPending {
		return procurebot.Invalidf("payment intent %s: a new intent must be %s, got %q", p.ID, procurebot.IntentPending, p.State)
	}
	return nil
}

// CheckUpdate validates p for UpdateIntent (EINVALID).
func CheckUpdate(p *procurebot.PaymentIntent) error {
	if p == nil {
		return procurebot.Invalidf("payment intent: nil")
	}
	return p.Validate()
}

// CheckMove reports ECONFLICT unless the stored intent is in state from,
// from.CanMove(p.State), and EINVALID if p changes what stored pays.
func CheckMove(stored, p *procurebot.PaymentIntent, from procurebot.IntentState) error {
	if stored.State != from {
		return procurebot.Errorf(procurebot.ECONFLICT, "payment intent %s: state is %s, not %s", p.ID, stored.State, from)
	}
	if !from.CanMove(p.State) {
		return procurebot.Errorf(procurebot.ECONFLICT, "payment intent %s: cannot move from %s to %s", p.ID, from, p.State)
	}
	if ok, why := procurebot.MovesToFailed(stored, p); !ok {
		return procurebot.Errorf(procurebot.ECONFLICT, "payment intent %s: cannot move from %s to failed: %s", p.ID, from, why)
	}
	return CheckImmutable(stored, p)
}

// CheckImmutable reports EINVALID if p changes the chain, token, payee or
// amount of stored.
func CheckImmutable(stored, p *procurebot.PaymentIntent) error {
	switch {
	case stored.Chain != p.Chain:
		return procurebot.Invalidf("payment intent %s: chain cannot change (%d → %d)", p.ID, stored.Chain, p.Chain)
	case !strings.EqualFold(stored.Token, p.Token):
		return procurebot.Invalidf("payment intent %s: token cannot change (%s → %s)", p.ID, stored.Token, p.Token)
	case !strings.EqualFold(stored.To, p.To):
		return procurebot.Invalidf("payment intent %s: payee cannot change (%s → %s)", p.ID, stored.To, p.To)
	case stored.Amount.Cmp(p.Amount) != 0:
		return procurebot.Invalidf("payment intent %s: amount cannot change (%s → %s)", p.ID, stored.Amount, p.Amount)
	}
	return nil
}

// CheckStates validates the states given to ListIntents (EINVALID).
func CheckStates(states []procurebot.IntentState) error {
	for _, s := range states {
		if !slices.Contains(AllStates(), s) {
			return procurebot.Invalidf("payment intent state %q: unknown", s)
		}
	}
	return nil
}

// AllStates returns every payment intent state.
func AllStates() []procurebot.IntentState {
	return []procurebot.IntentState{procurebot.IntentPending, procurebot.IntentSigned,
		procurebot.IntentSent, procurebot.IntentConfirmed, procurebot.IntentFailed}
}

// LessIntent orders intents by CreatedAt, then ID.
func LessIntent(a, b *procurebot.PaymentIntent) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// Counter is one spend counter a Reserve touches.
type Counter struct {
	ID      string    // CounterID
	Expires time.Time // when a store may forget it: a day after its bucket ends; zero: never
}

// Check is one cap a Reserve must satisfy.
type Check struct {
	Cap     procurebot.SpendCap // as given
	Counter int                 // index into SpendPlan.Counters
	Limit   int64               // micro-USD
}

// SpendPlan is a Reserve or Release worked out: the amount in micro-USD,
// the distinct counters to change and the caps to check, in the order
// given.
type SpendPlan struct {
	Amount   int64     // micro-USD, rounded up
	Counters []Counter // distinct, in the order of the caps that name them first
	Checks   []Check   // one per cap, in the order given
}

// CounterID names the counter of key in the bucket of w containing at:
// "scope/window/bucket/name", unambiguous because only the name may contain
// a slash. A total key has no name.
func CounterID(key procurebot.SpendKey, w procurebot.Window, at time.Time) (string, error) {
	bucket, err := w.Bucket(at)
	if err != nil {
		return "", err
	}
	switch key.Scope {
	case procurebot.ScopeTotal:
		key.Name = ""
	case procurebot.ScopeProvider, procurebot.ScopeJob:
		if key.Name == "" {
			return "", procurebot.Invalidf("spend key %s: name is required", key.Scope)
		}
	default:
		return "", procurebot.Invalidf("spend key: unknown scope %q (want total, provider or job)", key.Scope)
	}
	return key.Scope + "/" + string(w) + "/" + bucket + "/" + key.Name, nil
}

// PlanSpend checks a Reserve's or Release's arguments (EINVALID) and works
// out its counters and checks.
func PlanSpend(at time.Time, amount procurebot.Money, caps []procurebot.SpendCap) (SpendPlan, error) {
	if at.IsZero() {
		return SpendPlan{}, procurebot.Invalidf("spend: time is required")
	}
	if amount.Sign() < 0 {
		return SpendPlan{}, procurebot.Invalidf("spend: amount must not be negative, got %s USD", amount)
	}
	micro, err := procurebot.ToMicroUSD(amount)
	if err != nil {
		return SpendPlan{}, err
	}
	plan := SpendPlan{Amount: micro}
	index := map[string]int{}
	for _, c := range caps {
		if err := c.Validate(); err != nil {
			return SpendPlan{}, err
		}
		limit, err := procurebot.ToMicroUSD(c.LimitUSD)
		if err != nil {
			return SpendPlan{}, fmt.Errorf("spend cap %s: %w", c, err)
		}
		id, err := CounterID(c.Key, c.Window, at)
		if err != nil {
			return SpendPlan{}, err
		}
		i, ok := index[id]
		if !ok {
			i = len(plan.Counters)
			index[id] = i
			var exp time.Time
			if end := c.Window.BucketEnd(at); !end.IsZero() {
				exp = end.Add(24 * time.Hour)
			}
			plan.Counters = append(plan.Counters, Counter{ID: id, Expires: exp})
		}
		plan.Checks = append(plan.Checks, Check{Cap: c, Counter: i, Limit: limit})
	}
	return plan, nil
}

// Refused returns the index into p.Checks of the first cap that refuses p
// when the counters hold current (one value per counter, micro-USD), or -1.
// It never adds: limit − current ≥ amount is exact for values below 2^53.
func (p *SpendPlan) Refused(current []int64) int {
	for i, c := range p.Checks {
		if c.Limit-current[c.Counter] < p.Amount {
			return i
		}
	}
	return -1
}

// CapError returns the error of a refused Reserve.
func (p *SpendPlan) CapError(check int, current []int64) *procurebot.CapExceededError {
	c := p.Checks[check]
	return &procurebot.CapExceededError{Cap: c.Cap, SpentUSD: procurebot.FromMicroUSD(current[c.Counter]),
		AmountUSD: procurebot.FromMicroUSD(p.Amount)}
}

// MaxMicro is the largest counter value any store holds exactly (2^53).
const MaxMicro = 1 << 53

// leaseRecord is the stored form of a lease (the bbolt store's; Redis keeps
// the same fields in a hash).
type leaseRecord struct {
	Holder  string `json:"holder"`
	Token   uint64 `json:"token"`
	Expires int64  `json:"expires_us"` // Unix microseconds
}

// EncodeLease returns the stored form of l.
func EncodeLease(l procurebot.Lease) ([]byte, error) {
	return json.Marshal(leaseRecord{Holder: l.Holder, Token: l.Token, Expires: l.Expires.UnixMicro()})
}

// DecodeLease decodes a lease of name stored by EncodeLease.
func DecodeLease(name string, b []byte) (procurebot.Lease, error) {
	var r leaseRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return procurebot.Lease{}, fmt.Errorf("decode lease %s: %w", name, err)
	}
	return procurebot.Lease{Name: name, Holder: r.Holder, Token: r.Token, Expires: time.UnixMicro(r.Expires).UTC()}, nil
}

// Micros returns t in Unix microseconds, the precision leases keep, or
// EINVALID if that is beyond ±2^53 (about the years 1685 to 2255) — the
// range a Lua number holds exactly.
func Micros(what string, t time.Time) (int64, error) {
	if t.IsZero() {
		return 0, procurebot.Invalidf("%s: time is required", what)
	}
	us := t.UnixMicro()
	if us > MaxMicro || us < -MaxMicro {
		return 0, procurebot.Invalidf("%s: time %s is out of range", what, t.Format(time.RFC3339))
	}
	return us, nil
}

// LeaseTimes checks a lease call's arguments and returns now and now+ttl in
// Unix microseconds (floor). A lease is held at now while nowµs < expiresµs,
// which is exactly now < Expires since Expires is a whole microsecond.
func LeaseTimes(name, holder string, ttl time.Duration, now time.Time) (nowUS, expUS int64, err error) {
	switch {
	case name == "":
		return 0, 0, procurebot.Invalidf("lease: name is required")
	case holder == "":
		return 0, 0, procurebot.Invalidf("lease %s: holder is required", name)
	case ttl <= 0:
		return 0, 0, procurebot.Invalidf("lease %s: ttl must be positive, got %s", name, ttl)
	}
	if nowUS, err = Micros("lease "+name, now); err != nil {
		return 0, 0, err
	}
	if expUS, err = Micros("lease "+name, now.Add(ttl)); err != nil {
		return 0, 0, err
	}
	return nowUS, expUS, nil
}

// CheckQuote validates PutQuote's arguments and returns the expiry in Unix
// nanoseconds (EINVALID).
func CheckQuote(key string, ttl time.Duration, now time.Time) (int64, error) {
	switch {
	case key == "":
		return 0, procurebot.Invalidf("quote: key is required")
	case ttl <= 0:
		return 0, procurebot.Invalidf("quote %s: ttl must be positive, got %s", key, ttl)
	case now.IsZero():
		return 0, procurebot.Invalidf("quote %s: time is required", key)
	}
	exp := now.Add(ttl)
	if exp.Year() < 1678 || exp.Year() > 2261 {
		return 0, procurebot.Invalidf("quote %s: expiry %s is out of range", key, exp.Format(time.RFC3339))
	}
	return exp.UnixNano(), nil
}

// QuoteValue returns the stored form of a quote: its expiry (Unix
// nanoseconds, 8 bytes big-endian), then the value.
func QuoteValue(expNS int64, value []byte) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(value)), uint64(expNS)), value...)
}

// CheckQuoteKey validates GetQuote's arguments (EINVALID).
func CheckQuoteKey(key string, now time.Time) error {
	switch {
	case key == "":
		return procurebot.Invalidf("quote: key is required")
	case now.IsZero():
		return procurebot.Invalidf("quote %s: time is required", key)
	}
	return nil
}

// ParseQuote returns the value stored by QuoteValue if it has not expired
// at now.
func ParseQuote(key string, b []byte, now time.Time) ([]byte, bool, error) {
	if len(b) < 8 {
		return nil, false, fmt.Errorf("decode quote %s: %d bytes", key, len(b))
	}
	exp := time.Unix(0, int64(binary.BigEndian.Uint64(b)))
	if !now.Before(exp) {
		return nil, false, nil
	}
	return append([]byte{}, b[8:]...), true, nil
}

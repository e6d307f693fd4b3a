// Package bolt is procurebot's embedded store: one bbolt file (FileName in
// the data directory) holding the ledger, spend counters, payment intents,
// leases, the quote cache, approval requests and the agent's state. Every mutation is one read-write transaction,
// fsynced when it commits, so what a method has returned survives a crash
// of the process (kill -9) or the machine. bbolt serialises writers, which
// makes every check-and-set here atomic; one process at a time may open the
// file (a second Open waits a second for the file lock, then fails with
// EUNAVAILABLE).
//
// Layout, one bucket each: ledger (ordered key of time and seq → entry
// JSON; its bucket sequence numbers entries), ledger_payments (intent id →
// ledger key), spend (counter id → int64 micro-USD), intents (id → intent
// JSON), intent_states (state NUL id → empty), leases (name → holder, token,
// expiry), lease_tokens (name → last token given), quotes (key → expiry and
// value), quote_expiry (expiry and key → empty, to sweep expired quotes),
// approvals (id → approval JSON), approval_states (state NUL id → empty),
// state (key → value), meta (schema version). Open adds the buckets a file
// lacks, so a file written before approvals and state existed opens as is.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/store"
	"github.com/procurebot/procurebot/store/internal/codec"
)

// FileName is the store's file name in a data directory.
const FileName = "procurebot.db"

// SchemaVersion is the layout version written to the meta bucket; Open
// refuses a file of another version.
const SchemaVersion = 1

// Bucket names.
const (
	bucketMeta         = "meta"
	bucketLedger       = "ledger"
	bucketPayments     = "ledger_payments"
	bucketSpend        = "spend"
	bucketIntents      = "intents"
	bucketIntentStates = "intent_states"
	bucketLeases       = "leases"
	bucketLeaseTokens  = "lease_tokens"
	bucketQuotes       = "quotes"
	bucketQuoteExpiry  = "quote_expiry"
	bucketApprovals    = "approvals"
	bucketApprStates   = "approval_states"
	bucketState        = "state"
)

// quoteSweep bounds how many expired quotes one PutQuote deletes.
const quoteSweep = 64

// Store is a bbolt-backed store. It is safe for concurrent use.
type Store struct {
	db   *bbolt.DB
	path string
}

// Compile-time checks that Store satisfies the store interfaces.
var (
	_ store.Ledger        = (*Store)(nil)
	_ store.SpendCounter  = (*Store)(nil)
	_ store.IntentStore   = (*Store)(nil)
	_ store.LeaseStore    = (*Store)(nil)
	_ store.QuoteCache    = (*Store)(nil)
	_ store.ApprovalStore = (*Store)(nil)
	_ store.StateStore    = (*Store)(nil)
)

// Open opens (creating it and its directory if needed) the store file at
// path, usually filepath.Join(dataDir, FileName).
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, procurebot.Invalidf("bolt store: path is required")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("bolt store %s: create directory: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, &procurebot.Error{Code: procurebot.EUNAVAILABLE,
			Message: fmt.Sprintf("bolt store %s: open: the file is locked by another process", path), Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("bolt store %s: open: %w", path, err)
	}
	s := &Store{db: db, path: path}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range []string{bucketMeta, bucketLedger, bucketPayments, bucketSpend, bucketIntents,
			bucketIntentStates, bucketLeases, bucketLeaseTokens, bucketQuotes, bucketQuoteExpiry,
			bucketApprovals, bucketApprStates, bucketState} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket([]byte(bucketMeta))
		if v := meta.Get([]byte("version")); v != nil {
			if len(v) != 8 || binary.BigEndian.Uint64(v) != SchemaVersion {
				return procurebot.Invalidf("schema version %x, want %d", v, SchemaVersion)
			}
			return nil
		}
		return meta.Put([]byte("version"), binary.BigEndian.AppendUint64(nil, SchemaVersion))
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt store %s: open: %w", path, err)
	}
	return s, nil
}

// Path returns the file the store is in.
func (s *Store) Path() string { return s.path }

// Close closes the file; the store cannot be used afterwards.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt store %s: close: %w", s.path, err)
	}
	return nil
}

// wrap gives err the store's context: the file and the operation.
func (s *Store) wrap(op string, err error) error {
	return fmt.Errorf("bolt store %s: %s: %w", s.path, op, err)
}

// update runs fn in one read-write transaction after checking ctx.
func (s *Store) update(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(fn)
}

// view runs fn in one read-only transaction after checking ctx.
func (s *Store) view(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// Append implements store.Ledger.
func (s *Store) Append(ctx context.Context, e *procurebot.LedgerEntry) error {
	op := "append ledger entry"
	if err := codec.CheckEntry(e); err != nil {
		return s.wrap(op, err)
	}
	op = fmt.Sprintf("append %s ledger entry at %s", e.Kind, e.Time.UTC().Format(time.RFC3339Nano))
	val, err := codec.EncodeEntry(e)
	if err != nil {
		return s.wrap(op, err)
	}
	var seq uint64
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		ledger, payments := tx.Bucket([]byte(bucketLedger)), tx.Bucket([]byte(bucketPayments))
		if e.Kind == procurebot.KindPayment {
			if k := payments.Get([]byte(e.IntentID)); k != nil {
				prev, _ := codec.SeqOfLedgerKey(k)
				return procurebot.Errorf(procurebot.ECONFLICT,
					"intent %s already has a payment entry (seq %d)", e.IntentID, prev)
			}
		}
		var err error
		if seq, err = ledger.NextSequence(); err != nil {
			return err
		}
		key := codec.LedgerKey(e.Time, seq)
		if err := ledger.Put(key, val); err != nil {
			return err
		}
		if e.Kind == procurebot.KindPayment {
			return payments.Put([]byte(e.IntentID), key)
		}
		return nil
	})
	if err != nil {
		return s.wrap(op, err)
	}
	e.Seq = seq
	return nil
}

// List implements store.Ledger.
func (s *Store) List(ctx context.Context, f procurebot.LedgerFilter) ([]procurebot.LedgerEntry, error) {
	if err := codec.CheckFilter(&f); err != nil {
		return nil, s.wrap("list ledger", err)
	}
	var out []procurebot.LedgerEntry
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(bucketLedger)).Cursor()
		var k, v []byte
		if f.Since.IsZero() {
			k, v = c.First()
		} else {
			k, v = c.Seek(codec.TimeKey(f.Since))
		}
		var until []byte
		if !f.Until.IsZero() {
			until = codec.TimeKey(f.Until)
		}
		for ; k != nil; k, v = c.Next() {
			if until != nil && bytes.Compare(k[:codec.TimeKeyLen], until) >= 0 {
				break
			}
			seq, err := codec.SeqOfLedgerKey(k)
			if err != nil {
				return err
			}
			e, err := codec.DecodeEntry(seq, v)
			if err != nil {
				return err
			}
			if !f.Match(&e) {
				continue
			}
			out = append(out, e)
			if f.Limit > 0 && len(out) == f.Limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("list ledger", err)
	}
	return out, nil
}

// getCounter reads a spend counter (0 if absent).
func getCounter(b *bbolt.Bucket, id string) (int64, error) {
	v := b.Get([]byte(id))
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("spend counter %s: %d bytes", id, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

func putCounter(b *bbolt.Bucket, id string, v int64) error {
	return b.Put([]byte(id), binary.BigEndian.AppendUint64(nil, uint64(v)))
}

// Reserve implements store.SpendCounter.
func (s *Store) Reserve(ctx context.Context, at time.Time, amount procurebot.Money, caps []procurebot.SpendCap) error {
	return s.spend(ctx, "reserve", at, amount, caps, func(b *bbolt.Bucket, plan codec.SpendPlan) error {
		cur := make([]int64, len(plan.Counters))
		for i, c := range plan.Counters {
			v, err := getCounter(b, c.ID)
			if err != nil {
				return err
			}
			cur[i] = v
		}
		if r := plan.Refused(cur); r >= 0 {
			return plan.CapError(r, cur)
		}
		for i, c := range plan.Counters {
			if err := putCounter(b, c.ID, cur[i]+plan.Amount); err != nil {
				return fmt.Errorf("spend counter %s: %w", c.ID, err)
			}
		}
		return nil
	})
}

// Release implements store.SpendCounter.
func (s *Store) Release(ctx context.Context, at time.Time, amount procurebot.Money, caps []procurebot.SpendCap) error {
	return s.spend(ctx, "release", at, amount, caps, func(b *bbolt.Bucket, plan codec.SpendPlan) error {
		for _, c := range plan.Counters {
			v, err := getCounter(b, c.ID)
			if err != nil {
				return err
			}
			if v == 0 {
				continue
			}
			if err := putCounter(b, c.ID, max(0, v-plan.Amount)); err != nil {
				return fmt.Errorf("spend counter %s: %w", c.ID, err)
			}
		}
		return nil
	})
}

// spend plans a change of the spend counters of caps by amount and applies
// it with fn in one transaction; verb names the operation in errors.
func (s *Store) spend(ctx context.Context, verb string, at time.Time, amount procurebot.Money, caps []procurebot.SpendCap,
	fn func(*bbolt.Bucket, codec.SpendPlan) error) error {
	op := fmt.Sprintf("%s %s USD at %s", verb, amount, at.UTC().Format(time.RFC3339))
	plan, err := codec.PlanSpend(at, amount, caps)
	if err != nil {
		return s.wrap(op, err)
	}
	if len(plan.Counters) == 0 {
		return nil
	}
	err = s.update(ctx, func(tx *bbolt.Tx) error { return fn(tx.Bucket([]byte(bucketSpend)), plan) })
	if err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// Spent implements store.SpendCounter.
func (s *Store) Spent(ctx context.Context, at time.Time, key procurebot.SpendKey, w procurebot.Window) (procurebot.Money, error) {
	id, err := codec.CounterID(key, w, at)
	if err != nil {
		return procurebot.Zero, s.wrap("read spend counter", err)
	}
	var v int64
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		v, err = getCounter(tx.Bucket([]byte(bucketSpend)), id)
		return err
	})
	if err != nil {
		return procurebot.Zero, s.wrap("read spend counter "+id, err)
	}
	return procurebot.FromMicroUSD(v), nil
}

// stateKey is the key of id in a state index (intent_states,
// approval_states): the state, NUL, the id.
func stateKey[S ~string](state S, id string) []byte {
	return []byte(string(state) + "\x00" + id)
}

// createOnce stores val under id in bucket, and its state index key in
// stateBucket, unless id is there already; it returns the stored value
// (the existing one, or val) and whether it created it.
func (s *Store) createOnce(ctx context.Context, bucket, stateBucket, id string, stateIdx, val []byte) ([]byte, bool, error) {
	created := false
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if old := b.Get([]byte(id)); old != nil {
			val = slices.Clone(old)
			return nil
		}
		if err := b.Put([]byte(id), val); err != nil {
			return err
		}
		created = true
		return tx.Bucket([]byte(stateBucket)).Put(stateIdx, nil)
	})
	return val, created, err
}

// CreateIntent implements store.IntentStore.
func (s *Store) CreateIntent(ctx context.Context, p *procurebot.PaymentIntent) (*procurebot.PaymentIntent, bool, error) {
	if err := codec.CheckNewIntent(p); err != nil {
		return nil, false, s.wrap("create payment intent", err)
	}
	op := "create payment intent " + p.ID
	val, err := codec.EncodeIntent(p)
	if err != nil {
		return nil, false, s.wrap(op, err)
	}
	val, created, err := s.createOnce(ctx, bucketIntents, bucketIntentStates, p.ID, stateKey(p.State, p.ID), val)
	if err != nil {
		return nil, false, s.wrap(op, err)
	}
	stored, err := codec.DecodeIntent(val)
	if err != nil {
		return nil, false, s.wrap(op, err)
	}
	return stored, created, nil
}

// GetIntent implements store.IntentStore.
func (s *Store) GetIntent(ctx context.Context, id string) (*procurebot.PaymentIntent, error) {
	op := "get payment intent " + id
	var p *procurebot.PaymentIntent
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte(bucketIntents)).Get([]byte(id))
		if v == nil {
			return procurebot.Errorf(procurebot.ENOTFOUND, "no payment intent %q", id)
		}
		var err error
		p, err = codec.DecodeIntent(v)
		return err
	})
	if err != nil {
		return nil, s.wrap(op, err)
	}
	return p, nil
}

// UpdateIntent implements store.IntentStore.
func (s *Store) UpdateIntent(ctx context.Context, p *procurebot.PaymentIntent, from procurebot.IntentState) error {
	if err := codec.CheckUpdate(p); err != nil {
		return s.wrap("update payment intent", err)
	}
	op := fmt.Sprintf("update payment intent %s from %s to %s", p.ID, from, p.State)
	val, err := codec.EncodeIntent(p)
	if err != nil {
		return s.wrap(op, err)
	}
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		b, states := tx.Bucket([]byte(bucketIntents)), tx.Bucket([]byte(bucketIntentStates))
		old := b.Get([]byte(p.ID))
		if old == nil {
			return procurebot.Errorf(procurebot.ENOTFOUND, "no payment intent %q", p.ID)
		}
		stored, err := codec.DecodeIntent(old)
		if err != nil {
			return err
		}
		if err := codec.CheckMove(stored, p, from); err != nil {
			return err
		}
		if err := b.Put([]byte(p.ID), val); err != nil {
			return err
		}
		if err := states.Delete(stateKey(stored.State, p.ID)); err != nil {
			return err
		}
		return states.Put(stateKey(p.State, p.ID), nil)
	})
	if err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// ListIntents implements store.IntentStore.
func (s *Store) ListIntents(ctx context.Context, states ...procurebot.IntentState) ([]procurebot.PaymentIntent, error) {
	op := fmt.Sprintf("list payment intents %v", states)
	if err := codec.CheckStates(states); err != nil {
		return nil, s.wrap(op, err)
	}
	list, err := listByState(ctx, s, bucketIntents, bucketIntentStates, "payment intent", states, codec.DecodeIntent, codec.LessIntent)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	return list, nil
}

// listByState reads the records of bucket — all of them, or those the
// state index (stateBucket, keys stateKey(state, id)) lists under any of
// states — decodes them and returns them sorted by less.
func listByState[S ~string, T any](ctx context.Context, s *Store, bucket, stateBucket, what string, states []S,
	decode func([]byte) (*T, error), less func(a, b *T) int) ([]T, error) {
	var out []*T
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		add := func(v []byte) error {
			p, err := decode(v)
			if err != nil {
				return err
			}
			out = append(out, p)
			return nil
		}
		if len(states) == 0 {
			return b.ForEach(func(_, v []byte) error { return add(v) })
		}
		c := tx.Bucket([]byte(stateBucket)).Cursor()
		for _, st := range slices.Compact(slices.Sorted(slices.Values(states))) {
			prefix := stateKey(st, "")
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				id := k[len(prefix):]
				v := b.Get(id)
				if v == nil {
					return fmt.Errorf("state index names %s %q, which is missing", what, id)
				}
				if err := add(v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, less)
	list := make([]T, len(out))
	for i, p := range out {
		list[i] = *p
	}
	return list, nil
}

// getLease reads the lease record of name (nil if free).
func getLease(b *bbolt.Bucket, name string) (*procurebot.Lease, error) {
	v := b.Get([]byte(name))
	if v == nil {
		return nil, nil
	}
	l, err := codec.DecodeLease(name, v)
	if err != nil {
		return nil, err
	}
	return &l, nil
}

func putLease(b *bbolt.Bucket, l procurebot.Lease) error {
	v, err := codec.EncodeLease(l)
	if err != nil {
		return err
	}
	return b.Put([]byte(l.Name), v)
}

// AcquireLease implements store.LeaseStore.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (procurebot.Lease, error) {
	op := fmt.Sprintf("acquire lease %s for %s", name, holder)
	nowUS, expUS, err := codec.LeaseTimes(name, holder, ttl, now)
	if err != nil {
		return procurebot.Lease{}, s.wrap(op, err)
	}
	var out procurebot.Lease
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		leases, tokens := tx.Bucket([]byte(bucketLeases)), tx.Bucket([]byte(bucketLeaseTokens))
		cur, err := getLease(leases, name)
		if err != nil {
			return err
		}
		if cur != nil && nowUS < cur.Expires.UnixMicro() {
			if cur.Holder != holder {
				return procurebot.Errorf(procurebot.ECONFLICT, "lease %s is held by %s (token %d) until %s",
					name, cur.Holder, cur.Token, cur.Expires.Format(time.RFC3339Nano))
			}
			out = *cur
			out.Expires = time.UnixMicro(expUS).UTC()
			return putLease(leases, out)
		}
		var token uint64
		if v := tokens.Get([]byte(name)); len(v) == 8 {
			token = binary.BigEndian.Uint64(v)
		}
		token++
		if err := tokens.Put([]byte(name), binary.BigEndian.AppendUint64(nil, token)); err != nil {
			return err
		}
		out = procurebot.Lease{Name: name, Holder: holder, Token: token, Expires: time.UnixMicro(expUS).UTC()}
		return putLease(leases, out)
	})
	if err != nil {
		return procurebot.Lease{}, s.wrap(op, err)
	}
	return out, nil
}

// RenewLease implements store.LeaseStore.
func (s *Store) RenewLease(ctx context.Context, l procurebot.Lease, ttl time.Duration, now time.Time) (procurebot.Lease, error) {
	op := fmt.Sprintf("renew lease %s for %s (token %d)", l.Name, l.Holder, l.Token)
	nowUS, expUS, err := codec.LeaseTimes(l.Name, l.Holder, ttl, now)
	if err != nil {
		return procurebot.Lease{}, s.wrap(op, err)
	}
	var out procurebot.Lease
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		leases := tx.Bucket([]byte(bucketLeases))
		cur, err := getLease(leases, l.Name)
		if err != nil {
			return err
		}
		switch {
		case cur == nil:
			return procurebot.Errorf(procurebot.ECONFLICT, "lease %s is not held", l.Name)
		case cur.Holder != l.Holder || cur.Token != l.Token:
			return procurebot.Errorf(procurebot.ECONFLICT, "lease %s is held by %s with token %d",
				l.Name, cur.Holder, cur.Token)
		case nowUS >= cur.Expires.UnixMicro():
			return procurebot.Errorf(procurebot.ECONFLICT, "lease %s expired at %s",
				l.Name, cur.Expires.Format(time.RFC3339Nano))
		}
		out = *cur
		out.Expires = time.UnixMicro(expUS).UTC()
		return putLease(leases, out)
	})
	if err != nil {
		return procurebot.Lease{}, s.wrap(op, err)
	}
	return out, nil
}

// ReleaseLease implements store.LeaseStore.
func (s *Store) ReleaseLease(ctx context.Context, l procurebot.Lease) error {
	op := fmt.Sprintf("release lease %s for %s (token %d)", l.Name, l.Holder, l.Token)
	if l.Name == "" || l.Holder == "" {
		return s.wrap(op, procurebot.Invalidf("lease: name and holder are required"))
	}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		leases := tx.Bucket([]byte(bucketLeases))
		cur, err := getLease(leases, l.Name)
		if err != nil || cur == nil {
			return err
		}
		if cur.Holder != l.Holder || cur.Token != l.Token {
			return procurebot.Errorf(procurebot.ECONFLICT, "lease %s is held by %s with token %d",
				l.Name, cur.Holder, cur.Token)
		}
		return leases.Delete([]byte(l.Name))
	})
	if err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// expiryKey orders quote expiries: the expiry (Unix ns, sign bit flipped,
// big-endian), then the key.
func expiryKey(expNS int64, key string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(expNS)^(1<<63)), key...)
}

// PutQuote implements store.QuoteCache. It also deletes up to quoteSweep
// quotes that have expired at now, so the file does not grow without bound.
func (s *Store) PutQuote(ctx context.Context, key string, value []byte, ttl time.Duration, now time.Time) error {
	op := "put quote " + key
	expNS, err := codec.CheckQuote(key, ttl, now)
	if err != nil {
		return s.wrap(op, err)
	}
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		quotes, expiry := tx.Bucket([]byte(bucketQuotes)), tx.Bucket([]byte(bucketQuoteExpiry))
		if old := quotes.Get([]byte(key)); len(old) >= 8 {
			if err := expiry.Delete(expiryKey(int64(binary.BigEndian.Uint64(old)), key)); err != nil {
				return err
			}
		}
		if err := quotes.Put([]byte(key), codec.QuoteValue(expNS, value)); err != nil {
			return err
		}
		if err := expiry.Put(expiryKey(expNS, key), nil); err != nil {
			return err
		}
		// Sweep: collect first, then delete (deleting under a cursor skips keys).
		limit := expiryKey(now.UnixNano(), "")
		var gone [][]byte
		c := expiry.Cursor()
		for k, _ := c.First(); k != nil && len(gone) < quoteSweep && bytes.Compare(k[:8], limit[:8]) <= 0; k, _ = c.Next() {
			gone = append(gone, slices.Clone(k))
		}
		for _, k := range gone {
			if err := expiry.Delete(k); err != nil {
				return err
			}
			if err := quotes.Delete(k[8:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// GetQuote implements store.QuoteCache.
func (s *Store) GetQuote(ctx context.Context, key string, now time.Time) ([]byte, bool, error) {
	op := "get quote " + key
	if err := codec.CheckQuoteKey(key, now); err != nil {
		return nil, false, s.wrap(op, err)
	}
	var (
		val []byte
		ok  bool
	)
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte(bucketQuotes)).Get([]byte(key))
		if v == nil {
			return nil
		}
		var err error
		val, ok, err = codec.ParseQuote(key, v, now)
		return err
	})
	if err != nil {
		return nil, false, s.wrap(op, err)
	}
	return val, ok, nil
}

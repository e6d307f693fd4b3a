// Package redis is procurebot's store on Redis (go-redis/v9), for several
// replicas sharing one ledger, one set of spend counters, the payment
// intents, the leader lease, the quote cache, the approval requests and
// the agent's state.
//
// Every mutation that touches more than one key, or reads before it
// writes, is one Lua script (EVALSHA, falling back to EVAL when the server
// does not have it), which Redis runs atomically: a Reserve adds to all of
// its counters or to none, and no other client sees half of it. Counters
// are integers in micro-USD; the scripts compare "limit − spent ≥ amount"
// on values below 2^53, so Lua's doubles are exact. A method that returns
// nil was acknowledged by the server; how durable that is depends on the
// server's persistence (appendonly yes with appendfsync always makes it
// survive a server crash).
//
// All keys start with the prefix given to Open and a colon; two stores with
// different prefixes do not see each other. On Redis Cluster, put a hash
// tag in the prefix ("{procurebot}") so that every key is in one slot.
//
// Keys (P is the prefix): P:ledger (sorted set, score 0, members ordered by
// time and seq: a 40-character hex key, then the entry's JSON),
// P:ledger:seq (last seq), P:ledger:payments (hash intent id → entry key),
// P:spend:<counter> (micro-USD; lives until a day after its window's
// bucket ends, counted from the time of the spend on the server's clock;
// total counters never expire), P:intents (hash id → intent JSON), P:intent-state (hash id →
// state), P:intents-in:<state> (set of ids), P:lease:<name> (hash holder,
// token, exp in Unix µs), P:lease-token:<name> (last token given),
// P:quote:<key> (expiry and value, with a server-side PX ttl),
// P:approvals (hash id → request JSON, which never changes),
// P:approval-state (hash id → state), P:approval-decision (hash id →
// decided and by, JSON), P:approval-message (hash id → channel and ts,
// JSON), P:approvals-in:<state> (set of ids), P:state:<key> (value).
//
// go-redis's automatic retries are turned off: a script retried after a
// connection broke could run twice. An operation that fails because the
// server cannot be reached returns EUNAVAILABLE naming the address; if the
// connection broke after the server ran the script, the change may have
// been made (a Reserve then holds more than was acknowledged, never less;
// a repeated payment entry is refused by its intent id).
package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/store"
	"github.com/procurebot/procurebot/store/internal/codec"
)

// Store is a Redis-backed store. It is safe for concurrent use, also from
// several processes sharing a prefix.
type Store struct {
	rdb    *goredis.Client
	addr   string
	prefix string
	s      scripts
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

// scripts are the store's Lua scripts, one set per Store.
type scripts struct {
	append, reserve, release, createIntent, updateIntent, listIntents,
	acquire, renew, releaseLease,
	createApproval, getApproval, decideApproval, setApprovalMessage, listApprovals *goredis.Script
}

func newScripts() scripts {
	return scripts{
		append: goredis.NewScript(luaAppend), reserve: goredis.NewScript(luaReserve),
		release: goredis.NewScript(luaRelease), createIntent: goredis.NewScript(luaCreateIntent),
		updateIntent: goredis.NewScript(luaUpdateIntent), listIntents: goredis.NewScript(luaListIntents),
		acquire: goredis.NewScript(luaAcquire), renew: goredis.NewScript(luaRenew),
		releaseLease: goredis.NewScript(luaReleaseLease), createApproval: goredis.NewScript(luaCreateApproval),
		getApproval: goredis.NewScript(luaGetApproval), decideApproval: goredis.NewScript(luaDecideApproval),
		setApprovalMessage: goredis.NewScript(luaSetApprovalMessage), listApprovals: goredis.NewScript(luaListApprovals),
	}
}

// Open connects to the server opt describes and checks that it answers
// (EUNAVAILABLE naming the address if not). The options are copied; their
// MaxRetries is set to -1 (see the package doc). prefix must not be empty.
func Open(ctx context.Context, opt *goredis.Options, prefix string) (*Store, error) {
	if opt == nil {
		return nil, procurebot.Invalidf("redis store: options are required")
	}
	if prefix == "" {
		return nil, procurebot.Invalidf("redis store %s: prefix is required", opt.Addr)
	}
	o := *opt
	o.MaxRetries = -1
	if o.Addr == "" {
		o.Addr = "localhost:6379"
	}
	s := &Store{rdb: goredis.NewClient(&o), addr: o.Addr, prefix: prefix, s: newScripts()}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		_ = s.rdb.Close()
		return nil, s.wrap("connect", err)
	}
	return s, nil
}

// OpenURL is Open with the options of a redis:// or rediss:// URL
// (go-redis ParseURL: redis://user:password@host:port/db?dial_timeout=1s).
func OpenURL(ctx context.Context, url, prefix string) (*Store, error) {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		return nil, &procurebot.Error{Code: procurebot.EINVALID, Message: "redis store: URL", Err: err}
	}
	return Open(ctx, opt, prefix)
}

// Addr returns the server address; Prefix the key prefix.
func (s *Store) Addr() string { return s.addr }

// Prefix returns the key prefix.
func (s *Store) Prefix() string { return s.prefix }

// Close closes the client's connections.
func (s *Store) Close() error {
	if err := s.rdb.Close(); err != nil {
		return fmt.Errorf("redis store %s (prefix %s): close: %w", s.addr, s.prefix, err)
	}
	return nil
}

// key returns the prefixed key of the parts joined by colons.
func (s *Store) key(parts ...string) string {
	return s.prefix + ":" + strings.Join(parts, ":")
}

// wrap gives err the store's context (address, prefix, operation) and the
// code EUNAVAILABLE when the server could not be reached.
func (s *Store) wrap(op string, err error) error {
	where := fmt.Sprintf("redis store %s (prefix %s)", s.addr, s.prefix)
	if unavailable(err) {
		return &procurebot.Error{Code: procurebot.EUNAVAILABLE,
			Message: fmt.Sprintf("%s: %s: server unavailable", where, op), Err: err}
	}
	return fmt.Errorf("%s: %s: %w", where, op, err)
}

// unavailable reports whether err means the server could not be reached or
// cannot serve now, as opposed to a refusal, a bad argument or a bug.
func unavailable(err error) bool {
	var pe *procurebot.Error
	var ce *procurebot.CapExceededError
	switch {
	case errors.As(err, &pe), errors.As(err, &ce), errors.Is(err, context.Canceled),
		errors.Is(err, goredis.ErrClosed), errors.Is(err, goredis.Nil):
		return false
	}
	var re goredis.Error
	if errors.As(err, &re) {
		for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY"} {
			if goredis.HasErrorPrefix(err, p) {
				return true
			}
		}
		return false
	}
	return true // network errors, timeouts, a full pool
}

// replyStrings converts a script's array reply to strings.
func replyStrings(v any) ([]string, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("script reply %T, want an array", v)
	}
	out := make([]string, len(arr))
	for i, x := range arr {
		switch x := x.(type) {
		case string:
			out[i] = x
		case int64:
			out[i] = strconv.FormatInt(x, 10)
		case nil:
		default:
			return nil, fmt.Errorf("script reply element %d is %T", i, x)
		}
	}
	return out, nil
}

// luaAppend appends a ledger entry. KEYS: seq, ledger, payments. ARGV: time
// key (hex), entry JSON, intent id of a payment or "". Returns {"dup", key}
// or {"ok", seq}.
const luaAppend = `
if ARGV[3] ~= '' then
  local prev = redis.call('HGET', KEYS[3], ARGV[3])
  if prev then return {'dup', prev} end
end
local seq = redis.call('INCR', KEYS[1])
local key = ARGV[1] .. string.format('%016x', seq)
redis.call('ZADD', KEYS[2], 0, key .. ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[3], ARGV[3], key) end
return {'ok', string.format('%d', seq)}
`

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
	intent := ""
	if e.Kind == procurebot.KindPayment {
		intent = e.IntentID
	}
	res, err := s.s.append.Run(ctx, s.rdb, []string{s.key("ledger", "seq"), s.key("ledger"), s.key("ledger", "payments")},
		codec.HexTimeKey(e.Time), string(val), intent).Result()
	if err != nil {
		return s.wrap(op, err)
	}
	r, err := replyStrings(res)
	if err != nil || len(r) != 2 {
		return s.wrap(op, fmt.Errorf("unexpected reply %v: %v", res, err))
	}
	if r[0] == "dup" {
		prev, _ := codec.SeqOfHexLedgerKey(r[1])
		return s.wrap(op, procurebot.Errorf(procurebot.ECONFLICT,
			"intent %s already has a payment entry (seq %d)", e.IntentID, prev))
	}
	seq, err := strconv.ParseUint(r[1], 10, 64)
	if err != nil {
		return s.wrap(op, fmt.Errorf("seq %q: %w", r[1], err))
	}
	e.Seq = seq
	return nil
}

// listBatch is how many ledger members List reads per round trip.
const listBatch = 256

// List implements store.Ledger. It pages through the time range with
// ZRANGE BYLEX, each page starting after the last member read, so entries
// appended meanwhile neither repeat nor shift the pages.
func (s *Store) List(ctx context.Context, f procurebot.LedgerFilter) ([]procurebot.LedgerEntry, error) {
	op := "list ledger"
	if err := codec.CheckFilter(&f); err != nil {
		return nil, s.wrap(op, err)
	}
	lo, hi := "-", "+"
	if !f.Since.IsZero() {
		lo = "[" + codec.HexTimeKey(f.Since)
	}
	if !f.Until.IsZero() {
		hi = "(" + codec.HexTimeKey(f.Until)
	}
	var out []procurebot.LedgerEntry
	for {
		members, err := s.rdb.ZRangeArgs(ctx, goredis.ZRangeArgs{Key: s.key("ledger"), Start: lo, Stop: hi, ByLex: true,
			Count: listBatch}).Result()
		if err != nil {
			return nil, s.wrap(op, err)
		}
		for _, m := range members {
			seq, err := codec.SeqOfHexLedgerKey(m)
			if err != nil {
				return nil, s.wrap(op, err)
			}
			e, err := codec.DecodeEntry(seq, []byte(m[codec.HexLedgerKeyLen:]))
			if err != nil {
				return nil, s.wrap(op, err)
			}
			if !f.Match(&e) {
				continue
			}
			out = append(out, e)
			if f.Limit > 0 && len(out) == f.Limit {
				return out, nil
			}
		}
		if len(members) < listBatch {
			return out, nil
		}
		lo = "(" + members[len(members)-1]
	}
}

// luaReserve adds ARGV[1] to every counter in KEYS if every check passes.
// ARGV: amount, number of checks n, then n pairs (counter index, limit),
// then one time to live per key (ms, "0" for none), which never shortens
// one the key has. Returns {0, 0} when added, else {check index, that
// counter's value}.
const luaReserve = `
local amount = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local cur = {}
for i, k in ipairs(KEYS) do cur[i] = tonumber(redis.call('GET', k) or '0') end
for j = 1, n do
  local c = tonumber(ARGV[1 + 2*j])
  if tonumber(ARGV[2 + 2*j]) - cur[c] < amount then return {j, cur[c]} end
end
for i, k in ipairs(KEYS) do
  redis.call('INCRBY', k, ARGV[1])
  local ttl = ARGV[2 + 2*n + i]
  if ttl ~= '0' then
    local left = redis.call('PTTL', k)
    if left < 0 or left < tonumber(ttl) then redis.call('PEXPIRE', k, ttl) end
  end
end
return {0, 0}
`

// Reserve implements store.SpendCounter.
func (s *Store) Reserve(ctx context.Context, at time.Time, amount procurebot.Money, caps []procurebot.SpendCap) error {
	op := fmt.Sprintf("reserve %s USD at %s", amount, at.UTC().Format(time.RFC3339))
	plan, err := codec.PlanSpend(at, amount, caps)
	if err != nil {
		return s.wrap(op, err)
	}
	if len(plan.Counters) == 0 {
		return nil
	}
	keys := make([]string, len(plan.Counters))
	args := []any{plan.Amount, len(plan.Checks)}
	for _, c := range plan.Checks {
		args = append(args, c.Counter+1, c.Limit)
	}
	for i, c := range plan.Counters {
		keys[i] = s.key("spend", c.ID)
		ttl := int64(0)
		if !c.Expires.IsZero() {
			// Relative to the spend's own time, so that a caller whose clock
			// is not the server's (a replay) never sees a live bucket vanish.
			ttl = max(1, c.Expires.Sub(at).Milliseconds())
		}
		args = append(args, ttl)
	}
	res, err := s.s.reserve.Run(ctx, s.rdb, keys, args...).Int64Slice()
	if err != nil {
		return s.wrap(op, err)
	}
	if len(res) != 2 {
		return s.wrap(op, fmt.Errorf("unexpected reply %v", res))
	}
	if res[0] == 0 {
		return nil
	}
	check := int(res[0]) - 1
	cur := make([]int64, len(plan.Counters))
	cur[plan.Checks[check].Counter] = res[1]
	return s.wrap(op, plan.CapError(check, cur))
}

// luaRelease subtracts ARGV[1] from every existing counter in KEYS, never
// going below zero and keeping each counter's expiry.
const luaRelease = `
local amount = tonumber(ARGV[1])
for _, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v then
    if tonumber(v) <= amount then redis.call('SET', k, '0', 'KEEPTTL')
    else redis.call('DECRBY', k, ARGV[1]) end
  end
end
return 1
`

// Release implements store.SpendCounter.
func (s *Store) Release(ctx context.Context, at time.Time, amount procurebot.Money, caps []procurebot.SpendCap) error {
	op := fmt.Sprintf("release %s USD at %s", amount, at.UTC().Format(time.RFC3339))
	plan, err := codec.PlanSpend(at, amount, caps)
	if err != nil {
		return s.wrap(op, err)
	}
	if len(plan.Counters) == 0 {
		return nil
	}
	keys := make([]string, len(plan.Counters))
	for i, c := range plan.Counters {
		keys[i] = s.key("spend", c.ID)
	}
	if err := s.s.release.Run(ctx, s.rdb, keys, plan.Amount).Err(); err != nil {
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
	v, err := s.rdb.Get(ctx, s.key("spend", id)).Int64()
	if errors.Is(err, goredis.Nil) {
		return procurebot.Zero, nil
	}
	if err != nil {
		return procurebot.Zero, s.wrap("read spend counter "+id, err)
	}
	return procurebot.FromMicroUSD(v), nil
}

// luaCreateIntent stores an intent unless its id exists. KEYS: intents,
// intent-state, the set of its state. ARGV: id, JSON, state. Returns
// {"created"|"exists", stored JSON}.
const luaCreateIntent = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then return {'exists', old} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[1])
return {'created', ARGV[2]}
`

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
	res, err := s.s.createIntent.Run(ctx, s.rdb,
		[]string{s.key("intents"), s.key("intent-state"), s.key("intents-in", string(p.State))},
		p.ID, string(val), string(p.State)).StringSlice()
	if err != nil {
		return nil, false, s.wrap(op, err)
	}
	if len(res) != 2 {
		return nil, false, s.wrap(op, fmt.Errorf("unexpected reply %v", res))
	}
	stored, err := codec.DecodeIntent([]byte(res[1]))
	if err != nil {
		return nil, false, s.wrap(op, err)
	}
	return stored, res[0] == "created", nil
}

// GetIntent implements store.IntentStore.
func (s *Store) GetIntent(ctx context.Context, id string) (*procurebot.PaymentIntent, error) {
	op := "get payment intent " + id
	v, err := s.rdb.HGet(ctx, s.key("intents"), id).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, s.wrap(op, procurebot.Errorf(procurebot.ENOTFOUND, "no payment intent %q", id))
	}
	if err != nil {
		return nil, s.wrap(op, err)
	}
	p, err := codec.DecodeIntent(v)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	return p, nil
}

// luaUpdateIntent replaces an intent if its stored state is ARGV[3]. KEYS:
// intents, intent-state, set of the old state, set of the new state. ARGV:
// id, JSON, from, to. Returns {"missing"|"state"|"ok", stored state}.
const luaUpdateIntent = `
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur then return {'missing', ''} end
if cur ~= ARGV[3] then return {'state', cur} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
if ARGV[3] ~= ARGV[4] then
  redis.call('SREM', KEYS[3], ARGV[1])
  redis.call('SADD', KEYS[4], ARGV[1])
end
return {'ok', ARGV[4]}
`

// UpdateIntent implements store.IntentStore. It reads the stored intent
// first to check that what it pays does not change (those fields never
// change once stored, so the check cannot go stale), then sets it in a
// script that compares the stored state with from.
func (s *Store) UpdateIntent(ctx context.Context, p *procurebot.PaymentIntent, from procurebot.IntentState) error {
	if err := codec.CheckUpdate(p); err != nil {
		return s.wrap("update payment intent", err)
	}
	op := fmt.Sprintf("update payment intent %s from %s to %s", p.ID, from, p.State)
	stored, err := s.GetIntent(ctx, p.ID)
	if err != nil {
		return err
	}
	if err := codec.CheckMove(stored, p, from); err != nil {
		return s.wrap(op, err)
	}
	val, err := codec.EncodeIntent(p)
	if err != nil {
		return s.wrap(op, err)
	}
	res, err := s.s.updateIntent.Run(ctx, s.rdb,
		[]string{s.key("intents"), s.key("intent-state"), s.key("intents-in", string(from)), s.key("intents-in", string(p.State))},
		p.ID, string(val), string(from), string(p.State)).StringSlice()
	if err != nil {
		return s.wrap(op, err)
	}
	if len(res) != 2 {
		return s.wrap(op, fmt.Errorf("unexpected reply %v", res))
	}
	switch res[0] {
	case "ok":
		return nil
	case "missing":
		return s.wrap(op, procurebot.Errorf(procurebot.ENOTFOUND, "no payment intent %q", p.ID))
	default:
		return s.wrap(op, procurebot.Errorf(procurebot.ECONFLICT, "payment intent %s: state is %s, not %s", p.ID, res[1], from))
	}
}

// luaListIntents returns the JSON of every intent in the sets KEYS[2..].
const luaListIntents = `
local out = {}
for i = 2, #KEYS do
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    local v = redis.call('HGET', KEYS[1], id)
    if v then table.insert(out, v) end
  end
end
return out
`

// ListIntents implements store.IntentStore.
func (s *Store) ListIntents(ctx context.Context, states ...procurebot.IntentState) ([]procurebot.PaymentIntent, error) {
	op := fmt.Sprintf("list payment intents %v", states)
	if err := codec.CheckStates(states); err != nil {
		return nil, s.wrap(op, err)
	}
	var vals []string
	var err error
	if len(states) == 0 {
		vals, err = s.rdb.HVals(ctx, s.key("intents")).Result()
	} else {
		keys := []string{s.key("intents")}
		for _, st := range slices.Compact(slices.Sorted(slices.Values(states))) {
			keys = append(keys, s.key("intents-in", string(st)))
		}
		vals, err = s.s.listIntents.Run(ctx, s.rdb, keys).StringSlice()
	}
	if err != nil {
		return nil, s.wrap(op, err)
	}
	ps := make([]*procurebot.PaymentIntent, len(vals))
	for i, v := range vals {
		if ps[i], err = codec.DecodeIntent([]byte(v)); err != nil {
			return nil, s.wrap(op, err)
		}
	}
	slices.SortFunc(ps, codec.LessIntent)
	out := make([]procurebot.PaymentIntent, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out, nil
}

// leaseReply decodes {status, holder, token, exp µs} from the lease
// scripts.
func leaseReply(name string, res []string) (status string, l procurebot.Lease, err error) {
	if len(res) != 4 {
		return "", l, fmt.Errorf("unexpected reply %v", res)
	}
	l.Name, l.Holder = name, res[1]
	if res[2] != "" {
		if l.Token, err = strconv.ParseUint(res[2], 10, 64); err != nil {
			return "", l, fmt.Errorf("token %q: %w", res[2], err)
		}
	}
	if res[3] != "" {
		us, err := strconv.ParseInt(res[3], 10, 64)
		if err != nil {
			return "", l, fmt.Errorf("expiry %q: %w", res[3], err)
		}
		l.Expires = time.UnixMicro(us).UTC()
	}
	return res[0], l, nil
}

// luaAcquire acquires or renews a lease. KEYS: lease, token counter. ARGV:
// holder, now µs, expiry µs. Returns {"held"|"ok", holder, token, exp}.
const luaAcquire = `
local h = redis.call('HMGET', KEYS[1], 'holder', 'token', 'exp')
if h[1] and tonumber(ARGV[2]) < tonumber(h[3]) then
  if h[1] ~= ARGV[1] then return {'held', h[1], h[2], h[3]} end
  redis.call('HSET', KEYS[1], 'exp', ARGV[3])
  return {'ok', h[1], h[2], ARGV[3]}
end
local t = string.format('%d', redis.call('INCR', KEYS[2]))
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', t, 'exp', ARGV[3])
return {'ok', ARGV[1], t, ARGV[3]}
`

// AcquireLease implements store.LeaseStore.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (procurebot.Lease, error) {
	op := fmt.Sprintf("acquire lease %s for %s", name, holder)
	nowUS, expUS, err := codec.LeaseTimes(name, holder, ttl, now)
	if err != nil {
		return procurebot.Lease{}, s.wrap(op, err)
	}
	res, err := s.s.acquire.Run(ctx, s.rdb, []string{s.key("lease", name), s.key("lease-token", name)},
		holder, nowUS, expUS).StringSlice()
	if err != nil {
		return procurebot.Lease{}, s.wrap(op, err)
	}
	status, l, err := leaseReply(name, res)
	if err != nil {
		return procurebot.Lease{}, s.wrap(op, err)
	}
	if status != "ok" {
		return procurebot.Lease{}, s.wrap(op, procurebot.Errorf(procurebot.ECONFLICT, "lease %s is held by %s (token %d) until %s",
			name, l.Holder, l.Token, l.Expires.Format(time.RFC3339Nano)))
	}
	return l, nil
}

// luaRenew extends a lease held by ARGV[1] with token ARGV[2]. KEYS: lease.
// ARGV: holder, token, now µs, expiry µs. Returns {"free"|"other"|"expired"|
// "ok", holder, token, exp}.
const luaRenew = `
local h = redis.call('HMGET', KEYS[1], 'holder', 'token', 'exp')
if not h[1] then return {'free', '', '', ''} end
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] then return {'other', h[1], h[2], h[3]} end
if tonumber(ARGV[3]) >= tonumber(h[3]) then return {'expired', h[1], h[2], h[3]} end
redis.call('HSET', KEYS[1], 'exp', ARGV[4])
return {'ok', h[1], h[2], ARGV[4]}
`

// RenewLease implements store.LeaseStore.
func (s *Store) RenewLease(ctx context.Context, l procurebot.Lease, ttl time.Duration, now time.Time) (procurebot.Lease, error) {
	op := fmt.Sprintf("renew lease %s for %s (token %d)", l.Name, l.Holder, l.Token)
	nowUS, expUS, err := codec.LeaseTimes(l.Name, l.Holder, ttl, now)
	if err != nil {
		return procurebot.Lease{}, s.wrap(op, err)
	}
	res, err := s.s.renew.Run(ctx, s.rdb, []string{s.key("lease", l.Name)},
		l.Holder, strconv.FormatUint(l.Token, 10), nowUS, expUS).StringSlice()
	if err != nil {
		return procurebot.Lease{}, s.wrap(op, err)
	}
	status, cur, err := leaseReply(l.Name, res)
	if err != nil {
		return procurebot.Lease{}, s.wrap(op, err)
	}
	switch status {
	case "ok":
		return cur, nil
	case "free":
		err = procurebot.Errorf(procurebot.ECONFLICT, "lease %s is not held", l.Name)
	case "other":
		err = procurebot.Errorf(procurebot.ECONFLICT, "lease %s is held by %s with token %d", l.Name, cur.Holder, cur.Token)
	default:
		err = procurebot.Errorf(procurebot.ECONFLICT, "lease %s expired at %s", l.Name, cur.Expires.Format(time.RFC3339Nano))
	}
	return procurebot.Lease{}, s.wrap(op, err)
}

// luaReleaseLease deletes a lease held by ARGV[1] with token ARGV[2].
// Returns {"ok"|"other", holder, token}.
const luaReleaseLease = `
local h = redis.call('HMGET', KEYS[1], 'holder', 'token')
if not h[1] then return {'ok', '', ''} end
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] then return {'other', h[1], h[2]} end
redis.call('DEL', KEYS[1])
return {'ok', '', ''}
`

// ReleaseLease implements store.LeaseStore.
func (s *Store) ReleaseLease(ctx context.Context, l procurebot.Lease) error {
	op := fmt.Sprintf("release lease %s for %s (token %d)", l.Name, l.Holder, l.Token)
	if l.Name == "" || l.Holder == "" {
		return s.wrap(op, procurebot.Invalidf("lease: name and holder are required"))
	}
	res, err := s.s.releaseLease.Run(ctx, s.rdb, []string{s.key("lease", l.Name)},
		l.Holder, strconv.FormatUint(l.Token, 10)).StringSlice()
	if err != nil {
		return s.wrap(op, err)
	}
	if len(res) != 3 {
		return s.wrap(op, fmt.Errorf("unexpected reply %v", res))
	}
	if res[0] != "ok" {
		return s.wrap(op, procurebot.Errorf(procurebot.ECONFLICT, "lease %s is held by %s with token %s", l.Name, res[1], res[2]))
	}
	return nil
}

// PutQuote implements store.QuoteCache. The key also gets a server-side
// expiry of ttl (rounded up to a millisecond), so the server forgets it.
func (s *Store) PutQuote(ctx context.Context, key string, value []byte, ttl time.Duration, now time.Time) error {
	op := "put quote " + key
	expNS, err := codec.CheckQuote(key, ttl, now)
	if err != nil {
		return s.wrap(op, err)
	}
	px := (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
	if err := s.rdb.Set(ctx, s.key("quote", key), codec.QuoteValue(expNS, value), px).Err(); err != nil {
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
	v, err := s.rdb.Get(ctx, s.key("quote", key)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.wrap(op, err)
	}
	val, ok, err := codec.ParseQuote(key, v, now)
	if err != nil {
		return nil, false, s.wrap(op, err)
	}
	return val, ok, nil
}

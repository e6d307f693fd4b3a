package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/store/internal/codec"
)

// approvalKeys returns the four hashes that hold approvals, in the order
// the approval scripts take them as KEYS[1..4]: request, state, decision,
// message.
func (s *Store) approvalKeys(more ...string) []string {
	return append([]string{s.key("approvals"), s.key("approval-state"), s.key("approval-decision"),
		s.key("approval-message")}, more...)
}

// luaApproval defines approval(tag, id), which returns {tag, request,
// state, decision, message} of approval id from the hashes KEYS[1..4]
// (false for a part that is absent).
const luaApproval = `
local function approval(tag, id)
  return {tag, redis.call('HGET', KEYS[1], id), redis.call('HGET', KEYS[2], id),
    redis.call('HGET', KEYS[3], id), redis.call('HGET', KEYS[4], id)}
end
`

// approvalReply decodes {status, request, state, decision, message} from
// the approval scripts; a reply of status alone has no approval (nil).
func approvalReply(v any) (string, *procurebot.Approval, error) {
	r, err := replyStrings(v)
	if err != nil {
		return "", nil, err
	}
	switch len(r) {
	case 1:
		return r[0], nil, nil
	case 5:
		p, err := codec.JoinApproval(codec.ApprovalParts{Request: r[1], State: r[2], Decision: r[3], Message: r[4]})
		return r[0], p, err
	}
	return "", nil, fmt.Errorf("unexpected reply %v", r)
}

// luaCreateApproval stores an approval unless its id exists. KEYS: the
// four approval hashes, the set of its state. ARGV: id, request, state,
// decision, message. Returns approval('created'|'exists', id).
const luaCreateApproval = luaApproval + `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return approval('exists', ARGV[1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[5])
redis.call('SADD', KEYS[5], ARGV[1])
return approval('created', ARGV[1])
`

// CreateApproval implements store.ApprovalStore.
func (s *Store) CreateApproval(ctx context.Context, p *procurebot.Approval) (*procurebot.Approval, bool, error) {
	if err := codec.CheckNewApproval(p); err != nil {
		return nil, false, s.wrap("create approval", err)
	}
	op := "create approval " + p.ID
	parts, err := codec.SplitApproval(p)
	if err != nil {
		return nil, false, s.wrap(op, err)
	}
	res, err := s.s.createApproval.Run(ctx, s.rdb, s.approvalKeys(s.key("approvals-in", parts.State)),
		p.ID, parts.Request, parts.State, parts.Decision, parts.Message).Result()
	if err != nil {
		return nil, false, s.wrap(op, err)
	}
	status, stored, err := approvalReply(res)
	if err == nil && stored == nil {
		err = fmt.Errorf("unexpected reply %v", res)
	}
	if err != nil {
		return nil, false, s.wrap(op, err)
	}
	return stored, status == "created", nil
}

// luaGetApproval reads an approval in one step. KEYS: the four approval
// hashes. ARGV: id. Returns approval('ok', id) or {'missing'}.
const luaGetApproval = luaApproval + `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'missing'} end
return approval('ok', ARGV[1])
`

// GetApproval implements store.ApprovalStore.
func (s *Store) GetApproval(ctx context.Context, id string) (*procurebot.Approval, error) {
	op := "get approval " + id
	res, err := s.s.getApproval.Run(ctx, s.rdb, s.approvalKeys(), id).Result()
	if err != nil {
		return nil, s.wrap(op, err)
	}
	status, p, err := approvalReply(res)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	if status == "missing" || p == nil {
		return nil, s.wrap(op, codec.NoApproval(id))
	}
	return p, nil
}

// luaDecideApproval records a decision if the approval is pending: the
// compare-and-set. KEYS: the four approval hashes, the set of pending
// approvals, the set of the decided state. ARGV: id, decided state,
// decision, the pending state's name. Returns approval('ok'|'decided', id)
// or {'missing'}.
const luaDecideApproval = luaApproval + `
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur then return {'missing'} end
if cur ~= ARGV[4] then return approval('decided', ARGV[1]) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('SREM', KEYS[5], ARGV[1])
redis.call('SADD', KEYS[6], ARGV[1])
return approval('ok', ARGV[1])
`

// DecideApproval implements store.ApprovalStore.
func (s *Store) DecideApproval(ctx context.Context, id string, state procurebot.ApprovalState, by string, at time.Time) (*procurebot.Approval, error) {
	op := fmt.Sprintf("decide approval %s: %s by %s", id, state, by)
	if err := codec.CheckDecision(id, state, at); err != nil {
		return nil, s.wrap(op, err)
	}
	decision, err := codec.EncodeDecision(by, at)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	keys := s.approvalKeys(s.key("approvals-in", string(procurebot.ApprovalPending)), s.key("approvals-in", string(state)))
	res, err := s.s.decideApproval.Run(ctx, s.rdb, keys, id, string(state), decision, string(procurebot.ApprovalPending)).Result()
	if err != nil {
		return nil, s.wrap(op, err)
	}
	status, p, err := approvalReply(res)
	if err == nil && p == nil && status != "missing" {
		err = fmt.Errorf("unexpected reply %v", res)
	}
	if err != nil {
		return nil, s.wrap(op, err)
	}
	switch status {
	case "ok":
		return p, nil
	case "missing":
		return nil, s.wrap(op, codec.NoApproval(id))
	default:
		return p, s.wrap(op, codec.AlreadyDecided(p))
	}
}

// luaSetApprovalMessage records the message of an existing approval. KEYS:
// approvals, approval-message. ARGV: id, message. Returns 1, or 0 if there
// is no such approval.
const luaSetApprovalMessage = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
`

// SetApprovalMessage implements store.ApprovalStore.
func (s *Store) SetApprovalMessage(ctx context.Context, id, channel, ts string) error {
	op := fmt.Sprintf("set message of approval %s to %s/%s", id, channel, ts)
	msg, err := codec.EncodeMessage(channel, ts)
	if err != nil {
		return s.wrap(op, err)
	}
	n, err := s.s.setApprovalMessage.Run(ctx, s.rdb, []string{s.key("approvals"), s.key("approval-message")}, id, msg).Int64()
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		return s.wrap(op, codec.NoApproval(id))
	}
	return nil
}

// luaListApprovals returns request, state, decision and message of every
// approval (KEYS: the four approval hashes) or of those in the sets
// KEYS[5..], four replies per approval.
const luaListApprovals = luaApproval + `
local ids = {}
if #KEYS == 4 then
  ids = redis.call('HKEYS', KEYS[1])
else
  for i = 5, #KEYS do
    for _, id in ipairs(redis.call('SMEMBERS', KEYS[i])) do table.insert(ids, id) end
  end
end
local out = {}
for _, id in ipairs(ids) do
  local a = approval('', id)
  for j = 2, 5 do table.insert(out, a[j]) end
end
return out
`

// ListApprovals implements store.ApprovalStore.
func (s *Store) ListApprovals(ctx context.Context, states ...procurebot.ApprovalState) ([]procurebot.Approval, error) {
	op := fmt.Sprintf("list approvals %v", states)
	if err := codec.CheckApprovalStates(states); err != nil {
		return nil, s.wrap(op, err)
	}
	keys := s.approvalKeys()
	for _, st := range slices.Compact(slices.Sorted(slices.Values(states))) {
		keys = append(keys, s.key("approvals-in", string(st)))
	}
	res, err := s.s.listApprovals.Run(ctx, s.rdb, keys).Result()
	if err != nil {
		return nil, s.wrap(op, err)
	}
	r, err := replyStrings(res)
	if err == nil && len(r)%4 != 0 {
		err = fmt.Errorf("reply of %d elements, want a multiple of 4", len(r))
	}
	if err != nil {
		return nil, s.wrap(op, err)
	}
	ps := make([]*procurebot.Approval, len(r)/4)
	for i := range ps {
		q := r[4*i:]
		if ps[i], err = codec.JoinApproval(codec.ApprovalParts{Request: q[0], State: q[1], Decision: q[2], Message: q[3]}); err != nil {
			return nil, s.wrap(op, err)
		}
	}
	slices.SortFunc(ps, codec.LessApproval)
	out := make([]procurebot.Approval, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out, nil
}

// PutState implements store.StateStore.
func (s *Store) PutState(ctx context.Context, key string, value []byte) error {
	op := "put state " + key
	if err := codec.CheckStateKey(key); err != nil {
		return s.wrap(op, err)
	}
	if err := s.rdb.Set(ctx, s.key("state", key), value, 0).Err(); err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// GetState implements store.StateStore.
func (s *Store) GetState(ctx context.Context, key string) ([]byte, bool, error) {
	op := "get state " + key
	if err := codec.CheckStateKey(key); err != nil {
		return nil, false, s.wrap(op, err)
	}
	v, err := s.rdb.Get(ctx, s.key("state", key)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.wrap(op, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, true, nil
}

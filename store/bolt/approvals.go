package bolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/store/internal/codec"
)

// getApproval reads and decodes approval id (ENOTFOUND if absent).
func getApproval(b *bbolt.Bucket, id string) (*procurebot.Approval, error) {
	v := b.Get([]byte(id))
	if v == nil {
		return nil, codec.NoApproval(id)
	}
	return codec.DecodeApproval(v)
}

// putApproval stores p over the approval it replaces, moving it in the
// state index from the state that one had (old) to its own.
func putApproval(tx *bbolt.Tx, p *procurebot.Approval, old procurebot.ApprovalState) error {
	val, err := codec.EncodeApproval(p)
	if err != nil {
		return err
	}
	if err := tx.Bucket([]byte(bucketApprovals)).Put([]byte(p.ID), val); err != nil {
		return err
	}
	if old == p.State {
		return nil
	}
	states := tx.Bucket([]byte(bucketApprStates))
	if err := states.Delete(stateKey(old, p.ID)); err != nil {
		return err
	}
	return states.Put(stateKey(p.State, p.ID), nil)
}

// CreateApproval implements store.ApprovalStore.
func (s *Store) CreateApproval(ctx context.Context, p *procurebot.Approval) (*procurebot.Approval, bool, error) {
	if err := codec.CheckNewApproval(p); err != nil {
		return nil, false, s.wrap("create approval", err)
	}
	op := "create approval " + p.ID
	val, err := codec.EncodeApproval(p)
	if err != nil {
		return nil, false, s.wrap(op, err)
	}
	val, created, err := s.createOnce(ctx, bucketApprovals, bucketApprStates, p.ID, stateKey(p.State, p.ID), val)
	if err != nil {
		return nil, false, s.wrap(op, err)
	}
	stored, err := codec.DecodeApproval(val)
	if err != nil {
		return nil, false, s.wrap(op, err)
	}
	return stored, created, nil
}

// GetApproval implements store.ApprovalStore.
func (s *Store) GetApproval(ctx context.Context, id string) (*procurebot.Approval, error) {
	var p *procurebot.Approval
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		p, err = getApproval(tx.Bucket([]byte(bucketApprovals)), id)
		return err
	})
	if err != nil {
		return nil, s.wrap("get approval "+id, err)
	}
	return p, nil
}

// DecideApproval implements store.ApprovalStore. bbolt runs one writer at
// a time, so reading the state and writing the decision in one
// transaction is the compare-and-set.
func (s *Store) DecideApproval(ctx context.Context, id string, state procurebot.ApprovalState, by string, at time.Time) (*procurebot.Approval, error) {
	op := fmt.Sprintf("decide approval %s: %s by %s", id, state, by)
	if err := codec.CheckDecision(id, state, at); err != nil {
		return nil, s.wrap(op, err)
	}
	var stored, out *procurebot.Approval
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		var err error
		if stored, err = getApproval(tx.Bucket([]byte(bucketApprovals)), id); err != nil {
			return err
		}
		if out, err = codec.Decide(stored, state, by, at); err != nil {
			return err
		}
		return putApproval(tx, out, stored.State)
	})
	if procurebot.ErrorCode(err) == procurebot.ECONFLICT {
		return stored, s.wrap(op, err)
	}
	if err != nil {
		return nil, s.wrap(op, err)
	}
	return out, nil
}

// SetApprovalMessage implements store.ApprovalStore.
func (s *Store) SetApprovalMessage(ctx context.Context, id, channel, ts string) error {
	op := fmt.Sprintf("set message of approval %s to %s/%s", id, channel, ts)
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		p, err := getApproval(tx.Bucket([]byte(bucketApprovals)), id)
		if err != nil {
			return err
		}
		p.Channel, p.MessageTS = channel, ts
		return putApproval(tx, p, p.State)
	})
	if err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// ListApprovals implements store.ApprovalStore.
func (s *Store) ListApprovals(ctx context.Context, states ...procurebot.ApprovalState) ([]procurebot.Approval, error) {
	op := fmt.Sprintf("list approvals %v", states)
	if err := codec.CheckApprovalStates(states); err != nil {
		return nil, s.wrap(op, err)
	}
	list, err := listByState(ctx, s, bucketApprovals, bucketApprStates, "approval", states, codec.DecodeApproval, codec.LessApproval)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	return list, nil
}

// PutState implements store.StateStore.
func (s *Store) PutState(ctx context.Context, key string, value []byte) error {
	op := "put state " + key
	if err := codec.CheckStateKey(key); err != nil {
		return s.wrap(op, err)
	}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		// A copy: bbolt keeps the slice until the transaction commits, and
		// a nil value is stored as an empty one.
		return tx.Bucket([]byte(bucketState)).Put([]byte(key), append([]byte{}, value...))
	})
	if err != nil {
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
	var (
		val []byte
		ok  bool
	)
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		// A cursor tells an empty value from an absent key; the value is
		// copied out of the memory map, which is gone after the transaction.
		k, v := tx.Bucket([]byte(bucketState)).Cursor().Seek([]byte(key))
		if k != nil && bytes.Equal(k, []byte(key)) {
			val, ok = append([]byte{}, v...), true
		}
		return nil
	})
	if err != nil {
		return nil, false, s.wrap(op, err)
	}
	return val, ok, nil
}

package wallet

import (
	"cmp"
	"context"
	"errors"
	"slices"

	"github.com/procurebot/procurebot"
)

// ReconcileReport says what one Reconcile pass found and did, by intent ID.
type ReconcileReport struct {
	// Checked counts the unfinished intents of the Payer's account and
	// chain that the pass looked at.
	Checked int
	// Confirmed: mined with enough confirmations, now Confirmed.
	Confirmed []string
	// InFlight: signed and (re-)broadcast, not yet mined with enough
	// confirmations; a later pass or Wait finishes them.
	InFlight []string
	// Failed: ended Failed (nothing signed: balances short, the token would
	// refuse the transfer; or reverted, where the state machine allows it).
	Failed []string
	// Reverted: a transaction of the intent was mined and reverted (also
	// listed in Failed if the intent could be moved to Failed).
	Reverted []string
	// Conflicts: the intent's nonce was used on chain by a transaction that
	// is not one of its own (ErrNonceConflict). Left as they are, to be
	// resolved by hand: this cannot happen with one Payer per key.
	Conflicts []string
	// Pending: still Pending after the pass (the node could not be reached).
	Pending []string
}

// Reconcile makes one pass over every unfinished (Pending, Signed or Sent)
// intent of the Payer's account and chain, as after a restart, and moves
// each as far as it can go without waiting for new blocks:
//
//   - Pending (nothing signed): signed with a new nonce and broadcast, as
//     Pay does;
//   - Signed or Sent: the receipts of all its transactions are looked up;
//     if one is mined with enough confirmations the intent is Confirmed (or
//     reverted, see Payer); if none is mined and the account's nonce on
//     chain is past the intent's, something else used the nonce: an
//     ECONFLICT error wrapping ErrNonceConflict, the intent left as it is;
//     otherwise the same signed transaction is broadcast again — never a
//     new nonce.
//
// Signed and Sent intents go first in nonce order, then Pending ones by
// creation time. Reconcile returns what it did and the errors of all the
// intents it could not settle, joined; each error names its intent. A
// StepHook's error stops the pass at once.
func (p *Payer) Reconcile(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	all, err := p.store.ListIntents(ctx, procurebot.IntentPending, procurebot.IntentSigned, procurebot.IntentSent)
	if err != nil {
		return rep, &procurebot.Error{Code: procurebot.ErrorCode(err),
			Message: "reconcile account " + p.from.Hex() + ": list unfinished payment intents", Err: err}
	}
	var mine []procurebot.PaymentIntent
	for i := range all {
		if p.owns(&all[i]) == nil {
			mine = append(mine, all[i])
		}
	}
	slices.SortFunc(mine, func(a, b procurebot.PaymentIntent) int {
		ap, bp := a.State == procurebot.IntentPending, b.State == procurebot.IntentPending
		switch {
		case ap != bp:
			if ap {
				return 1
			}
			return -1
		case !ap && a.Nonce != b.Nonce:
			return cmp.Compare(a.Nonce, b.Nonce)
		case !a.CreatedAt.Equal(b.CreatedAt):
			return a.CreatedAt.Compare(b.CreatedAt)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	rep.Checked = len(mine)
	var errs []error
	for _, in := range mine {
		if err := ctx.Err(); err != nil {
			errs = append(errs, &procurebot.Error{Code: procurebot.EUNAVAILABLE,
				Message: "reconcile account " + p.from.Hex() + ": stopped", Err: err})
			break
		}
		out, err := p.drive(ctx, in.ID, false)
		var stop *stopError
		if errors.As(err, &stop) {
			return rep, err
		}
		if err != nil {
			errs = append(errs, err)
		}
		p.logger(&in).Debug().Err(err).Msg("reconciled")
		switch {
		case errors.Is(err, ErrNonceConflict):
			rep.Conflicts = append(rep.Conflicts, in.ID)
			continue
		case errors.Is(err, ErrReverted):
			rep.Reverted = append(rep.Reverted, in.ID)
		}
		if out == nil {
			continue
		}
		switch out.State {
		case procurebot.IntentConfirmed:
			rep.Confirmed = append(rep.Confirmed, in.ID)
		case procurebot.IntentFailed:
			rep.Failed = append(rep.Failed, in.ID)
		case procurebot.IntentSigned, procurebot.IntentSent:
			if !errors.Is(err, ErrReverted) {
				rep.InFlight = append(rep.InFlight, in.ID)
			}
		case procurebot.IntentPending:
			rep.Pending = append(rep.Pending, in.ID)
		}
	}
	return rep, errors.Join(errs...)
}

package codec

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
)

// actionRecord is the stored form of the action an approval asks about.
// Money is a decimal string, so it comes back exactly.
type actionRecord struct {
	ID                    string    `json:"id"`
	Kind                  string    `json:"kind"`
	Step                  time.Time `json:"step"`
	Hours                 string    `json:"hours"`
	Venue                 string    `json:"venue"`
	Job                   string    `json:"job,omitempty"`
	Site                  string    `json:"site,omitempty"`
	GPU                   string    `json:"gpu,omitempty"`
	GPUs                  string    `json:"gpus"`
	USDPerGPUHour         string    `json:"usd_per_gpu_hour"`
	AmountUSD             string    `json:"amount_usd"`
	CheapestUSDPerGPUHour string    `json:"cheapest_usd_per_gpu_hour"`
	Recipient             string    `json:"recipient,omitempty"`
	Token                 string    `json:"token,omitempty"`
}

// approvalRequest is the part of an approval that never changes once
// stored: what is asked, when, and until when.
type approvalRequest struct {
	ID        string       `json:"id"`
	Action    actionRecord `json:"action"`
	Requested time.Time    `json:"requested"`
	Expires   time.Time    `json:"expires"`
}

// approvalDecision is the answer: when and by whom (empty while pending).
type approvalDecision struct {
	Decided time.Time `json:"decided,omitzero"`
	By      string    `json:"by,omitempty"`
}

// approvalMessage is the chat message that asked.
type approvalMessage struct {
	Channel   string `json:"channel,omitempty"`
	MessageTS string `json:"message_ts,omitempty"`
}

// approvalRecord is the stored form of a whole approval (the bbolt
// store's): the request, the state, the decision and the message, as one
// flat JSON object.
type approvalRecord struct {
	approvalRequest
	State string `json:"state"`
	approvalDecision
	approvalMessage
}

func encodeAction(a *procurebot.Action) actionRecord {
	return actionRecord{
		ID: a.ID, Kind: string(a.Kind), Step: a.Step.UTC(), Hours: a.Hours.String(), Venue: a.Venue,
		Job: a.Job, Site: a.Site, GPU: a.GPU, GPUs: a.GPUs.String(), USDPerGPUHour: a.USDPerGPUHour.String(),
		AmountUSD: a.AmountUSD.String(), CheapestUSDPerGPUHour: a.CheapestUSDPerGPUHour.String(),
		Recipient: a.Recipient, Token: a.Token,
	}
}

func decodeAction(r actionRecord) (procurebot.Action, error) {
	a := procurebot.Action{
		ID: r.ID, Kind: procurebot.ActionKind(r.Kind), Step: r.Step.UTC(), Venue: r.Venue, Job: r.Job, Site: r.Site,
		GPU: r.GPU, Recipient: r.Recipient, Token: r.Token,
	}
	for _, f := range []struct {
		name string
		s    string
		d    *procurebot.Money
	}{
		{"hours", r.Hours, &a.Hours}, {"gpus", r.GPUs, &a.GPUs}, {"usd_per_gpu_hour", r.USDPerGPUHour, &a.USDPerGPUHour},
		{"amount_usd", r.AmountUSD, &a.AmountUSD}, {"cheapest_usd_per_gpu_hour", r.CheapestUSDPerGPUHour, &a.CheapestUSDPerGPUHour},
	} {
		v, err := decimal.NewFromString(f.s)
		if err != nil {
			return procurebot.Action{}, fmt.Errorf("action %s: %s: %w", r.ID, f.name, err)
		}
		*f.d = v
	}
	return a, nil
}

func requestOf(p *procurebot.Approval) approvalRequest {
	return approvalRequest{ID: p.ID, Action: encodeAction(&p.Action), Requested: p.Requested.UTC(), Expires: p.Expires.UTC()}
}

func decisionOf(p *procurebot.Approval) approvalDecision {
	return approvalDecision{Decided: p.Decided.UTC(), By: p.By}
}

// assemble builds an approval from its stored parts; times come back in
// UTC.
func assemble(req approvalRequest, state string, d approvalDecision, m approvalMessage) (*procurebot.Approval, error) {
	a, err := decodeAction(req.Action)
	if err != nil {
		return nil, fmt.Errorf("decode approval %s: %w", req.ID, err)
	}
	return &procurebot.Approval{
		ID: req.ID, Action: a, State: procurebot.ApprovalState(state), Requested: req.Requested.UTC(),
		Expires: req.Expires.UTC(), Decided: d.Decided.UTC(), By: d.By, Channel: m.Channel, MessageTS: m.MessageTS,
	}, nil
}

// EncodeApproval returns the stored form of the whole of p.
func EncodeApproval(p *procurebot.Approval) ([]byte, error) {
	return json.Marshal(approvalRecord{
		approvalRequest: requestOf(p), State: string(p.State), approvalDecision: decisionOf(p),
		approvalMessage: approvalMessage{Channel: p.Channel, MessageTS: p.MessageTS},
	})
}

// DecodeApproval decodes an approval stored by EncodeApproval.
func DecodeApproval(b []byte) (*procurebot.Approval, error) {
	var r approvalRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode approval: %w", err)
	}
	return assemble(r.approvalRequest, r.State, r.approvalDecision, r.approvalMessage)
}

// ApprovalParts is an approval stored in four parts that change
// independently (the Redis store's): the request JSON, which never
// changes, the state, the decision JSON and the message JSON. A part that
// is "" is empty.
type ApprovalParts struct {
	Request, State, Decision, Message string
}

// SplitApproval returns the parts of p.
func SplitApproval(p *procurebot.Approval) (ApprovalParts, error) {
	req, err := json.Marshal(requestOf(p))
	if err != nil {
		return ApprovalParts{}, fmt.Errorf("encode approval %s: %w", p.ID, err)
	}
	dec, err := EncodeDecision(p.By, p.Decided)
	if err != nil {
		return ApprovalParts{}, fmt.Errorf("encode approval %s: %w", p.ID, err)
	}
	msg, err := EncodeMessage(p.Channel, p.MessageTS)
	if err != nil {
		return ApprovalParts{}, fmt.Errorf("encode approval %s: %w", p.ID, err)
	}
	return ApprovalParts{Request: string(req), State: string(p.State), Decision: dec, Message: msg}, nil
}

// JoinApproval decodes an approval from parts made by SplitApproval,
// EncodeDecision and EncodeMessage.
func JoinApproval(parts ApprovalParts) (*procurebot.Approval, error) {
	var (
		req approvalRequest
		d   approvalDecision
		m   approvalMessage
	)
	if err := json.Unmarshal([]byte(parts.Request), &req); err != nil {
		return nil, fmt.Errorf("decode approval: request: %w", err)
	}
	if parts.Decision != "" {
		if err := json.Unmarshal([]byte(parts.Decision), &d); err != nil {
			return nil, fmt.Errorf("decode approval %s: decision: %w", req.ID, err)
		}
	}
	if parts.Message != "" {
		if err := json.Unmarshal([]byte(parts.Message), &m); err != nil {
			return nil, fmt.Errorf("decode approval %s: message: %w", req.ID, err)
		}
	}
	return assemble(req, parts.State, d, m)
}

// EncodeDecision returns the stored form of a decision by by at at.
func EncodeDecision(by string, at time.Time) (string, error) {
	b, err := json.Marshal(approvalDecision{Decided: at.UTC(), By: by})
	return string(b), err
}

// EncodeMessage returns the stored form of a chat message reference.
func EncodeMessage(channel, ts string) (string, error) {
	b, err := json.Marshal(approvalMessage{Channel: channel, MessageTS: ts})
	return string(b), err
}

// CheckNewApproval validates p for CreateApproval (EINVALID): valid and
// pending.
func CheckNewApproval(p *procurebot.Approval) error {
	if p == nil {
		return procurebot.Invalidf("approval: nil")
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if p.State != procurebot.ApprovalPending {
		return procurebot.Invalidf("approval %s: a new approval must be %s, got %q", p.ID, procurebot.ApprovalPending, p.State)
	}
	return nil
}

// CheckDecision validates DecideApproval's arguments (EINVALID): state is
// a decision (approved, rejected or expired) and at is a time.
func CheckDecision(id string, state procurebot.ApprovalState, at time.Time) error {
	switch {
	case state != procurebot.ApprovalApproved && state != procurebot.ApprovalRejected && state != procurebot.ApprovalExpired:
		return procurebot.Invalidf("approval %s: cannot decide %q (want %s, %s or %s)", id, state,
			procurebot.ApprovalApproved, procurebot.ApprovalRejected, procurebot.ApprovalExpired)
	case at.IsZero():
		return procurebot.Invalidf("approval %s: decision time is required", id)
	}
	return nil
}

// Decide returns stored moved to state by by at at, or ECONFLICT
// (AlreadyDecided) if stored is no longer pending. The arguments must have
// passed CheckDecision.
func Decide(stored *procurebot.Approval, state procurebot.ApprovalState, by string, at time.Time) (*procurebot.Approval, error) {
	if stored.State != procurebot.ApprovalPending {
		return nil, AlreadyDecided(stored)
	}
	p := *stored
	p.State, p.By, p.Decided = state, by, at.UTC()
	return &p, nil
}

// AlreadyDecided is the ECONFLICT of a DecideApproval that came too late.
func AlreadyDecided(stored *procurebot.Approval) error {
	return procurebot.Errorf(procurebot.ECONFLICT, "approval %s was already %s by %s at %s",
		stored.ID, stored.State, stored.By, stored.Decided.Format(time.RFC3339Nano))
}

// NoApproval is the ENOTFOUND of an approval id that is not stored.
func NoApproval(id string) error {
	return procurebot.Errorf(procurebot.ENOTFOUND, "no approval %q", id)
}

// AllApprovalStates returns every approval state.
func AllApprovalStates() []procurebot.ApprovalState {
	return []procurebot.ApprovalState{procurebot.ApprovalPending, procurebot.ApprovalApproved,
		procurebot.ApprovalRejected, procurebot.ApprovalExpired}
}

// CheckApprovalStates validates the states given to ListApprovals
// (EINVALID).
func CheckApprovalStates(states []procurebot.ApprovalState) error {
	for _, s := range states {
		if !slices.Contains(AllApprovalStates(), s) {
			return procurebot.Invalidf("approval state %q: unknown", s)
		}
	}
	return nil
}

// LessApproval orders approvals by Requested, then ID.
func LessApproval(a, b *procurebot.Approval) int {
	if c := a.Requested.Compare(b.Requested); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// CheckStateKey validates a PutState or GetState key (EINVALID).
func CheckStateKey(key string) error {
	if key == "" {
		return procurebot.Invalidf("state: key is required")
	}
	return nil
}

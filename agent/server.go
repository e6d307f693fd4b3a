package agent

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/procurebot/procurebot"
)

// Decider answers approvals (approvals/slack.StoreDecider): a
// compare-and-set in the store, so an answer has effect once.
type Decider interface {
	// Decide approves or rejects approval id on behalf of by.
	Decide(ctx context.Context, id string, approve bool, by string) (*procurebot.Approval, error)
}

// Server is the bot's HTTP side:
//
//	GET  /healthz                     200 when the store and the chain answer, else 503
//	GET  /metrics                     Prometheus metrics (procurebot_*)
//	POST /slack/interactions          Slack's signed interaction callbacks (when Slack is set)
//	GET  /api/approvals[?state=S]     approval requests (bearer token)
//	POST /api/approvals/{id}/approve  answer one (bearer token; body {"by": "..."} optional)
//	POST /api/approvals/{id}/reject
//	GET  /api/ledger[?since=&until=&kind=&limit=]  the ledger, as `ledger --json` (bearer token)
//
// The /api endpoints are what `procurebot approvals` and `procurebot
// ledger` use while the bot holds the store; they need the admin token the
// bot writes to its data directory (mode 0600).
type Server struct {
	Ledger    Ledger
	Approvals Approvals
	Decider   Decider
	// Health checks the store and the chain.
	Health  func(ctx context.Context) error
	Metrics *Metrics
	// Slack is the interaction handler (nil: no Slack).
	Slack http.Handler
	// Token guards /api.
	Token string
	Log   zerolog.Logger
}

// Handler returns the server's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{}))
	if s.Slack != nil {
		mux.Handle("POST /slack/interactions", s.Slack)
	}
	mux.HandleFunc("GET /api/approvals", s.auth(s.listApprovals))
	mux.HandleFunc("POST /api/approvals/{id}/{verb}", s.auth(s.decide))
	mux.HandleFunc("GET /api/ledger", s.auth(s.ledger))
	return mux
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.Health(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if s.Token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.Token)) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong admin token (see admin.token in the data directory)"})
			return
		}
		h(w, r)
	}
}

// ApprovalJSON is an approval as the API and `approvals list --json` show it.
type ApprovalJSON struct {
	ID            string `json:"id"`
	State         string `json:"state"`
	Kind          string `json:"kind"`
	Venue         string `json:"venue"`
	Job           string `json:"job,omitempty"`
	Site          string `json:"site,omitempty"`
	GPU           string `json:"gpu,omitempty"`
	GPUs          string `json:"gpus,omitempty"`
	USDPerGPUHour string `json:"usd_per_gpu_hour,omitempty"`
	Hours         string `json:"hours"`
	AmountUSD     string `json:"amount_usd"`
	Requested     string `json:"requested"`
	Expires       string `json:"expires"`
	Decided       string `json:"decided,omitempty"`
	By            string `json:"by,omitempty"`
}

// ToApprovalJSON renders p.
func ToApprovalJSON(p procurebot.Approval) ApprovalJSON {
	a := p.Action
	out := ApprovalJSON{ID: p.ID, State: string(p.State), Kind: string(a.Kind), Venue: a.Venue, Job: a.Job, Site: a.Site, GPU: a.GPU,
		Hours: a.Hours.String(), AmountUSD: procurebot.Cents(a.AmountUSD), Requested: p.Requested.UTC().Format(time.RFC3339),
		Expires: p.Expires.UTC().Format(time.RFC3339), By: p.By}
	if a.GPUs.Sign() > 0 {
		out.GPUs = a.GPUs.String()
	}
	if a.USDPerGPUHour.Sign() > 0 {
		out.USDPerGPUHour = a.USDPerGPUHour.String()
	}
	if !p.Decided.IsZero() {
		out.Decided = p.Decided.UTC().Format(time.RFC3339)
	}
	return out
}

func (s *Server) listApprovals(w http.ResponseWriter, r *http.Request) {
	var states []procurebot.ApprovalState
	if st := r.URL.Query().Get("state"); st != "" {
		states = append(states, procurebot.ApprovalState(st))
	}
	ps, err := s.Approvals.ListApprovals(r.Context(), states...)
	if err != nil {
		writeErr(w, err)
		return
	}
	out := []ApprovalJSON{}
	for _, p := range ps {
		out = append(out, ToApprovalJSON(p))
	}
	writeJSON(w, http.StatusOK, map[string]any{"approvals": out})
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	id, verb := r.PathValue("id"), r.PathValue("verb")
	if verb != "approve" && verb != "reject" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "want /approve or /reject"})
		return
	}
	var body struct {
		By string `json:"by"`
	}
	_ = json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body)
	by := body.By
	if by == "" {
		by = "cli"
	}
	p, err := s.Decider.Decide(r.Context(), id, verb == "approve", by)
	if err != nil {
		if procurebot.ErrorCode(err) == procurebot.ECONFLICT && p != nil {
			writeJSON(w, http.StatusConflict, map[string]any{"error": "already " + string(p.State), "approval": ToApprovalJSON(*p)})
			return
		}
		writeErr(w, err)
		return
	}
	s.Log.Info().Str("approval", id).Str("by", by).Str("state", string(p.State)).Msg("approval answered")
	writeJSON(w, http.StatusOK, map[string]any{"approval": ToApprovalJSON(*p)})
}

// LedgerJSON is one entry of `ledger --json` (DESIGN §8).
type LedgerJSON struct {
	Seq       uint64 `json:"seq"`
	Time      string `json:"time"`
	Kind      string `json:"kind"`
	AmountUSD string `json:"amount_usd"`
	Venue     string `json:"venue"`
	IntentID  string `json:"intent_id,omitempty"`
	TxHash    string `json:"tx_hash,omitempty"`
	Note      string `json:"note,omitempty"`
}

// ToLedgerJSON renders e.
func ToLedgerJSON(e procurebot.LedgerEntry) LedgerJSON {
	return LedgerJSON{Seq: e.Seq, Time: e.Time.UTC().Format(time.RFC3339), Kind: string(e.Kind), AmountUSD: e.AmountUSD.String(),
		Venue: e.Venue, IntentID: e.IntentID, TxHash: e.TxHash, Note: e.Note}
}

func (s *Server) ledger(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f procurebot.LedgerFilter
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": p.name + ": not an RFC 3339 time"})
				return
			}
			*p.dst = t
		}
	}
	for _, k := range q["kind"] {
		f.Kinds = append(f.Kinds, procurebot.EntryKind(k))
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit: not a count"})
			return
		}
		f.Limit = n
	}
	es, err := s.Ledger.List(r.Context(), f)
	if err != nil {
		writeErr(w, err)
		return
	}
	out := []LedgerJSON{}
	for _, e := range es {
		out = append(out, ToLedgerJSON(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out})
}

func writeErr(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch procurebot.ErrorCode(err) {
	case procurebot.EINVALID:
		status = http.StatusBadRequest
	case procurebot.ENOTFOUND:
		status = http.StatusNotFound
	case procurebot.ECONFLICT:
		status = http.StatusConflict
	case procurebot.EUNAVAILABLE:
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

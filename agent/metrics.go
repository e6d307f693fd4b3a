package agent

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the agent's Prometheus metrics, named procurebot_*. Money
// here is for dashboards (floats); the ledger is the exact record.
type Metrics struct {
	Registry *prometheus.Registry

	Decisions        prometheus.Counter
	Step             prometheus.Gauge
	DecisionSeconds  prometheus.Histogram
	Actions          *prometheus.CounterVec // kind, venue, outcome
	Refusals         *prometheus.CounterVec // rule
	SpendUSD         *prometheus.CounterVec // provider
	SpendWindowUSD   *prometheus.GaugeVec   // window, key: spent in the current bucket
	SpendCapUSD      *prometheus.GaugeVec   // window, key: the cap
	ApprovalsPending prometheus.Gauge
	PaymentSeconds   prometheus.Histogram
	PaymentFailures  prometheus.Counter
	QuoteAgeSeconds  *prometheus.GaugeVec   // venue
	FeedErrors       *prometheus.CounterVec // venue
}

// NewMetrics registers the agent's metrics (and the Go runtime's) on a new
// registry.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		Decisions: prometheus.NewCounter(prometheus.CounterOpts{Name: "procurebot_decisions_total",
			Help: "Steps decided and carried out."}),
		Step: prometheus.NewGauge(prometheus.GaugeOpts{Name: "procurebot_step",
			Help: "Steps done so far in the run."}),
		DecisionSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "procurebot_decision_seconds",
			Help: "Time from quotes in to actions out (plan, policy, approvals) per step.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		Actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "procurebot_actions_total",
			Help: "Actions by kind, venue and outcome (admitted, refused, awaiting_approval, done)."}, []string{"kind", "venue", "outcome"}),
		Refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "procurebot_policy_refusals_total",
			Help: "Actions spend policy refused, by rule."}, []string{"rule"}),
		SpendUSD: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "procurebot_spend_usd_total",
			Help: "Gross spend recorded in the ledger, by provider."}, []string{"provider"}),
		SpendWindowUSD: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "procurebot_spend_window_usd",
			Help: "Spend counted in the current bucket of each capped window and key."}, []string{"window", "key"}),
		SpendCapUSD: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "procurebot_spend_cap_usd",
			Help: "The cap of each capped window and key."}, []string{"window", "key"}),
		ApprovalsPending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "procurebot_approvals_pending",
			Help: "Approval requests waiting for a human."}),
		PaymentSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "procurebot_payment_seconds",
			Help: "Time from payment intent to confirmation.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		PaymentFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "procurebot_payment_failures_total",
			Help: "Payments that failed (the charge is owed)."}),
		QuoteAgeSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "procurebot_quote_age_seconds",
			Help: "Age of each venue's newest quote."}, []string{"venue"}),
		FeedErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "procurebot_feed_errors_total",
			Help: "Failed polls per venue."}, []string{"venue"}),
	}
	r.MustRegister(m.Decisions, m.Step, m.DecisionSeconds, m.Actions, m.Refusals, m.SpendUSD, m.SpendWindowUSD, m.SpendCapUSD,
		m.ApprovalsPending, m.PaymentSeconds, m.PaymentFailures, m.QuoteAgeSeconds, m.FeedErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

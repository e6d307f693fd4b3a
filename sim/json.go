package sim

import (
	"encoding/json"
	"time"

	"github.com/procurebot/procurebot"
)

// jsonResult is the §8 JSON object (CONTRACT): keys and order as specified,
// money as decimal strings rounded half away from zero to cents. Fields
// after "jobs" in the contract's list are extensions.
type jsonResult struct {
	Strategy          string    `json:"strategy"`
	TotalCostUSD      string    `json:"total_cost_usd"`
	EnergyCostUSD     string    `json:"energy_cost_usd"`
	OtherCostUSD      string    `json:"other_cost_usd"`
	RentalCostUSD     string    `json:"rental_cost_usd"`
	InferenceCostUSD  string    `json:"inference_cost_usd"`
	RevenueUSD        string    `json:"revenue_usd"`
	GPUHoursRequired  string    `json:"gpu_hours_required"`
	GPUHoursDelivered string    `json:"gpu_hours_delivered"`
	DeadlineMisses    int       `json:"deadline_misses"`
	SwitchingGPUHours string    `json:"switching_gpu_hours"`
	PreemptedGPUHours string    `json:"preempted_gpu_hours"`
	LeasedGPUHours    string    `json:"leased_gpu_hours"`
	Decisions         int       `json:"decisions"`
	ElapsedMS         int64     `json:"elapsed_ms"`
	Jobs              []jsonJob `json:"jobs"`

	SelfHostedGPUHours string `json:"self_hosted_gpu_hours"`
	UnservedMTok       string `json:"unserved_mtok"`
	GrossSpendUSD      string `json:"gross_spend_usd"`
	BudgetBinding      bool   `json:"budget_binding"`
}

type jsonJob struct {
	ID                string  `json:"id"`
	GPUHoursDelivered string  `json:"gpu_hours_delivered"`
	Finished          *string `json:"finished"`
	Missed            bool    `json:"missed"`
}

// quantity prints a non-money quantity exactly, trimmed ("20000", "12.5").
func quantity(m Money) string { return m.String() }

// MarshalJSON renders r as the §8 backtest object.
func (r *Result) MarshalJSON() ([]byte, error) {
	out := jsonResult{
		Strategy:           r.Strategy,
		TotalCostUSD:       procurebot.Cents(r.TotalCostUSD),
		EnergyCostUSD:      procurebot.Cents(r.EnergyCostUSD),
		OtherCostUSD:       procurebot.Cents(r.OtherCostUSD),
		RentalCostUSD:      procurebot.Cents(r.RentalCostUSD),
		InferenceCostUSD:   procurebot.Cents(r.InferenceCostUSD),
		RevenueUSD:         procurebot.Cents(r.RevenueUSD),
		GPUHoursRequired:   quantity(r.GPUHoursRequired),
		GPUHoursDelivered:  quantity(r.GPUHoursDelivered),
		DeadlineMisses:     r.DeadlineMisses,
		SwitchingGPUHours:  quantity(r.SwitchingGPUHours),
		PreemptedGPUHours:  quantity(r.PreemptedGPUHours),
		LeasedGPUHours:     quantity(r.LeasedGPUHours.Round(6)),
		Decisions:          r.Decisions,
		ElapsedMS:          r.Elapsed.Milliseconds(),
		Jobs:               []jsonJob{},
		SelfHostedGPUHours: quantity(r.SelfHostedGPUHours.Round(6)),
		UnservedMTok:       quantity(r.UnservedMTok.Round(6)),
		GrossSpendUSD:      procurebot.Cents(r.GrossSpendUSD),
		BudgetBinding:      r.BudgetBinding,
	}
	for _, j := range r.Jobs {
		jj := jsonJob{ID: j.ID, GPUHoursDelivered: quantity(j.GPUHoursDelivered), Missed: j.Missed}
		if !j.Finished.IsZero() {
			s := j.Finished.UTC().Format(time.RFC3339)
			jj.Finished = &s
		}
		out.Jobs = append(out.Jobs, jj)
	}
	return json.Marshal(out)
}

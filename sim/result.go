package sim

import (
	"time"

	"github.com/procurebot/procurebot"
)

// Money is procurebot.Money (an exact decimal).
type Money = procurebot.Money

// Result is everything one backtest run produced: the totals of DESIGN §8,
// per-job outcomes and a per-step record for reports. Every figure comes
// from the one accounting path in account.go.
type Result struct {
	Strategy string

	EnergyCostUSD    Money
	OtherCostUSD     Money
	RentalCostUSD    Money
	InferenceCostUSD Money
	RevenueUSD       Money
	TotalCostUSD     Money // energy + other + rental + inference − revenue
	GrossSpendUSD    Money // energy + other + rental + inference

	GPUHoursRequired   Money
	GPUHoursDelivered  Money
	DeadlineMisses     int
	SwitchingGPUHours  Money
	PreemptedGPUHours  Money
	LeasedGPUHours     Money
	SelfHostedGPUHours Money
	UnservedMTok       Money
	BudgetBinding      bool // gross spend reached the budget (the oracle ignores the budget and only reports it)

	Decisions int           // steps decided
	Elapsed   time.Duration // wall time of the run, strategy included

	Jobs  []JobResult
	Steps []StepRecord
}

// JobResult is one job's outcome.
type JobResult struct {
	ID                string
	GPUHoursRequired  Money
	GPUHoursDelivered Money
	Finished          time.Time // end of the step in which the job completed; zero if never
	Missed            bool
}

// StepRecord is what happened in one step, for reports and per-step audits.
type StepRecord struct {
	Time time.Time
	// Cost is the step's total cost (energy + other + rental + inference −
	// revenue); summing it over all steps gives Result.TotalCostUSD exactly.
	Cost Money
	// Venues lists the GPUs in use in this step per venue: a site name for
	// own GPUs (jobs and self-hosted inference), a provider name for rented
	// ones. Leased-out GPUs are in Leased.
	Venues []VenueUse
	// Leased is the number of own GPUs leased out in this step (may be
	// fractional), all sites together.
	Leased Money
}

// VenueUse is a number of GPUs used on one venue in one step.
type VenueUse struct {
	Venue string
	Own   bool  // true for an own site
	GPUs  Money // may be fractional for self-hosted inference
}

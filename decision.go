package procurebot

import (
	"context"
	"time"
)

// JobAlloc gives whole GPUs of one venue to one job for one step.
type JobAlloc struct {
	Job   int // index in Scenario.Jobs
	Site  int // index in Scenario.Sites for own GPUs, or -1 for a rental
	Offer int // rentals: index in the current book's Offers; ignored for sites
	GPUs  int
}

// SelfHostAlloc serves part of an inference workload on own GPUs of a site.
type SelfHostAlloc struct {
	Workload int   // index in Scenario.Inference
	Site     int   // index in Scenario.Sites; must be of the workload's self_host.gpu class
	GPUs     Money // GPUs serving it this step (fractional allowed)
}

// Decision is what a strategy commits for one step. Tokens are bought for
// whatever part of each inference workload is not self-hosted; own GPUs
// neither running nor leased are idle.
type Decision struct {
	Jobs     []JobAlloc
	SelfHost []SelfHostAlloc
	Leased   []Money // per site (index in Scenario.Sites): GPUs leased out; nil = none
	// NoTokens lists inference workloads (indexes in Scenario.Inference)
	// whose tokens are not bought this step — spend policy refused them —
	// so their share not self-hosted goes unserved. Strategies leave it nil.
	NoTokens []int
}

// View is what a strategy may see at one step of a run, live or simulated:
// the scenario, the clock, prices it could know by now (DESIGN §7.6) and its
// own progress. Asking for anything it could not yet know is an error with
// code ENOTVISIBLE.
type View interface {
	// Scenario returns the scenario being run (read-only).
	Scenario() *Scenario
	// Step returns the index k of the current step.
	Step() int
	// Now returns t_k, the start of the current step.
	Now() time.Time
	// Power returns the price (USD/MWh) of the UTC hour containing t at the
	// market of site s. It returns ENOTVISIBLE when that hour is not yet
	// known at Now under the site's power_visibility, and EINVALID when the
	// data has no price for it (gap rule of §5).
	Power(site int, t time.Time) (Money, error)
	// PowerVisibleUntil returns the first hour of site s's market whose price
	// is not yet visible at Now.
	PowerVisibleUntil(site int) time.Time
	// Snapshots returns every GPU snapshot with Time ≤ Now, oldest first; the
	// last one is the book in force. The slice must not be modified.
	Snapshots() []Snapshot
	// TokenSnapshots returns every token snapshot with Time ≤ Now, oldest
	// first. The slice must not be modified.
	TokenSnapshots() []TokenSnapshot
	// Book returns the GPU offers in force at t ≤ Now (nil before the first
	// snapshot); ENOTVISIBLE for t after Now.
	Book(t time.Time) ([]Offer, error)
	// Delivered returns the GPU-hours job j has received before this step.
	Delivered(job int) Money
	// Previous returns the decision applied in the previous step (zero value
	// at step 0).
	Previous() Decision
}

// Strategy decides, step by step, how to get a scenario's work done.
type Strategy interface {
	// Name returns the strategy's name as used on the command line.
	Name() string
	// Decide returns the decision for the current step of v. It must only
	// use what v shows; it may keep state between calls of one run.
	Decide(ctx context.Context, v View) (Decision, error)
}

// Foresight is full knowledge of a scenario's market: every price of the
// window and every preemption draw. Only the hindsight oracle gets it.
type Foresight interface {
	// Power returns the price (USD/MWh) in force at step k at site s.
	Power(site, k int) Money
	// Book returns the GPU offers in force at step k.
	Book(k int) []Offer
	// Tokens returns the token prices in force at step k (nil if none).
	Tokens(k int) []TokenPrice
	// Preempted reports whether the spot rows of provider and gpu class are
	// preempted in step k (DESIGN §7.5).
	Preempted(provider, gpu string, k int) bool
}

// Hindsight is a Strategy that plans with full knowledge. The simulator
// calls Foresee before the first step and runs it with no switching losses
// and no budget cap, as DESIGN §7.9 defines the oracle.
type Hindsight interface {
	Strategy
	// Foresee gives the strategy the whole market of the run.
	Foresee(ctx context.Context, f Foresight) error
}

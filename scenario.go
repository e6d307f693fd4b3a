package procurebot

import (
	"time"
)

// Power visibility of a site's market (DESIGN §7.6).
const (
	VisibilityRealtime = "realtime" // prices up to the current hour
	VisibilityDayAhead = "dayahead" // every hour of UTC day D from 12:00 UTC on day D−1
)

// DefaultOnDemandProviders is market.on_demand_providers when absent.
var DefaultOnDemandProviders = []string{"lambdalabs"}

// Scenario is what an operator asks a backtest or the bot to do: the window,
// own sites, jobs, inference workloads and market rules (DESIGN §6). The
// yaml tags are the scenario file's keys; decoding is strict (package
// scenario).
type Scenario struct {
	Start     time.Time     `yaml:"start"`
	End       time.Time     `yaml:"end"`
	Step      time.Duration `yaml:"step"`
	Seed      int64         `yaml:"seed"`
	BudgetUSD *Money        `yaml:"budget_usd"`
	Sites     []Site        `yaml:"sites"`
	Jobs      []Job         `yaml:"jobs"`
	Inference []Inference   `yaml:"inference"`
	Market    Market        `yaml:"market"`
}

// Site is a place where the operator runs its own GPUs of one class.
type Site struct {
	Name               string `yaml:"name"`
	PowerMarket        string `yaml:"power_market"`
	PowerVisibility    string `yaml:"power_visibility"`
	GPU                string `yaml:"gpu"`
	GPUs               int    `yaml:"gpus"`
	KWPerGPU           Money  `yaml:"kw_per_gpu"`
	PUE                *Money `yaml:"pue"`
	OtherUSDPerGPUHour Money  `yaml:"other_usd_per_gpu_hour"`
	Curtailable        bool   `yaml:"curtailable"`
	SellSpare          bool   `yaml:"sell_spare"`
	SellPriceRatio     Money  `yaml:"sell_price_ratio"`
}

// Job is a batch of GPU work of one class with a deadline.
type Job struct {
	ID               string    `yaml:"id"`
	GPU              string    `yaml:"gpu"`
	MaxGPUs          int       `yaml:"max_gpus"`
	GPUHours         Money     `yaml:"gpu_hours"`
	Release          time.Time `yaml:"release"`
	Deadline         time.Time `yaml:"deadline"`
	Interruptible    bool      `yaml:"interruptible"`
	MaxUSDPerGPUHour *Money    `yaml:"max_usd_per_gpu_hour"`
}

// Inference is a steady token workload: bought from token sellers, or served
// in part on own GPUs when SelfHost is set.
type Inference struct {
	ID             string    `yaml:"id"`
	Model          string    `yaml:"model"`
	MTokInPerHour  Money     `yaml:"mtok_in_per_hour"`
	MTokOutPerHour Money     `yaml:"mtok_out_per_hour"`
	SelfHost       *SelfHost `yaml:"self_host"`
}

// SelfHost is the own-GPU serving option of an inference workload.
type SelfHost struct {
	GPU            string `yaml:"gpu"`
	MTokPerGPUHour Money  `yaml:"mtok_per_gpu_hour"`
}

// Market holds the rules of the GPU market a scenario may use.
type Market struct {
	Providers             []string `yaml:"providers"`
	OnDemandProviders     []string `yaml:"on_demand_providers"`
	MaxGPUsPerOffer       int      `yaml:"max_gpus_per_offer"`
	SwitchCostGPUHours    Money    `yaml:"switch_cost_gpu_hours"`
	SpotPreemptionPerHour Money    `yaml:"spot_preemption_per_hour"`
}

// Steps returns the number of steps K of the scenario window.
func (s *Scenario) Steps() int {
	if s.Step <= 0 {
		return 0
	}
	return int(s.End.Sub(s.Start) / s.Step)
}

// StepTime returns t_k = start + k·step.
func (s *Scenario) StepTime(k int) time.Time {
	return s.Start.Add(time.Duration(k) * s.Step)
}

// StepHours returns h, the step length in hours, exactly.
func (s *Scenario) StepHours() Money {
	return NewMoneyFrac(int64(s.Step), int64(time.Hour))
}

// AllowsProvider reports whether the market allowlist admits provider p
// (absent or empty allowlist admits all).
func (m *Market) AllowsProvider(p string) bool {
	if len(m.Providers) == 0 {
		return true
	}
	for _, q := range m.Providers {
		if q == p {
			return true
		}
	}
	return false
}

// PUEOrDefault returns the site's PUE, 1 when unset.
func (s *Site) PUEOrDefault() Money {
	if s.PUE == nil {
		return One
	}
	return *s.PUE
}

// Window returns the first and one-past-last step index in which job j may
// run: release ≤ t_k and t_k + step ≤ deadline (DESIGN §7).
func (s *Scenario) Window(j *Job) (first, end int) {
	K := s.Steps()
	first = 0
	if j.Release.After(s.Start) {
		d := j.Release.Sub(s.Start)
		first = int(d / s.Step)
		if d%s.Step != 0 {
			first++
		}
	}
	// largest k with start + (k+1)·step ≤ deadline
	end = int(j.Deadline.Sub(s.Start) / s.Step)
	if j.Deadline.Before(s.Start) {
		end = 0
	}
	if end > K {
		end = K
	}
	if first > end {
		first = end
	}
	return first, end
}

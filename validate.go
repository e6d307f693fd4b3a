package procurebot

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Defaults of a scenario (DESIGN §7.10) that are not Go zero values. PUE 1
// is applied by Site.PUEOrDefault; DefaultOnDemandProviders is declared with
// Scenario.
const (
	DefaultStep            = time.Hour
	DefaultMaxGPUsPerOffer = 64
)

// MaxSteps bounds the number of steps of a scenario window, so that a typo in
// step or end (a step of 1ns over a month) is bad input rather than a run
// that exhausts memory. A year of one-minute steps is 525 600.
const MaxSteps = 10_000_000

// FieldError is a validation failure of one key of a scenario. It is the
// cause (Err) of the EINVALID *Error that Validate and ValidateData return,
// so that a caller that knows where keys are in a file (package scenario)
// can add the line: errors.As(err, &fe).
type FieldError struct {
	// Path is the key path as written in the file, without ids:
	// "sites[0].kw_per_gpu", "jobs[1].deadline", "market.providers[2]",
	// "start".
	Path string
	// Label is Path for humans: a job's index is followed by its id,
	// "jobs[1] (id train-b).deadline".
	Label string
	// Msg says what is wrong: `must be positive, got "0"`.
	Msg string
}

func (e *FieldError) Error() string { return e.Label + ": " + e.Msg }

// fieldErr builds the EINVALID error of one key.
func fieldErr(path, label, format string, args ...any) *Error {
	if label == "" {
		label = path
	}
	return &Error{Code: EINVALID, Err: &FieldError{Path: path, Label: label, Msg: fmt.Sprintf(format, args...)}}
}

// key is a key path under construction: its plain path and its label.
type key struct{ path, label string }

func rootKey(name string) key { return key{name, name} }

func (k key) field(name string) key {
	return key{k.path + "." + name, k.label + "." + name}
}

func (k key) err(format string, args ...any) *Error {
	return fieldErr(k.path, k.label, format, args...)
}

// item returns the key of element i of list name, labelled with id when
// one is given: jobs[1] (id train-b).
func item(name string, i int, id string) key {
	p := fmt.Sprintf("%s[%d]", name, i)
	if id == "" {
		return key{p, p}
	}
	return key{p, fmt.Sprintf("%s (id %s)", p, id)}
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// SetDefaults fills in the defaults of DESIGN §7.10 that are not Go zero
// values: step 1h, power_visibility realtime, market.max_gpus_per_offer 64
// and market.on_demand_providers [lambdalabs] when absent (nil; an explicit
// empty list stays empty). PUE 1 is applied by Site.PUEOrDefault. It only
// fills unset values, so calling it twice is harmless.
func (s *Scenario) SetDefaults() {
	if s.Step == 0 {
		s.Step = DefaultStep
	}
	for i := range s.Sites {
		if s.Sites[i].PowerVisibility == "" {
			s.Sites[i].PowerVisibility = VisibilityRealtime
		}
	}
	if s.Market.MaxGPUsPerOffer == 0 {
		s.Market.MaxGPUsPerOffer = DefaultMaxGPUsPerOffer
	}
	if s.Market.OnDemandProviders == nil {
		s.Market.OnDemandProviders = append([]string(nil), DefaultOnDemandProviders...)
	}
}

// Validate checks the scenario on its own, without data (DESIGN §6), and
// returns the first problem in the order of the file's keys as an EINVALID
// *Error whose message names the key path, e.g.
//
//	sites[0].kw_per_gpu: must be positive, got "0"
//	jobs[1] (id train-b).deadline: must be after release 2024-10-02T00:00:00Z
//
// Its cause is a *FieldError. Call SetDefaults first: a zero step or
// max_gpus_per_offer is an error here.
func (s *Scenario) Validate() error {
	if err := s.validate(); err != nil {
		return err
	}
	return nil
}

func (s *Scenario) validate() *Error {
	// The window.
	if s.Start.IsZero() {
		return rootKey("start").err("required (an RFC 3339 time, e.g. 2024-10-01T00:00:00Z)")
	}
	if s.End.IsZero() {
		return rootKey("end").err("required (an RFC 3339 time, e.g. 2024-11-01T00:00:00Z)")
	}
	if !s.End.After(s.Start) {
		return rootKey("end").err("must be after start %s, got %s", fmtTime(s.Start), fmtTime(s.End))
	}
	window := s.End.Sub(s.Start)
	if window == math.MaxInt64 {
		return rootKey("end").err("window from start %s to end %s is too long (at most %s)", fmtTime(s.Start), fmtTime(s.End), time.Duration(math.MaxInt64))
	}
	if s.Step <= 0 {
		return rootKey("step").err("must be positive, got %s", s.Step)
	}
	if window%s.Step != 0 {
		return rootKey("step").err("%s does not divide the window end − start = %s", s.Step, window)
	}
	if n := window / s.Step; n > MaxSteps {
		return rootKey("step").err("%s makes %d steps from start to end, more than %d", s.Step, n, MaxSteps)
	}
	if s.BudgetUSD != nil && !s.BudgetUSD.IsPositive() {
		return rootKey("budget_usd").err("must be positive when set, got %q", s.BudgetUSD.String())
	}

	if err := s.validateSites(); err != nil {
		return err
	}
	if err := s.validateJobs(); err != nil {
		return err
	}
	if err := s.validateInference(); err != nil {
		return err
	}
	if len(s.Jobs) == 0 && len(s.Inference) == 0 {
		return rootKey("jobs").err("the scenario has no work: give at least one job (jobs) or inference workload (inference)")
	}
	return s.validateMarket()
}

func (s *Scenario) validateSites() *Error {
	names := make(map[string]int, len(s.Sites))
	for i := range s.Sites {
		st := &s.Sites[i]
		k := item("sites", i, "")
		if strings.TrimSpace(st.Name) == "" {
			return k.field("name").err("required")
		}
		if j, dup := names[st.Name]; dup {
			return k.field("name").err("duplicate site name %q (also sites[%d])", st.Name, j)
		}
		names[st.Name] = i
		if strings.TrimSpace(st.PowerMarket) == "" {
			return k.field("power_market").err("required (a market of the data's power/*.csv)")
		}
		switch st.PowerVisibility {
		case VisibilityRealtime, VisibilityDayAhead:
		default:
			return k.field("power_visibility").err("must be %s or %s, got %q", VisibilityRealtime, VisibilityDayAhead, st.PowerVisibility)
		}
		if strings.TrimSpace(st.GPU) == "" {
			return k.field("gpu").err("required (a GPU class, e.g. H100)")
		}
		if st.GPUs <= 0 {
			return k.field("gpus").err("must be a positive whole number, got %d", st.GPUs)
		}
		if !st.KWPerGPU.IsPositive() {
			return k.field("kw_per_gpu").err("must be positive, got %q", st.KWPerGPU.String())
		}
		if st.PUE != nil && !st.PUE.IsPositive() {
			return k.field("pue").err("must be positive, got %q", st.PUE.String())
		}
		if st.OtherUSDPerGPUHour.IsNegative() {
			return k.field("other_usd_per_gpu_hour").err("must not be negative, got %q", st.OtherUSDPerGPUHour.String())
		}
		if st.SellPriceRatio.IsNegative() || st.SellPriceRatio.GreaterThan(One) {
			return k.field("sell_price_ratio").err("must be in [0, 1], got %q", st.SellPriceRatio.String())
		}
	}
	return nil
}

func (s *Scenario) validateJobs() *Error {
	ids := make(map[string]int, len(s.Jobs))
	for i := range s.Jobs {
		j := &s.Jobs[i]
		k := item("jobs", i, j.ID)
		if strings.TrimSpace(j.ID) == "" {
			return k.field("id").err("required")
		}
		if o, dup := ids[j.ID]; dup {
			return k.field("id").err("duplicate job id %q (also jobs[%d])", j.ID, o)
		}
		ids[j.ID] = i
		if strings.TrimSpace(j.GPU) == "" {
			return k.field("gpu").err("required (a GPU class, e.g. H100)")
		}
		if j.MaxGPUs <= 0 {
			return k.field("max_gpus").err("must be a positive whole number, got %d", j.MaxGPUs)
		}
		if !j.GPUHours.IsPositive() {
			return k.field("gpu_hours").err("must be positive, got %q", j.GPUHours.String())
		}
		if j.Release.IsZero() {
			return k.field("release").err("required (an RFC 3339 time inside [start, end])")
		}
		if j.Deadline.IsZero() {
			return k.field("deadline").err("required (an RFC 3339 time inside [start, end])")
		}
		if j.Release.Before(s.Start) {
			return k.field("release").err("%s is before start %s", fmtTime(j.Release), fmtTime(s.Start))
		}
		if !j.Deadline.After(j.Release) {
			return k.field("deadline").err("must be after release %s, got %s", fmtTime(j.Release), fmtTime(j.Deadline))
		}
		if j.Deadline.After(s.End) {
			return k.field("deadline").err("%s is after end %s", fmtTime(j.Deadline), fmtTime(s.End))
		}
		if first, end := s.Window(j); first >= end {
			return k.field("deadline").err("no whole step of %s fits between release %s and deadline %s (steps start at %s + k·%s)",
				s.Step, fmtTime(j.Release), fmtTime(j.Deadline), fmtTime(s.Start), s.Step)
		}
		if j.MaxUSDPerGPUHour != nil && !j.MaxUSDPerGPUHour.IsPositive() {
			return k.field("max_usd_per_gpu_hour").err("must be positive when set, got %q", j.MaxUSDPerGPUHour.String())
		}
	}
	return nil
}

func (s *Scenario) validateInference() *Error {
	ids := make(map[string]int, len(s.Inference))
	for i := range s.Inference {
		w := &s.Inference[i]
		k := item("inference", i, "")
		if strings.TrimSpace(w.ID) == "" {
			return k.field("id").err("required")
		}
		if o, dup := ids[w.ID]; dup {
			return k.field("id").err("duplicate inference id %q (also inference[%d])", w.ID, o)
		}
		ids[w.ID] = i
		if strings.TrimSpace(w.Model) == "" {
			return k.field("model").err("required (a model of the data's inference/models.csv)")
		}
		if w.MTokInPerHour.IsNegative() {
			return k.field("mtok_in_per_hour").err("must not be negative, got %q", w.MTokInPerHour.String())
		}
		if w.MTokOutPerHour.IsNegative() {
			return k.field("mtok_out_per_hour").err("must not be negative, got %q", w.MTokOutPerHour.String())
		}
		if w.MTokInPerHour.IsZero() && w.MTokOutPerHour.IsZero() {
			return k.field("mtok_in_per_hour").err("mtok_in_per_hour and mtok_out_per_hour are both zero: the workload has no tokens")
		}
		if w.SelfHost != nil {
			sk := k.field("self_host")
			if strings.TrimSpace(w.SelfHost.GPU) == "" {
				return sk.field("gpu").err("required (the GPU class of the own sites that serve it)")
			}
			if !w.SelfHost.MTokPerGPUHour.IsPositive() {
				return sk.field("mtok_per_gpu_hour").err("must be positive, got %q", w.SelfHost.MTokPerGPUHour.String())
			}
		}
	}
	return nil
}

func (s *Scenario) validateMarket() *Error {
	m := &s.Market
	mk := rootKey("market")
	for i, p := range m.Providers {
		if strings.TrimSpace(p) == "" {
			return item("market.providers", i, "").err("empty provider name")
		}
	}
	for i, p := range m.OnDemandProviders {
		if strings.TrimSpace(p) == "" {
			return item("market.on_demand_providers", i, "").err("empty provider name")
		}
	}
	if m.MaxGPUsPerOffer <= 0 {
		return mk.field("max_gpus_per_offer").err("must be a positive whole number, got %d", m.MaxGPUsPerOffer)
	}
	if m.SwitchCostGPUHours.IsNegative() {
		return mk.field("switch_cost_gpu_hours").err("must not be negative, got %q", m.SwitchCostGPUHours.String())
	}
	if h := s.StepHours(); !m.SwitchCostGPUHours.LessThan(h) {
		return mk.field("switch_cost_gpu_hours").err("must be less than one step (%s GPU-hours per GPU), got %q", h.String(), m.SwitchCostGPUHours.String())
	}
	if m.SpotPreemptionPerHour.IsNegative() || m.SpotPreemptionPerHour.GreaterThan(One) {
		return mk.field("spot_preemption_per_hour").err("must be in [0, 1], got %q", m.SpotPreemptionPerHour.String())
	}
	return nil
}

// ValidateData checks the scenario against a data set over its window
// [start, end) (DESIGN §6, §7.10): every site's power market is in the data
// with a price (under the 6-hour gap rule) for every hour of the window;
// every job's GPU class has at least one offer row in a book in force during
// the window; every self_host class is the class of some site; every
// inference workload without self_host has its model sold at some time in
// the window. Errors are EINVALID *Errors naming the key, caused by a
// *FieldError. Call it after Validate.
func (s *Scenario) ValidateData(ds *Dataset) error {
	if ds == nil {
		ds = &Dataset{}
	}
	for i := range s.Sites {
		if err := s.validateSiteData(i, ds); err != nil {
			return err
		}
	}

	classes := gpuClassesInWindow(ds, s.Start, s.End)
	for i := range s.Jobs {
		j := &s.Jobs[i]
		if !classes[j.GPU] {
			return item("jobs", i, j.ID).field("gpu").err("no offer of GPU class %q in the data from %s to %s (classes offered: %s)",
				j.GPU, fmtTime(s.Start), fmtTime(s.End), list(classes))
		}
	}

	siteClasses := make(map[string]bool, len(s.Sites))
	for i := range s.Sites {
		siteClasses[s.Sites[i].GPU] = true
	}
	models := modelsInWindow(ds, s.Start, s.End)
	for i := range s.Inference {
		w := &s.Inference[i]
		k := item("inference", i, "")
		if w.SelfHost != nil && !siteClasses[w.SelfHost.GPU] {
			return k.field("self_host").field("gpu").err("no site has GPU class %q (site classes: %s)", w.SelfHost.GPU, list(siteClasses))
		}
		if w.SelfHost == nil && !models[w.Model] {
			return k.field("model").err("model %q of workload %q is never sold in the data from %s to %s and the workload has no self_host",
				w.Model, w.ID, fmtTime(s.Start), fmtTime(s.End))
		}
	}
	return nil
}

func (s *Scenario) validateSiteData(i int, ds *Dataset) *Error {
	st := &s.Sites[i]
	k := item("sites", i, "").field("power_market")
	ps := ds.Power[st.PowerMarket]
	if ps == nil {
		have := make(map[string]bool, len(ds.Power))
		for m := range ds.Power {
			have[m] = true
		}
		return k.err("market %q is not in the data (markets: %s)", st.PowerMarket, list(have))
	}
	for h := s.Start.UTC().Truncate(time.Hour); h.Before(s.End); h = h.Add(time.Hour) {
		if _, err := ps.At(h); err != nil {
			var why string
			switch {
			case h.Before(ps.Start):
				why = fmt.Sprintf("its data starts at %s", fmtTime(ps.Start))
			case !h.Before(ps.End().Add(MaxPowerGap)):
				why = fmt.Sprintf("its last recorded hour is %s", fmtTime(ps.End().Add(-time.Hour)))
			default:
				why = fmt.Sprintf("no recorded price in the %s before it", MaxPowerGap)
			}
			return k.err("market %q has no price for hour %s (%s)", st.PowerMarket, fmtTime(h), why)
		}
	}
	return nil
}

// gpuClassesInWindow returns the GPU classes of every book in force during
// [start, end): the latest snapshot at or before start and every snapshot
// before end.
func gpuClassesInWindow(ds *Dataset, start, end time.Time) map[string]bool {
	out := make(map[string]bool)
	for i := max(ds.BookIndex(start), 0); i < len(ds.GPU) && ds.GPU[i].Time.Before(end); i++ {
		for _, o := range ds.GPU[i].Offers {
			out[o.GPU] = true
		}
	}
	return out
}

// modelsInWindow returns the models of every token snapshot in force during
// [start, end).
func modelsInWindow(ds *Dataset, start, end time.Time) map[string]bool {
	out := make(map[string]bool)
	for i := max(ds.TokenIndex(start), 0); i < len(ds.Tokens) && ds.Tokens[i].Time.Before(end); i++ {
		for _, p := range ds.Tokens[i].Prices {
			out[p.Model] = true
		}
	}
	return out
}

// list renders a set's keys sorted, or "none".
func list(set map[string]bool) string {
	if len(set) == 0 {
		return "none"
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

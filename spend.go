package procurebot

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// Window is the period a spend cap counts over.
type Window string

// Spend windows. A window's bucket is the UTC hour, day or calendar month
// containing the time of the spend; WindowTotal never resets.
const (
	WindowHour  Window = "hour"
	WindowDay   Window = "day"
	WindowMonth Window = "month"
	WindowTotal Window = "total"
)

// Bucket returns the name of the bucket of w containing t: "2024-10-01T13",
// "2024-10-01", "2024-10", "all".
func (w Window) Bucket(t time.Time) (string, error) {
	t = t.UTC()
	switch w {
	case WindowHour:
		return t.Format("2006-01-02T15"), nil
	case WindowDay:
		return t.Format("2006-01-02"), nil
	case WindowMonth:
		return t.Format("2006-01"), nil
	case WindowTotal:
		return "all", nil
	}
	return "", Invalidf("spend window %q: want hour, day, month or total", w)
}

// BucketEnd returns when the bucket of w containing t ends (zero for total).
func (w Window) BucketEnd(t time.Time) time.Time {
	t = t.UTC()
	switch w {
	case WindowHour:
		return t.Truncate(time.Hour).Add(time.Hour)
	case WindowDay:
		return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
	case WindowMonth:
		return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

// SpendKey is what a spend counter counts: everything ("total", ""), one
// provider ("provider", "runpod") or one job ("job", "train-a").
type SpendKey struct {
	Scope string
	Name  string
}

// Spend scopes.
const (
	ScopeTotal    = "total"
	ScopeProvider = "provider"
	ScopeJob      = "job"
)

func (k SpendKey) String() string {
	if k.Scope == ScopeTotal {
		return ScopeTotal
	}
	return k.Scope + ":" + k.Name
}

// SpendCap limits the spend of a key over a window.
type SpendCap struct {
	Key      SpendKey
	Window   Window
	LimitUSD Money
}

// Validate reports the first problem with c.
func (c *SpendCap) Validate() error {
	switch c.Key.Scope {
	case ScopeTotal:
	case ScopeProvider, ScopeJob:
		if c.Key.Name == "" {
			return Invalidf("spend cap %s: name is required", c.Key.Scope)
		}
	default:
		return Invalidf("spend cap: unknown scope %q (want total, provider or job)", c.Key.Scope)
	}
	if _, err := c.Window.Bucket(time.Time{}); err != nil {
		return err
	}
	if c.LimitUSD.Sign() < 0 {
		return Invalidf("spend cap %s per %s: limit must not be negative, got %s", c.Key, c.Window, c.LimitUSD)
	}
	return nil
}

func (c SpendCap) String() string {
	return fmt.Sprintf("%s per %s ≤ %s USD", c.Key, c.Window, c.LimitUSD)
}

// MicroUSD is the integer unit spend counters keep: 1e-6 USD, the base unit
// of USDC. Amounts with more decimals are rounded up, so a cap is never
// exceeded by rounding.
const MicroUSD = 1_000_000

// ToMicroUSD converts m to integer micro-USD, rounding up (away from zero
// for positive amounts); it fails on amounts beyond ±2^53 micro-USD (9
// billion USD), so every store can hold them exactly.
func ToMicroUSD(m Money) (int64, error) {
	u := m.Mul(decimal.New(MicroUSD, 0))
	if m.Sign() >= 0 {
		u = u.Ceil()
	} else {
		u = u.Floor()
	}
	if u.Abs().GreaterThan(decimal.New(1<<53, 0)) {
		return 0, Invalidf("amount %s USD is out of range", m)
	}
	return u.IntPart(), nil
}

// FromMicroUSD converts integer micro-USD to Money.
func FromMicroUSD(u int64) Money { return decimal.New(u, -6) }

// CapExceededError is returned when a spend would take a counter over its
// cap; nothing was added to any counter.
type CapExceededError struct {
	Cap       SpendCap
	SpentUSD  Money // in the cap's current bucket, before the refused spend
	AmountUSD Money // the refused spend
}

// ErrorCode makes ErrorCode(err) report ECAP.
func (e *CapExceededError) ErrorCode() string { return ECAP }

func (e *CapExceededError) Error() string {
	return fmt.Sprintf("spend cap %s: %s USD already spent, %s more refused", e.Cap, e.SpentUSD, e.AmountUSD)
}

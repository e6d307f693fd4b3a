package procurebot

import (
	"math"

	"github.com/shopspring/decimal"
)

// Money is an exact USD amount. It is a decimal, never a float64.
type Money = decimal.Decimal

// Zero is the zero amount.
var Zero = decimal.Zero

// Cents renders m rounded half away from zero to cents, as JSON prints money
// (DESIGN §7.10): "123.46", "-0.50", "0.00".
func Cents(m Money) string {
	return m.Round(2).StringFixed(2)
}

// PicoPerUSD is the scale of the integer cost units planners use internally:
// one unit is 1e-12 USD. Exact for every decimal with at most 12 fractional
// digits, and an int64 holds ±9.2 million USD, far above any per-GPU-hour
// price.
const PicoPerUSD = 1_000_000_000_000

var picoScale = decimal.New(1, 12)

// ToPico converts m to integer pico-USD, rounding half away from zero at the
// 12th decimal and saturating at the int64 range.
func ToPico(m Money) int64 {
	p := m.Mul(picoScale).Round(0)
	if p.GreaterThan(decimal.NewFromInt(math.MaxInt64 / 2)) {
		return math.MaxInt64 / 2
	}
	if p.LessThan(decimal.NewFromInt(math.MinInt64 / 2)) {
		return math.MinInt64 / 2
	}
	return p.IntPart()
}

// FromPico converts integer pico-USD back to Money.
func FromPico(p int64) Money {
	return decimal.New(p, -12)
}

// One is the decimal 1.
var One = decimal.NewFromInt(1)

// NewMoneyFrac returns num/den exactly when the quotient terminates within
// 16 decimal places (always so for step lengths in whole nanoseconds of an
// hour that is 3.6e12 ns).
func NewMoneyFrac(num, den int64) Money {
	return decimal.NewFromInt(num).DivRound(decimal.NewFromInt(den), 16)
}

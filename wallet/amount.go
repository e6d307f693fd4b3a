package wallet

import (
	"math/big"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
)

// ToBaseUnits converts a decimal amount of whole tokens (for a USD
// stablecoin: USD, so 12.34 is twelve dollars thirty-four) into the token's
// integer base units for a token with the given decimals, exactly: 12.34 at
// 6 decimals is 12340000. It returns an EINVALID error if the amount is
// negative or has more fractional digits than the token (0.0000001 at 6
// decimals), never rounding.
func ToBaseUnits(usd procurebot.Money, decimals uint8) (*big.Int, error) {
	if usd.IsNegative() {
		return nil, procurebot.Invalidf("amount %s is negative", usd.String())
	}
	units := usd.Shift(int32(decimals))
	if !units.IsInteger() {
		return nil, procurebot.Invalidf("amount %s has more decimals than the token's %d", usd.String(), decimals)
	}
	return units.BigInt(), nil
}

// FromBaseUnits converts integer base units of a token with the given
// decimals back into a decimal amount of whole tokens, exactly: 12340000 at
// 6 decimals is 12.34. A nil amount is zero.
func FromBaseUnits(units *big.Int, decimals uint8) procurebot.Money {
	if units == nil {
		return procurebot.Zero
	}
	return decimal.NewFromBigInt(units, -int32(decimals))
}

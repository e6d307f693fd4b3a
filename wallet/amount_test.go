package wallet_test

import (
	"math/big"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/wallet"
)

func parseDec(s string) (procurebot.Money, error) { return decimal.NewFromString(s) }

func TestToBaseUnits(t *testing.T) {
	for _, c := range []struct {
		usd      string
		decimals uint8
		want     string // "" = error
	}{
		{"12.34", 6, "12340000"},
		{"0.000001", 6, "1"},
		{"1000000000", 6, "1000000000000000"},
		{"0", 6, "0"},
		{"12.340000", 6, "12340000"},
		{"0.0000001", 6, ""}, // more decimals than the token
		{"1.2345678", 6, ""},
		{"-1", 6, ""},
		{"-0.000001", 6, ""},
		{"12.34", 18, "12340000000000000000"},
		{"0.000000000000000001", 18, "1"},
		{"0.0000000000000000001", 18, ""},
		{"123456789012345678901234567890.123456789012345678", 18, "123456789012345678901234567890123456789012345678"},
		{"-5", 18, ""},
		{"7", 0, "7"},
		{"7.5", 0, ""},
	} {
		got, err := wallet.ToBaseUnits(mustDec(t, c.usd), c.decimals)
		if c.want == "" {
			if err == nil || procurebot.ErrorCode(err) != procurebot.EINVALID {
				t.Errorf("ToBaseUnits(%s, %d) = %v, %v; want an EINVALID error", c.usd, c.decimals, got, err)
			}
			continue
		}
		if err != nil || got.String() != c.want {
			t.Errorf("ToBaseUnits(%s, %d) = %v, %v; want %s", c.usd, c.decimals, got, err, c.want)
			continue
		}
		back := wallet.FromBaseUnits(got, c.decimals)
		if !back.Equal(mustDec(t, c.usd)) {
			t.Errorf("FromBaseUnits(%s, %d) = %s; want %s", got, c.decimals, back, c.usd)
		}
	}
	if got := wallet.FromBaseUnits(big.NewInt(1), 6).String(); got != "0.000001" {
		t.Errorf("FromBaseUnits(1, 6) = %s", got)
	}
	if got := wallet.FromBaseUnits(nil, 6); !got.IsZero() {
		t.Errorf("FromBaseUnits(nil, 6) = %s", got)
	}
}

package venuehttp

import (
	"bytes"
	"encoding/json"
	"reflect"

	"github.com/shopspring/decimal"
)

// Number is a price or quantity as a venue sent it, kept verbatim: a JSON
// number (2.69) or a numeric string ("0.00000023"), or null. Value is Raw
// parsed exactly, never through float64. An absent field leaves the zero
// Number (Null false, Raw ""), so test presence with Set, not Null.
type Number struct {
	Raw   string
	Value decimal.Decimal
	Null  bool // the venue sent null (an absent field leaves it false)
}

var numberType = reflect.TypeOf(Number{})

// UnmarshalJSON accepts a JSON number, a numeric string or null. Anything
// else is a *json.UnmarshalTypeError, which the decoder reports with the
// field's path.
func (n *Number) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*n = Number{Null: true}
		return nil
	}
	raw := string(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return &json.UnmarshalTypeError{Value: "string " + raw, Type: numberType}
		}
		raw = s
	}
	v, err := decimal.NewFromString(raw)
	if err != nil || raw == "" {
		what := "value " + string(b)
		if len(b) > 0 && b[0] == '"' {
			what = "string " + string(b)
		}
		return &json.UnmarshalTypeError{Value: what, Type: numberType}
	}
	*n = Number{Raw: raw, Value: v}
	return nil
}

// Set reports whether the number was present and not null.
func (n Number) Set() bool { return !n.Null && n.Raw != "" }

package venuehttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
)

func TestNumber(t *testing.T) {
	tests := []struct {
		name, json string
		raw        string // "" for none
		value      string // exact decimal
		null, set  bool
		errValue   string // what the error quotes, "" for no error
	}{
		{"number", `{"price": 2.69}`, "2.69", "2.69", false, true, ""},
		{"integer", `{"price": 8}`, "8", "8", false, true, ""},
		{"negative", `{"price": -0.5}`, "-0.5", "-0.5", false, true, ""},
		{"exponent", `{"price": 2.3e-7}`, "2.3e-7", "0.00000023", false, true, ""},
		{"more digits than a float64 holds", `{"price": 1234567890.123456789012345}`, "1234567890.123456789012345", "1234567890.123456789012345", false, true, ""},
		{"numeric string", `{"price": "0.00000023"}`, "0.00000023", "0.00000023", false, true, ""},
		{"numeric string with trailing zeros", `{"price": "2.4900"}`, "2.4900", "2.49", false, true, ""},
		{"escaped numeric string", `{"price": "\u0031.5"}`, "1.5", "1.5", false, true, ""},
		{"zero", `{"price": 0}`, "0", "0", false, true, ""},
		{"null", `{"price": null}`, "", "0", true, false, ""},
		{"absent", `{}`, "", "0", false, false, ""},
		{"garbage string", `{"price": "n/a"}`, "", "", false, false, `string "n/a"`},
		{"empty string", `{"price": ""}`, "", "", false, false, `string ""`},
		{"string with spaces", `{"price": " 1.5 "}`, "", "", false, false, `string " 1.5 "`},
		{"NaN string", `{"price": "NaN"}`, "", "", false, false, `string "NaN"`},
		{"bool", `{"price": true}`, "", "", false, false, "value true"},
		{"array", `{"price": [1]}`, "", "", false, false, "value [1]"},
		{"object", `{"price": {"usd": "1"}}`, "", "", false, false, `value {"usd": "1"}`},
	}
	c := newClient(t, "https://api.example.com", Options{}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out struct {
				Price Number `json:"price"`
			}
			err := c.Decode(Request{Path: "prices"}, []byte(tt.json), &out)
			if tt.errValue != "" {
				e := asError(t, err, procurebot.EINVALID)
				if e.Field != "price" {
					t.Errorf("field %q, want price", e.Field)
				}
				want := "testvenue: GET https://api.example.com/prices: field price: " + tt.errValue + " is not venuehttp.Number"
				if err.Error() != want {
					t.Errorf("error %q\nwant  %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n := out.Price
			if n.Raw != tt.raw || n.Null != tt.null || n.Set() != tt.set {
				t.Errorf("got %+v Set=%v, want Raw %q Null %v Set %v", n, n.Set(), tt.raw, tt.null, tt.set)
			}
			if !n.Value.Equal(decimal.RequireFromString(tt.value)) {
				t.Errorf("Value %s, want exactly %s", n.Value, tt.value)
			}
		})
	}
}

func TestNumberNestedPath(t *testing.T) {
	var out struct {
		Data struct {
			Offers []struct {
				Prices map[string]Number `json:"prices"`
			} `json:"offers"`
		} `json:"data"`
	}
	c := newClient(t, "https://api.example.com", Options{}, nil)
	err := c.Decode(Request{Path: "offers"}, []byte(`{"data":{"offers":[{"prices":{"spot":"1.2"}},{"prices":{"spot":"x"}}]}}`), &out)
	e := asError(t, err, procurebot.EINVALID)
	// encoding/json names the map, not its key, and no slice index.
	if e.Field != "data.offers.prices" || !strings.Contains(err.Error(), `string "x" is not venuehttp.Number`) {
		t.Errorf("field %q, want data.offers.prices (%v)", e.Field, err)
	}
}

func TestNumberUnmarshalDirect(t *testing.T) {
	var n Number
	err := json.Unmarshal([]byte(`"abc"`), &n)
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Type != numberType || !strings.Contains(te.Value, `"abc"`) {
		t.Errorf("Unmarshal garbage = %v (%T)", err, err)
	}
	if err := json.Unmarshal([]byte(`"1.50"`), &n); err != nil || n.Raw != "1.50" || !n.Set() {
		t.Errorf("Unmarshal = %+v, %v", n, err)
	}
	// A null after a value resets it.
	if err := json.Unmarshal([]byte(`null`), &n); err != nil || n.Set() || !n.Null || !n.Value.IsZero() {
		t.Errorf("Unmarshal null = %+v, %v", n, err)
	}
}

// BenchmarkDecodeNumbers decodes a realistic book of 500 offers, each with
// a string price, a number price and a null, through Client.Decode.
func BenchmarkDecodeNumbers(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"data":{"items":[`)
	for i := range 500 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"name":"gpu_%d","price":"%d.%02d","ondemand":%d.%04d,"spot":null,"count":%d}`, i, i%40, i%100, i%17, i*7%10000, i%8+1)
	}
	sb.WriteString(`]}}`)
	body := []byte(sb.String())
	c, err := New("bench", "https://api.example.com", Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	type book struct {
		Data struct {
			Items []struct {
				Name     string `json:"name"`
				Price    Number `json:"price"`
				OnDemand Number `json:"ondemand"`
				Spot     Number `json:"spot"`
				Count    int    `json:"count"`
			} `json:"items"`
		} `json:"data"`
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var out book
		if err := c.Decode(Request{Path: "items"}, body, &out); err != nil {
			b.Fatal(err)
		}
		if len(out.Data.Items) != 500 {
			b.Fatal(len(out.Data.Items))
		}
	}
}

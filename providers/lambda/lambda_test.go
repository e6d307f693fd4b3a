package lambda

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
	"github.com/procurebot/procurebot/providers/venuehttp/venuetest"
)

var fetched = time.Date(2026, 10, 12, 17, 0, 0, 0, time.UTC)

// replay serves testdata/file with status at /instance-types and checks the
// credentials sent.
func replay(t *testing.T, file string, status int) *Source {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/instance-types" {
			t.Errorf("path %s", r.URL.Path)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer secret-key-123" {
			t.Errorf("Authorization %q", got)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	s, err := New(Config{Config: venuehttp.Config{BaseURL: srv.URL + "/api/v1", MaxAttempts: 1}, APIKey: venuehttp.Credential{Value: "secret-key-123"}},
		venuehttp.Env{Clock: venuetest.Clock{T: fetched}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestQuotes(t *testing.T) {
	qs, err := replay(t, "instance_types.json", 200).GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Two regions of the 8x H100, one each of H100 PCIe, A10, GH200; the
	// sold-out A100 and the CPU type give none.
	if len(qs) != 5 {
		t.Fatalf("%d quotes, want 5: %v", len(qs), qs)
	}
	for _, q := range qs {
		if err := q.Validate(); err != nil {
			t.Error(err)
		}
		if q.GPU == "A100" || q.GPUCount == 0 {
			t.Errorf("unexpected quote %v", q)
		}
	}
	// Sorted by per-GPU price: A10 0.75, GH200 1.49, H100 PCIe 2.49, H100 SXM 2.99 ×2.
	want := []string{"0.75", "1.49", "2.49", "2.99", "2.99"}
	for i, q := range qs {
		if q.PerGPU.String() != want[i] {
			t.Errorf("quote %d per-GPU %s, want %s", i, q.PerGPU, want[i])
		}
	}
}

// Worked example: gpu_8x_h100_sxm5 at 2392 cents per instance-hour is 23.92
// USD/h and 2.99 USD per GPU-hour; a 2.50 USD/GPU-hour cap is 2000 cents per
// instance-hour in Lambda's unit.
func TestConversion(t *testing.T) {
	qs, err := replay(t, "instance_types.json", 200).GPUQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var q procurebot.Quote
	for _, x := range qs {
		if x.Instance == "gpu_8x_h100_sxm5" && x.Region == "us-east-1" {
			q = x
		}
	}
	if q.Venue != "lambda" || q.Provider != "lambdalabs" || q.GPU != "H100" || q.GPUCount != 8 {
		t.Fatalf("quote %+v", q)
	}
	if !q.USDPerHour.Equal(decimal.RequireFromString("23.92")) || !q.PerGPU.Equal(decimal.RequireFromString("2.99")) {
		t.Errorf("per hour %s per GPU %s, want 23.92 and 2.99", q.USDPerHour, q.PerGPU)
	}
	if q.Billing.Unit != procurebot.BillCentsPerInstanceHour || q.Billing.Raw != "2392" || q.Spot != procurebot.SpotFalse || q.SpotKind != procurebot.SpotNone {
		t.Errorf("billing %+v spot %v/%v", q.Billing, q.Spot, q.SpotKind)
	}
	if !q.FetchedAt.Equal(fetched) || q.Ref != "gpu_8x_h100_sxm5" {
		t.Errorf("fetched %s ref %s", q.FetchedAt, q.Ref)
	}
	cap, err := q.BilledCap(decimal.RequireFromString("2.50"))
	if err != nil || !cap.Equal(decimal.NewFromInt(2000)) {
		t.Errorf("cap %s %v, want 2000 cents", cap, err)
	}
}

func TestEmpty(t *testing.T) {
	qs, err := replay(t, "empty.json", 200).GPUQuotes(context.Background())
	if err != nil || len(qs) != 0 {
		t.Fatalf("%v %v", qs, err)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		file   string
		status int
		code   string
		want   []string
	}{
		{"error_401.json", 401, procurebot.EINVALID, []string{"lambda", "GET", "instance-types", "HTTP 401", "invalid"}},
		{"malformed.json", 200, procurebot.EINVALID, []string{"lambda", "price_cents_per_hour", "two dollars"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := replay(t, tc.file, tc.status).GPUQuotes(context.Background())
			venuetest.CheckError(t, err, tc.code, tc.want, "secret-key-123")
		})
	}
}

func TestMissingKey(t *testing.T) {
	_, err := New(Config{}, venuehttp.Env{Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "LAMBDA_API_KEY") {
		t.Fatalf("err %v", err)
	}
}

func BenchmarkParse(b *testing.B) {
	body, _ := os.ReadFile(filepath.Join("testdata", "instance_types.json"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer srv.Close()
	s, _ := New(Config{Config: venuehttp.Config{BaseURL: srv.URL, RatePerSecond: 1e9}, APIKey: venuehttp.Credential{Value: "k"}}, venuehttp.Env{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GPUQuotes(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

package openrouter

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
	"github.com/procurebot/procurebot/providers/venuehttp/venuetest"
)

const secretKey = "sk-or-v1-0123456789abcdef-secret"

var fetched = time.Date(2026, 10, 12, 17, 0, 0, 0, time.UTC)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// route is one canned response.
type route struct {
	file   string
	status int
}

// server replays routes keyed by path (under /api/v1) and records the
// Authorization header of every request.
type server struct {
	mu   sync.Mutex
	auth []string
	hits map[string]int
}

func replay(t *testing.T, routes map[string]route, cfg Config, log *zerolog.Logger) (*Source, *server) {
	t.Helper()
	rec := &server{hits: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.auth = append(rec.auth, r.Header.Get("Authorization"))
		rec.hits[r.URL.Path]++
		rec.mu.Unlock()
		rt, ok := routes[strings.TrimPrefix(r.URL.Path, "/api/v1/")]
		if !ok {
			t.Errorf("unexpected path %s", r.URL.Path)
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rt.status)
		w.Write(readFile(t, rt.file))
	}))
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL + "/api/v1"
	cfg.MaxAttempts = 1
	cfg.RatePerSecond = 1000
	env := venuehttp.Env{Clock: venuetest.Clock{T: fetched}, Getenv: func(string) string { return "" }}
	if log != nil {
		env.Logger = *log
	}
	s, err := New(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	return s, rec
}

func withKey(c Config) Config {
	c.APIKey = venuehttp.Credential{Value: secretKey}
	return c
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func boolp(b bool) *bool { return &b }

// The whole model list: the two routers priced "-1" are skipped, the free
// variant is kept at 0, every other model is its strings × 1e6.
func TestModels(t *testing.T) {
	s, rec := replay(t, map[string]route{"models": {"models.json", 200}}, withKey(Config{}), nil)
	qs, err := s.TokenQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		model, in, out, rawIn, rawOut string
		ctx                           int
	}{
		{"anthropic/claude-sonnet-4", "3", "15", "0.000003", "0.000015", 200000},
		{"deepseek/deepseek-chat-v3-0324", "0.25", "0.85", "0.00000025", "0.00000085", 163840},
		{"google/gemini-2.5-flash", "0.3", "2.5", "0.0000003", "0.0000025", 1048576},
		{"meta-llama/llama-3.3-70b-instruct", "0.13", "0.4", "0.00000013", "0.0000004", 131072},
		{"meta-llama/llama-3.3-70b-instruct:free", "0", "0", "0", "0", 65536},
		{"mistralai/mistral-small-3.2-24b-instruct", "0.05", "0.1", "0.00000005", "0.0000001", 131072},
		{"openai/gpt-4o-mini", "0.15", "0.6", "0.00000015", "0.0000006", 128000},
		{"qwen/qwen3-235b-a22b", "0.13", "0.6", "0.00000013", "0.0000006", 40960},
	}
	if len(qs) != len(want) {
		t.Fatalf("%d quotes, want %d: %+v", len(qs), len(want), qs)
	}
	for i, w := range want {
		q := qs[i]
		if err := q.Validate(); err != nil {
			t.Error(err)
		}
		if q.Model != w.model || !q.USDPerMTokIn.Equal(dec(w.in)) || !q.USDPerMTokOut.Equal(dec(w.out)) {
			t.Errorf("quote %d: %s %s/%s, want %s %s/%s", i, q.Model, q.USDPerMTokIn, q.USDPerMTokOut, w.model, w.in, w.out)
		}
		if q.RawIn != w.rawIn || q.RawOut != w.rawOut || q.ContextLength != w.ctx {
			t.Errorf("quote %d: raw %s/%s ctx %d, want %s/%s %d", i, q.RawIn, q.RawOut, q.ContextLength, w.rawIn, w.rawOut, w.ctx)
		}
		if q.Provider != "openrouter" || q.Venue != "openrouter" || q.Upstream != "" || !q.Up || q.Status != 0 || !q.FetchedAt.Equal(fetched) {
			t.Errorf("quote %d: %+v", i, q)
		}
		if strings.HasPrefix(q.Model, "openrouter/") {
			t.Errorf("router %s quoted", q.Model)
		}
	}
	if len(rec.auth) != 1 || rec.auth[0] != "Bearer "+secretKey {
		t.Errorf("Authorization sent %q", rec.auth)
	}
}

// Worked example: DeepInfra serves Llama 3.3 70B at "0.00000023" USD per
// prompt token and "0.0000004" per completion token: 0.23 and 0.40 USD per
// million tokens, paid to OpenRouter.
func TestEndpoints(t *testing.T) {
	const m = "meta-llama/llama-3.3-70b-instruct"
	s, rec := replay(t, map[string]route{"models/" + m + "/endpoints": {"endpoints_llama.json", 200}},
		withKey(Config{Models: []string{m}, IncludeAllModels: boolp(false)}), nil)
	qs, err := s.TokenQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		upstream, quant, in, out string
		status                   int
		up                       bool
	}{
		{"DeepInfra", "fp8", "0.23", "0.4", 0, true},
		{"Groq", "unknown", "0.59", "0.79", -2, false},
		{"Lambda", "fp8", "0.12", "0.3", 0, true}, // status absent: the default 0
		{"Together", "fp8", "0.88", "0.88", 0, true},
	}
	if len(qs) != len(want) {
		t.Fatalf("%d quotes, want %d (the -1 router endpoint skipped): %+v", len(qs), len(want), qs)
	}
	for i, w := range want {
		q := qs[i]
		if err := q.Validate(); err != nil {
			t.Error(err)
		}
		if q.Model != m || q.Upstream != w.upstream || q.Quantization != w.quant || q.Status != w.status || q.Up != w.up {
			t.Errorf("endpoint %d: %+v, want %+v", i, q, w)
		}
		if !q.USDPerMTokIn.Equal(dec(w.in)) || !q.USDPerMTokOut.Equal(dec(w.out)) {
			t.Errorf("endpoint %d: %s/%s, want %s/%s", i, q.USDPerMTokIn, q.USDPerMTokOut, w.in, w.out)
		}
		if q.Provider != "openrouter" || q.Venue != "openrouter" || q.ContextLength != 131072 {
			t.Errorf("endpoint %d: provider %s venue %s ctx %d", i, q.Provider, q.Venue, q.ContextLength)
		}
	}
	if qs[0].RawIn != "0.00000023" || qs[0].RawOut != "0.0000004" {
		t.Errorf("raw %s/%s", qs[0].RawIn, qs[0].RawOut)
	}
	if len(rec.auth) != 1 || rec.auth[0] != "Bearer "+secretKey {
		t.Errorf("Authorization sent %q", rec.auth)
	}
}

// The list and the endpoints together: the list price has no upstream,
// the endpoints name theirs; both sorted under the model.
func TestModelsAndEndpoints(t *testing.T) {
	const m = "meta-llama/llama-3.3-70b-instruct"
	s, rec := replay(t, map[string]route{
		"models":                     {"models.json", 200},
		"models/" + m + "/endpoints": {"endpoints_llama.json", 200},
	}, withKey(Config{Models: []string{m}}), nil)
	qs, err := s.TokenQuotes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 12 {
		t.Fatalf("%d quotes, want 8 list + 4 endpoints", len(qs))
	}
	var ups []string
	for _, q := range qs {
		if q.Model == m {
			ups = append(ups, q.Upstream)
		}
	}
	if got := strings.Join(ups, ","); got != ",DeepInfra,Groq,Lambda,Together" {
		t.Errorf("upstreams of %s: %q", m, got)
	}
	if rec.hits["/api/v1/models"] != 1 || rec.hits["/api/v1/models/"+m+"/endpoints"] != 1 {
		t.Errorf("hits %v", rec.hits)
	}
}

// Without a key nothing is sent: the list is public.
func TestNoKey(t *testing.T) {
	s, rec := replay(t, map[string]route{"models": {"models.json", 200}}, Config{}, nil)
	if _, err := s.TokenQuotes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(rec.auth) != 1 || rec.auth[0] != "" {
		t.Errorf("Authorization sent %q, want none", rec.auth)
	}
}

func TestEmpty(t *testing.T) {
	s, _ := replay(t, map[string]route{"models": {"models_empty.json", 200}}, withKey(Config{}), nil)
	qs, err := s.TokenQuotes(context.Background())
	if err != nil || len(qs) != 0 {
		t.Fatalf("%v %v", qs, err)
	}
}

func TestErrors(t *testing.T) {
	const m = "meta-llama/llama-3.3-70b-instruct"
	for _, tc := range []struct {
		name   string
		routes map[string]route
		cfg    Config
		code   string
		want   []string
	}{
		{"401", map[string]route{"models": {"error_401.json", 401}}, Config{},
			procurebot.EINVALID, []string{"openrouter", "GET", "/api/v1/models", "HTTP 401", "No auth credentials found"}},
		{"429", map[string]route{"models": {"error_429.json", 429}}, Config{},
			procurebot.EUNAVAILABLE, []string{"openrouter", "HTTP 429", "Rate limit exceeded"}},
		{"500", map[string]route{"models": {"error_500.json", 500}}, Config{},
			procurebot.EUNAVAILABLE, []string{"openrouter", "HTTP 500", "Internal Server Error"}},
		{"endpoints 404", map[string]route{"models/" + m + "/endpoints": {"error_404.json", 404}},
			Config{Models: []string{m}, IncludeAllModels: boolp(false)},
			procurebot.ENOTFOUND, []string{"openrouter", "/api/v1/models/" + m + "/endpoints", "HTTP 404", "Model not found"}},
		{"malformed price", map[string]route{"models": {"malformed.json", 200}}, Config{},
			procurebot.EINVALID, []string{"openrouter", "GET", "/api/v1/models", "field data.pricing.completion", "zero point four"}},
		{"missing price", map[string]route{"models": {"missing_price.json", 200}}, Config{},
			procurebot.EINVALID, []string{"openrouter", "/api/v1/models", "field data[1].pricing.completion", "missing"}},
		{"endpoints body", map[string]route{"models/" + m + "/endpoints": {"models_empty.json", 200}},
			Config{Models: []string{m}, IncludeAllModels: boolp(false)},
			procurebot.EINVALID, []string{"openrouter", "/endpoints", "field data", "is not"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, logs := venuetest.Logger()
			s, _ := replay(t, tc.routes, withKey(tc.cfg), &log)
			qs, err := s.TokenQuotes(context.Background())
			venuetest.CheckError(t, err, tc.code, tc.want, secretKey)
			if qs != nil {
				t.Errorf("partial book %v", qs)
			}
			if logs.String() == "" {
				t.Error("nothing logged")
			}
			venuetest.NoSecret(t, logs.String(), secretKey)
		})
	}
}

func TestConfig(t *testing.T) {
	env := venuehttp.Env{Getenv: func(k string) string {
		if k == "OPENROUTER_API_KEY" {
			return "from-env"
		}
		return ""
	}}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Models: []string{"no-slash"}}, "providers.openrouter.models[0]"},
		{Config{Models: []string{"a/b/c"}}, "providers.openrouter.models[0]"},
		{Config{IncludeAllModels: boolp(false)}, "providers.openrouter.include_all_models"},
		{Config{APIKey: venuehttp.Credential{Env: "NOPE"}}, "providers.openrouter.api_key.env"},
		{Config{Config: venuehttp.Config{MaxAge: -time.Second}}, "providers.openrouter.max_age"},
	} {
		_, err := New(tc.cfg, env)
		if err == nil || !strings.Contains(err.Error(), tc.want) || procurebot.ErrorCode(err) != procurebot.EINVALID {
			t.Errorf("%+v: err %v, want %s", tc.cfg, err, tc.want)
		}
	}
	s, err := New(Config{}, env)
	if err != nil || s.Name() != "openrouter" || s.MaxAge() != time.Hour {
		t.Fatalf("%v %v", s, err)
	}
}

// bigModels is a /models body with n priced models.
func bigModels(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"data":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"vendor%d/model-%d","name":"Vendor %d: Model %d","created":1733506137,"context_length":131072,`+
			`"architecture":{"modality":"text->text","input_modalities":["text"],"output_modalities":["text"],"tokenizer":"Llama3","instruct_type":null},`+
			`"pricing":{"prompt":"0.000000%02d","completion":"0.00000%03d","request":"0","image":"0","web_search":"0","internal_reasoning":"0"},`+
			`"top_provider":{"context_length":131072,"max_completion_tokens":16384,"is_moderated":false},"per_request_limits":null,"supported_parameters":["max_tokens","temperature"]}`,
			i%7, i, i%7, i, 10+i%90, 100+i%900)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func BenchmarkParse(b *testing.B) {
	body := bigModels(400)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		qs, err := parseModels(body, fetched)
		if err != nil || len(qs) != 400 {
			b.Fatal(len(qs), err)
		}
	}
}

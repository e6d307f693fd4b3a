// Package openrouter reads OpenRouter's per-token prices, as token quotes:
// the list price of every model and, for configured models, the price of
// each upstream provider ("endpoint") serving it.
//
// API (https://openrouter.ai/docs/api/api-reference/models/get-models and
// https://openrouter.ai/docs/api/api-reference/endpoints/list-endpoints;
// field types from the OpenRouter SDK docs, components PublicEndpoint and
// EndpointStatus, e.g.
// https://openrouter.ai/docs/client-sdks/go/models/components/endpointstatus.md):
//
//   - GET {base}/models needs no key (a Bearer key is sent when configured).
//     It returns data[{id, name, context_length, pricing{prompt, completion,
//     request, image, web_search, internal_reasoning, input_cache_read,
//     input_cache_write}}].
//   - GET {base}/models/{author}/{slug}/endpoints with "Authorization:
//     Bearer <key>" returns data{id, name, endpoints[{name, provider_name,
//     tag, quantization, context_length, pricing{...}, status,
//     uptime_last_30m, ...}]}: one entry per upstream provider at that
//     provider's own price. status is an open integer enum (0, -1, -2, -3,
//     -5, -10 in the SDKs); 0 is the normal state, the negative values are
//     degraded or deranked endpoints, so Up is status == 0. An absent status
//     counts as 0 (the field is optional in the SDK schema).
//
// Units: prices are decimal STRINGS in USD per token (per request or image
// for those fields, which are ignored here). USD per million tokens is the
// string × 1e6, exactly: "0.00000023" is 0.23 USD/Mtok in, "0.0000004" is
// 0.40 USD/Mtok out. RawIn and RawOut keep the strings.
//
// OpenRouter publishes "-1" for prices that vary per request (the
// openrouter/auto router and other routers: its pricing is
// {"prompt":"-1","completion":"-1","request":"-1","image":"-1"}, and the
// model page says "Pricing varied"): such a model or endpoint has no price
// and yields no quote. "0" is a real price (":free" variants) and is kept.
//
// Every quote's Provider is "openrouter" — we pay OpenRouter, also for an
// endpoint, whose Upstream names the provider behind it (DeepInfra, ...).
package openrouter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"time"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

// DefaultBaseURL is OpenRouter's API root.
const DefaultBaseURL = "https://openrouter.ai/api/v1"

// Venue is the adapter's name, and the Provider of every quote (matching
// the recorded history in sampledata inference/models.csv).
const Venue = "openrouter"

// Config is the providers.openrouter section of the config:
//
//	providers:
//	  openrouter:
//	    api_key: {env: OPENROUTER_API_KEY}
//	    models: [meta-llama/llama-3.3-70b-instruct]
//	    include_all_models: true
type Config struct {
	venuehttp.Config `yaml:",inline"`
	// APIKey defaults to the env var OPENROUTER_API_KEY. It is optional:
	// the model list is public. When set it is sent as a Bearer token on
	// every call.
	APIKey venuehttp.Credential `yaml:"api_key"`
	// Models are the model ids ("author/slug") whose per-provider
	// endpoints are quoted as well.
	Models []string `yaml:"models"`
	// IncludeAllModels quotes every model of GET /models at its list price
	// (default true).
	IncludeAllModels *bool `yaml:"include_all_models"`
}

// Source is the OpenRouter adapter.
type Source struct {
	c          *venuehttp.Client
	env        venuehttp.Env
	maxAge     time.Duration
	models     []string
	includeAll bool
}

var modelIDRE = regexp.MustCompile(`^[^/\s]+/[^/\s]+$`)

// New builds the adapter.
func New(cfg Config, env venuehttp.Env) (*Source, error) {
	if err := cfg.Validate(Venue); err != nil {
		return nil, err
	}
	includeAll := cfg.IncludeAllModels == nil || *cfg.IncludeAllModels
	for i, m := range cfg.Models {
		if !modelIDRE.MatchString(m) {
			return nil, procurebot.Invalidf("providers.openrouter.models[%d]: %q is not a model id author/slug", i, m)
		}
	}
	if !includeAll && len(cfg.Models) == 0 {
		return nil, procurebot.Invalidf("providers.openrouter.include_all_models: false and no models: nothing to quote")
	}
	key, err := cfg.APIKey.Resolve(env, "providers.openrouter.api_key", "OPENROUTER_API_KEY", false)
	if err != nil {
		return nil, err
	}
	var auth func(*http.Request)
	if key != "" {
		auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key.Reveal()) }
	}
	c, err := venuehttp.New(Venue, cfg.URL(DefaultBaseURL), env.Options(cfg.Config, 1), auth, key)
	if err != nil {
		return nil, err
	}
	maxAge := cfg.MaxAge
	if maxAge == 0 {
		maxAge = time.Hour
	}
	return &Source{c: c, env: env, maxAge: maxAge, models: cfg.Models, includeAll: includeAll}, nil
}

// Name is "openrouter".
func (s *Source) Name() string { return Venue }

// MaxAge is the configured staleness bound (default 1 h: token prices
// change a few times a week).
func (s *Source) MaxAge() time.Duration { return s.maxAge }

// TokenQuotes returns the list price of every model (when
// include_all_models) and one quote per endpoint of each configured model,
// sorted by model then upstream.
func (s *Source) TokenQuotes(ctx context.Context) ([]procurebot.TokenQuote, error) {
	now := s.env.Now()
	var out []procurebot.TokenQuote
	if s.includeAll {
		req := venuehttp.Request{Path: "models"}
		body, err := s.c.Do(ctx, req)
		if err != nil {
			return nil, err
		}
		qs, err := parseModels(body, now)
		if err != nil {
			return nil, s.malformed(req, err)
		}
		out = append(out, qs...)
	}
	for _, m := range s.models {
		req := venuehttp.Request{Path: "models/" + m + "/endpoints"}
		body, err := s.c.Do(ctx, req)
		if err != nil {
			return nil, err
		}
		qs, err := parseEndpoints(body, m, now)
		if err != nil {
			return nil, s.malformed(req, err)
		}
		out = append(out, qs...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Model != out[j].Model {
			return out[i].Model < out[j].Model
		}
		return out[i].Upstream < out[j].Upstream
	})
	return out, nil
}

func (s *Source) malformed(req venuehttp.Request, err error) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		return s.c.Malformed(req, fe.field, "%s", fe.msg)
	}
	return s.c.Malformed(req, "(body)", "%v", err)
}

// fieldError is a parse failure at a JSON path; the Source turns it into a
// venuehttp Malformed error naming the request.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return "field " + e.field + ": " + e.msg }

func malformedf(field, format string, args ...any) *fieldError {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// decode decodes body into out, reporting the JSON path of a type error.
func decode(body []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return malformedf(te.Field, "%s is not %s", te.Value, te.Type)
		case errors.As(err, &se):
			return malformedf("(body)", "not JSON at byte %d: %v", se.Offset, se)
		case errors.Is(err, io.EOF):
			return malformedf("(body)", "empty body")
		default:
			return malformedf("(body)", "%v", err)
		}
	}
	return nil
}

type pricing struct {
	Prompt     venuehttp.Number `json:"prompt"`
	Completion venuehttp.Number `json:"completion"`
}

type model struct {
	ID            string           `json:"id"`
	Name          string           `json:"name"`
	ContextLength venuehttp.Number `json:"context_length"`
	Pricing       *pricing         `json:"pricing"`
}

type endpoint struct {
	Name          string           `json:"name"`
	ProviderName  string           `json:"provider_name"`
	Tag           string           `json:"tag"`
	Quantization  string           `json:"quantization"`
	ContextLength venuehttp.Number `json:"context_length"`
	Pricing       *pricing         `json:"pricing"`
	Status        venuehttp.Number `json:"status"`
}

// parseModels turns a GET /models body into list-price quotes.
func parseModels(body []byte, now time.Time) ([]procurebot.TokenQuote, error) {
	var r struct {
		Data *[]model `json:"data"`
	}
	if err := decode(body, &r); err != nil {
		return nil, err
	}
	if r.Data == nil {
		return nil, malformedf("data", "missing")
	}
	out := make([]procurebot.TokenQuote, 0, len(*r.Data))
	for i, m := range *r.Data {
		field := fmt.Sprintf("data[%d]", i)
		if m.ID == "" {
			return nil, malformedf(field+".id", "missing")
		}
		q, ok, err := quote(field, m.ID, m.Pricing, m.ContextLength, now)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		q.Status, q.Up = 0, true
		out = append(out, q)
	}
	return out, nil
}

// parseEndpoints turns a GET /models/{id}/endpoints body into one quote
// per upstream provider of model id.
func parseEndpoints(body []byte, id string, now time.Time) ([]procurebot.TokenQuote, error) {
	var r struct {
		Data *struct {
			ID        string      `json:"id"`
			Endpoints *[]endpoint `json:"endpoints"`
		} `json:"data"`
	}
	if err := decode(body, &r); err != nil {
		return nil, err
	}
	if r.Data == nil {
		return nil, malformedf("data", "missing")
	}
	if r.Data.Endpoints == nil {
		return nil, malformedf("data.endpoints", "missing")
	}
	out := make([]procurebot.TokenQuote, 0, len(*r.Data.Endpoints))
	for i, e := range *r.Data.Endpoints {
		field := fmt.Sprintf("data.endpoints[%d]", i)
		if e.ProviderName == "" {
			return nil, malformedf(field+".provider_name", "missing")
		}
		q, ok, err := quote(field, id, e.Pricing, e.ContextLength, now)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		status := 0
		if e.Status.Set() {
			if !e.Status.Value.IsInteger() {
				return nil, malformedf(field+".status", "%s is not an integer", e.Status.Raw)
			}
			status = int(e.Status.Value.IntPart())
		}
		q.Upstream, q.Quantization = e.ProviderName, e.Quantization
		q.Status, q.Up = status, status == 0
		out = append(out, q)
	}
	return out, nil
}

// quote normalises one pricing block; ok is false for the "-1" (variable
// price) sentinel, which yields no quote.
func quote(field, id string, p *pricing, ctxLen venuehttp.Number, now time.Time) (procurebot.TokenQuote, bool, error) {
	if p == nil {
		return procurebot.TokenQuote{}, false, malformedf(field+".pricing", "missing")
	}
	if !p.Prompt.Set() {
		return procurebot.TokenQuote{}, false, malformedf(field+".pricing.prompt", "missing")
	}
	if !p.Completion.Set() {
		return procurebot.TokenQuote{}, false, malformedf(field+".pricing.completion", "missing")
	}
	if p.Prompt.Value.Sign() < 0 || p.Completion.Value.Sign() < 0 {
		return procurebot.TokenQuote{}, false, nil // variable pricing: no price to quote
	}
	n := 0
	if ctxLen.Set() {
		if !ctxLen.Value.IsInteger() || ctxLen.Value.Sign() < 0 {
			return procurebot.TokenQuote{}, false, malformedf(field+".context_length", "%s is not a token count", ctxLen.Raw)
		}
		n = int(ctxLen.Value.IntPart())
	}
	q := procurebot.TokenQuote{
		TokenPrice: procurebot.TokenPrice{
			Provider:      Venue,
			Model:         id,
			USDPerMTokIn:  p.Prompt.Value.Shift(6),
			USDPerMTokOut: p.Completion.Value.Shift(6),
			ContextLength: n,
		},
		Venue:     Venue,
		FetchedAt: now,
		RawIn:     p.Prompt.Raw,
		RawOut:    p.Completion.Raw,
	}
	if err := q.Validate(); err != nil {
		return procurebot.TokenQuote{}, false, malformedf(field, "%v", err)
	}
	return q, true, nil
}

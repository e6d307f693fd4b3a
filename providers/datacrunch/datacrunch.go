// Package datacrunch reads the instance prices and availability of Verda
// (formerly DataCrunch) as GPU quotes.
//
// API (base https://api.verda.com/v1; the legacy https://api.datacrunch.io/v1
// still answers and can be set as base_url): OAuth2 client credentials,
// POST {base}/oauth2/token with the JSON body {"grant_type":
// "client_credentials","client_id","client_secret"} → {access_token,
// refresh_token, expires_in, token_type, scope}; the token is cached until
// 30 s before it expires (as verda-cloud/verdacloud-sdk-go pkg/verda/auth.go
// does) and sent as "Authorization: Bearer <token>". A call refused with 401
// drops the cached token and the fetch is retried once with a new one. Then
//
//   - GET {base}/instance-types?currency=usd → [{instance_type
//     ("1H100.80S.30V"), model, name, gpu{description ("1x H100 SXM5 80GB"),
//     number_of_gpus}, price_per_hour ("3.95"), spot_price ("1.70"),
//     currency, …}] (verdacloud-sdk-go pkg/verda/instance_types.go);
//   - GET {base}/instance-availability?is_spot=false and ?is_spot=true →
//     [{location_code ("FIN-01"), availabilities: ["1H100.80S.30V", …]}]
//     (pkg/verda/instance_availability.go).
//
// The shapes follow dstackai/gpuhunt src/tests/providers/test_verda.py (a
// recorded instance-types fixture) and src/gpuhunt/providers/verda.py;
// errors are {"code", "message"} (DataCrunch-io/datacrunch-python, docs
// "Errors": unauthorized_request 401, invalid_request 400, …).
//
// Units: prices are decimal strings, USD per instance-hour
// (BillUSDPerInstanceHour, ToUSDPerGPUHour = 1/number_of_gpus). An
// 8H100.80S.176V at price_per_hour "31.60" is 3.95 USD per GPU-hour, and a
// 3.00 USD/GPU-hour cap is 24.00 USD per instance-hour in Verda's unit.
// spot_price is a fixed discounted list price, not a bid floor (SpotFixed):
// "13.60" for the same instance is 1.70 USD per GPU-hour.
//
// Quotes: one per (instance type, location, on-demand or spot) that the
// availability lists, at price_per_hour or spot_price. Ref is the instance
// type, Region the location code; Available is -1 (Verda says available,
// not how many). CPU types, types with no spot_price in the spot list, types
// the availability names but instance-types lacks, and GPUs with no GPU class
// (RTX PRO 6000, AMD 7900XTX) are skipped and logged at debug level.
//
// The client secret and the access token are redacted from every error and
// log line.
package datacrunch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

// DefaultBaseURL is Verda's API root (verdacloud-sdk-go DefaultBaseURL).
const DefaultBaseURL = "https://api.verda.com/v1"

// LegacyBaseURL is DataCrunch's former API root, still SkyPilot's default.
const LegacyBaseURL = "https://api.datacrunch.io/v1"

// Rental types, as the types config lists them.
const (
	TypeOnDemand = "on-demand"
	TypeSpot     = "spot"
)

// tokenMargin is how long before its expiry a token is replaced.
const tokenMargin = 30 * time.Second

// Config is the providers.datacrunch section of the config.
type Config struct {
	venuehttp.Config `yaml:",inline"`
	// ClientID defaults to the env var VERDA_CLIENT_ID.
	ClientID venuehttp.Credential `yaml:"client_id"`
	// ClientSecret defaults to the env var VERDA_CLIENT_SECRET.
	ClientSecret venuehttp.Credential `yaml:"client_secret"`
	// Locations keeps only these location codes ("FIN-01"). Empty keeps
	// all.
	Locations []string `yaml:"locations"`
	// Types lists the rentals quoted: "on-demand", "spot" (default both).
	Types []string `yaml:"types"`
}

// Source is the Verda (DataCrunch) adapter.
type Source struct {
	env       venuehttp.Env
	opts      venuehttp.Options
	base      string
	maxAge    time.Duration
	clientID  string
	secret    venuehttp.Secret
	types     []string
	locations map[string]bool
	auth      *venuehttp.Client // the token endpoint; redacts the secret

	mu      sync.Mutex
	api     *venuehttp.Client // the API with the current token; redacts it too
	token   venuehttp.Secret
	expires time.Time
}

// New builds the adapter; the client id and secret are required.
func New(cfg Config, env venuehttp.Env) (*Source, error) {
	if err := cfg.Validate("datacrunch"); err != nil {
		return nil, err
	}
	types := cfg.Types
	if len(types) == 0 {
		types = []string{TypeOnDemand, TypeSpot}
	}
	seen := map[string]bool{}
	for _, t := range types {
		if t != TypeOnDemand && t != TypeSpot {
			return nil, procurebot.Invalidf("providers.datacrunch.types: %q is not %q or %q", t, TypeOnDemand, TypeSpot)
		}
		if seen[t] {
			return nil, procurebot.Invalidf("providers.datacrunch.types: %q twice", t)
		}
		seen[t] = true
	}
	var locations map[string]bool
	for i, l := range cfg.Locations {
		if strings.TrimSpace(l) == "" {
			return nil, procurebot.Invalidf("providers.datacrunch.locations[%d]: empty", i)
		}
		if locations == nil {
			locations = map[string]bool{}
		}
		locations[strings.TrimSpace(l)] = true
	}
	id, err := cfg.ClientID.Resolve(env, "providers.datacrunch.client_id", "VERDA_CLIENT_ID", true)
	if err != nil {
		return nil, err
	}
	secret, err := cfg.ClientSecret.Resolve(env, "providers.datacrunch.client_secret", "VERDA_CLIENT_SECRET", true)
	if err != nil {
		return nil, err
	}
	s := &Source{
		env: env, opts: env.Options(cfg.Config, 2), base: cfg.URL(DefaultBaseURL),
		clientID: id.Reveal(), secret: secret, types: types, locations: locations,
		maxAge: cfg.MaxAge,
	}
	if s.maxAge == 0 {
		s.maxAge = 15 * time.Minute
	}
	if s.auth, err = venuehttp.New("datacrunch", s.base, s.opts, nil, secret); err != nil {
		return nil, err
	}
	return s, nil
}

// Name is "datacrunch".
func (s *Source) Name() string { return "datacrunch" }

// MaxAge is the configured staleness bound (default 15 min).
func (s *Source) MaxAge() time.Duration { return s.maxAge }

type tokenResponse struct {
	AccessToken string      `json:"access_token"`
	TokenType   string      `json:"token_type"`
	ExpiresIn   json.Number `json:"expires_in"`
}

// client returns the API client and its token, fetching a token when none
// is cached or the cached one is about to expire. fresh reports a new
// token.
func (s *Source) client(ctx context.Context) (c *venuehttp.Client, tok venuehttp.Secret, fresh bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.env.Now()
	if s.token != "" && now.Before(s.expires) {
		return s.api, s.token, false, nil
	}
	body, err := json.Marshal(map[string]string{"grant_type": "client_credentials", "client_id": s.clientID, "client_secret": s.secret.Reveal()})
	if err != nil {
		return nil, "", false, err
	}
	req := venuehttp.Request{Method: http.MethodPost, Path: "oauth2/token", Body: body}
	resp, err := s.auth.Do(ctx, req)
	if err != nil {
		return nil, "", false, err
	}
	// Decoded here, not with Decode: a decoding error must not quote a
	// body that holds a token.
	var t tokenResponse
	if err := json.Unmarshal(resp, &t); err != nil {
		return nil, "", false, s.auth.Malformed(req, "(body)", "token response is not a JSON token object (%d bytes)", len(resp))
	}
	if t.AccessToken == "" {
		return nil, "", false, s.auth.Malformed(req, "access_token", "missing")
	}
	if t.TokenType != "" && !strings.EqualFold(t.TokenType, "bearer") {
		return nil, "", false, s.auth.Malformed(req, "token_type", "%q is not Bearer", t.TokenType)
	}
	ttl := time.Duration(0)
	if t.ExpiresIn != "" {
		n, err := t.ExpiresIn.Int64()
		if err != nil {
			return nil, "", false, s.auth.Malformed(req, "expires_in", "%s is not a number of seconds", t.ExpiresIn)
		}
		ttl = time.Duration(n) * time.Second
	}
	tok = venuehttp.Secret(t.AccessToken)
	api, err := venuehttp.New("datacrunch", s.base, s.opts, nil, s.secret, tok)
	if err != nil {
		return nil, "", false, err
	}
	s.api, s.token = api, tok
	// A token without a lifetime (or one shorter than the margin) serves
	// this fetch only.
	s.expires = now
	if ttl > tokenMargin {
		s.expires = now.Add(ttl - tokenMargin)
	}
	return api, tok, true, nil
}

// drop forgets tok if it is still the cached token.
func (s *Source) drop(tok venuehttp.Secret) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == tok {
		s.token, s.expires = "", time.Time{}
	}
}

// GPUQuotes returns one quote per available (type, location, rental),
// sorted by per-GPU price.
func (s *Source) GPUQuotes(ctx context.Context) ([]procurebot.Quote, error) {
	return s.fetch(ctx, true)
}

// fetch gets a token and the three responses and parses them; retry
// allows one more try with a new token when the cached one is refused.
func (s *Source) fetch(ctx context.Context, retry bool) ([]procurebot.Quote, error) {
	c, tok, fresh, err := s.client(ctx)
	if err != nil {
		return nil, err
	}
	hdr := http.Header{"Authorization": {"Bearer " + tok.Reveal()}}
	get := func(path string, q url.Values) (venuehttp.Request, []byte, error) {
		req := venuehttp.Request{Path: path, Query: q, Header: hdr}
		body, err := c.Do(ctx, req)
		return req, body, err
	}
	rejected := func(err error) bool {
		var e *venuehttp.Error
		return errors.As(err, &e) && e.Status == http.StatusUnauthorized
	}
	var in input
	in.typesReq, in.types, err = get("instance-types", url.Values{"currency": {"usd"}})
	for _, t := range s.types {
		if err != nil {
			break
		}
		spot := t == TypeSpot
		var a avail
		a.spot = spot
		a.req, a.body, err = get("instance-availability", url.Values{"is_spot": {fmt.Sprint(spot)}})
		in.avail = append(in.avail, a)
	}
	if err != nil {
		if rejected(err) {
			s.drop(tok)
			if retry && !fresh {
				return s.fetch(ctx, false)
			}
		}
		return nil, err
	}
	qs, skipped, err := parse(c, in, s.env.Now())
	if err != nil {
		return nil, err
	}
	if len(skipped) > 0 {
		s.env.Logger.Debug().Str("venue", "datacrunch").Strs("instance_types", skipped).Msg("instance types not quoted")
	}
	if s.locations != nil {
		kept := qs[:0]
		for _, q := range qs {
			if s.locations[q.Region] {
				kept = append(kept, q)
			}
		}
		qs = kept
	}
	return qs, nil
}

type gpu struct {
	Description  string `json:"description"`
	NumberOfGPUs int    `json:"number_of_gpus"`
}

type instanceType struct {
	InstanceType string           `json:"instance_type"`
	Model        string           `json:"model"`
	Name         string           `json:"name"`
	GPU          gpu              `json:"gpu"`
	PricePerHour venuehttp.Number `json:"price_per_hour"`
	SpotPrice    venuehttp.Number `json:"spot_price"`
	Currency     string           `json:"currency"`
}

type locationAvailability struct {
	LocationCode   string   `json:"location_code"`
	Availabilities []string `json:"availabilities"`
}

// avail is one instance-availability response.
type avail struct {
	spot bool
	req  venuehttp.Request
	body []byte
}

// input is the responses of one fetch.
type input struct {
	typesReq venuehttp.Request
	types    []byte
	avail    []avail
}

// parse turns the instance types and the availability lists into quotes.
// It does no I/O: c only decodes and names the venue and request in
// errors. skipped names what was not quoted and why.
func parse(c *venuehttp.Client, in input, now time.Time) ([]procurebot.Quote, []string, error) {
	var types []instanceType
	if err := c.Decode(in.typesReq, in.types, &types); err != nil {
		return nil, nil, err
	}
	if types == nil {
		return nil, nil, c.Malformed(in.typesReq, "(body)", "null, not a list of instance types")
	}
	byName := make(map[string]int, len(types))
	// Per type, computed once: its GPU class ("" for none) and 1/GPUs.
	classes := make([]string, len(types))
	factors := make([]decimal.Decimal, len(types))
	for i, t := range types {
		if t.InstanceType == "" {
			return nil, nil, c.Malformed(in.typesReq, fmt.Sprintf("[%d].instance_type", i), "missing")
		}
		if t.Currency != "" && !strings.EqualFold(t.Currency, "usd") {
			return nil, nil, c.Malformed(in.typesReq, fmt.Sprintf("[%d].currency", i), "%q, asked for usd", t.Currency)
		}
		byName[t.InstanceType] = i
		if n := t.GPU.NumberOfGPUs; n > 0 {
			classes[i] = procurebot.GPUClassOf(t.GPU.Description, t.Model, t.Name, t.InstanceType)
			factors[i] = procurebot.One.Div(decimal.NewFromInt(int64(n)))
		}
	}
	type seenKey struct {
		name, location string
		spot           bool
	}
	var out []procurebot.Quote
	var skipped []string
	seen := map[seenKey]bool{}
	for _, a := range in.avail {
		var locs []locationAvailability
		if err := c.Decode(a.req, a.body, &locs); err != nil {
			return nil, nil, err
		}
		if locs == nil {
			return nil, nil, c.Malformed(a.req, "(body)", "null, not a list of locations")
		}
		for li, l := range locs {
			if l.LocationCode == "" {
				return nil, nil, c.Malformed(a.req, fmt.Sprintf("[%d].location_code", li), "missing")
			}
			for _, name := range l.Availabilities {
				key := seenKey{name, l.LocationCode, a.spot}
				if seen[key] {
					continue
				}
				seen[key] = true
				i, ok := byName[name]
				if !ok {
					skipped = append(skipped, name+" (not in instance-types)")
					continue
				}
				t := types[i]
				n := t.GPU.NumberOfGPUs
				if n <= 0 {
					continue // CPU instance
				}
				class := classes[i]
				if class == "" {
					skipped = append(skipped, name+" (no GPU class for "+t.GPU.Description+")")
					continue
				}
				price, field, kind, spot := t.PricePerHour, "price_per_hour", procurebot.SpotNone, procurebot.SpotFalse
				if a.spot {
					price, field, kind, spot = t.SpotPrice, "spot_price", procurebot.SpotFixed, procurebot.SpotTrue
				}
				if !price.Set() {
					if a.spot {
						skipped = append(skipped, name+" (spot, no spot_price)")
						continue
					}
					return nil, nil, c.Malformed(in.typesReq, fmt.Sprintf("[%d].%s", i, field), "missing for %s, available in %s", name, l.LocationCode)
				}
				if price.Value.Sign() <= 0 {
					return nil, nil, c.Malformed(in.typesReq, fmt.Sprintf("[%d].%s", i, field), "%q is not a positive price", price.Raw)
				}
				q := procurebot.Quote{
					Offer: procurebot.Offer{
						Provider: "datacrunch", GPU: class, GPUCount: n,
						USDPerHour: price.Value, Spot: spot, Region: l.LocationCode, Instance: name,
					},
					Venue: "datacrunch", FetchedAt: now,
					Billing: procurebot.Billing{
						Unit: procurebot.BillUSDPerInstanceHour, Raw: price.Raw, Denom: "USD",
						Amount: price.Value, ToUSDPerGPUHour: factors[i],
					},
					SpotKind: kind, Available: -1, Ref: name,
				}
				q.PerGPU = q.PerGPUPrice()
				out = append(out, q)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if c := a.PerGPU.Cmp(b.PerGPU); c != 0 {
			return c < 0
		}
		if a.Region != b.Region {
			return a.Region < b.Region
		}
		if a.SpotKind != b.SpotKind {
			return a.SpotKind < b.SpotKind
		}
		return a.Ref < b.Ref
	})
	return out, skipped, nil
}

// Package coingecko is the token price feed: the USD price of the tokens a
// venue bills in (AKT for Akash bids in uakt), read from CoinGecko and
// cached per coin id.
//
// API: GET {base}/simple/price?ids=akash-network,usd-coin&vs_currencies=usd
// &include_last_updated_at=true&precision=full (CoinGecko API v3,
// https://docs.coingecko.com/reference/simple-price "Coin Price by IDs";
// the same call in coingecko-openapi-client SimpleService.getSimplePrice). The response is an
// object keyed by coin id: {"akash-network":{"usd":0.6312,
// "last_updated_at":1791824400}}. An id CoinGecko does not know is simply
// absent ({}), which this package reports as an error naming the id.
//
// Auth (https://docs.coingecko.com/docs/setting-up-your-api-key and the
// Pro quick start on support.coingecko.com): the public (Demo) root
// https://api.coingecko.com/api/v3 works without a key and takes an
// optional demo key in the header x-cg-demo-api-key; the paid root
// https://pro-api.coingecko.com/api/v3 needs a key in x-cg-pro-api-key. The
// key comes from providers.coingecko.api_key or the env var
// COINGECKO_API_KEY; the plan ("demo" or "pro") follows base_url unless
// providers.coingecko.plan says otherwise. Errors come back as
// {"status":{"error_code":429,"error_message":"You've exceeded the Rate
// Limit…"}} (https://docs.coingecko.com/docs/errors-and-rate-limits: 429
// rate limit, 10002 missing key, 10010/10011 key for the other root). The
// Demo plan allows 100 calls a minute; CoinGecko refreshes simple/price
// every 60 s (20 s on Pro), so a 5-minute cache loses little.
//
// Units: the price is USD per whole token (AKT, not uakt), parsed exactly
// from the JSON number's text (0.6312 stays 0.6312, never a float64).
// USDPrice returns it with the time it is as of: CoinGecko's
// last_updated_at, or the fetch time when CoinGecko's is absent or later.
// Callers bound that age; a cached price is refetched after the TTL
// (default 5 min, on the env clock).
package coingecko

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

const (
	// DefaultBaseURL is CoinGecko's public (Demo) API root.
	DefaultBaseURL = "https://api.coingecko.com/api/v3"
	// ProBaseURL is CoinGecko's paid API root.
	ProBaseURL = "https://pro-api.coingecko.com/api/v3"
	// AKT is the CoinGecko id of the Akash Network token.
	AKT = "akash-network"
	// USDC is the CoinGecko id of USD Coin.
	USDC = "usd-coin"
	// DefaultTTL is how long a fetched price is served from the cache.
	DefaultTTL = 5 * time.Minute
)

// Config is the providers.coingecko section of the config.
type Config struct {
	venuehttp.Config `yaml:",inline"`
	// APIKey is optional on the Demo plan and required on Pro; it defaults
	// to the env var COINGECKO_API_KEY.
	APIKey venuehttp.Credential `yaml:"api_key"`
	// Plan is "demo" (header x-cg-demo-api-key) or "pro" (header
	// x-cg-pro-api-key, root ProBaseURL). Default: "pro" when base_url is
	// on pro-api.coingecko.com, else "demo".
	Plan string `yaml:"plan"`
	// IDs are fetched together on every refresh (default akash-network and
	// usd-coin); an id asked for that is not listed is added to the call.
	IDs []string `yaml:"ids"`
	// TTL is how long a price is cached (default 5m).
	TTL time.Duration `yaml:"ttl"`
}

// Source is the CoinGecko price feed. It is safe for concurrent use.
type Source struct {
	c      *venuehttp.Client
	env    venuehttp.Env
	ids    []string
	ttl    time.Duration
	maxAge time.Duration
	// lock is a one-slot semaphore (so that waiting honours ctx) guarding
	// cache; holding it across a fetch makes concurrent misses share one
	// call.
	lock  chan struct{}
	cache map[string]cached
}

type cached struct {
	price   decimal.Decimal
	asOf    time.Time
	fetched time.Time
}

// New builds the feed. Only the Pro plan requires a key.
func New(cfg Config, env venuehttp.Env) (*Source, error) {
	if err := cfg.Validate("coingecko"); err != nil {
		return nil, err
	}
	plan := strings.ToLower(strings.TrimSpace(cfg.Plan))
	switch plan {
	case "":
		plan = "demo"
		if u, err := url.Parse(cfg.BaseURL); err == nil && strings.HasPrefix(u.Hostname(), "pro-api.") {
			plan = "pro"
		}
	case "demo", "pro":
	default:
		return nil, procurebot.Invalidf("providers.coingecko.plan: %q is not demo or pro", cfg.Plan)
	}
	if cfg.TTL < 0 {
		return nil, procurebot.Invalidf("providers.coingecko.ttl: %s must not be negative", cfg.TTL)
	}
	ttl := cfg.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	maxAge := cfg.MaxAge
	if maxAge == 0 {
		maxAge = 15 * time.Minute
	}
	if maxAge < ttl {
		return nil, procurebot.Invalidf("providers.coingecko.max_age: %s is shorter than the cache ttl %s, so a cached price would be stale before it is refreshed", maxAge, ttl)
	}
	ids := cfg.IDs
	if len(ids) == 0 {
		ids = []string{AKT, USDC}
	}
	for i, id := range ids {
		if strings.TrimSpace(id) == "" || strings.Contains(id, ",") {
			return nil, procurebot.Invalidf("providers.coingecko.ids[%d]: %q is not a CoinGecko coin id", i, id)
		}
	}
	key, err := cfg.APIKey.Resolve(env, "providers.coingecko.api_key", "COINGECKO_API_KEY", plan == "pro")
	if err != nil {
		return nil, err
	}
	base := DefaultBaseURL
	header := "x-cg-demo-api-key"
	if plan == "pro" {
		base, header = ProBaseURL, "x-cg-pro-api-key"
	}
	var auth func(*http.Request)
	if key != "" {
		auth = func(r *http.Request) { r.Header.Set(header, key.Reveal()) }
	}
	c, err := venuehttp.New("coingecko", cfg.URL(base), env.Options(cfg.Config, 0.5), auth, key)
	if err != nil {
		return nil, err
	}
	return &Source{
		c: c, env: env, ids: append([]string(nil), ids...), ttl: ttl, maxAge: maxAge,
		lock: make(chan struct{}, 1), cache: map[string]cached{},
	}, nil
}

// Name is "coingecko".
func (s *Source) Name() string { return "coingecko" }

// MaxAge is how old a token price may be before it counts as stale (default
// 15 min; never shorter than the cache TTL).
func (s *Source) MaxAge() time.Duration { return s.maxAge }

// TTL is how long a fetched price is served from the cache.
func (s *Source) TTL() time.Duration { return s.ttl }

// USDPrice returns the USD price of one whole token of the CoinGecko coin
// id ("akash-network") and the time the price is as of. A price fetched
// less than the TTL ago (on the env clock) is served from the cache;
// otherwise every configured id is refetched in one call. An id CoinGecko
// does not return is an error naming it.
func (s *Source) USDPrice(ctx context.Context, id string) (decimal.Decimal, time.Time, error) {
	if strings.TrimSpace(id) == "" || strings.Contains(id, ",") {
		return decimal.Zero, time.Time{}, procurebot.Invalidf("coingecko: %q is not a CoinGecko coin id", id)
	}
	select {
	case s.lock <- struct{}{}:
	case <-ctx.Done():
		return decimal.Zero, time.Time{}, procurebot.Errorf(procurebot.EUNAVAILABLE, "coingecko: waiting for the price of %s: %v", id, ctx.Err())
	}
	defer func() { <-s.lock }()

	now := s.env.Now()
	if e, ok := s.cache[id]; ok && !now.Before(e.fetched) && now.Sub(e.fetched) < s.ttl {
		return e.price, e.asOf, nil
	}
	ids := s.ids
	if !contains(ids, id) {
		ids = append(append([]string(nil), ids...), id)
	}
	req := request(ids)
	body, err := s.c.Do(ctx, req)
	if err != nil {
		return decimal.Zero, time.Time{}, err
	}
	prices, err := parse(s.c, req, body, now)
	if err != nil {
		return decimal.Zero, time.Time{}, err
	}
	for k, p := range prices {
		s.cache[k] = cached{price: p.USD, asOf: p.AsOf, fetched: now}
	}
	p, ok := prices[id]
	if !ok {
		return decimal.Zero, time.Time{}, s.c.Malformed(req, id+".usd", "no USD price for coin id %q (not a CoinGecko id?)", id)
	}
	return p.USD, p.AsOf, nil
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func request(ids []string) venuehttp.Request {
	return venuehttp.Request{Path: "simple/price", Query: url.Values{
		"ids":                     {strings.Join(ids, ",")},
		"vs_currencies":           {"usd"},
		"include_last_updated_at": {"true"},
		"precision":               {"full"},
	}}
}

// Price is one coin's USD price as parsed from simple/price.
type Price struct {
	// USD is the price per whole token, exact from the JSON text.
	USD decimal.Decimal
	// Raw is the number as CoinGecko sent it.
	Raw string
	// AsOf is CoinGecko's last_updated_at, or the fetch time when that is
	// absent or later than it.
	AsOf time.Time
}

type entry struct {
	USD           venuehttp.Number `json:"usd"`
	LastUpdatedAt venuehttp.Number `json:"last_updated_at"`
	// An error object in a 200 body ({"status":{"error_code":…}}).
	ErrorCode    venuehttp.Number `json:"error_code"`
	ErrorMessage string           `json:"error_message"`
}

// parse reads a simple/price body fetched at now: one Price per coin id
// that has a USD price. A coin id with an empty object (CoinGecko's answer
// for a coin it has no USD price for) is left out; a price that is not a
// positive number is an error naming the field.
func parse(c *venuehttp.Client, req venuehttp.Request, body []byte, now time.Time) (map[string]Price, error) {
	var raw map[string]json.RawMessage
	if err := c.Decode(req, body, &raw); err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, c.Malformed(req, "(body)", "not an object keyed by coin id")
	}
	// Each coin's object is decoded on its own so that an error names the
	// coin (encoding/json does not put map keys in its error paths).
	r := make(map[string]entry, len(raw))
	for id, b := range raw {
		var e entry
		if err := json.Unmarshal(b, &e); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				field := id
				if te.Field != "" {
					field += "." + te.Field
				}
				return nil, c.Malformed(req, field, "%s is not %s", te.Value, te.Type)
			}
			return nil, c.Malformed(req, id, "%v", err)
		}
		r[id] = e
	}
	if st, ok := r["status"]; ok && st.ErrorCode.Set() {
		return nil, c.Malformed(req, "status.error_code", "%s: %s", st.ErrorCode.Raw, st.ErrorMessage)
	}
	out := make(map[string]Price, len(r))
	for id, e := range r {
		if !e.USD.Set() {
			continue
		}
		if e.USD.Value.Sign() <= 0 {
			return nil, c.Malformed(req, id+".usd", "%s is not a positive price", e.USD.Raw)
		}
		asOf := now
		if e.LastUpdatedAt.Set() {
			if !e.LastUpdatedAt.Value.IsInteger() || e.LastUpdatedAt.Value.Sign() <= 0 {
				return nil, c.Malformed(req, id+".last_updated_at", "%s is not a unix time", e.LastUpdatedAt.Raw)
			}
			if t := time.Unix(e.LastUpdatedAt.Value.IntPart(), 0).UTC(); t.Before(now) {
				asOf = t
			}
		}
		out[id] = Price{USD: e.USD.Value, Raw: e.USD.Raw, AsOf: asOf}
	}
	return out, nil
}

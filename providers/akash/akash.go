// Package akash reads GPU prices on the Akash Network two ways: the
// Console's aggregated price per GPU model, and the live provider bids on
// one of your own deployment orders.
//
// # Console aggregates (no auth)
//
// GET {base}/v1/gpu-prices on https://console-api.akash.network (route and
// zod schema in akash-network/console apps/api/src/gpu/routes/gpu.router.ts
// and apps/api/src/gpu/http-schemas/gpu.schema.ts; computed by
// apps/api/src/gpu/services/gpu-price/gpu-price.service.ts, memoized 15
// min). The response is {availability{total, available}, models[{vendor,
// model, ram, interface, availability{total, available},
// providerAvailability{total, available}, price{currency, min, max, avg,
// weightedAverage, med} | null}]}. Prices are USD per GPU-hour, from each
// provider's best on-chain 1-GPU bid (uakt bids converted at that day's AKT
// price, uact at 1 USD) over the last 14 to 31 days; avg, weightedAverage
// and med are rounded to the cent. A model with price null has no bids and
// yields no quote; a model whose name maps to no GPU class (GPUClassOf) is
// skipped. One quote per model: 1 GPU, billed usd/gpu_hour with factor 1,
// the statistic chosen by providers.akash.price (min | med | avg |
// weighted_average, default med), Available = availability.available,
// Provider "akash", Cloud "console", Ref "vendor/model/ram/interface"
// ("nvidia/h100/80Gi/SXM5"). Worked example: med 1.52 is 1.52 USD per
// GPU-hour.
//
// # Live bids on a deployment order (no auth; needs a deployment)
//
// GET {lcd_url}/akash/market/{v1beta5|v1beta4}/bids/list?filters.owner=
// &filters.dseq=&filters.state=open&pagination.limit=, following
// pagination.next_key (sent back as pagination.key) until it is null. The
// chain's REST (gRPC-gateway) answers {bids[{bid{…}, escrow_account{…}}],
// pagination{next_key, total}}. Mainnet since the v1 upgrade serves
// market v1beta5, where the bid's key is bid.id{owner, dseq, gseq, oseq,
// provider, bseq} (console packages/http-sdk/src/bid/bid-http.service.ts
// now calls v1beta5; GetBlock's Akash REST reference shows the same
// shape); older nodes serve v1beta4, where it is bid.bid_id{owner, dseq,
// gseq, oseq, provider} (the same file at earlier commits, and
// apps/api/src/types/rest). Both decode here; providers.akash.market_version
// picks the path (default v1beta5). Each bid carries state, price{denom,
// amount} and resources_offer[{resources{gpu{units{val}, attributes[{key:
// "vendor/nvidia/model/h100", value: "true"}]}, …}, count}].
//
// Units: amount is a decimal string in micro-denom per block: uakt (AKT
// ÷ 1e6), uact (ACT compute credit, pegged to about 1 USD, since Mainnet
// 17) or USDC over IBC
// (ibc/170C677610AC31DF0904FFE09CD3B5C657492170E7E52372E48756B71E56F2F1).
// With blocks per hour = 3600 ÷ block_time_seconds (default 6.174 s, the
// console's averageBlockTime in apps/api/src/utils/constants.ts, so about
// 583.09 blocks an hour):
//
//	USD/hour         = amount × blocksPerHour ÷ 1e6 × tokenUSD
//	USD per GPU-hour = USD/hour ÷ GPUs
//
// where tokenUSD is the AKT price from a USDPricer (CoinGecko id
// "akash-network") for uakt and 1 for uact and USDC, and GPUs is the sum of
// gpu.units × count over resources_offer (or gpus_per_order when the offer
// has none). The factor 3600 × tokenUSD ÷ (block_time × 1e6 × GPUs) does not
// terminate in decimal, so it is rounded to 20 places and the quote's
// per-GPU price is exactly amount × factor. Worked example: a 1-GPU bid of
// 1.3788 uakt/block at AKT 0.6312 USD is 1.3788 × 583.0904 ÷ 1e6 = 0.000804
// AKT an hour, 0.00050746 USD per GPU-hour; an 8 × H100 bid of 23324
// USDC micro-units a block is 13.60 USD an hour, 1.70 per GPU-hour. The AKT
// price must be no older than max_token_price_age (default 15 min): a stale
// price is an error, not a quietly old conversion. Bid quotes are billed
// denom/block with Raw the amount verbatim, Cloud the provider's address
// (lease from that provider to pay that price), Available 1 and Ref the bid
// id "owner/dseq/gseq/oseq/provider[/bseq]" (what MsgCreateLease needs).
package akash

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

const (
	// DefaultConsoleURL is the Akash Console API root.
	DefaultConsoleURL = "https://console-api.akash.network"
	// DenomAKT is micro-AKT.
	DenomAKT = "uakt"
	// DenomACT is micro-ACT, the compute credit pegged to about 1 USD.
	DenomACT = "uact"
	// DenomUSDC is USDC bridged over IBC on Akash mainnet (micro-USDC).
	DenomUSDC = "ibc/170C677610AC31DF0904FFE09CD3B5C657492170E7E52372E48756B71E56F2F1"
	// AKTPriceID is the CoinGecko id of AKT.
	AKTPriceID = "akash-network"
	// DefaultBlockTime is the console's average block time in seconds.
	DefaultBlockTime = "6.174"
	// maxPages bounds bid paging against a node that never ends it.
	maxPages = 1000
	// factorPlaces is the rounding of the non-terminating bid factor.
	factorPlaces = 20
)

// USDPricer gives the USD price of one whole token and the time that price
// is as of. coingecko.Source implements it.
type USDPricer interface {
	USDPrice(ctx context.Context, id string) (decimal.Decimal, time.Time, error)
}

// Config is the providers.akash section of the config. base_url (in the
// embedded venuehttp.Config) is the Console API root; the bid fields are
// optional and all-or-nothing.
type Config struct {
	venuehttp.Config `yaml:",inline"`
	// Price is the Console statistic quoted: min, med (default), avg or
	// weighted_average.
	Price string `yaml:"price"`
	// SkipConsole leaves out the Console aggregates (bids only).
	SkipConsole bool `yaml:"skip_console"`

	// LCDURL is a chain REST endpoint ("https://api.akashnet.net"); with
	// Owner and DSeq it turns on the live bids of that deployment.
	LCDURL string `yaml:"lcd_url"`
	// Owner is the deployment owner's address (akash1…).
	Owner string `yaml:"owner"`
	// DSeq is the deployment sequence number.
	DSeq string `yaml:"dseq"`
	// MarketVersion is the REST path's market API version, v1beta5
	// (default, mainnet since v1) or v1beta4.
	MarketVersion string `yaml:"market_version"`
	// BlockTimeSeconds is the average block time (default 6.174).
	BlockTimeSeconds decimal.Decimal `yaml:"block_time_seconds"`
	// GPUsPerOrder is the GPU count of a bid whose resources_offer lists
	// no GPU units (0: such a bid is an error).
	GPUsPerOrder int `yaml:"gpus_per_order"`
	// GPU is the GPU class of a bid whose offer names no GPU model (the SDL
	// asked for any model).
	GPU string `yaml:"gpu"`
	// AKTPriceID is the price feed's id of AKT (default akash-network).
	AKTPriceID string `yaml:"akt_price_id"`
	// MaxTokenPriceAge bounds the age of the AKT price used for uakt bids
	// (default 15m).
	MaxTokenPriceAge time.Duration `yaml:"max_token_price_age"`
	// PageLimit is pagination.limit for the bid list (default 100).
	PageLimit int `yaml:"page_limit"`
}

// Source is the Akash adapter.
type Source struct {
	console *venuehttp.Client
	lcd     *venuehttp.Client // nil without bids
	env     venuehttp.Env
	prices  USDPricer
	maxAge  time.Duration

	stat        string
	skipConsole bool

	owner, dseq, version string
	blockTime            decimal.Decimal
	gpusPerOrder         int
	gpu                  string
	aktID                string
	maxTokenAge          time.Duration
	pageLimit            int
}

var (
	addrRE  = regexp.MustCompile(`^akash1[02-9ac-hj-np-z]{38,58}$`)
	dseqRE  = regexp.MustCompile(`^[0-9]{1,20}$`)
	statKey = map[string]string{"": "med", "min": "min", "med": "med", "avg": "avg", "weighted_average": "weighted_average"}
)

// New builds the adapter. prices converts uakt bids to USD; it is required
// when the bids are configured and unused otherwise.
func New(cfg Config, env venuehttp.Env, prices USDPricer) (*Source, error) {
	if err := cfg.Validate("akash"); err != nil {
		return nil, err
	}
	stat, ok := statKey[cfg.Price]
	if !ok {
		return nil, procurebot.Invalidf("providers.akash.price: %q is not min, med, avg or weighted_average", cfg.Price)
	}
	s := &Source{env: env, prices: prices, stat: stat, skipConsole: cfg.SkipConsole, maxAge: cfg.MaxAge}
	if s.maxAge == 0 {
		s.maxAge = 15 * time.Minute
	}
	bids := cfg.LCDURL != "" || cfg.Owner != "" || cfg.DSeq != ""
	if !bids && cfg.SkipConsole {
		return nil, procurebot.Invalidf("providers.akash.skip_console: with no lcd_url, owner and dseq there is nothing left to quote")
	}
	if !s.skipConsole {
		c, err := venuehttp.New("akash", cfg.URL(DefaultConsoleURL), env.Options(cfg.Config, 1), nil)
		if err != nil {
			return nil, err
		}
		s.console = c
	}
	if !bids {
		return s, nil
	}
	switch {
	case cfg.LCDURL == "":
		return nil, procurebot.Invalidf("providers.akash.lcd_url: required with owner and dseq (a chain REST endpoint)")
	case !addrRE.MatchString(cfg.Owner):
		return nil, procurebot.Invalidf("providers.akash.owner: %q is not an akash1… address", cfg.Owner)
	case !dseqRE.MatchString(cfg.DSeq):
		return nil, procurebot.Invalidf("providers.akash.dseq: %q is not a deployment sequence number", cfg.DSeq)
	case cfg.MarketVersion != "" && cfg.MarketVersion != "v1beta4" && cfg.MarketVersion != "v1beta5":
		return nil, procurebot.Invalidf("providers.akash.market_version: %q is not v1beta4 or v1beta5", cfg.MarketVersion)
	case cfg.BlockTimeSeconds.Sign() < 0:
		return nil, procurebot.Invalidf("providers.akash.block_time_seconds: %s must be positive", cfg.BlockTimeSeconds)
	case cfg.GPUsPerOrder < 0:
		return nil, procurebot.Invalidf("providers.akash.gpus_per_order: %d must not be negative", cfg.GPUsPerOrder)
	case cfg.MaxTokenPriceAge < 0:
		return nil, procurebot.Invalidf("providers.akash.max_token_price_age: %s must not be negative", cfg.MaxTokenPriceAge)
	case cfg.PageLimit < 0:
		return nil, procurebot.Invalidf("providers.akash.page_limit: %d must not be negative", cfg.PageLimit)
	case prices == nil:
		return nil, procurebot.Invalidf("providers.akash: the bids of lcd_url need a token price feed (coingecko) to convert uakt")
	}
	if cfg.GPU != "" {
		s.gpu = procurebot.GPUClassOf(cfg.GPU)
		if s.gpu == "" {
			return nil, procurebot.Invalidf("providers.akash.gpu: %q is not a known GPU class", cfg.GPU)
		}
	}
	lcd, err := venuehttp.New("akash", cfg.LCDURL, env.Options(cfg.Config, 2), nil)
	if err != nil {
		return nil, procurebot.Invalidf("providers.akash.lcd_url: %q is not an absolute URL", cfg.LCDURL)
	}
	s.lcd, s.owner, s.dseq = lcd, cfg.Owner, cfg.DSeq
	s.version = cfg.MarketVersion
	if s.version == "" {
		s.version = "v1beta5"
	}
	s.blockTime = cfg.BlockTimeSeconds
	if s.blockTime.IsZero() {
		s.blockTime = decimal.RequireFromString(DefaultBlockTime)
	}
	s.gpusPerOrder = cfg.GPUsPerOrder
	s.aktID = cfg.AKTPriceID
	if s.aktID == "" {
		s.aktID = AKTPriceID
	}
	s.maxTokenAge = cfg.MaxTokenPriceAge
	if s.maxTokenAge == 0 {
		s.maxTokenAge = 15 * time.Minute
	}
	s.pageLimit = cfg.PageLimit
	if s.pageLimit == 0 {
		s.pageLimit = 100
	}
	return s, nil
}

// Name is "akash".
func (s *Source) Name() string { return "akash" }

// MaxAge is the configured staleness bound (default 15 min).
func (s *Source) MaxAge() time.Duration { return s.maxAge }

// GPUQuotes returns the Console aggregates and, when configured, the open
// bids on the deployment, sorted by per-GPU price. Either failing fails the
// whole book.
func (s *Source) GPUQuotes(ctx context.Context) ([]procurebot.Quote, error) {
	now := s.env.Now()
	var out []procurebot.Quote
	if !s.skipConsole {
		req := venuehttp.Request{Path: "v1/gpu-prices"}
		body, err := s.console.Do(ctx, req)
		if err != nil {
			return nil, err
		}
		qs, skipped, err := parseConsole(s.console, req, body, now, s.stat)
		if err != nil {
			return nil, err
		}
		if len(skipped) > 0 {
			s.env.Logger.Debug().Str("venue", "akash").Strs("models", skipped).Msg("console models with no GPU class skipped")
		}
		out = append(out, qs...)
	}
	if s.lcd != nil {
		qs, err := s.bidQuotes(ctx, now)
		if err != nil {
			return nil, err
		}
		out = append(out, qs...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].PerGPU.LessThan(out[j].PerGPU) })
	return out, nil
}

type consoleResponse struct {
	Models *[]consoleModel `json:"models"`
}

type consoleModel struct {
	Vendor       string `json:"vendor"`
	Model        string `json:"model"`
	RAM          string `json:"ram"`
	Interface    string `json:"interface"`
	Availability *struct {
		Total     int `json:"total"`
		Available int `json:"available"`
	} `json:"availability"`
	Price *struct {
		Currency        string           `json:"currency"`
		Min             venuehttp.Number `json:"min"`
		Max             venuehttp.Number `json:"max"`
		Avg             venuehttp.Number `json:"avg"`
		WeightedAverage venuehttp.Number `json:"weightedAverage"`
		Med             venuehttp.Number `json:"med"`
	} `json:"price"`
}

// parseConsole turns a /v1/gpu-prices body into one quote per priced model
// with a GPU class, quoting the statistic stat; skipped lists the priced
// models with no GPU class.
func parseConsole(c *venuehttp.Client, req venuehttp.Request, body []byte, now time.Time, stat string) (qs []procurebot.Quote, skipped []string, err error) {
	var r consoleResponse
	if err := c.Decode(req, body, &r); err != nil {
		return nil, nil, err
	}
	if r.Models == nil {
		return nil, nil, c.Malformed(req, "models", "missing")
	}
	for i, m := range *r.Models {
		field := fmt.Sprintf("models[%d]", i)
		if m.Price == nil {
			continue // no bids for this model in the window
		}
		if m.Model == "" {
			return nil, nil, c.Malformed(req, field+".model", "missing")
		}
		if m.Price.Currency != "USD" {
			return nil, nil, c.Malformed(req, field+".price.currency", "%q is not USD", m.Price.Currency)
		}
		var p venuehttp.Number
		jsonName := stat
		switch stat {
		case "min":
			p = m.Price.Min
		case "avg":
			p = m.Price.Avg
		case "weighted_average":
			p, jsonName = m.Price.WeightedAverage, "weightedAverage"
		default:
			p = m.Price.Med
		}
		if !p.Set() {
			return nil, nil, c.Malformed(req, field+".price."+jsonName, "missing")
		}
		if p.Value.Sign() <= 0 {
			return nil, nil, c.Malformed(req, field+".price."+jsonName, "%s is not a positive price", p.Raw)
		}
		if m.Availability == nil {
			return nil, nil, c.Malformed(req, field+".availability", "missing")
		}
		if m.Availability.Available < 0 {
			return nil, nil, c.Malformed(req, field+".availability.available", "%d is negative", m.Availability.Available)
		}
		ref := m.Vendor + "/" + m.Model + "/" + m.RAM + "/" + m.Interface
		class := procurebot.GPUClassOf(m.Model)
		if class == "" {
			skipped = append(skipped, ref)
			continue
		}
		q := procurebot.Quote{
			Offer: procurebot.Offer{
				Provider: "akash", GPU: class, GPUCount: 1,
				USDPerHour: p.Value, USDPerGPUHour: p.Value, HasPerGPU: true,
				Spot: procurebot.SpotFalse, Instance: ref,
			},
			Venue: "akash", FetchedAt: now,
			Billing: procurebot.Billing{
				Unit: procurebot.BillUSDPerGPUHour, Raw: p.Raw, Denom: "USD",
				Amount: p.Value, ToUSDPerGPUHour: procurebot.One,
			},
			Cloud: "console", Available: m.Availability.Available, Ref: ref,
		}
		q.PerGPU = q.PerGPUPrice()
		qs = append(qs, q)
	}
	return qs, skipped, nil
}

type bidPage struct {
	Bids       *[]bidEntry `json:"bids"`
	Pagination *struct {
		NextKey *string `json:"next_key"`
	} `json:"pagination"`
}

type bidEntry struct {
	Bid *struct {
		BidID *bidID `json:"bid_id"` // v1beta4
		ID    *bidID `json:"id"`     // v1beta5
		State string `json:"state"`
		Price struct {
			Denom  string           `json:"denom"`
			Amount venuehttp.Number `json:"amount"`
		} `json:"price"`
		ResourcesOffer []struct {
			Resources struct {
				GPU *struct {
					Units struct {
						Val venuehttp.Number `json:"val"`
					} `json:"units"`
					Attributes []struct {
						Key   string `json:"key"`
						Value string `json:"value"`
					} `json:"attributes"`
				} `json:"gpu"`
			} `json:"resources"`
			Count int `json:"count"`
		} `json:"resources_offer"`
	} `json:"bid"`
}

type bidID struct {
	Owner    string `json:"owner"`
	DSeq     string `json:"dseq"`
	GSeq     int    `json:"gseq"`
	OSeq     int    `json:"oseq"`
	Provider string `json:"provider"`
	BSeq     *int   `json:"bseq"`
}

// bidQuotes fetches every page of open bids and converts them.
func (s *Source) bidQuotes(ctx context.Context, now time.Time) ([]procurebot.Quote, error) {
	conv := &converter{blockTime: s.blockTime, gpusPerOrder: s.gpusPerOrder, gpu: s.gpu, owner: s.owner, dseq: s.dseq}
	conv.aktUSD = func() (decimal.Decimal, error) { return s.aktPrice(ctx, now) }
	var out []procurebot.Quote
	key := ""
	seen := map[string]bool{}
	for page := 0; ; page++ {
		q := url.Values{
			"filters.owner":    {s.owner},
			"filters.dseq":     {s.dseq},
			"filters.state":    {"open"},
			"pagination.limit": {strconv.Itoa(s.pageLimit)},
		}
		if key != "" {
			q.Set("pagination.key", key)
		}
		req := venuehttp.Request{Path: "akash/market/" + s.version + "/bids/list", Query: q}
		body, err := s.lcd.Do(ctx, req)
		if err != nil {
			return nil, err
		}
		qs, next, err := parseBids(s.lcd, req, body, now, conv)
		if err != nil {
			return nil, err
		}
		out = append(out, qs...)
		if next == "" {
			return out, nil
		}
		if seen[next] {
			return nil, s.lcd.Malformed(req, "pagination.next_key", "%q was already followed; the node is paging in a loop", next)
		}
		if page+1 >= maxPages {
			return nil, s.lcd.Malformed(req, "pagination.next_key", "still set after %d pages", maxPages)
		}
		seen[next] = true
		key = next
	}
}

// aktPrice is the AKT/USD price, refused when older than the bound.
func (s *Source) aktPrice(ctx context.Context, now time.Time) (decimal.Decimal, error) {
	p, asOf, err := s.prices.USDPrice(ctx, s.aktID)
	if err != nil {
		return decimal.Zero, &procurebot.Error{Code: procurebot.ErrorCode(err), Message: fmt.Sprintf("akash: AKT/USD price (%s) for uakt bids", s.aktID), Err: err}
	}
	if p.Sign() <= 0 {
		return decimal.Zero, procurebot.Errorf(procurebot.EINVALID, "akash: AKT/USD price (%s) %s is not positive", s.aktID, p)
	}
	if age := now.Sub(asOf); asOf.IsZero() || age > s.maxTokenAge {
		return decimal.Zero, procurebot.Errorf(procurebot.EUNAVAILABLE, "akash: AKT/USD price (%s) is %s old (as of %s), over providers.akash.max_token_price_age %s: not converting uakt bids with a stale price",
			s.aktID, age.Round(time.Second), asOf.UTC().Format(time.RFC3339), s.maxTokenAge)
	}
	return p, nil
}

// converter holds what turns a bid into a quote.
type converter struct {
	blockTime    decimal.Decimal
	gpusPerOrder int
	gpu          string
	owner, dseq  string
	// aktUSD is called at most once, for the first uakt bid.
	aktUSD  func() (decimal.Decimal, error)
	akt     decimal.Decimal
	aktDone bool
}

var (
	secondsPerHour = decimal.NewFromInt(3600)
	micro          = decimal.NewFromInt(1_000_000)
)

// Factor converts one micro-denom per block to USD per GPU-hour:
// 3600 × tokenUSD ÷ (blockTime × 1e6 × gpus), rounded to 20 places.
func Factor(blockTime, tokenUSD decimal.Decimal, gpus int) decimal.Decimal {
	return secondsPerHour.Mul(tokenUSD).DivRound(blockTime.Mul(micro).Mul(decimal.NewFromInt(int64(gpus))), factorPlaces)
}

func (cv *converter) tokenUSD(denom string) (decimal.Decimal, bool, error) {
	switch denom {
	case DenomACT, DenomUSDC:
		return procurebot.One, true, nil
	case DenomAKT:
		if !cv.aktDone {
			p, err := cv.aktUSD()
			if err != nil {
				return decimal.Zero, true, err
			}
			cv.akt, cv.aktDone = p, true
		}
		return cv.akt, true, nil
	}
	return decimal.Zero, false, nil
}

var modelRE = regexp.MustCompile(`(?:^|/)model/([^/]+)`)

// parseBids converts one page of the bid list; next is the page's
// pagination.next_key ("" on the last page).
func parseBids(c *venuehttp.Client, req venuehttp.Request, body []byte, now time.Time, cv *converter) (qs []procurebot.Quote, next string, err error) {
	var p bidPage
	if err := c.Decode(req, body, &p); err != nil {
		return nil, "", err
	}
	if p.Bids == nil {
		return nil, "", c.Malformed(req, "bids", "missing")
	}
	if p.Pagination != nil && p.Pagination.NextKey != nil {
		next = *p.Pagination.NextKey
	}
	for i, e := range *p.Bids {
		field := fmt.Sprintf("bids[%d].bid", i)
		b := e.Bid
		if b == nil {
			return nil, "", c.Malformed(req, field, "missing")
		}
		if b.State != "open" {
			continue // the filter should have left it out
		}
		id := b.ID
		idField := field + ".id"
		if id == nil {
			id, idField = b.BidID, field+".bid_id"
		}
		if id == nil {
			return nil, "", c.Malformed(req, field+".id", "missing (neither id nor bid_id)")
		}
		if id.Provider == "" {
			return nil, "", c.Malformed(req, idField+".provider", "missing")
		}
		if id.Owner != cv.owner || id.DSeq != cv.dseq {
			return nil, "", c.Malformed(req, idField, "bid for %s/%s, not the deployment %s/%s asked for", id.Owner, id.DSeq, cv.owner, cv.dseq)
		}
		amt := b.Price.Amount
		if !amt.Set() {
			return nil, "", c.Malformed(req, field+".price.amount", "missing")
		}
		if amt.Value.Sign() <= 0 {
			return nil, "", c.Malformed(req, field+".price.amount", "%s is not a positive price", amt.Raw)
		}
		tok, known, err := cv.tokenUSD(b.Price.Denom)
		if err != nil {
			return nil, "", err
		}
		if !known {
			return nil, "", c.Malformed(req, field+".price.denom", "%q is not uakt, uact or USDC (%s)", b.Price.Denom, DenomUSDC)
		}
		gpus, class := 0, ""
		for j, ro := range b.ResourcesOffer {
			g := ro.Resources.GPU
			if g == nil || !g.Units.Val.Set() || g.Units.Val.Value.IsZero() {
				continue
			}
			rf := fmt.Sprintf("%s.resources_offer[%d]", field, j)
			if !g.Units.Val.Value.IsInteger() || g.Units.Val.Value.Sign() < 0 || g.Units.Val.Value.GreaterThan(decimal.NewFromInt(1024)) {
				return nil, "", c.Malformed(req, rf+".resources.gpu.units.val", "%s is not a GPU count", g.Units.Val.Raw)
			}
			if ro.Count <= 0 {
				return nil, "", c.Malformed(req, rf+".count", "%d is not a positive count", ro.Count)
			}
			gpus += int(g.Units.Val.Value.IntPart()) * ro.Count
			for _, a := range g.Attributes {
				m := modelRE.FindStringSubmatch(a.Key)
				if m == nil || a.Value != "true" {
					continue
				}
				cl := procurebot.GPUClassOf(m[1])
				if cl == "" {
					continue
				}
				if class != "" && class != cl {
					return nil, "", c.Malformed(req, rf+".resources.gpu.attributes", "GPU models %s and %s in one bid", class, cl)
				}
				class = cl
			}
		}
		if gpus == 0 {
			gpus = cv.gpusPerOrder
		}
		if gpus == 0 {
			return nil, "", c.Malformed(req, field+".resources_offer", "no GPU units, and providers.akash.gpus_per_order is not set")
		}
		if class == "" {
			class = cv.gpu
		}
		if class == "" {
			return nil, "", c.Malformed(req, field+".resources_offer", "no GPU model in the offer's gpu attributes, and providers.akash.gpu is not set")
		}
		factor := Factor(cv.blockTime, tok, gpus)
		perGPU := amt.Value.Mul(factor)
		ref := fmt.Sprintf("%s/%s/%d/%d/%s", id.Owner, id.DSeq, id.GSeq, id.OSeq, id.Provider)
		if id.BSeq != nil {
			ref += "/" + strconv.Itoa(*id.BSeq)
		}
		q := procurebot.Quote{
			Offer: procurebot.Offer{
				Provider: "akash", GPU: class, GPUCount: gpus,
				USDPerHour: perGPU.Mul(decimal.NewFromInt(int64(gpus))), USDPerGPUHour: perGPU, HasPerGPU: true,
				Spot: procurebot.SpotFalse, Instance: fmt.Sprintf("%s/%d/%d", id.DSeq, id.GSeq, id.OSeq),
			},
			Venue: "akash", FetchedAt: now,
			Billing: procurebot.Billing{
				Unit: procurebot.BillDenomPerBlock, Raw: amt.Raw, Denom: b.Price.Denom,
				Amount: amt.Value, ToUSDPerGPUHour: factor,
			},
			Cloud: id.Provider, Available: 1, Ref: ref,
		}
		q.PerGPU = q.PerGPUPrice()
		qs = append(qs, q)
	}
	return qs, next, nil
}

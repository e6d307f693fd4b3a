// Package config reads procurebot's config file: strict YAML where an
// unknown key is an error naming its line (caddy's rule), secrets only by
// reference (an env var or a file), and defaults that make an empty file
// valid. The `quotes` and `record` commands read its providers and feed
// sections; `run` reads the rest.
//
//	# procurebot.yaml
//	providers:
//	  lambda:
//	    api_key: {env: LAMBDA_API_KEY}
//	  runpod: {}                          # public prices, no key needed
//	  entsoe:
//	    security_token: {file: /run/secrets/entsoe}
//	    zone: BE
//	feed:
//	  guard: {low: 0.2, high: 5}
package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/approvals/slack"
	"github.com/procurebot/procurebot/policy"
	"github.com/procurebot/procurebot/providers/feed"
	"github.com/procurebot/procurebot/providers/venues"
	"github.com/procurebot/procurebot/scenario"
)

// Config is the whole config file.
type Config struct {
	// Providers names the live venues and their credentials.
	Providers venues.Config `yaml:"providers"`
	// Feed tunes polling and the outlier guard.
	Feed Feed `yaml:"feed"`
	// Policy is the hard spend policy of `run` (caps, allowlists, price
	// limits, wallet reserve, approval thresholds).
	Policy *policy.Config `yaml:"policy"`
	// Approvals configures where approval requests go.
	Approvals Approvals `yaml:"approvals"`
	// Fleet is what `run` plans for in live mode: the scenario schema of
	// DESIGN §6 (step, sites, jobs, inference, market, budget) without the
	// time window, which Live sets. Decoded strictly by the scenario
	// package (see Scenario).
	Fleet yaml.Node `yaml:"fleet"`
	// Live sets live mode's window and how orders are handled.
	Live Live `yaml:"live"`
	// Store is where the bot keeps its state (default: bbolt in the data
	// directory).
	Store Store `yaml:"store"`
	// Chain is the chain the stablecoin lives on (live mode).
	Chain Chain `yaml:"chain"`
	// Wallet is the paying account (live mode).
	Wallet Wallet `yaml:"wallet"`
}

// Chain is the chain section.
type Chain struct {
	// RPC is the node's JSON-RPC URL (http, https, ws, wss or an IPC path).
	RPC string `yaml:"rpc"`
	// Token is the stablecoin's ERC-20 address.
	Token string `yaml:"token"`
}

// Wallet is the wallet section.
type Wallet struct {
	// Keystore is the encrypted keystore directory (default
	// <data-dir>/keystore); its password comes from
	// PROCUREBOT_WALLET_PASSWORD or PROCUREBOT_WALLET_PASSWORD_FILE.
	Keystore string `yaml:"keystore"`
	// Account is the paying address (default: the keystore's only account).
	Account string `yaml:"account"`
}

// Live is the live section.
type Live struct {
	// Start is the first step (default: the next step boundary after the
	// bot starts); End the end of the window (default: the latest job
	// deadline).
	Start time.Time `yaml:"start"`
	End   time.Time `yaml:"end"`
	// Orders says what happens to the actions policy admits: "shadow"
	// (the default and, for now, the only choice): planned, checked by
	// policy and approvals, recorded in the ledger as shadow entries —
	// no order placed at a venue and nothing paid.
	Orders string `yaml:"orders"`
}

// Store is the store section.
type Store struct {
	// Redis, when set, keeps the state in Redis (several replicas can share
	// it) instead of the bbolt file.
	Redis *RedisStore `yaml:"redis"`
}

// RedisStore names a Redis server.
type RedisStore struct {
	// URL is redis://[user:password@]host:port/db.
	URL string `yaml:"url"`
	// Prefix namespaces the keys (default "procurebot:").
	Prefix string `yaml:"prefix"`
}

// Scenario builds live mode's scenario from the fleet section and the
// window [start, end); name names the config file in errors.
func (c *Config) Scenario(name string, start, end time.Time) (*procurebot.Scenario, error) {
	if c.Fleet.Kind == 0 {
		return nil, procurebot.Invalidf("%s: live mode needs a fleet section (sites, jobs, inference, market: the scenario schema without start and end)", name)
	}
	if c.Fleet.Kind != yaml.MappingNode {
		return nil, procurebot.Invalidf("%s: line %d: fleet must be a mapping", name, c.Fleet.Line)
	}
	fleet := c.Fleet
	fleet.Content = nil
	for i := 0; i+1 < len(c.Fleet.Content); i += 2 {
		k := c.Fleet.Content[i]
		if k.Value == "start" || k.Value == "end" {
			return nil, procurebot.Invalidf("%s: line %d: fleet.%s: the window is set by live.start and live.end", name, k.Line, k.Value)
		}
		fleet.Content = append(fleet.Content, c.Fleet.Content[i], c.Fleet.Content[i+1])
	}
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }
	fleet.Content = append(fleet.Content, str("start"), str(start.UTC().Format(time.RFC3339)), str("end"), str(end.UTC().Format(time.RFC3339)))
	b, err := yaml.Marshal(&fleet)
	if err != nil {
		return nil, err
	}
	return scenario.Parse(name+" (fleet, window "+start.UTC().Format(time.RFC3339)+" → "+end.UTC().Format(time.RFC3339)+")", b)
}

// Approvals is the approvals section.
type Approvals struct {
	// Slack posts requests with Approve / Reject buttons.
	Slack *slack.Config `yaml:"slack"`
}

// Feed is the feed section.
type Feed struct {
	Guard feed.GuardConfig `yaml:"guard"`
}

// Load reads and validates the config file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, procurebot.Invalidf("--config: %v", err)
	}
	return Parse(path, b)
}

// Parse decodes data strictly; name is the file name used in errors
// ("procurebot.yaml:7: field foo not found in type lambda.Config").
func Parse(name string, data []byte) (*Config, error) {
	if err := nullVenues(name, data); err != nil {
		return nil, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, procurebot.Invalidf("%s: %s", name, yamlMessage(err))
	}
	if err := c.Validate(); err != nil {
		return nil, procurebot.Invalidf("%s: %v", name, err)
	}
	return &c, nil
}

// nullVenues refuses a venue key with no value ("runpod:"): YAML reads it
// as null, which would silently leave the venue out.
func nullVenues(name string, data []byte) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil // the strict decode reports it
	}
	top := root.Content[0].Content
	for i := 0; i+1 < len(top); i += 2 {
		if top[i].Value != "providers" || top[i+1].Kind != yaml.MappingNode {
			continue
		}
		ps := top[i+1].Content
		for j := 0; j+1 < len(ps); j += 2 {
			if v := ps[j+1]; v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
				return procurebot.Invalidf("%s: line %d: providers.%s has no settings; write `%s: {}` to use it with its defaults", name, ps[j].Line, ps[j].Value, ps[j].Value)
			}
		}
	}
	return nil
}

// Validate checks the sections that can be checked without building them.
func (c *Config) Validate() error {
	if err := c.Feed.Guard.Validate(); err != nil {
		return err
	}
	if c.Policy != nil {
		if err := c.Policy.Validate(); err != nil {
			return err
		}
	}
	switch c.Live.Orders {
	case "", "shadow":
	default:
		return procurebot.Invalidf("live.orders: %q: only shadow is available (orders at venues are not placed yet)", c.Live.Orders)
	}
	if !c.Live.Start.IsZero() && !c.Live.End.IsZero() && !c.Live.End.After(c.Live.Start) {
		return procurebot.Invalidf("live.end %s must be after live.start %s", c.Live.End.Format(time.RFC3339), c.Live.Start.Format(time.RFC3339))
	}
	if c.Store.Redis != nil && c.Store.Redis.URL == "" {
		return procurebot.Invalidf("store.redis.url is required")
	}
	if (c.Chain.RPC == "") != (c.Chain.Token == "") {
		return procurebot.Invalidf("chain: rpc and token go together (the node and the stablecoin's address)")
	}
	for key, v := range map[string]string{"chain.token": c.Chain.Token, "wallet.account": c.Wallet.Account} {
		if v != "" && !hexAddress.MatchString(v) {
			return procurebot.Invalidf("%s: %q is not an address (0x and 40 hex digits)", key, v)
		}
	}
	return nil
}

var hexAddress = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)

// yamlMessage turns yaml.v3's "yaml: unmarshal errors:\n  line 3: field x
// not found in type lambda.Config" into "line 3: unknown key x in
// lambda.Config" lines.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			m = strings.Replace(m, "field ", "unknown key ", 1)
			m = strings.Replace(m, " not found in type ", " in ", 1)
			msgs[i] = m
		}
		return strings.Join(msgs, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

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
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/approvals/slack"
	"github.com/procurebot/procurebot/policy"
	"github.com/procurebot/procurebot/providers/feed"
	"github.com/procurebot/procurebot/providers/venues"
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
	return nil
}

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

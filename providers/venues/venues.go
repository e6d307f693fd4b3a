// Package venues knows every venue adapter by its config name and builds
// the configured ones: the providers section of the config file is a
// Config, one optional key per venue, decoded strictly (an unknown venue or
// key is an error naming it).
package venues

import (
	"github.com/procurebot/procurebot/providers/akash"
	"github.com/procurebot/procurebot/providers/coingecko"
	"github.com/procurebot/procurebot/providers/datacrunch"
	"github.com/procurebot/procurebot/providers/entsoe"
	"github.com/procurebot/procurebot/providers/ercot"
	"github.com/procurebot/procurebot/providers/feed"
	"github.com/procurebot/procurebot/providers/ionet"
	"github.com/procurebot/procurebot/providers/lambda"
	"github.com/procurebot/procurebot/providers/openrouter"
	"github.com/procurebot/procurebot/providers/runpod"
	"github.com/procurebot/procurebot/providers/sfcompute"
	"github.com/procurebot/procurebot/providers/shadeform"
	"github.com/procurebot/procurebot/providers/vastai"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

// Config is the providers section: a venue is used when its key is present
// (even empty: `runpod: {}` uses RunPod with its defaults). Each venue's
// keys are documented on its package's Config and in docs/providers.md.
type Config struct {
	// GPU clouds.
	Lambda     *lambda.Config     `yaml:"lambda"`
	RunPod     *runpod.Config     `yaml:"runpod"`
	VastAI     *vastai.Config     `yaml:"vastai"`
	DataCrunch *datacrunch.Config `yaml:"datacrunch"`
	Shadeform  *shadeform.Config  `yaml:"shadeform"`
	SFCompute  *sfcompute.Config  `yaml:"sfcompute"`
	// DePIN.
	Akash *akash.Config `yaml:"akash"`
	IONet *ionet.Config `yaml:"ionet"`
	// CoinGecko is the token price feed Akash's uakt bids are converted
	// with, built only when akash has bids configured (lcd_url); it is not
	// a venue of its own (default: the public API).
	CoinGecko *coingecko.Config `yaml:"coingecko"`
	// Inference.
	OpenRouter *openrouter.Config `yaml:"openrouter"`
	// Power markets.
	ERCOT  *ercot.Config  `yaml:"ercot"`
	ENTSOE *entsoe.Config `yaml:"entsoe"`
}

// entry is one configured venue and how to build it.
type entry struct {
	name  string
	build func(venuehttp.Env) (feed.Source, error)
}

func (c Config) entries() []entry {
	var es []entry
	add := func(name string, present bool, build func(venuehttp.Env) (feed.Source, error)) {
		if present {
			es = append(es, entry{name, build})
		}
	}
	add("lambda", c.Lambda != nil, func(e venuehttp.Env) (feed.Source, error) { return lambda.New(*c.Lambda, e) })
	add("runpod", c.RunPod != nil, func(e venuehttp.Env) (feed.Source, error) { return runpod.New(*c.RunPod, e) })
	add("vastai", c.VastAI != nil, func(e venuehttp.Env) (feed.Source, error) { return vastai.New(*c.VastAI, e) })
	add("datacrunch", c.DataCrunch != nil, func(e venuehttp.Env) (feed.Source, error) { return datacrunch.New(*c.DataCrunch, e) })
	add("shadeform", c.Shadeform != nil, func(e venuehttp.Env) (feed.Source, error) { return shadeform.New(*c.Shadeform, e) })
	add("sfcompute", c.SFCompute != nil, func(e venuehttp.Env) (feed.Source, error) { return sfcompute.New(*c.SFCompute, e) })
	add("akash", c.Akash != nil, func(e venuehttp.Env) (feed.Source, error) {
		if c.Akash.LCDURL == "" {
			return akash.New(*c.Akash, e, nil) // console prices only: no token to convert
		}
		cg := coingecko.Config{}
		if c.CoinGecko != nil {
			cg = *c.CoinGecko
		}
		prices, err := coingecko.New(cg, e)
		if err != nil {
			return nil, err
		}
		return akash.New(*c.Akash, e, prices)
	})
	add("ionet", c.IONet != nil, func(e venuehttp.Env) (feed.Source, error) { return ionet.New(*c.IONet, e) })
	add("openrouter", c.OpenRouter != nil, func(e venuehttp.Env) (feed.Source, error) { return openrouter.New(*c.OpenRouter, e) })
	add("ercot", c.ERCOT != nil, func(e venuehttp.Env) (feed.Source, error) { return ercot.New(*c.ERCOT, e) })
	add("entsoe", c.ENTSOE != nil, func(e venuehttp.Env) (feed.Source, error) { return entsoe.New(*c.ENTSOE, e) })
	return es
}

// Names lists the configured venues in a fixed order.
func (c Config) Names() []string {
	var out []string
	for _, e := range c.entries() {
		out = append(out, e.name)
	}
	return out
}

// Known lists every venue this build knows.
func Known() []string {
	return []string{"lambda", "runpod", "vastai", "datacrunch", "shadeform", "sfcompute", "akash", "ionet", "openrouter", "ercot", "entsoe"}
}

// Build returns the configured venues' sources; only, when not empty,
// keeps just those venues (an unconfigured name in only is an error naming
// the configured ones).
func (c Config) Build(env venuehttp.Env, only ...string) ([]feed.Source, error) {
	want, missing := map[string]bool{}, map[string]bool{}
	for _, o := range only {
		want[o], missing[o] = true, true
	}
	var out []feed.Source
	for _, e := range c.entries() {
		if len(want) > 0 && !want[e.name] {
			continue
		}
		delete(missing, e.name)
		s, err := e.build(env)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	for _, name := range only {
		if missing[name] {
			return nil, unknownVenue(name, c.Names())
		}
	}
	return out, nil
}

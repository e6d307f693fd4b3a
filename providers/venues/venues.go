// Package venues knows every venue adapter by its config name and builds
// the configured ones: the providers section of the config file is a
// Config, one optional key per venue, decoded strictly (an unknown venue or
// key is an error naming it).
package venues

import (
	"github.com/procurebot/procurebot/providers/feed"
	"github.com/procurebot/procurebot/providers/lambda"
	"github.com/procurebot/procurebot/providers/venuehttp"
)

// Config is the providers section: a venue is used when its key is present
// (even empty: `runpod: {}` uses RunPod with its defaults).
type Config struct {
	Lambda *lambda.Config `yaml:"lambda"`
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
	return []string{"lambda"}
}

// Build returns the configured venues' sources; only, when not empty,
// keeps just those venues (an unconfigured name in only is an error naming
// the configured ones).
func (c Config) Build(env venuehttp.Env, only ...string) ([]feed.Source, error) {
	want := map[string]bool{}
	for _, o := range only {
		want[o] = true
	}
	var out []feed.Source
	for _, e := range c.entries() {
		if len(want) > 0 && !want[e.name] {
			continue
		}
		delete(want, e.name)
		s, err := e.build(env)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	for name := range want {
		return nil, unknownVenue(name, c.Names())
	}
	return out, nil
}

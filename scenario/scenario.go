// Package scenario decodes scenario files (DESIGN §6) strictly.
//
// A scenario file is YAML. Every key must be a key of procurebot.Scenario
// (its yaml tags); an unknown or repeated key is an error naming it, its
// line and where it is. Money and quantities are decimals read exactly from
// the scalar's text, quoted or not (`kw_per_gpu: 0.7` is exactly 0.7);
// durations are Go durations (`step: 15m`); times are RFC 3339. Anchors,
// aliases and merge keys (<<) work as in YAML.
//
// Every error is an EINVALID *procurebot.Error (exit status 2) whose message
// names the file, the line when known and the key path:
//
//	scenario.yaml:7: unknown key "foo" in sites[0]
//	scenario.yaml:3: step: invalid duration "1x" (want a Go duration such as 1h or 15m)
//	scenario.yaml:12: jobs[1] (id train-b).deadline: must be after release 2024-10-02T00:00:00Z, got …
//
// Parse and Load also apply the defaults (Scenario.SetDefaults) and the
// structural checks (Scenario.Validate). Checks against a data set are
// Scenario.ValidateData, called by whoever holds the data.
package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/procurebot/procurebot"
)

// Load reads, decodes, defaults and validates the scenario file at path.
// Errors name the file as path was given; a file that cannot be read is
// bad input too (EINVALID, wrapping the *fs.PathError).
func Load(path string) (*procurebot.Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &procurebot.Error{Code: procurebot.EINVALID, Message: "scenario", Err: err}
	}
	return Parse(path, data)
}

// Parse decodes, defaults and validates a scenario file's contents; name is
// the file name used in error messages.
func Parse(name string, data []byte) (*procurebot.Scenario, error) {
	root, err := parseYAML(name, data)
	if err != nil {
		return nil, err
	}
	d := &decoder{name: name, budget: maxNodes, lines: make(map[string]int), given: make(map[string]bool)}
	var s procurebot.Scenario
	if err := d.document(root, &s); err != nil {
		return nil, err
	}
	// A zero written out is not an absent key: SetDefaults cannot tell them
	// apart, so the keys whose default is not zero are checked here.
	if d.given["step"] && s.Step == 0 {
		return nil, d.atKey("step", "must be positive, got %s", s.Step)
	}
	if d.given["market.max_gpus_per_offer"] && s.Market.MaxGPUsPerOffer == 0 {
		return nil, d.atKey("market.max_gpus_per_offer", "must be a positive whole number, got 0")
	}
	s.SetDefaults()
	if err := s.Validate(); err != nil {
		return nil, d.locate(err)
	}
	return &s, nil
}

// atKey returns an EINVALID error at the line of key path p.
func (d *decoder) atKey(p, format string, args ...any) error {
	where := d.name
	if line := d.lineOf(p); line > 0 {
		where += ":" + strconv.Itoa(line)
	}
	return procurebot.Invalidf("%s: %s: %s", where, p, fmt.Sprintf(format, args...))
}

// locate prefixes a validation error with the file name and the line of the
// key it names (or of its nearest enclosing key that is in the file).
func (d *decoder) locate(err error) error {
	where := d.name
	var fe *procurebot.FieldError
	if errors.As(err, &fe) {
		if line := d.lineOf(fe.Path); line > 0 {
			where += ":" + strconv.Itoa(line)
		}
	}
	return &procurebot.Error{Code: procurebot.EINVALID, Message: where, Err: err}
}

// lineOf returns the line of key path p, or of its nearest ancestor that
// was decoded; 0 when none was.
func (d *decoder) lineOf(p string) int {
	for p != "" {
		if line, ok := d.lines[p]; ok {
			return line
		}
		i := len(p) - 1
		for i >= 0 && p[i] != '.' && p[i] != '[' {
			i--
		}
		if i < 0 {
			return 0
		}
		p = p[:i]
	}
	return 0
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses data into its single document's root node, turning the
// YAML library's errors into EINVALID errors naming the file and line.
func parseYAML(name string, data []byte) (root *yaml.Node, err error) {
	defer func() {
		// The YAML library reports problems as errors; a panic inside it
		// on hostile input is still bad input, not a crash.
		if r := recover(); r != nil {
			root, err = nil, procurebot.Invalidf("%s: invalid YAML: %v", name, r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, procurebot.Invalidf("%s: empty scenario file", name)
		}
		return nil, yamlErr(name, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlErr(name, err)
	default:
		return nil, procurebot.Invalidf("%s:%d: a scenario file holds one YAML document, found another", name, extra.Line)
	}
	root = &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, procurebot.Invalidf("%s: empty scenario file", name)
		}
		root = root.Content[0]
	}
	return root, nil
}

func yamlErr(name string, err error) error {
	msg := err.Error()
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		return procurebot.Invalidf("%s:%s: invalid YAML: %s", name, m[1], m[2])
	}
	if len(msg) > 6 && msg[:6] == "yaml: " {
		msg = msg[6:]
	}
	return procurebot.Invalidf("%s: invalid YAML: %s", name, msg)
}

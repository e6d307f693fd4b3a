package scenario

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"

	"github.com/procurebot/procurebot"
)

// maxNodes bounds the YAML nodes visited while decoding, counting each use
// of an alias or merge anew, so that nested aliases cannot make a small file
// expand without limit.
const maxNodes = 1_000_000

// Bounds of a decimal as written: no more than maxDecimalDigits digits
// before or after the point. Far beyond any price or quantity, and keeps
// arithmetic on hostile input cheap.
const maxDecimalDigits = 40

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	decimalType  = reflect.TypeFor[decimal.Decimal]()
)

// decoder turns a YAML node tree into Go values of the scenario types,
// reporting every problem with the file, line and key path. It replaces
// yaml.v3's own struct decoding, whose errors for text-unmarshalled values
// (decimals) carry no line and no key.
type decoder struct {
	name   string
	budget int
	lines  map[string]int  // key path ("sites[0].gpus") → line of its key
	given  map[string]bool // key paths given a value other than null
}

// errAt returns an EINVALID error at node n's line for key path p.
func (d *decoder) errAt(n *yaml.Node, p, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if p != "" {
		msg = p + ": " + msg
	}
	if n != nil && n.Line > 0 {
		return procurebot.Invalidf("%s:%d: %s", d.name, n.Line, msg)
	}
	return procurebot.Invalidf("%s: %s", d.name, msg)
}

// spend counts one node visit against the budget.
func (d *decoder) spend(n *yaml.Node) error {
	d.budget--
	if d.budget < 0 {
		return d.errAt(n, "", "too many YAML nodes (more than %d once aliases are expanded)", maxNodes)
	}
	return nil
}

// deref follows aliases to the node they name.
func (d *decoder) deref(n *yaml.Node, p string) (*yaml.Node, error) {
	at := n
	for i := 0; n.Kind == yaml.AliasNode; i++ {
		if n.Alias == nil || i > 100 {
			return nil, d.errAt(at, p, "alias %q names no node", n.Value)
		}
		n = n.Alias
	}
	return n, nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func isMerge(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!merge"
}

// what describes a node for "want X, got Y" messages.
func what(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "a YAML node of another kind"
}

func join(p, key string) string {
	if p == "" {
		return key
	}
	return p + "." + key
}

// document decodes the root node into s.
func (d *decoder) document(root *yaml.Node, s *procurebot.Scenario) error {
	n, err := d.deref(root, "")
	if err != nil {
		return err
	}
	if isNull(n) {
		return procurebot.Invalidf("%s: empty scenario file", d.name)
	}
	if n.Kind != yaml.MappingNode {
		return d.errAt(n, "", "a scenario file is a mapping of keys (%s), got %s",
			strings.Join(fieldsOf(reflect.TypeFor[procurebot.Scenario]()).names, ", "), what(n))
	}
	return d.value(root, reflect.ValueOf(s).Elem(), "")
}

// value decodes node at (after aliases) into v; p is v's key path.
func (d *decoder) value(at *yaml.Node, v reflect.Value, p string) error {
	if err := d.spend(at); err != nil {
		return err
	}
	n, err := d.deref(at, p)
	if err != nil {
		return err
	}
	switch v.Type() {
	case timeType:
		return d.timeValue(at, n, v, p)
	case durationType:
		return d.durationValue(at, n, v, p)
	case decimalType:
		return d.decimalValue(at, n, v, p)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			v.SetZero()
			return nil
		}
		ptr := reflect.New(v.Type().Elem())
		if err := d.value(at, ptr.Elem(), p); err != nil {
			return err
		}
		v.Set(ptr)
		return nil
	case reflect.Struct:
		return d.mapping(at, n, v, p)
	case reflect.Slice:
		return d.sequence(at, n, v, p)
	case reflect.String:
		if isNull(n) {
			v.SetString("")
			return nil
		}
		if n.Kind != yaml.ScalarNode {
			return d.errAt(at, p, "want a string, got %s", what(n))
		}
		v.SetString(n.Value)
		return nil
	case reflect.Int, reflect.Int64:
		return d.intValue(at, n, v, p)
	case reflect.Bool:
		return d.boolValue(at, n, v, p)
	}
	return &procurebot.Error{Code: procurebot.EINTERNAL,
		Message: fmt.Sprintf("scenario: no decoding for %s (%s)", v.Type(), p)}
}

func (d *decoder) scalar(at, n *yaml.Node, p, want string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", d.errAt(at, p, "want %s, got %s", want, what(n))
	}
	return strings.TrimSpace(n.Value), nil
}

func (d *decoder) timeValue(at, n *yaml.Node, v reflect.Value, p string) error {
	if isNull(n) {
		v.SetZero()
		return nil
	}
	s, err := d.scalar(at, n, p, "an RFC 3339 time")
	if err != nil {
		return err
	}
	t, perr := time.Parse(time.RFC3339Nano, s)
	if perr != nil {
		return d.errAt(at, p, "invalid time %q (want RFC 3339, e.g. 2024-10-01T00:00:00Z)", s)
	}
	v.Set(reflect.ValueOf(t.UTC()))
	return nil
}

func (d *decoder) durationValue(at, n *yaml.Node, v reflect.Value, p string) error {
	if isNull(n) {
		v.SetZero()
		return nil
	}
	s, err := d.scalar(at, n, p, "a duration")
	if err != nil {
		return err
	}
	dur, perr := time.ParseDuration(s)
	if perr != nil {
		return d.errAt(at, p, "invalid duration %q (want a Go duration such as 1h or 15m)", s)
	}
	v.SetInt(int64(dur))
	return nil
}

// parseDecimal reads a decimal exactly from its text.
func parseDecimal(s string) (decimal.Decimal, string) {
	x, err := decimal.NewFromString(s)
	if err != nil || s == "" {
		return decimal.Zero, "invalid decimal %q"
	}
	if x.Exponent() < -maxDecimalDigits {
		return decimal.Zero, fmt.Sprintf("invalid decimal %%q: more than %d decimal places", maxDecimalDigits)
	}
	if digits := int64(len(x.Coefficient().String())); x.Sign() != 0 && digits+int64(x.Exponent()) > maxDecimalDigits {
		return decimal.Zero, fmt.Sprintf("invalid decimal %%q: more than %d digits before the point", maxDecimalDigits)
	}
	return x, ""
}

func (d *decoder) decimalValue(at, n *yaml.Node, v reflect.Value, p string) error {
	if isNull(n) {
		v.SetZero()
		return nil
	}
	s, err := d.scalar(at, n, p, "a decimal number")
	if err != nil {
		return err
	}
	if n.ShortTag() == "!!bool" {
		return d.errAt(at, p, "invalid decimal %q", s)
	}
	x, bad := parseDecimal(s)
	if bad != "" {
		return d.errAt(at, p, bad, s)
	}
	v.Set(reflect.ValueOf(x))
	return nil
}

func (d *decoder) intValue(at, n *yaml.Node, v reflect.Value, p string) error {
	if isNull(n) {
		v.SetInt(0)
		return nil
	}
	s, err := d.scalar(at, n, p, "a whole number")
	if err != nil {
		return err
	}
	var i int64
	if n.ShortTag() == "!!int" {
		// YAML's own integers, 0x and 0o forms included.
		if derr := n.Decode(&i); derr != nil {
			return d.errAt(at, p, "invalid whole number %q (out of range)", s)
		}
	} else {
		x, bad := parseDecimal(s)
		if bad != "" || n.ShortTag() == "!!bool" {
			return d.errAt(at, p, "invalid whole number %q", s)
		}
		if !x.IsInteger() {
			return d.errAt(at, p, "must be a whole number, got %q", s)
		}
		if x.Abs().GreaterThan(decimal.NewFromInt(1 << 62)) {
			return d.errAt(at, p, "invalid whole number %q (out of range)", s)
		}
		i = x.IntPart()
	}
	if v.OverflowInt(i) {
		return d.errAt(at, p, "invalid whole number %q (out of range)", s)
	}
	v.SetInt(i)
	return nil
}

func (d *decoder) boolValue(at, n *yaml.Node, v reflect.Value, p string) error {
	if isNull(n) {
		v.SetBool(false)
		return nil
	}
	s, err := d.scalar(at, n, p, "true or false")
	if err != nil {
		return err
	}
	switch strings.ToLower(s) {
	case "true", "yes", "on", "y":
		v.SetBool(true)
	case "false", "no", "off", "n":
		v.SetBool(false)
	default:
		return d.errAt(at, p, "invalid boolean %q (want true or false)", s)
	}
	return nil
}

func (d *decoder) sequence(at, n *yaml.Node, v reflect.Value, p string) error {
	if isNull(n) {
		v.SetZero()
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return d.errAt(at, p, "want a list, got %s", what(n))
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, e := range n.Content {
		ep := fmt.Sprintf("%s[%d]", p, i)
		d.lines[ep] = e.Line
		if err := d.value(e, out.Index(i), ep); err != nil {
			return err
		}
	}
	v.Set(out)
	return nil
}

// entry is one key and value of a mapping, merges resolved.
type entry struct{ key, val *yaml.Node }

// entries lists the keys of mapping n in file order, with the keys of
// merged mappings (<<) that n does not set itself after them; earlier merge
// sources win over later ones, as in YAML. A key given twice is an error.
func (d *decoder) entries(n *yaml.Node, p string) ([]entry, error) {
	if err := d.spend(n); err != nil {
		return nil, err
	}
	var out []entry
	seen := make(map[string]*yaml.Node)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if err := d.spend(k); err != nil {
			return nil, err
		}
		if isMerge(k) {
			merges = append(merges, val)
			continue
		}
		kn, err := d.deref(k, p)
		if err != nil {
			return nil, err
		}
		if kn.Kind != yaml.ScalarNode {
			return nil, d.errAt(k, p, "a key must be a name, got %s", what(kn))
		}
		if prev, dup := seen[kn.Value]; dup {
			in := ""
			if p != "" {
				in = " in " + p
			}
			return nil, d.errAt(k, "", "duplicate key %q%s (first at line %d)", kn.Value, in, prev.Line)
		}
		seen[kn.Value] = k
		out = append(out, entry{kn, val})
	}
	for _, m := range merges {
		mn, err := d.deref(m, p)
		if err != nil {
			return nil, err
		}
		var srcs []*yaml.Node
		switch mn.Kind {
		case yaml.MappingNode:
			srcs = []*yaml.Node{mn}
		case yaml.SequenceNode:
			for _, e := range mn.Content {
				en, err := d.deref(e, p)
				if err != nil {
					return nil, err
				}
				if en.Kind != yaml.MappingNode {
					return nil, d.errAt(e, p, "<< merges mappings, got %s", what(en))
				}
				srcs = append(srcs, en)
			}
		default:
			return nil, d.errAt(m, p, "<< merges mappings, got %s", what(mn))
		}
		for _, src := range srcs {
			sub, err := d.entries(src, p)
			if err != nil {
				return nil, err
			}
			for _, e := range sub {
				if _, ok := seen[e.key.Value]; !ok {
					seen[e.key.Value] = e.key
					out = append(out, e)
				}
			}
		}
	}
	return out, nil
}

func (d *decoder) mapping(at, n *yaml.Node, v reflect.Value, p string) error {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return d.errAt(at, p, "want a mapping of keys, got %s", what(n))
	}
	fs := fieldsOf(v.Type())
	es, err := d.entries(n, p)
	if err != nil {
		return err
	}
	for _, e := range es {
		name := e.key.Value
		idx, ok := fs.index[name]
		if !ok {
			return d.unknownKey(e.key, name, p, fs)
		}
		kp := join(p, name)
		d.lines[kp] = e.key.Line
		if vn, err := d.deref(e.val, kp); err == nil && !isNull(vn) {
			d.given[kp] = true
		}
		if err := d.value(e.val, v.Field(idx), kp); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) unknownKey(k *yaml.Node, name, p string, fs fields) error {
	msg := fmt.Sprintf("unknown key %q", name)
	if p != "" {
		msg += " in " + p
	}
	if s := suggest(name, fs.names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else {
		msg += " (known keys: " + strings.Join(fs.names, ", ") + ")"
	}
	return d.errAt(k, "", "%s", msg)
}

// fields are a struct type's yaml keys, in declaration order.
type fields struct {
	names []string
	index map[string]int
}

func fieldsOf(t reflect.Type) fields {
	fs := fields{index: make(map[string]int)}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fs.names = append(fs.names, name)
		fs.index[name] = i
	}
	return fs
}

// suggest returns the known key closest to name when it is a likely typo:
// the same but for case, dashes or spaces, or at most two edits away.
func suggest(name string, known []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("-", "_", " ", "_").Replace(strings.ToLower(strings.TrimSpace(s)))
	}
	best, bestD := "", 3
	for _, k := range known {
		if norm(k) == norm(name) {
			return k
		}
		if n := norm(name); len(n) >= 3 && (strings.HasPrefix(k, n) || strings.HasPrefix(n, k)) {
			return k
		}
		if dist := editDistance(norm(name), k); dist < bestD {
			best, bestD = k, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, bytewise; it gives up
// (returns a large number) for long inputs.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			c = min(c, prev[j]+1, cur[j-1]+1)
			cur[j] = c
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

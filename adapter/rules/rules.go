// Package rules owns the business rules of each procedure's dossier: arithmetic and
// consistency that a JSON Schema cannot say (a total equals the sum of its lines, the amount in
// words equals the amount, dates inside the budget year). Each procedure declares its rules as
// data in schemas/<procedure>/rules.yaml, beside its definition; the rule kinds are a closed set
// written in Go, parameterised by field paths of the dossier value (the value adapter/schema
// produces from XML or JSON). Start-up refuses a rule file naming a field the definition does
// not have, an unknown kind or a wrong parameter, with file and line.
package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kbnn/dvc/adapter/yamlfile"
)

// File is the rule file of a procedure, under its folder of the schemas tree.
const File = "rules.yaml"

// Root names the schemas tree in error messages.
const Root yamlfile.Root = "schemas"

// Path is the rule file of procedure in the schemas tree.
func Path(procedure string) string { return procedure + "/" + File }

// fileDoc is rules.yaml.
type fileDoc struct {
	Rules []ruleDoc `yaml:"rules"`
}

// ruleDoc is one rule as written: what every rule has, then every kind's parameters (each
// kind says which it needs; any other is refused).
type ruleDoc struct {
	ID        string `yaml:"id"`
	Kind      string `yaml:"kind"`
	Message   string `yaml:"message"`
	MessageVi string `yaml:"messageVi"`

	Total  string   `yaml:"total"`
	Items  []string `yaml:"items"`
	Amount string   `yaml:"amount"`
	Words  string   `yaml:"words"`
	Left   []string `yaml:"left"`
	Right  []string `yaml:"right"`
	Dates  []string `yaml:"dates"`
	Year   string   `yaml:"year"`
	Values []string `yaml:"values"`
}

// param kinds: what a parameter names.
type want int

const (
	wantInteger want = iota // an integer field (amounts, years)
	wantString              // a string field (amount in words)
	wantDate                // a string field of format date or date-time
)

// paramSpec says one parameter of a kind: its key, what its paths name, whether it is a
// list, the fewest paths, and whether each path must name one value (no "[]").
type paramSpec struct {
	key    string
	want   want
	list   bool
	min    int
	single bool
}

// kind is one rule kind: its parameters and its check.
type kind struct {
	params []paramSpec
	check  func(r *Rule, v any) (ok bool, bad []string)
}

// kinds is the closed set of rule kinds.
var kinds = map[string]kind{
	// sum: total = Σ items (each item path may name many values).
	"sum": {params: []paramSpec{
		{key: "total", want: wantInteger, single: true},
		{key: "items", want: wantInteger, list: true, min: 1},
	}, check: checkSum},
	// words: the amount in words equals the amount.
	"words": {params: []paramSpec{
		{key: "words", want: wantString, single: true},
		{key: "amount", want: wantInteger, single: true},
	}, check: checkWords},
	// lte: Σ left ≤ Σ right.
	"lte": {params: []paramSpec{
		{key: "left", want: wantInteger, list: true, min: 1},
		{key: "right", want: wantInteger, list: true, min: 1},
	}, check: checkLTE},
	// dateInYear: every date falls in the budget year.
	"dateInYear": {params: []paramSpec{
		{key: "dates", want: wantDate, list: true, min: 1},
		{key: "year", want: wantInteger, single: true},
	}, check: checkDateInYear},
	// sameYear: every value equals the budget year.
	"sameYear": {params: []paramSpec{
		{key: "values", want: wantInteger, list: true, min: 1},
		{key: "year", want: wantInteger, single: true},
	}, check: checkSameYear},
	// dateOrder: the dates, in the order listed, never go back (a date-time counts by the
	// date it is written with).
	"dateOrder": {params: []paramSpec{
		{key: "dates", want: wantDate, list: true, min: 2, single: true},
	}, check: checkDateOrder},
}

// Kinds lists the rule kinds, sorted.
func Kinds() []string {
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Rule is one compiled rule.
type Rule struct {
	ID        string
	Kind      string
	Message   string
	MessageVi string
	// Fields are the field paths the rule names, as written, in parameter order.
	Fields []string
	params map[string][]path
}

// Set is a procedure's rules, in file order.
type Set struct {
	Procedure string
	Rules     []*Rule
}

// Violation is one failing rule.
type Violation struct {
	ID        string   `json:"id"`
	Kind      string   `json:"kind"`
	Paths     []string `json:"paths"`
	Message   string   `json:"message"`
	MessageVi string   `json:"messageVi"`
}

var idPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Load reads schemas/<procedure>/rules.yaml from fsys (the schemas tree) and checks it against
// the procedure's definition (definition, the raw JSON Schema). A missing file is a mistake:
// a procedure without rules says so with "rules: []".
func Load(fsys fs.FS, procedure string, definition []byte) (*Set, error) {
	file := Path(procedure)
	var doc fileDoc
	top, err := Root.Read(fsys, file, &doc)
	if err != nil {
		return nil, err
	}
	idx, err := newSchemaIndex(definition)
	if err != nil {
		return nil, Root.Errorf(file, 0, "%s: %v", procedure, err)
	}
	var list *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "rules" {
			list = top.Content[i+1]
		}
	}
	if list == nil {
		return nil, Root.Errorf(file, top.Line, `missing "rules" (write "rules: []" for none)`)
	}
	set := &Set{Procedure: procedure}
	seen := map[string]int{}
	for i, rd := range doc.Rules {
		node := list
		if i < len(list.Content) {
			node = list.Content[i]
		}
		r, err := compile(rd, node, idx)
		if err != nil {
			return nil, Root.Wrap(file, err.line, err.err)
		}
		if first, dup := seen[r.ID]; dup {
			return nil, Root.Errorf(file, yamlfile.LineOf(node, "id", node.Line), "rule id %q already used at line %d", r.ID, first)
		}
		seen[r.ID] = yamlfile.LineOf(node, "id", node.Line)
		set.Rules = append(set.Rules, r)
	}
	return set, nil
}

type lineErr struct {
	line int
	err  error
}

func compile(rd ruleDoc, node *yaml.Node, idx *schemaIndex) (*Rule, *lineErr) {
	at := func(key string) int { return yamlfile.LineOf(node, key, node.Line) }
	fail := func(key, format string, args ...any) *lineErr {
		return &lineErr{at(key), fmt.Errorf(format, args...)}
	}
	if !idPattern.MatchString(rd.ID) {
		return nil, fail("id", "id %q: want lower-case words joined by '-'", rd.ID)
	}
	k, ok := kinds[rd.Kind]
	if !ok {
		return nil, fail("kind", "rule %s: unknown kind %q (known: %s)", rd.ID, rd.Kind, strings.Join(Kinds(), ", "))
	}
	if strings.TrimSpace(rd.Message) == "" {
		return nil, fail("message", "rule %s: message: empty", rd.ID)
	}
	if strings.TrimSpace(rd.MessageVi) == "" {
		return nil, fail("messageVi", "rule %s: messageVi: empty", rd.ID)
	}
	given := map[string][]string{}
	put := func(key string, v []string, set bool) {
		if set {
			given[key] = v
		}
	}
	put("total", []string{rd.Total}, rd.Total != "")
	put("items", rd.Items, rd.Items != nil)
	put("amount", []string{rd.Amount}, rd.Amount != "")
	put("words", []string{rd.Words}, rd.Words != "")
	put("left", rd.Left, rd.Left != nil)
	put("right", rd.Right, rd.Right != nil)
	put("dates", rd.Dates, rd.Dates != nil)
	put("year", []string{rd.Year}, rd.Year != "")
	put("values", rd.Values, rd.Values != nil)
	r := &Rule{ID: rd.ID, Kind: rd.Kind, Message: rd.Message, MessageVi: rd.MessageVi, params: map[string][]path{}}
	known := map[string]bool{}
	for _, ps := range k.params {
		known[ps.key] = true
		raw, ok := given[ps.key]
		if !ok {
			return nil, fail("kind", "rule %s: kind %s needs %q", rd.ID, rd.Kind, ps.key)
		}
		if ps.list && len(raw) < max(ps.min, 1) {
			return nil, fail(ps.key, "rule %s: %s: want at least %d paths", rd.ID, ps.key, max(ps.min, 1))
		}
		for _, s := range raw {
			p, err := parsePath(s)
			if err != nil {
				return nil, fail(ps.key, "rule %s: %s: %v", rd.ID, ps.key, err)
			}
			if ps.single && p.many() {
				return nil, fail(ps.key, "rule %s: %s: %q must name one value (no [])", rd.ID, ps.key, s)
			}
			l, err := idx.at(p)
			if err != nil {
				return nil, fail(ps.key, "rule %s: %s: %v", rd.ID, ps.key, err)
			}
			if msg := l.fits(ps.want); msg != "" {
				return nil, fail(ps.key, "rule %s: %s: %q is %s, want %s", rd.ID, ps.key, s, l.describe(), msg)
			}
			r.params[ps.key] = append(r.params[ps.key], p)
			r.Fields = append(r.Fields, s)
		}
	}
	for key := range given {
		if !known[key] {
			return nil, fail(key, "rule %s: kind %s takes no %q", rd.ID, rd.Kind, key)
		}
	}
	return r, nil
}

func (l leaf) fits(w want) string {
	switch w {
	case wantInteger:
		if l.typ != "integer" {
			return "an integer"
		}
	case wantString:
		if l.typ != "string" {
			return "a string"
		}
	case wantDate:
		if l.typ != "string" || (l.format != "date" && l.format != "date-time") {
			return "a date or date-time string"
		}
	}
	return ""
}

func (l leaf) describe() string {
	if l.typ == "" {
		return "untyped"
	}
	if l.format != "" {
		return l.typ + " (" + l.format + ")"
	}
	return l.typ
}

// Check runs every rule on a dossier value that passed its definition and returns every
// failing rule, in file order; none means the dossier keeps every rule.
func (s *Set) Check(v any) []Violation {
	if s == nil {
		return nil
	}
	var out []Violation
	for _, r := range s.Rules {
		ok, bad := kinds[r.Kind].check(r, v)
		if ok {
			continue
		}
		paths := slices.Clone(r.Fields)
		if len(bad) > 0 {
			paths = bad
		}
		out = append(out, Violation{ID: r.ID, Kind: r.Kind, Paths: paths, Message: r.Message, MessageVi: r.MessageVi})
	}
	return out
}

// errNotInteger marks a value that is not an integer; a rule on it fails.
var errNotInteger = errors.New("not an integer")

func integer(v any) (*big.Int, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		s = strings.TrimSpace(x)
	case int:
		return big.NewInt(int64(x)), nil
	case int64:
		return big.NewInt(x), nil
	default:
		return nil, errNotInteger
	}
	if n, ok := new(big.Int).SetString(s, 10); ok {
		return n, nil
	}
	return integralNumber(s)
}

// integralNumber reads a JSON number written with a fraction or an exponent that is still an
// integer (187500000.0, 1.875e8), as the definition accepts it; small exponents only, so that
// a hostile "1e999999999" costs nothing.
func integralNumber(s string) (*big.Int, error) {
	if len(s) > 64 {
		return nil, errNotInteger
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		exp, err := strconv.Atoi(s[i+1:])
		if err != nil || exp < -64 || exp > 64 {
			return nil, errNotInteger
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || !r.IsInt() {
		return nil, errNotInteger
	}
	return r.Num(), nil
}

// sum adds every value at each path; present reports whether any value was found.
func sum(ps []path, v any) (total *big.Int, present bool, err error) {
	total = new(big.Int)
	for _, p := range ps {
		for _, l := range p.values(v) {
			n, err := integer(l.value)
			if err != nil {
				return nil, true, err
			}
			total.Add(total, n)
			present = true
		}
	}
	return total, present, nil
}

// one returns the value at a single-value path, or nil.
func one(p path, v any) any {
	if vs := p.values(v); len(vs) > 0 {
		return vs[0].value
	}
	return nil
}

func checkSum(r *Rule, v any) (bool, []string) {
	t := one(r.params["total"][0], v)
	if t == nil {
		return true, nil // an optional total that is absent: nothing to compare
	}
	total, err := integer(t)
	if err != nil {
		return false, nil
	}
	s, _, err := sum(r.params["items"], v)
	return err == nil && total.Cmp(s) == 0, nil
}

func checkWords(r *Rule, v any) (bool, []string) {
	w, a := one(r.params["words"][0], v), one(r.params["amount"][0], v)
	if w == nil || a == nil {
		return true, nil
	}
	ws, _ := w.(string)
	amount, err := integer(a)
	if err != nil {
		return false, nil
	}
	n, err := ParseWords(ws)
	return err == nil && amount.IsInt64() && amount.Int64() == n, nil
}

func checkLTE(r *Rule, v any) (bool, []string) {
	right, present, err := sum(r.params["right"], v)
	if err != nil {
		return false, nil
	}
	if !present {
		return true, nil
	}
	left, _, err := sum(r.params["left"], v)
	return err == nil && left.Cmp(right) <= 0, nil
}

func yearOf(r *Rule, v any) (int64, bool) {
	y := one(r.params["year"][0], v)
	if y == nil {
		return 0, false
	}
	n, err := integer(y)
	if err != nil || !n.IsInt64() {
		return -1, true
	}
	return n.Int64(), true
}

func checkDateInYear(r *Rule, v any) (bool, []string) {
	year, ok := yearOf(r, v)
	if !ok {
		return true, nil
	}
	var bad []string
	for _, p := range r.params["dates"] {
		for _, l := range p.values(v) {
			s, _ := l.value.(string)
			if y, err := strconv.Atoi(prefix(s, 4)); err != nil || int64(y) != year {
				bad = append(bad, l.pointer)
			}
		}
	}
	return len(bad) == 0, bad
}

func checkSameYear(r *Rule, v any) (bool, []string) {
	year, ok := yearOf(r, v)
	if !ok {
		return true, nil
	}
	var bad []string
	for _, p := range r.params["values"] {
		for _, l := range p.values(v) {
			n, err := integer(l.value)
			if err != nil || !n.IsInt64() || n.Int64() != year {
				bad = append(bad, l.pointer)
			}
		}
	}
	return len(bad) == 0, bad
}

func checkDateOrder(r *Rule, v any) (bool, []string) {
	prev := ""
	for _, p := range r.params["dates"] {
		d := one(p, v)
		if d == nil {
			continue
		}
		s, _ := d.(string)
		day := prefix(s, 10)
		if len(day) != 10 {
			return false, nil
		}
		if day < prev {
			return false, nil
		}
		prev = day
	}
	return true, nil
}

func prefix(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[:n]
}

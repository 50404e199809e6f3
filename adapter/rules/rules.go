// Package rules owns the business rules of each procedure's dossier: arithmetic and
// consistency that a JSON Schema cannot say (a total equals the sum of its lines, the amount in
// words equals the amount, an advance recovery stays within the advance, dates inside the budget
// year). Each procedure declares its rules as data in schemas/<procedure>/rules.yaml, beside its
// definition; the rule kinds are a closed set written in Go, parameterised by field paths of the
// dossier value (the value adapter/schema produces from XML or JSON). A rule may apply to each
// element of a list (each: /taiLieu), optionally only to the documents of some forms; a
// failure names the JSON Pointers of the failing element's fields (/taiLieu/1/tongSoTien).
// Start-up refuses a rule file naming a field the definition does not have, an unknown kind,
// a wrong parameter or a bad scope, with file and line.
package rules

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
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
	// FormCode is the field of a list element that holds its form code (mauSo), read by the
	// forms filter of a scope; needed only when a rule has one.
	FormCode string    `yaml:"formCode"`
	Rules    []ruleDoc `yaml:"rules"`
}

// ruleDoc is one rule as written: what every rule has, its optional scope, then every kind's
// parameters (each kind says which it needs; any other is refused).
type ruleDoc struct {
	ID        string   `yaml:"id"`
	Kind      string   `yaml:"kind"`
	Message   string   `yaml:"message"`
	MessageVi string   `yaml:"messageVi"`
	Each      string   `yaml:"each"`
	Forms     []string `yaml:"forms"`

	Total  string   `yaml:"total"`
	Items  []term   `yaml:"items"`
	Amount string   `yaml:"amount"`
	Words  string   `yaml:"words"`
	Left   []term   `yaml:"left"`
	Right  []term   `yaml:"right"`
	Dates  []term   `yaml:"dates"`
	Year   string   `yaml:"year"`
	Values []term   `yaml:"values"`
	Min    *int     `yaml:"min"`
	Max    *int     `yaml:"max"`
	After  []string `yaml:"after"`
}

// term is one entry of a list parameter: a path, or the values of a path in each element of
// a list of some forms ({each: /taiLieu, forms: [04.b/TT], path: tongSoTien}), to add up
// amounts across documents.
type term struct {
	Path  string   `yaml:"path"`
	Each  string   `yaml:"each"`
	Forms []string `yaml:"forms"`
}

// UnmarshalYAML reads a term written as a plain path or as a mapping.
func (t *term) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&t.Path)
	}
	type plain term
	var p plain
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a path or {each, forms, path}", n.Line)
	}
	for i := 0; i < len(n.Content); i += 2 {
		switch k := n.Content[i].Value; k {
		case "path", "each", "forms":
		default:
			return fmt.Errorf("line %d: field %s not found in type rules.term", n.Content[i].Line, k)
		}
	}
	if err := n.Decode(&p); err != nil {
		return err
	}
	*t = term(p)
	return nil
}

// want is what a parameter's paths must name.
type want int

const (
	wantInteger want = iota // an integer field (amounts, years)
	wantString              // a string field (amount in words)
	wantDate                // a string field of format date or date-time
)

// paramSpec says one parameter of a kind: its key, what its paths name, whether it is a
// list, the fewest paths, and whether each path must name one value (no "[]", no term).
type paramSpec struct {
	key    string
	want   want
	list   bool
	min    int
	single bool
}

// kind is one rule kind: its parameters and its check. A kind of the whole list (count,
// first, order) is checked once, on the elements of its scope together (a scope is required); the
// others once for each element of their scope.
type kind struct {
	params []paramSpec
	check  func(r *Rule, e env) (ok bool, bad []string)
	list   bool
	counts bool // takes min and max
	forms  bool // needs its scope's forms
	after  bool // takes after (form codes)
}

// kinds is the closed set of rule kinds.
var kinds = map[string]kind{
	// sum: total = Σ items (each item may name many values).
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
	// count: the list holds at least min and at most max elements of the scope's forms.
	"count": {check: checkCount, list: true, counts: true},
	// first: the list's first element is of one of the scope's forms (the main document,
	// which the treasury request's envelope repeats).
	"first": {check: checkFirst, list: true, forms: true},
	// order: no document of the scope's forms comes after one of the forms in after (a
	// payment request before the recovery of an advance).
	"order": {check: checkOrder, list: true, forms: true, after: true},
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

// scope is a list whose elements a rule (or a term) applies to, each one in turn, optionally
// only those whose form code is one of forms.
type scope struct {
	list  path // absolute, one list
	code  string
	forms []string // empty means every element
}

// elements returns the elements of the scope's list in v that it applies to, with their
// pointers.
func (s *scope) elements(v any) []located {
	var out []located
	for _, l := range s.list.values(v, "") {
		items, _ := l.value.([]any)
		for i, it := range items {
			if len(s.forms) > 0 && !s.holds(it) {
				continue
			}
			out = append(out, located{fmt.Sprintf("%s/%d", l.pointer, i), it})
		}
	}
	return out
}

// holds reports whether the list element it is of one of the scope's forms.
func (s *scope) holds(it any) bool {
	m, _ := it.(map[string]any)
	form, _ := m[s.code].(string)
	return slices.Contains(s.forms, form)
}

// ref is one compiled path of a parameter: a path read from the element (or the dossier),
// or a term's path read in each element of its own scope.
type ref struct {
	p    path
	over *scope
}

// Rule is one compiled rule.
type Rule struct {
	ID        string
	Kind      string
	Message   string
	MessageVi string
	// Fields are the field paths the rule names, as written, in parameter order.
	Fields   []string
	scope    *scope
	params   map[string][]ref
	min, max int    // count's bounds (max -1: none)
	after    *scope // order's later forms
}

// Set is a procedure's rules, in file order.
type Set struct {
	Procedure string
	Rules     []*Rule
}

// Violation is one failing rule, once for each element of its scope that fails it.
type Violation struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Paths are the JSON Pointers of the failing values (/taiLieu/1/tongSoTien).
	Paths     []string `json:"paths"`
	Message   string   `json:"message"`
	MessageVi string   `json:"messageVi"`
}

var idPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Load reads schemas/<procedure>/rules.yaml from fsys (the schemas tree) and checks it against
// the procedure's definition (definition, the raw JSON Schema). A missing file is a mistake:
// a procedure without rules says so with "rules: []".
func Load(fsys fs.FS, procedure string, definition []byte) (*Set, error) {
	return Parse(fsys, Path(procedure), procedure, definition)
}

// Parse reads the rule file at file of fsys for procedure, like Load.
func Parse(fsys fs.FS, file, procedure string, definition []byte) (*Set, error) {
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
	c := compiler{idx: idx, formCode: doc.FormCode, formCodeLine: yamlfile.LineOf(top, "formCode", top.Line)}
	set := &Set{Procedure: procedure}
	seen := map[string]int{}
	for i, rd := range doc.Rules {
		node := list
		if i < len(list.Content) {
			node = list.Content[i]
		}
		r, lerr := c.compile(rd, node)
		if lerr != nil {
			return nil, Root.Wrap(file, lerr.line, lerr.err)
		}
		line := yamlfile.LineOf(node, "id", node.Line)
		if first, dup := seen[r.ID]; dup {
			return nil, Root.Errorf(file, line, "rule id %q already used at line %d", r.ID, first)
		}
		seen[r.ID] = line
		set.Rules = append(set.Rules, r)
	}
	return set, nil
}

type lineErr struct {
	line int
	err  error
}

type compiler struct {
	idx          *schemaIndex
	formCode     string
	formCodeLine int
}

// scopeErr is a mistake in a scope, with the key it is about (each or forms).
type scopeErr struct {
	key string
	err error
}

func (e *scopeErr) Error() string { return e.key + ": " + e.err.Error() }

// scopeOf compiles a scope: each names one list of objects of the definition (an absolute
// path without "[]"); forms, when given, are codes of the list's form-code field.
func (c compiler) scopeOf(each string, forms []string) (*scope, map[string]any, *scopeErr) {
	bad := func(key, format string, args ...any) *scopeErr {
		return &scopeErr{key, fmt.Errorf(format, args...)}
	}
	p, err := parsePath(each)
	if err != nil {
		return nil, nil, bad("each", "%v", err)
	}
	if !p.abs || p.many() {
		return nil, nil, bad("each", "%q must name one list from the dossier's root, like /taiLieu", each)
	}
	l, err := c.idx.at(nil, p)
	if err != nil {
		return nil, nil, bad("each", "%v", err)
	}
	items, _ := l.node["items"].(map[string]any)
	items = c.idx.resolve(items)
	if l.typ != "array" || items["type"] != "object" {
		return nil, nil, bad("each", "%q is %s, want a list of objects", each, l.describe())
	}
	s := &scope{list: p}
	if len(forms) == 0 {
		return s, items, nil
	}
	if c.formCode == "" {
		return nil, nil, bad("forms", "the file names no formCode (the field of an element that holds its form code)")
	}
	code, err := c.idx.at(items, path{steps: []step{{key: c.formCode}}})
	if err != nil || code.typ != "string" || len(code.enum) == 0 {
		return nil, nil, bad("forms", "formCode %q is not a string field with a list of form codes in the elements of %s", c.formCode, each)
	}
	for _, f := range forms {
		if !slices.Contains(code.enum, any(f)) {
			return nil, nil, bad("forms", "%q is not a form code of %s/%s", f, each, c.formCode)
		}
	}
	s.code, s.forms = c.formCode, slices.Clone(forms)
	return s, items, nil
}

func (c compiler) compile(rd ruleDoc, node *yaml.Node) (*Rule, *lineErr) {
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
	r := &Rule{ID: rd.ID, Kind: rd.Kind, Message: rd.Message, MessageVi: rd.MessageVi, params: map[string][]ref{}}
	var base map[string]any // the declaration paths are read from; nil is the root
	switch {
	case rd.Each != "":
		s, items, serr := c.scopeOf(rd.Each, rd.Forms)
		if serr != nil {
			return nil, fail(serr.key, "rule %s: %v", rd.ID, serr)
		}
		r.scope, base = s, items
	case rd.Forms != nil:
		return nil, fail("forms", "rule %s: forms without each", rd.ID)
	}
	if lerr := checkListKind(rd, k, r, fail); lerr != nil {
		return nil, lerr
	}
	switch {
	case k.after && len(rd.After) == 0:
		return nil, fail("kind", "rule %s: kind %s needs after", rd.ID, rd.Kind)
	case k.after:
		s, _, serr := c.scopeOf(rd.Each, rd.After)
		if serr != nil {
			return nil, fail("after", "rule %s: after: %v", rd.ID, serr.err)
		}
		for _, f := range rd.After {
			if slices.Contains(rd.Forms, f) {
				return nil, fail("after", "rule %s: after: %q is in forms too", rd.ID, f)
			}
		}
		r.after = s
	case rd.After != nil:
		return nil, fail("after", "rule %s: kind %s takes no \"after\"", rd.ID, rd.Kind)
	}
	given := map[string][]term{}
	put := func(key string, v []term, set bool) {
		if set {
			given[key] = v
		}
	}
	one := func(s string) []term { return []term{{Path: s}} }
	put("total", one(rd.Total), rd.Total != "")
	put("items", rd.Items, rd.Items != nil)
	put("amount", one(rd.Amount), rd.Amount != "")
	put("words", one(rd.Words), rd.Words != "")
	put("left", rd.Left, rd.Left != nil)
	put("right", rd.Right, rd.Right != nil)
	put("dates", rd.Dates, rd.Dates != nil)
	put("year", one(rd.Year), rd.Year != "")
	put("values", rd.Values, rd.Values != nil)
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
		for _, t := range raw {
			rf, err := c.ref(t, base, ps)
			if err != nil {
				return nil, fail(ps.key, "rule %s: %s: %v", rd.ID, ps.key, err)
			}
			r.params[ps.key] = append(r.params[ps.key], rf)
			r.Fields = append(r.Fields, t.String())
		}
	}
	for key := range given {
		if !known[key] {
			return nil, fail(key, "rule %s: kind %s takes no %q", rd.ID, rd.Kind, key)
		}
	}
	return r, nil
}

// checkListKind checks what a kind of the whole list needs (a scope; forms; min and max)
// and refuses min and max on any other kind; it sets r's bounds.
func checkListKind(rd ruleDoc, k kind, r *Rule, fail func(key, format string, args ...any) *lineErr) *lineErr {
	if k.list && rd.Each == "" {
		return fail("kind", "rule %s: kind %s needs each (the list it is about)", rd.ID, rd.Kind)
	}
	if k.forms && len(rd.Forms) == 0 {
		return fail("kind", "rule %s: kind %s needs forms", rd.ID, rd.Kind)
	}
	if !k.counts {
		for key, v := range map[string]*int{"min": rd.Min, "max": rd.Max} {
			if v != nil {
				return fail(key, "rule %s: kind %s takes no %q", rd.ID, rd.Kind, key)
			}
		}
		return nil
	}
	if rd.Min == nil && rd.Max == nil {
		return fail("kind", "rule %s: kind %s needs min or max", rd.ID, rd.Kind)
	}
	r.min, r.max = 0, -1
	if rd.Min != nil {
		r.min = *rd.Min
	}
	if rd.Max != nil {
		r.max = *rd.Max
	}
	if r.min < 0 || (rd.Max != nil && (r.max < r.min || r.max < 0)) {
		return fail("max", "rule %s: want 0 <= min <= max", rd.ID)
	}
	return nil
}

// String is the term as written.
func (t term) String() string {
	if t.Each == "" {
		return t.Path
	}
	if len(t.Forms) == 0 {
		return t.Each + "[]/" + t.Path
	}
	return t.Each + "[" + strings.Join(t.Forms, ",") + "]/" + t.Path
}

// ref compiles one term of parameter ps, read from the declaration base.
func (c compiler) ref(t term, base map[string]any, ps paramSpec) (ref, error) {
	var rf ref
	if t.Each != "" || t.Forms != nil {
		if ps.single {
			return rf, fmt.Errorf("%q must name one value (no each)", t.String())
		}
		if t.Each == "" {
			return rf, fmt.Errorf("forms without each")
		}
		s, items, serr := c.scopeOf(t.Each, t.Forms)
		if serr != nil {
			return rf, serr
		}
		rf.over, base = s, items
	}
	p, err := parsePath(t.Path)
	if err != nil {
		return rf, err
	}
	if rf.over != nil && p.abs {
		return rf, fmt.Errorf("path %q of a term with each is read in each element: write it without a leading /", t.Path)
	}
	if ps.single && p.many() {
		return rf, fmt.Errorf("%q must name one value (no [])", t.Path)
	}
	l, err := c.idx.at(base, p)
	if err != nil {
		return rf, err
	}
	if msg := l.fits(ps.want); msg != "" {
		return rf, fmt.Errorf("%q is %s, want %s", t.Path, l.describe(), msg)
	}
	rf.p = p
	return rf, nil
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

// env is where a rule reads its values: the dossier, and the element of its scope in turn
// (the dossier itself for a rule without one).
type env struct {
	root    any
	elem    any
	pointer string
}

// values returns every value of rf in this environment.
func (e env) values(rf ref) []located {
	var out []located
	e.visit(rf, true, func(l located) { out = append(out, l) })
	return out
}

// visit calls fn with every value of rf in this environment, with their pointers if ptrs.
func (e env) visit(rf ref, ptrs bool, fn func(located)) {
	switch {
	case rf.over != nil:
		for _, el := range rf.over.elements(e.root) {
			rf.p.visit(el.value, el.pointer, ptrs, fn)
		}
	case rf.p.abs:
		rf.p.visit(e.root, "", ptrs, fn)
	default:
		rf.p.visit(e.elem, e.pointer, ptrs, fn)
	}
}

// one returns the value of a single-value ref, if present.
func (e env) one(rf ref) (located, bool) {
	if vs := e.values(rf); len(vs) > 0 {
		return vs[0], true
	}
	return located{}, false
}

// Check runs every rule on a dossier value that passed its definition and returns every
// failing rule, in file order, once for each element of its scope that fails it; none means
// the dossier keeps every rule.
func (s *Set) Check(v any) []Violation {
	if s == nil {
		return nil
	}
	var out []Violation
	for _, r := range s.Rules {
		envs := []env{{root: v, elem: v}}
		if r.scope != nil && !kinds[r.Kind].list {
			envs = envs[:0]
			for _, el := range r.scope.elements(v) {
				envs = append(envs, env{root: v, elem: el.value, pointer: el.pointer})
			}
		}
		for _, e := range envs {
			ok, bad := kinds[r.Kind].check(r, e)
			if ok {
				continue
			}
			if len(bad) == 0 {
				bad = []string{e.pointer}
			}
			out = append(out, Violation{ID: r.ID, Kind: r.Kind, Paths: bad, Message: r.Message, MessageVi: r.MessageVi})
		}
	}
	return out
}

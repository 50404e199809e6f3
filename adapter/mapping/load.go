package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fileYAML is the shape of mappings/<procedure>/mapping.yaml.
type fileYAML struct {
	Procedure   string         `yaml:"procedure"`
	Description string         `yaml:"description"`
	Fields      []ruleYAML     `yaml:"fields"`
	Unmapped    []unmappedYAML `yaml:"unmapped"`
}

// ruleYAML is one entry of fields: a request path and where its value comes from.
type ruleYAML struct {
	To        string    `yaml:"to"`
	From      string    `yaml:"from"`
	Const     yaml.Node `yaml:"const"`
	Transform string    `yaml:"transform"`
	Table     string    `yaml:"table"`
	Default   yaml.Node `yaml:"default"`
}

// unmappedYAML names a dossier field that deliberately does not reach the request, and why.
type unmappedYAML struct {
	Path   string `yaml:"path"`
	Reason string `yaml:"reason"`
}

// contextSources are the values a rule can take from the request context instead of the
// dossier, by their name in mapping files.
var contextSources = map[string]func(Context) string{
	"@procedure":     func(c Context) string { return c.Procedure },
	"@procedureCode": func(c Context) string { return c.ProcedureCode },
}

// Load reads mappings/<procedure>/mapping.yaml and the code tables it uses from fsys (the
// mappings folder, e.g. mappings.FS) and checks every rule against the dossier schema of the
// procedure and the treasury request schema. Any mistake is a *LoadError naming file and line.
func Load(fsys fs.FS, procedure string, dossierSchema, requestSchema []byte) (*Mapping, error) {
	if !validKey(procedure) {
		return nil, fmt.Errorf("mapping: bad procedure id %q", procedure)
	}
	src, err := parseSchema(dossierSchema)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: dossier %w", procedure, err)
	}
	dst, err := parseSchema(requestSchema)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: request %w", procedure, err)
	}
	l := &loader{fsys: fsys, file: procedure + "/mapping.yaml", src: src, dst: dst,
		tables: make(map[string]*codeTable)}
	var f fileYAML
	top, err := root.Read(fsys, l.file, &f)
	if err != nil {
		return nil, err
	}
	if f.Procedure != procedure {
		return nil, loadErr(l.file, top.Line, "procedure: is %q, want %q (the folder name)", f.Procedure, procedure)
	}
	if len(f.Fields) == 0 {
		return nil, loadErr(l.file, top.Line, "fields: no rules")
	}
	ruleLines, unmappedLines := itemLines(top, "fields"), itemLines(top, "unmapped")
	m := &Mapping{procedure: procedure, rules: make([]rule, 0, len(f.Fields))}
	for i, ry := range f.Fields {
		r, err := l.compile(ry, ruleLines[i])
		if err != nil {
			return nil, err
		}
		m.rules = append(m.rules, r)
	}
	if err := l.crossCheck(m.rules); err != nil {
		return nil, err
	}
	if err := l.coverage(m.rules, f.Unmapped, unmappedLines, top.Line); err != nil {
		return nil, err
	}
	return m, nil
}

// itemLines returns the line of each item of the list under key.
func itemLines(top *yaml.Node, key string) []int {
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == key {
			var lines []int
			for _, item := range top.Content[i+1].Content {
				lines = append(lines, item.Line)
			}
			return lines
		}
	}
	return nil
}

type loader struct {
	fsys     fs.FS
	file     string
	src, dst *schemaDoc
	tables   map[string]*codeTable
}

// compile checks one rule on its own and turns it into its executable form.
func (l *loader) compile(ry ruleYAML, line int) (rule, error) {
	fail := func(format string, args ...any) (rule, error) {
		return rule{}, loadErr(l.file, line, format, args...)
	}
	r := rule{toText: ry.To, fromText: ry.From, line: line}
	var err error
	if ry.To == "" {
		return fail("to: missing")
	}
	if r.to, err = parseTarget(ry.To); err != nil {
		return fail("to: %v", err)
	}
	target, err := l.dst.lookup(r.to)
	if err != nil {
		return fail("to %q is not in the request schema: %v", ry.To, err)
	}
	if !target.free && target.isContainer() {
		return fail("to %q is an object or array in the request schema: map its fields one by one", ry.To)
	}
	if last := r.to[len(r.to)-1]; !last.each && last.index < 0 {
		holder, err := l.dst.lookup(r.to[:len(r.to)-1])
		if err != nil {
			return fail("to %q is not in the request schema: %v", ry.To, err)
		}
		r.omitEmpty = holder.optional(last.key)
	}
	hasConst := ry.Const.Kind != 0
	switch {
	case hasConst && ry.From != "":
		return fail("from and const are exclusive")
	case !hasConst && ry.From == "":
		return fail("rule for %q needs from or const", ry.To)
	case hasConst && (ry.Transform != "" || ry.Table != "" || ry.Default.Kind != 0):
		return fail("a const rule takes no transform, table or default")
	}
	if hasConst {
		if r.to.levels() > 0 {
			return fail("const cannot write into %q: nothing says how many elements; use an index like [0]", ry.To)
		}
		r.isConst = true
		if r.value, err = scalar(&ry.Const, func(s string) any { n, _ := strconv.ParseInt(s, 10, 64); return n }); err != nil {
			return fail("const: %v", err)
		}
		return r, checkTarget(l.file, line, ry.To, target, kindOf(r.value))
	}

	name := ry.Transform
	if name == "" {
		name = "copy"
	}
	tr, ok := transforms[name]
	if !ok {
		return fail("unknown transform %q", name)
	}
	r.fn = tr.fn
	if (name == "code") != (ry.Table != "") {
		if name == "code" {
			return fail("transform code needs a table")
		}
		return fail("table %q is only used by transform code", ry.Table)
	}
	if ry.Table != "" {
		if r.table, err = l.table(ry.Table, line); err != nil {
			return rule{}, err
		}
	}

	var source node
	if get, ok := contextSources[ry.From]; ok {
		if r.to.levels() > 0 {
			return fail("%s is a single value; it cannot fill %q", ry.From, ry.To)
		}
		if ry.Default.Kind != 0 {
			return fail("%s always has a value; default is not allowed", ry.From)
		}
		r.ctx = get
		source = node{views: []map[string]any{{"type": "string"}}}
	} else if strings.HasPrefix(ry.From, "@") {
		return fail("unknown context value %q (known: @procedure, @procedureCode)", ry.From)
	} else {
		if r.from, err = parseSource(ry.From); err != nil {
			return fail("from: %v", err)
		}
		if source, err = l.src.lookup(r.from); err != nil {
			return fail("from %q is not in the dossier schema: %v", ry.From, err)
		}
		if !source.free && source.isContainer() {
			return fail("from %q is an object or array: map its fields one by one", ry.From)
		}
		if f, t := r.from.levels(), r.to.levels(); f != t {
			return fail("from %q has %d [] level(s) but to %q has %d", ry.From, f, ry.To, t)
		}
	}
	out, err := l.checkSource(name, tr, source, r.table)
	if err != nil {
		return fail("from %q: %v", ry.From, err)
	}
	if err := checkTarget(l.file, line, ry.To, target, out); err != nil {
		return rule{}, err
	}
	if ry.Default.Kind != 0 {
		v, err := scalar(&ry.Default, func(s string) any { return json.Number(s) })
		if err != nil {
			return fail("default: %v", err)
		}
		if r.def, err = tr.fn(v, r.table); err != nil {
			return fail("default: %v", err)
		}
		r.hasDef = true
		if err := checkTarget(l.file, line, ry.To, target, kindOf(r.def)); err != nil {
			return rule{}, err
		}
	}
	return r, nil
}

// checkSource checks that the dossier field suits the transform and returns the output kind.
func (l *loader) checkSource(name string, tr transform, source node, t *codeTable) (kind, error) {
	in := sourceKind(source)
	if tr.in != kindAny && in != kindAny && in != tr.in {
		return 0, fmt.Errorf("transform %s needs a field of type %s, this one is %s", name, tr.in, in)
	}
	if f := source.format(); tr.format != "" && f != "" && f != tr.format {
		return 0, fmt.Errorf("transform %s needs format %q, the field declares %q", name, tr.format, f)
	}
	if t != nil {
		if vals, ok := source.enum(); ok {
			for _, v := range vals {
				if _, ok := t.codes[v]; !ok {
					return 0, fmt.Errorf("code table %s has no entry for %q, which the dossier schema allows", t.name, v)
				}
			}
		}
	}
	if tr.out == kindAny {
		return in, nil
	}
	return tr.out, nil
}

// table loads a code table once; a missing file is an unknown table at the rule's line.
func (l *loader) table(name string, line int) (*codeTable, error) {
	if t, ok := l.tables[name]; ok {
		return t, nil
	}
	if !validKey(name) {
		return nil, loadErr(l.file, line, "unknown code table %q", name)
	}
	if _, err := fs.Stat(l.fsys, tablePath(name)); errors.Is(err, fs.ErrNotExist) {
		return nil, loadErr(l.file, line, "unknown code table %q (no mappings/%s)", name, tablePath(name))
	}
	t, err := loadTable(l.fsys, name)
	if err != nil {
		return nil, err
	}
	l.tables[name] = t
	return t, nil
}

// sourceKind is the single scalar kind a schema declares, kindAny when unknown or several.
func sourceKind(n node) kind {
	k := kindAny
	for _, t := range n.types() {
		var tk kind
		switch t {
		case "string":
			tk = kindString
		case "integer":
			tk = kindInteger
		case "boolean":
			tk = kindBool
		default:
			return kindAny
		}
		if k != kindAny && k != tk {
			return kindAny
		}
		k = tk
	}
	return k
}

// checkTarget checks that the request schema accepts a value of kind k at to. A rule that may
// give a value of any kind (a copy of a dossier field without one declared type) is refused
// where the request wants a type: every value Apply writes has a type the request accepts.
func checkTarget(file string, line int, to string, target node, k kind) error {
	if target.free || len(target.types()) == 0 || k != kindAny && target.is(k.schemaType()) {
		return nil
	}
	want := strings.Join(target.types(), " or ")
	if k == kindAny {
		return loadErr(file, line, "to %q wants %s, the rule may give any type (the dossier field declares no single type)", to, want)
	}
	return loadErr(file, line, "to %q wants %s, the rule gives a %s", to, want, k)
}

func kindOf(v any) kind {
	switch v.(type) {
	case string:
		return kindString
	case int64:
		return kindInteger
	case bool:
		return kindBool
	}
	return kindAny
}

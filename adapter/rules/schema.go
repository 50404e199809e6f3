package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// leaf is what a definition says of the value at a path.
type leaf struct {
	typ    string // "string", "integer", "object", "array", ...
	format string
	enum   []any
	node   map[string]any // the declaration itself, resolved
}

// schemaIndex answers what a dossier definition declares at a path: properties of objects,
// items of arrays, local "#/$defs/…" references.
type schemaIndex struct{ root map[string]any }

func newSchemaIndex(raw []byte) (*schemaIndex, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil || root == nil {
		return nil, fmt.Errorf("definition is not a JSON object: %v", err)
	}
	return &schemaIndex{root: root}, nil
}

func (x *schemaIndex) resolve(n map[string]any) map[string]any {
	for range 16 {
		ref, ok := n["$ref"].(string)
		if !ok {
			return n
		}
		name, _ := strings.CutPrefix(ref, "#/$defs/")
		defs, _ := x.root["$defs"].(map[string]any)
		t, _ := defs[name].(map[string]any)
		if t == nil {
			return map[string]any{}
		}
		n = t
	}
	return map[string]any{}
}

// at returns the declaration of the value at p read from the declaration from (the dossier's
// root, or the element of a rule's scope; an absolute path always reads from the root), or an
// error naming the first step the definition does not have.
func (x *schemaIndex) at(from map[string]any, p path) (leaf, error) {
	n := from
	if p.abs || n == nil {
		n = x.root
	}
	n = x.resolve(n)
	for i, st := range p.steps {
		props, _ := n["properties"].(map[string]any)
		next, ok := props[st.key].(map[string]any)
		if n["type"] != "object" || !ok {
			return leaf{}, fmt.Errorf("the definition has no field %q", path{abs: p.abs, steps: p.steps[:i+1]})
		}
		n = x.resolve(next)
		if st.each {
			if n["type"] != "array" {
				return leaf{}, fmt.Errorf("%q is not a list in the definition", path{abs: p.abs, steps: p.steps[:i+1]})
			}
			items, _ := n["items"].(map[string]any)
			n = x.resolve(items)
		} else if n["type"] == "array" && i < len(p.steps)-1 {
			return leaf{}, fmt.Errorf("%q is a list in the definition: write %s[]", path{abs: p.abs, steps: p.steps[:i+1]}, st.key)
		}
	}
	t, _ := n["type"].(string)
	f, _ := n["format"].(string)
	e, _ := n["enum"].([]any)
	return leaf{typ: t, format: f, enum: e, node: n}, nil
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

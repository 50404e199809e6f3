package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// leaf is what a definition says of the value at a path.
type leaf struct {
	typ    string // "string", "integer", ...
	format string
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

// at returns the declaration of the value at p, or an error naming the first step the
// definition does not have.
func (x *schemaIndex) at(p path) (leaf, error) {
	n := x.resolve(x.root)
	for i, st := range p {
		props, _ := n["properties"].(map[string]any)
		next, ok := props[st.key].(map[string]any)
		if n["type"] != "object" || !ok {
			return leaf{}, fmt.Errorf("the definition has no field %q", joinSteps(p[:i+1]))
		}
		n = x.resolve(next)
		if st.each {
			if n["type"] != "array" {
				return leaf{}, fmt.Errorf("%q is not a list in the definition", joinSteps(p[:i+1]))
			}
			items, _ := n["items"].(map[string]any)
			n = x.resolve(items)
		} else if n["type"] == "array" {
			return leaf{}, fmt.Errorf("%q is a list in the definition: write %s[]", joinSteps(p[:i+1]), st.key)
		}
	}
	t, _ := n["type"].(string)
	f, _ := n["format"].(string)
	return leaf{typ: t, format: f}, nil
}

func joinSteps(p path) string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(s.key)
		if s.each {
			b.WriteString("[]")
		}
	}
	return b.String()
}

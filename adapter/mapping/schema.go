package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// maxSchemaDepth bounds $ref chains and nesting, so a cyclic schema cannot loop.
const maxSchemaDepth = 32

// schemaDoc is a JSON Schema read just far enough to check paths: properties, items,
// additionalProperties, local $ref ("#/$defs/..."), allOf/anyOf/oneOf, type, enum and format.
type schemaDoc struct {
	root map[string]any
}

func parseSchema(raw []byte) (*schemaDoc, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	if root == nil {
		return nil, errors.New("schema: not a JSON object")
	}
	return &schemaDoc{root: root}, nil
}

// node is one place in the schema: every subschema that applies to the value there.
type node struct {
	views []map[string]any
	free  bool // nothing declared: any sub-path is accepted, any type
}

func (d *schemaDoc) at(s any) (node, error) {
	var n node
	switch s := s.(type) {
	case bool:
		if !s {
			return n, errors.New("schema forbids any value here")
		}
		n.free = true
		return n, nil
	case map[string]any:
		if err := d.collect(s, &n.views, 0); err != nil {
			return n, err
		}
		return n, nil
	default:
		return n, fmt.Errorf("schema: unexpected %T", s)
	}
}

// collect adds s and the schemas it pulls in ($ref, allOf, anyOf, oneOf) to views.
func (d *schemaDoc) collect(s map[string]any, views *[]map[string]any, depth int) error {
	if depth > maxSchemaDepth {
		return errors.New("schema: $ref or composition nested too deep")
	}
	*views = append(*views, s)
	if ref, ok := s["$ref"].(string); ok {
		target, err := d.resolve(ref)
		if err != nil {
			return err
		}
		if err := d.collect(target, views, depth+1); err != nil {
			return err
		}
	}
	for _, kw := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := s[kw].([]any)
		for _, sub := range list {
			if m, ok := sub.(map[string]any); ok {
				if err := d.collect(m, views, depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// resolve follows a local JSON pointer such as "#/$defs/soTien".
func (d *schemaDoc) resolve(ref string) (map[string]any, error) {
	ptr, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, fmt.Errorf("schema: $ref %q: only local references are supported", ref)
	}
	var cur any = d.root
	if ptr != "" {
		for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
			tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("schema: $ref %q does not resolve", ref)
			}
			if cur, ok = m[tok]; !ok {
				return nil, fmt.Errorf("schema: $ref %q does not resolve", ref)
			}
		}
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schema: $ref %q is not a schema object", ref)
	}
	return m, nil
}

// types lists the JSON types declared for the value ("string", "integer", ...); empty when
// nothing is declared.
func (n node) types() []string {
	var out []string
	for _, v := range n.views {
		switch t := v["type"].(type) {
		case string:
			out = append(out, t)
		case []any:
			for _, e := range t {
				if s, ok := e.(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

func (n node) is(typ string) bool {
	ts := n.types()
	return slices.Contains(ts, typ) || typ == "number" && slices.Contains(ts, "integer")
}

func (n node) declared(kw string) bool {
	for _, v := range n.views {
		if _, ok := v[kw]; ok {
			return true
		}
	}
	return false
}

func (n node) format() string {
	for _, v := range n.views {
		if f, ok := v["format"].(string); ok {
			return f
		}
	}
	return ""
}

// enum returns the allowed values (enum or const) as strings, ok false when unrestricted.
func (n node) enum() (vals []string, ok bool) {
	for _, v := range n.views {
		if list, has := v["enum"].([]any); has {
			for _, e := range list {
				vals = append(vals, fmt.Sprint(e))
			}
			return vals, true
		}
		if c, has := v["const"]; has {
			return []string{fmt.Sprint(c)}, true
		}
	}
	return nil, false
}

// optional reports whether key is a declared property of the object n that n does not require
// (a property accepted only through additionalProperties or a free-form object is not declared).
func (n node) optional(key string) bool {
	declared, required := false, false
	for _, v := range n.views {
		if props, ok := v["properties"].(map[string]any); ok {
			if _, ok := props[key]; ok {
				declared = true
			}
		}
		if list, ok := v["required"].([]any); ok && slices.Contains(list, any(key)) {
			required = true
		}
	}
	return declared && !required
}

// isContainer reports whether the value is declared as an object or an array.
func (n node) isContainer() bool {
	return n.is("object") || n.is("array") || n.declared("properties") || n.declared("items")
}

// property returns the schema of field key of an object.
func (d *schemaDoc) property(n node, key string) (node, error) {
	if n.free {
		return n, nil
	}
	if len(n.types()) > 0 && !n.is("object") {
		return node{}, fmt.Errorf("%q is looked up in a value that is not an object", key)
	}
	for _, v := range n.views {
		if props, ok := v["properties"].(map[string]any); ok {
			if sub, ok := props[key]; ok {
				return d.at(sub)
			}
		}
	}
	var extra any
	for _, v := range n.views {
		if ap, ok := v["additionalProperties"]; ok {
			if ap == false {
				return node{}, fmt.Errorf("%q is not declared", key)
			}
			extra = ap
		}
	}
	if extra != nil {
		return d.at(extra)
	}
	if n.declared("properties") {
		return node{}, fmt.Errorf("%q is not declared", key)
	}
	return node{free: true}, nil
}

// items returns the schema of the elements of an array.
func (d *schemaDoc) items(n node, key string) (node, error) {
	if n.free {
		return n, nil
	}
	for _, v := range n.views {
		if it, ok := v["items"]; ok {
			return d.at(it)
		}
	}
	if n.is("array") {
		return node{free: true}, nil
	}
	return node{}, fmt.Errorf("%q is not an array", key)
}

// lookup walks p from the root and returns the schema of its last step.
func (d *schemaDoc) lookup(p path) (node, error) {
	n, err := d.at(d.root)
	if err != nil {
		return n, err
	}
	for _, s := range p {
		if n, err = d.property(n, s.key); err != nil {
			return n, err
		}
		if s.each || s.index >= 0 {
			if n, err = d.items(n, s.key); err != nil {
				return n, err
			}
		} else if !n.free && (n.is("array") || n.declared("items")) {
			return n, fmt.Errorf("%q is an array: write %s[]", s.key, s.key)
		}
	}
	return n, nil
}

// leaves lists every value path of the schema in source syntax ("taiLieu[]/dongChiTiet[]/soTien").
func (d *schemaDoc) leaves() ([]string, error) {
	root, err := d.at(d.root)
	if err != nil {
		return nil, err
	}
	var out []string
	err = d.walkLeaves(root, "", 0, &out)
	return out, err
}

func (d *schemaDoc) walkLeaves(n node, prefix string, depth int, out *[]string) error {
	if depth > maxSchemaDepth {
		return errors.New("schema: nested too deep")
	}
	if n.declared("properties") {
		var keys []string
		for _, v := range n.views {
			props, _ := v["properties"].(map[string]any)
			for k := range props {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range slices.Compact(keys) {
			child, err := d.property(n, k)
			if err != nil {
				return err
			}
			p := k
			if prefix != "" {
				p = prefix + "/" + k
			}
			if err := d.walkLeaves(child, p, depth+1, out); err != nil {
				return err
			}
		}
		return nil
	}
	if n.is("array") || n.declared("items") {
		elem, err := d.items(n, prefix)
		if err != nil {
			return err
		}
		return d.walkLeaves(elem, prefix+"[]", depth+1, out)
	}
	*out = append(*out, prefix)
	return nil
}

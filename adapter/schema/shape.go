package schema

import (
	"fmt"
	"sort"
	"strings"
)

// shape is what the XML reader needs to know of the definition: which
// elements are objects, arrays, integers or strings.
type shape struct {
	kind  string // "object", "array", "integer", "string"
	props map[string]*shape
	items *shape
}

func buildShape(root, s map[string]any, at string) (*shape, error) {
	if ref, ok := s["$ref"].(string); ok {
		name, found := strings.CutPrefix(ref, "#/$defs/")
		defs, _ := root["$defs"].(map[string]any)
		target, _ := defs[name].(map[string]any)
		if !found || target == nil {
			return nil, fmt.Errorf("%s: unresolvable $ref %q", at, ref)
		}
		return buildShape(root, target, ref)
	}
	t, _ := s["type"].(string)
	switch t {
	case "object":
		sh := &shape{kind: "object", props: map[string]*shape{}}
		props, _ := s["properties"].(map[string]any)
		names := make([]string, 0, len(props))
		for n := range props {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			ps, ok := props[n].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s/properties/%s: not an object", at, n)
			}
			c, err := buildShape(root, ps, at+"/properties/"+n)
			if err != nil {
				return nil, err
			}
			sh.props[n] = c
		}
		return sh, nil
	case "array":
		items, ok := s["items"].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: array without items", at)
		}
		c, err := buildShape(root, items, at+"/items")
		if err != nil {
			return nil, err
		}
		if c.kind == "array" {
			return nil, fmt.Errorf("%s: arrays of arrays have no XML form", at)
		}
		return &shape{kind: "array", items: c}, nil
	case "integer", "string":
		return &shape{kind: t}, nil
	default:
		return nil, fmt.Errorf("%s: type %q has no XML form (use object, array, integer or string)", at, t)
	}
}

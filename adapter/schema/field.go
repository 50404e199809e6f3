package schema

import (
	"encoding/json"
	"fmt"
	"strings"
)

// RequiredString checks that path (property names separated by "/", as in
// a mapping's source paths, without arrays) names a string that every
// valid dossier of the definition has: each step a required property of an
// object, the last one a string.
func (d *Definition) RequiredString(path string) error {
	var root map[string]any
	if err := json.Unmarshal(d.Raw, &root); err != nil {
		return fmt.Errorf("document: %s: %w", d.Procedure, err)
	}
	if path == "" {
		return fmt.Errorf("document: %s: empty field path", d.Procedure)
	}
	node := root
	for i, name := range strings.Split(path, "/") {
		node = resolve(root, node)
		props, _ := node["properties"].(map[string]any)
		next, ok := props[name].(map[string]any)
		if node["type"] != "object" || !ok {
			return fmt.Errorf("document: %s: %s: no property %q", d.Procedure, path, strings.Join(strings.Split(path, "/")[:i+1], "/"))
		}
		required := false
		list, _ := node["required"].([]any)
		for _, r := range list {
			required = required || r == name
		}
		if !required {
			return fmt.Errorf("document: %s: %s: %q is not required", d.Procedure, path, name)
		}
		node = next
	}
	if resolve(root, node)["type"] != "string" {
		return fmt.Errorf("document: %s: %s is not a string", d.Procedure, path)
	}
	return nil
}

// resolve follows local "#/$defs/<name>" references.
func resolve(root, node map[string]any) map[string]any {
	for range 16 {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node
		}
		name, _ := strings.CutPrefix(ref, "#/$defs/")
		defs, _ := root["$defs"].(map[string]any)
		target, _ := defs[name].(map[string]any)
		if target == nil {
			return map[string]any{}
		}
		node = target
	}
	return map[string]any{}
}

// StringAt returns the string at path (as for RequiredString) of a dossier
// value, "" when there is none.
func StringAt(v any, path string) string {
	for name := range strings.SplitSeq(path, "/") {
		obj, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = obj[name]
	}
	s, _ := v.(string)
	return s
}

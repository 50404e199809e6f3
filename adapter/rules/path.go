package rules

import (
	"fmt"
	"strings"
)

// A path names values of a dossier as mappings name them: keys separated by "/", a key
// ending in "[]" stands for every element of the array under it
// ("chungTu/dongChiTiet[]/soTien"). A path without "[]" names at most one value.
type path []step

type step struct {
	key  string
	each bool
}

func parsePath(s string) (path, error) {
	if s == "" {
		return nil, fmt.Errorf("empty path")
	}
	var p path
	for part := range strings.SplitSeq(s, "/") {
		st := step{key: part}
		if k, ok := strings.CutSuffix(part, "[]"); ok {
			st = step{key: k, each: true}
		}
		if !validKey(st.key) {
			return nil, fmt.Errorf("path %q: bad field name %q", s, part)
		}
		p = append(p, st)
	}
	return p, nil
}

func (p path) many() bool {
	for _, s := range p {
		if s.each {
			return true
		}
	}
	return false
}

// validKey accepts ASCII letters, digits, '_' and '-', as mapping paths do.
func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// located is one value found at a path, with its JSON Pointer ("/chungTu/dongChiTiet/1/soTien").
type located struct {
	pointer string
	value   any
}

// values returns every value at p in v, in document order; absent values are skipped.
func (p path) values(v any) []located {
	out := []located{}
	var walk func(v any, i int, ptr string)
	walk = func(v any, i int, ptr string) {
		if i == len(p) {
			out = append(out, located{ptr, v})
			return
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		next, ok := obj[p[i].key]
		if !ok || next == nil {
			return
		}
		ptr += "/" + p[i].key
		if !p[i].each {
			walk(next, i+1, ptr)
			return
		}
		list, ok := next.([]any)
		if !ok {
			return
		}
		for k, e := range list {
			walk(e, i+1, fmt.Sprintf("%s/%d", ptr, k))
		}
	}
	walk(v, 0, "")
	return out
}

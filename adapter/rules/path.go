package rules

import (
	"fmt"
	"strconv"
	"strings"
)

// A path names values of a dossier as mappings name them: keys separated by "/", a key
// ending in "[]" stands for every element of the array under it ("dongChiTiet[]/soTien").
// A path without "[]" names at most one value. Inside a rule with a scope (each), a path is
// read from the element ("tongSoTien"), and a path starting with "/" from the dossier
// ("/nienDo"); without a scope both read from the dossier.
type path struct {
	abs   bool
	steps []step
}

type step struct {
	key  string
	each bool
}

func parsePath(s string) (path, error) {
	p := path{}
	rest, abs := strings.CutPrefix(s, "/")
	p.abs = abs
	if rest == "" {
		return p, fmt.Errorf("empty path")
	}
	for part := range strings.SplitSeq(rest, "/") {
		st := step{key: part}
		if k, ok := strings.CutSuffix(part, "[]"); ok {
			st = step{key: k, each: true}
		}
		if !validKey(st.key) {
			return p, fmt.Errorf("path %q: bad field name %q", s, part)
		}
		p.steps = append(p.steps, st)
	}
	return p, nil
}

func (p path) many() bool {
	for _, s := range p.steps {
		if s.each {
			return true
		}
	}
	return false
}

func (p path) String() string {
	var b strings.Builder
	if p.abs {
		b.WriteByte('/')
	}
	for i, s := range p.steps {
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

// located is one value found at a path, with its JSON Pointer from the dossier's root
// ("/taiLieu/0/dongChiTiet/1/soTien").
type located struct {
	pointer string
	value   any
}

// values returns every value at p in v (whose own pointer is at), in document order; absent
// values are skipped. Keys are letters, digits, '_' and '-', so no pointer escaping is needed.
func (p path) values(v any, at string) []located {
	out := []located{}
	p.visit(v, at, true, func(l located) { out = append(out, l) })
	return out
}

// visit calls fn with every value at p in v, in document order; with ptrs false the
// pointers are left empty (adding up 10,000 lines needs no 10,000 strings).
func (p path) visit(v any, at string, ptrs bool, fn func(located)) {
	var walk func(v any, i int, ptr string)
	walk = func(v any, i int, ptr string) {
		if i == len(p.steps) {
			fn(located{ptr, v})
			return
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		next, ok := obj[p.steps[i].key]
		if !ok || next == nil {
			return
		}
		if ptrs {
			ptr += "/" + p.steps[i].key
		}
		if !p.steps[i].each {
			walk(next, i+1, ptr)
			return
		}
		list, ok := next.([]any)
		if !ok {
			return
		}
		for k, e := range list {
			if ptrs {
				walk(e, i+1, ptr+"/"+strconv.Itoa(k))
			} else {
				walk(e, i+1, "")
			}
		}
	}
	walk(v, 0, at)
}

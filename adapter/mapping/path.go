package mapping

import (
	"fmt"
	"strconv"
	"strings"
)

// step is one segment of a compiled path: a key, optionally followed by "[]" (every element of
// the array under key) or "[N]" (element N).
type step struct {
	key   string
	each  bool
	index int // fixed element index, -1 when none
}

// path is a compiled source or target path.
type path []step

// levels counts the "[]" steps.
func (p path) levels() int {
	n := 0
	for _, s := range p {
		if s.each {
			n++
		}
	}
	return n
}

// shape renders the path with array steps written as "[]" whatever their index, so that
// lines[0].amount and lines[].amount share the shape "lines[].amount".
func (p path) shape(sep string) string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(s.key)
		if s.each || s.index >= 0 {
			b.WriteString("[]")
		}
	}
	return b.String()
}

// parseSource parses a dossier path: keys separated by "/", each optionally ending in "[]" or
// "[N]" (element N only, e.g. taiLieu[0]/mauSo for the dossier's first document).
func parseSource(s string) (path, error) {
	p, err := parsePath(s, "/", true)
	if err != nil {
		return nil, err
	}
	if last := p[len(p)-1]; last.index >= 0 {
		return nil, fmt.Errorf("path %q must end with a field name, not an element", s)
	}
	return p, nil
}

// parseTarget parses a request path: keys separated by ".", each optionally ending in "[]" or
// "[N]". The last key must name a value, not an array.
func parseTarget(s string) (path, error) {
	p, err := parsePath(s, ".", true)
	if err != nil {
		return nil, err
	}
	if last := p[len(p)-1]; last.each || last.index >= 0 {
		return nil, fmt.Errorf("path %q must end with a field name, not an array", s)
	}
	return p, nil
}

func parsePath(s, sep string, allowIndex bool) (path, error) {
	if s == "" {
		return nil, fmt.Errorf("empty path")
	}
	parts := strings.Split(s, sep)
	p := make(path, 0, len(parts))
	for _, part := range parts {
		st := step{key: part, index: -1}
		if open := strings.IndexByte(part, '['); open >= 0 {
			st.key = part[:open]
			switch sub := part[open:]; {
			case sub == "[]":
				st.each = true
			case allowIndex && len(sub) > 2 && sub[len(sub)-1] == ']':
				n, err := strconv.Atoi(sub[1 : len(sub)-1])
				if err != nil || n < 0 || n > 9999 || strconv.Itoa(n) != sub[1:len(sub)-1] {
					return nil, fmt.Errorf("path %q: bad index in %q", s, part)
				}
				st.index = n
			default:
				return nil, fmt.Errorf("path %q: bad array marker in %q", s, part)
			}
		}
		if !validKey(st.key) {
			return nil, fmt.Errorf("path %q: bad field name %q", s, st.key)
		}
		p = append(p, st)
	}
	return p, nil
}

// validKey accepts the field names JSON documents here use: ASCII letters, digits, '_' and '-'.
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

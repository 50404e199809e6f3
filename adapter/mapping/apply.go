package mapping

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Apply builds the treasury request from a dossier that has passed signature verification and
// schema validation: a generic value (map[string]any, []any, string, bool, json.Number). The
// result holds only map[string]any, []any, string, bool and int64; request arrays are
// index-aligned with the dossier arrays they come from. A dossier field that is absent (or
// null) takes the rule's default, or is left out; an empty string for a field the request
// schema declares optional is left out too. Any other mismatch is an *ApplyError.
func (m *Mapping) Apply(doc any, ctx Context) (map[string]any, error) {
	if ctx.Procedure != m.procedure {
		return nil, fmt.Errorf("mapping %s: context is for procedure %q", m.procedure, ctx.Procedure)
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("mapping %s: dossier is %s, not an object", m.procedure, describe(doc))
	}
	a := applier{out: make(map[string]any, 16), procedure: m.procedure}
	idx := make([]int, 0, 4)
	for i := range m.rules {
		r := &m.rules[i]
		var err error
		switch {
		case r.isConst:
			err = a.set(r, nil, r.value)
		case r.ctx != nil:
			err = a.fromContext(r, ctx)
		default:
			err = a.walk(r, root, 0, idx)
		}
		if err != nil {
			return nil, err
		}
	}
	return a.out, nil
}

type applier struct {
	out       map[string]any
	procedure string
}

func (a *applier) fail(r *rule, idx []int, err error) error {
	return &ApplyError{Procedure: a.procedure, To: r.toText, From: location(r.from, idx, r.fromText), Err: err}
}

func (a *applier) fromContext(r *rule, ctx Context) error {
	v := r.ctx(ctx)
	if v == "" {
		return a.fail(r, nil, errors.New("the context value is empty"))
	}
	out, err := r.fn(v, r.table)
	if err != nil {
		return a.fail(r, nil, err)
	}
	return a.set(r, nil, out)
}

// walk follows r.from from cur (at step si), fanning out over arrays; idx holds the element
// index of every "[]" passed so far.
func (a *applier) walk(r *rule, cur any, si int, idx []int) error {
	for ; si < len(r.from); si++ {
		s := r.from[si]
		obj, ok := cur.(map[string]any)
		if !ok {
			return a.fail(r, idx, fmt.Errorf("%s: want an object, got %s", s.key, describe(cur)))
		}
		child, present := obj[s.key]
		if !present || child == nil {
			if r.from[si:].levels() > 0 {
				return nil // no array, no elements to fill
			}
			if r.hasDef {
				return a.set(r, idx, r.def)
			}
			return nil
		}
		if s.each {
			list, ok := child.([]any)
			if !ok {
				return a.fail(r, idx, fmt.Errorf("%s: want an array, got %s", s.key, describe(child)))
			}
			if err := a.grow(r, idx, len(list)); err != nil {
				return err
			}
			for i, el := range list {
				if err := a.walk(r, el, si+1, append(idx, i)); err != nil {
					return err
				}
			}
			return nil
		}
		if s.index >= 0 {
			list, ok := child.([]any)
			if !ok {
				return a.fail(r, idx, fmt.Errorf("%s: want an array, got %s", s.key, describe(child)))
			}
			if s.index >= len(list) || list[s.index] == nil {
				if r.from[si+1:].levels() > 0 {
					return nil
				}
				if r.hasDef {
					return a.set(r, idx, r.def)
				}
				return nil
			}
			child = list[s.index]
		}
		cur = child
	}
	v, err := r.fn(cur, r.table)
	if err != nil {
		return a.fail(r, idx, err)
	}
	return a.set(r, idx, v)
}

// grow makes sure the request array matching the next "[]" level of r exists with at least n
// elements, so that elements stay aligned even when some of them have no value for r.
func (a *applier) grow(r *rule, idx []int, n int) error {
	level := 0
	for i, s := range r.to {
		if !s.each {
			continue
		}
		if level == len(idx) {
			obj, err := a.container(r, idx, i)
			if err != nil {
				return err
			}
			_, err = ensureArray(obj, s.key, n)
			if err != nil {
				return a.fail(r, idx, err)
			}
			return nil
		}
		level++
	}
	return a.fail(r, idx, errors.New("internal: [] levels do not match"))
}

// set writes v at r.to, the "[]" steps taking their index from idx. An empty string for an
// optional request field is left out, as an absent dossier field is.
func (a *applier) set(r *rule, idx []int, v any) error {
	if r.omitEmpty && v == "" {
		return nil
	}
	last := len(r.to) - 1
	obj, err := a.container(r, idx, last)
	if err != nil {
		return err
	}
	obj[r.to[last].key] = v
	return nil
}

// container returns the object that holds step upto of r.to, creating objects and array
// elements on the way.
func (a *applier) container(r *rule, idx []int, upto int) (map[string]any, error) {
	cur, level := a.out, 0
	for _, s := range r.to[:upto] {
		if !s.each && s.index < 0 {
			next, ok := cur[s.key].(map[string]any)
			if !ok {
				if cur[s.key] != nil {
					return nil, a.fail(r, idx, fmt.Errorf("internal: %s is already a value", s.key))
				}
				next = make(map[string]any, 8)
				cur[s.key] = next
			}
			cur = next
			continue
		}
		n := s.index
		if s.each {
			if level >= len(idx) {
				return nil, a.fail(r, idx, errors.New("internal: [] levels do not match"))
			}
			n = idx[level]
			level++
		}
		list, err := ensureArray(cur, s.key, n+1)
		if err != nil {
			return nil, a.fail(r, idx, err)
		}
		if cur, _ = list[n].(map[string]any); cur == nil {
			return nil, a.fail(r, idx, fmt.Errorf("internal: %s[%d] is not an object", s.key, n))
		}
	}
	return cur, nil
}

// ensureArray returns obj[key] as an array of at least n objects, creating or extending it.
func ensureArray(obj map[string]any, key string, n int) ([]any, error) {
	cur, present := obj[key]
	list, ok := cur.([]any)
	if present && !ok {
		return nil, fmt.Errorf("internal: %s is already a value", key)
	}
	if present && len(list) >= n {
		return list, nil
	}
	if list == nil {
		list = make([]any, 0, n)
	}
	for len(list) < n {
		list = append(list, make(map[string]any, 8))
	}
	obj[key] = list
	return list, nil
}

// location renders a dossier path with the indices of the element at hand, e.g.
// "taiLieu[0]/dongChiTiet[3]/soTien".
func location(p path, idx []int, text string) string {
	if p == nil {
		return text
	}
	var b strings.Builder
	level := 0
	for i, s := range p {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(s.key)
		if s.each {
			if level < len(idx) {
				b.WriteString("[" + strconv.Itoa(idx[level]) + "]")
			} else {
				b.WriteString("[]")
			}
			level++
		} else if s.index >= 0 {
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		}
	}
	return b.String()
}

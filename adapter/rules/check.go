package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// maxReported bounds the field paths one violation lists (a sum over 10,000 lines names its
// total, not every line).
const maxReported = 20

// errNotInteger marks a value that is not an integer an amount can hold; a rule on it fails.
var errNotInteger = errors.New("not an integer")

// integer reads an amount or a year as int64: money is never a float.
func integer(v any) (int64, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		s = strings.TrimSpace(x)
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	default:
		return 0, errNotInteger
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	return integralNumber(s)
}

// integralNumber reads a JSON number written with a fraction or an exponent that is still an
// integer (187500000.0, 1.875e8), as the definition accepts it; small exponents only, so that
// a hostile "1e999999999" costs nothing.
func integralNumber(s string) (int64, error) {
	if len(s) > 64 {
		return 0, errNotInteger
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		exp, err := strconv.Atoi(s[i+1:])
		if err != nil || exp < -64 || exp > 64 {
			return 0, errNotInteger
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || !r.IsInt() || !r.Num().IsInt64() {
		return 0, errNotInteger
	}
	return r.Num().Int64(), nil
}

// errOverflow marks a sum beyond int64; no amount a dossier can hold equals it.
var errOverflow = errors.New("sum out of range")

// add returns a + b, or errOverflow.
func add(a, b int64) (int64, error) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, errOverflow
	}
	return a + b, nil
}

// sum adds every value of the refs and counts them; with keep, found lists them (with their
// pointers).
func sum(e env, rs []ref, keep bool) (total int64, n int, found []located, err error) {
	for _, rf := range rs {
		e.visit(rf, keep, func(l located) {
			if err != nil {
				return
			}
			var v int64
			if v, err = integer(l.value); err != nil {
				return
			}
			if total, err = add(total, v); err != nil {
				return
			}
			n++
			if keep {
				found = append(found, l)
			}
		})
		if err != nil {
			return 0, n, found, err
		}
	}
	return total, n, found, nil
}

func pointers(ls []located) []string {
	out := make([]string, 0, min(len(ls), maxReported))
	for i, l := range ls {
		if i == maxReported {
			break
		}
		out = append(out, l.pointer)
	}
	return out
}

func checkSum(r *Rule, e env) (bool, []string) {
	t, ok := e.one(r.params["total"][0])
	if !ok {
		return true, nil // an optional total that is absent: nothing to compare
	}
	bad := []string{t.pointer}
	total, err := integer(t.value)
	if err != nil {
		return false, bad
	}
	s, _, _, err := sum(e, r.params["items"], false)
	return err == nil && total == s, bad
}

func checkWords(r *Rule, e env) (bool, []string) {
	w, okW := e.one(r.params["words"][0])
	a, okA := e.one(r.params["amount"][0])
	if !okW || !okA {
		return true, nil
	}
	bad := []string{w.pointer}
	ws, _ := w.value.(string)
	amount, err := integer(a.value)
	if err != nil {
		return false, bad
	}
	n, err := ParseWords(ws)
	return err == nil && amount == n, bad
}

func checkLTE(r *Rule, e env) (bool, []string) {
	right, rn, _, rerr := sum(e, r.params["right"], false)
	if rerr == nil && rn == 0 {
		return true, nil // nothing to compare with
	}
	left, _, lfound, lerr := sum(e, r.params["left"], true)
	bad := pointers(lfound)
	if lerr != nil || rerr != nil {
		return false, bad
	}
	return left <= right, bad
}

// yearOf reads the rule's year; false when it is absent.
func yearOf(r *Rule, e env) (int64, bool) {
	y, ok := e.one(r.params["year"][0])
	if !ok {
		return 0, false
	}
	n, err := integer(y.value)
	if err != nil {
		return -1, true
	}
	return n, true
}

func checkDateInYear(r *Rule, e env) (bool, []string) {
	year, ok := yearOf(r, e)
	if !ok {
		return true, nil
	}
	var bad []string
	for _, rf := range r.params["dates"] {
		for _, l := range e.values(rf) {
			s, _ := l.value.(string)
			if y, err := strconv.Atoi(prefix(s, 4)); err != nil || len(s) < 4 || int64(y) != year {
				bad = append(bad, l.pointer)
			}
		}
	}
	return len(bad) == 0, bad
}

func checkSameYear(r *Rule, e env) (bool, []string) {
	year, ok := yearOf(r, e)
	if !ok {
		return true, nil
	}
	var bad []string
	for _, rf := range r.params["values"] {
		for _, l := range e.values(rf) {
			if n, err := integer(l.value); err != nil || n != year {
				bad = append(bad, l.pointer)
			}
		}
	}
	return len(bad) == 0, bad
}

func checkDateOrder(r *Rule, e env) (bool, []string) {
	var prev located
	for _, rf := range r.params["dates"] {
		d, ok := e.one(rf)
		if !ok {
			continue
		}
		s, _ := d.value.(string)
		day := prefix(s, 10)
		if len(day) != 10 {
			return false, []string{d.pointer}
		}
		if prev.pointer != "" && day < prev.value.(string) {
			return false, []string{prev.pointer, d.pointer}
		}
		prev = located{d.pointer, day}
	}
	return true, nil
}

func prefix(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[:n]
}

func checkCount(r *Rule, e env) (bool, []string) {
	els := r.scope.elements(e.root)
	switch {
	case r.max >= 0 && len(els) > r.max:
		return false, pointers(els[r.max:])
	case len(els) < r.min:
		return false, []string{r.scope.list.String()}
	}
	return true, nil
}

func checkFirst(r *Rule, e env) (bool, []string) {
	for _, l := range r.scope.list.values(e.root, "") {
		items, _ := l.value.([]any)
		if len(items) == 0 {
			continue // an empty list has no main document; the definition says whether it may be
		}
		if !r.scope.holds(items[0]) {
			return false, []string{l.pointer + "/0/" + r.scope.code}
		}
	}
	return true, nil
}

func checkOrder(r *Rule, e env) (bool, []string) {
	var bad []string
	for _, l := range r.scope.list.values(e.root, "") {
		items, _ := l.value.([]any)
		later := false
		for i, it := range items {
			switch {
			case r.after.holds(it):
				later = true
			case later && r.scope.holds(it):
				bad = append(bad, fmt.Sprintf("%s/%d/%s", l.pointer, i, r.scope.code))
			}
		}
	}
	return len(bad) == 0, bad
}

package schema

import (
	"math/bits"
	"regexp"
	"regexp/syntax"
)

// runs is a pattern of the shape nearly every pattern of the definitions
// has: anchored at both ends, a sequence of ASCII byte classes or literals,
// each with a count (^[0-9]{7}$, ^[A-Za-z0-9.]{1,30}-[0-9]{6,8}-[0-9]{3,8}$,
// ^KBNN-[0-9]{4}-[0-9]{4}-[0-9]{6,}$). It matches as Go's regexp does, whose
// syntax it is read with, without the engine's machinery: a byte outside
// ASCII is in none of its classes, as the rune it starts is not (nor, in
// invalid UTF-8, is U+FFFD).
type runs []run

// greedy reports whether taking as many bytes as each run can is the only
// way to match: every run has a fixed count, or a class none of whose bytes
// can start the next run, which takes at least one. Then a run that stops
// short leaves a byte of its own class to the next, which cannot take it.
func (rs runs) greedy() bool {
	for i := 0; i+1 < len(rs); i++ {
		a, b := rs[i], rs[i+1]
		if a.min != a.max && (a.set[0]&b.set[0] != 0 || a.set[1]&b.set[1] != 0 || b.min < 1) {
			return false
		}
	}
	return true
}

// matchGreedy is match for runs that are greedy.
func (rs runs) matchGreedy(s string) bool {
	p := 0
	for _, r := range rs {
		n := r.span(s, p)
		if n < r.min {
			return false
		}
		p += n
	}
	return p == len(s)
}

// run is one class with its count.
type run struct {
	set      [2]uint64 // the ASCII bytes of the class
	min, max int       // max < 0: no bound
}

// span is how many bytes of s from p the run takes at most: up to its
// bound, while they are in its class.
func (r run) span(s string, p int) int {
	n := 0
	for p+n < len(s) && (r.max < 0 || n < r.max) {
		c := s[p+n]
		if c >= 0x80 || r.set[c>>6]&(1<<(c&63)) == 0 {
			break
		}
		n++
	}
	return n
}

// maxRunsInput is the longest string match decides by itself; a longer one
// is refused at once when the runs cannot take that many bytes, else it goes
// to the regexp engine. matchGreedy has no such limit.
const maxRunsInput = 256

// runsOf returns the runs of re, false when re has any other shape. re is
// a Go regexp (the schema library's default engine), so its source is read
// with Go's Perl syntax: ^ and $ are the text's ends.
func runsOf(re *regexp.Regexp) (runs, bool) {
	t, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil || t.Op != syntax.OpConcat || len(t.Sub) < 2 ||
		t.Sub[0].Op != syntax.OpBeginText || t.Sub[len(t.Sub)-1].Op != syntax.OpEndText {
		return nil, false
	}
	var out runs
	for _, s := range t.Sub[1 : len(t.Sub)-1] {
		min, max := 1, 1
		switch s.Op {
		case syntax.OpRepeat:
			min, max = s.Min, s.Max
		case syntax.OpStar:
			min, max = 0, -1
		case syntax.OpPlus:
			min, max = 1, -1
		case syntax.OpQuest:
			min, max = 0, 1
		}
		if s.Op != syntax.OpLiteral && s.Op != syntax.OpCharClass {
			if len(s.Sub) != 1 || s.Flags&syntax.NonGreedy != 0 {
				return nil, false
			}
			s = s.Sub[0]
		}
		switch {
		case s.Op == syntax.OpLiteral && s.Flags&syntax.FoldCase == 0 && (min == 1 && max == 1 || len(s.Rune) == 1):
			for _, r := range s.Rune {
				if r >= 0x80 {
					return nil, false
				}
				var set [2]uint64
				set[r>>6] |= 1 << (r & 63)
				out = append(out, run{set: set, min: min, max: max})
			}
		case s.Op == syntax.OpCharClass:
			var set [2]uint64
			for i := 0; i+1 < len(s.Rune); i += 2 {
				if s.Rune[i+1] >= 0x80 {
					return nil, false
				}
				for r := s.Rune[i]; r <= s.Rune[i+1]; r++ {
					set[r>>6] |= 1 << (r & 63)
				}
			}
			out = append(out, run{set: set, min: min, max: max})
		default:
			return nil, false
		}
	}
	return out, true
}

// bounded reports whether every run has a bound, and the longest string
// the runs can match.
func (rs runs) bounded() (int, bool) {
	n := 0
	for _, r := range rs {
		if r.max < 0 {
			return 0, false
		}
		n += r.max
	}
	return n, true
}

// match reports whether s matches, and false for ok when s is too long for
// it to tell.
func (rs runs) match(s string) (matched, ok bool) {
	if len(s) > maxRunsInput {
		if n, b := rs.bounded(); b && len(s) > n {
			return false, true
		}
		return false, false
	}
	// The positions of s the runs so far can end at, as a bit set.
	var cur, next [maxRunsInput/64 + 1]uint64
	cur[0] = 1
	for _, r := range rs {
		next = [len(next)]uint64{}
		any := false
		for w, word := range cur {
			for word != 0 {
				bit := word & -word
				word ^= bit
				p := w*64 + bits.TrailingZeros64(bit)
				n := r.span(s, p)
				for k := r.min; k <= n; k++ {
					next[(p+k)/64] |= 1 << ((p + k) % 64)
					any = true
				}
			}
		}
		if !any {
			return false, true
		}
		cur = next
	}
	return cur[len(s)/64]&(1<<(len(s)%64)) != 0, true
}

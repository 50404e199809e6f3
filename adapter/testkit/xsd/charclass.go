package xsd

import "fmt"

// Bracket classes: [...] of Go's syntax into [...] of XSD's. Hyphens, brackets, carets and
// backslashes are always escaped inside an XSD class, which keeps XSD's class subtraction
// syntax ("-[") out of the way.

// class translates a bracket class whose "[" (at offset start) was just read.
func (t *patternTranslator) class(start int) error {
	t.out.WriteByte('[')
	if t.consume("^") {
		t.out.WriteByte('^')
	}
	members := 0
	for first := true; ; first = false {
		if t.eof() {
			return fmt.Errorf("unterminated character class at offset %d", start)
		}
		if t.peekIs(']') && !first {
			t.pos++
			break
		}
		if t.consume("[:") {
			return fmt.Errorf("POSIX class in character class at offset %d cannot be expressed in XSD", start)
		}
		lo, set, err := t.classAtom()
		if err != nil {
			return err
		}
		if set != "" {
			t.out.WriteString(set)
			members++
			continue
		}
		hi := lo
		if t.peekIs('-') && t.pos+1 < len(t.src) && t.src[t.pos+1] != ']' {
			t.pos++
			if hi, set, err = t.classAtom(); err != nil {
				return err
			}
			if set != "" {
				return fmt.Errorf("character class at offset %d has a range ending in a class escape", start)
			}
		}
		members += t.classRange(lo, hi)
	}
	if members == 0 {
		return fmt.Errorf("character class at offset %d holds no character XML 1.0 can carry", start)
	}
	t.out.WriteByte(']')
	return nil
}

// xmlChars are the ranges of XML 1.0 Char.
var xmlChars = [][2]rune{{0x9, 0xA}, {0xD, 0xD}, {0x20, 0xD7FF}, {0xE000, 0xFFFD}, {0x10000, 0x10FFFF}}

// classRange writes the range lo-hi of a bracket class, leaving out the characters an XML
// document cannot hold (no XML value can contain them, so the match set over XML values is
// unchanged), and returns how many ranges it wrote.
func (t *patternTranslator) classRange(lo, hi rune) int {
	n := 0
	for _, x := range xmlChars {
		a, b := max(lo, x[0]), min(hi, x[1])
		if a > b {
			continue
		}
		t.writeClassChar(a)
		if b > a {
			t.out.WriteByte('-')
			t.writeClassChar(b)
		}
		n++
	}
	return n
}

// classAtom reads one member of a bracket class: a character, or (set != "") a class escape
// already in XSD form.
func (t *patternTranslator) classAtom() (c rune, set string, err error) {
	start := t.pos
	r := t.src[t.pos]
	t.pos++
	if r != '\\' {
		return r, "", nil
	}
	if t.eof() {
		return 0, "", fmt.Errorf("trailing backslash at offset %d", start)
	}
	r = t.src[t.pos]
	t.pos++
	switch r {
	case 'd':
		return 0, "0-9", nil
	case 'w':
		return 0, "0-9A-Za-z_", nil
	case 'D', 'W':
		return 0, "", fmt.Errorf(`\%c inside a character class at offset %d cannot be expressed in XSD`, r, start)
	case 'p', 'P':
		set, err := t.category(r, start)
		return 0, set, err
	}
	c, err = t.escapedChar(r, start)
	return c, "", err
}

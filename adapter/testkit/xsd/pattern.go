package xsd

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The JSON Schema validator compiles "pattern" with Go's regexp package (RE2 syntax), and a
// JSON pattern matches anywhere in the string unless anchored; an XSD pattern is XML Schema
// regular-expression syntax and always matches the whole value. translatePattern rewrites
// the first into the second with the same set of matching strings, or fails naming the
// construct. What it does:
//
//   - "^" opening and "$" closing a top-level branch are dropped; a branch without them
//     gets [\s\S]* on that side (XSD \s ∪ \S is every character). Anchors anywhere else
//     are refused.
//   - \d, \w (ASCII in Go, Unicode in XSD) become [0-9], [0-9A-Za-z_]; \D and \W become
//     their negated classes outside brackets and are refused inside them.
//   - "." becomes [^\n], Go's meaning (XSD's "." also excludes \r).
//   - (?:…) and named groups become plain groups; lazy quantifiers become greedy ones (the
//     set of matching strings is the same).
//   - \p{…}/\P{…} pass through for Unicode general categories only.
//   - Bracket ranges lose the characters XML 1.0 cannot carry (no XML value holds them);
//     such a character anywhere else is refused.
//   - Refused: \s and \S (different whitespace sets), \b \B \A \z, flags (?i) and the like,
//     \Q…\E, octal escapes, POSIX classes [[:alpha:]], anchors inside groups.
//
// JSON Schema specifies ECMA-262 regular expressions; within the syntax common to ECMA-262
// and RE2 (everything the schemas under schemas/ use) both match the same strings.

// anyText matches any string in XSD; it stands in for a missing JSON anchor.
const anyText = `[\s\S]*`

// categories are the Unicode general categories both Go and XSD know.
var categories = map[string]bool{
	"C": true, "Cc": true, "Cf": true, "Co": true, "Cs": true,
	"L": true, "Ll": true, "Lm": true, "Lo": true, "Lt": true, "Lu": true,
	"M": true, "Mc": true, "Me": true, "Mn": true,
	"N": true, "Nd": true, "Nl": true, "No": true,
	"P": true, "Pc": true, "Pd": true, "Pe": true, "Pf": true, "Pi": true, "Po": true, "Ps": true,
	"S": true, "Sc": true, "Sk": true, "Sm": true, "So": true,
	"Z": true, "Zl": true, "Zp": true, "Zs": true,
}

type patternTranslator struct {
	src []rune
	pos int
	out strings.Builder
}

// translatePattern returns the XSD pattern equivalent to the JSON Schema pattern src.
func translatePattern(src string) (string, error) {
	if !utf8.ValidString(src) {
		return "", errors.New("pattern is not valid UTF-8")
	}
	if _, err := regexp.Compile(src); err != nil {
		return "", fmt.Errorf("not a valid regular expression: %w", err)
	}
	t := &patternTranslator{src: []rune(src)}
	if err := t.alternation(0); err != nil {
		return "", err
	}
	if !t.eof() {
		return "", fmt.Errorf("unexpected %q at offset %d", t.src[t.pos], t.pos)
	}
	return t.out.String(), nil
}

func (t *patternTranslator) eof() bool { return t.pos >= len(t.src) }

func (t *patternTranslator) peekIs(r rune) bool { return !t.eof() && t.src[t.pos] == r }

// consume advances past s if the input continues with it.
func (t *patternTranslator) consume(s string) bool {
	rs := []rune(s)
	if t.pos+len(rs) > len(t.src) || string(t.src[t.pos:t.pos+len(rs)]) != s {
		return false
	}
	t.pos += len(rs)
	return true
}

func (t *patternTranslator) alternation(depth int) error {
	for {
		if err := t.branch(depth); err != nil {
			return err
		}
		if !t.consume("|") {
			return nil
		}
		t.out.WriteByte('|')
	}
}

func (t *patternTranslator) branch(depth int) error {
	top := depth == 0
	if top && !t.consume("^") {
		t.out.WriteString(anyText)
	}
	for !t.eof() {
		switch r := t.src[t.pos]; {
		case r == '|' || (r == ')' && !top):
			return t.endBranch(top, false)
		case r == '$':
			t.pos++
			if top && (t.eof() || t.peekIs('|')) {
				return t.endBranch(top, true)
			}
			return fmt.Errorf("anchor $ at offset %d: only a whole top-level branch can be anchored in XSD", t.pos-1)
		case r == '^':
			return fmt.Errorf("anchor ^ at offset %d: only a whole top-level branch can be anchored in XSD", t.pos)
		}
		if err := t.atom(depth); err != nil {
			return err
		}
		t.quantifier()
	}
	return t.endBranch(top, false)
}

func (t *patternTranslator) endBranch(top, anchored bool) error {
	if top && !anchored {
		t.out.WriteString(anyText)
	}
	return nil
}

func (t *patternTranslator) atom(depth int) error {
	start := t.pos
	r := t.src[t.pos]
	t.pos++
	switch r {
	case '(':
		switch {
		case t.consume("?:"):
		case t.consume("?P<"), t.consume("?<"):
			for !t.eof() && t.src[t.pos] != '>' {
				t.pos++
			}
			t.pos++
		case t.peekIs('?'):
			return fmt.Errorf("group flags or assertion at offset %d cannot be expressed in XSD", start)
		}
		t.out.WriteByte('(')
		if err := t.alternation(depth + 1); err != nil {
			return err
		}
		if !t.consume(")") {
			return fmt.Errorf("unbalanced group at offset %d", start)
		}
		t.out.WriteByte(')')
	case '[':
		return t.class(start)
	case '.':
		t.out.WriteString(`[^\n]`)
	case '\\':
		return t.escape(start)
	case '*', '+', '?':
		return fmt.Errorf("quantifier %q without operand at offset %d", r, start)
	default:
		return t.literal(r)
	}
	return nil
}

// quantifier copies an optional quantifier and drops a laziness marker.
func (t *patternTranslator) quantifier() {
	if t.eof() {
		return
	}
	switch r := t.src[t.pos]; r {
	case '*', '+', '?':
		t.pos++
		t.out.WriteRune(r)
	case '{':
		q, n := repeat(t.src[t.pos:])
		if n == 0 {
			return // a literal "{", handled as the next atom
		}
		t.pos += n
		t.out.WriteString(q)
	default:
		return
	}
	t.consume("?")
}

// repeat parses {n}, {n,} or {n,m} at the start of s and returns it and its length in runes,
// or length 0 when s does not start with a repetition (Go then reads "{" as a literal).
var repeatRE = regexp.MustCompile(`^\{[0-9]+(,[0-9]*)?\}`)

func repeat(s []rune) (string, int) {
	end := min(len(s), 24)
	m := repeatRE.FindString(string(s[:end]))
	return m, utf8.RuneCountInString(m)
}

func (t *patternTranslator) escape(start int) error {
	if t.eof() {
		return fmt.Errorf("trailing backslash at offset %d", start)
	}
	r := t.src[t.pos]
	t.pos++
	switch r {
	case 'd':
		t.out.WriteString("[0-9]")
	case 'D':
		t.out.WriteString("[^0-9]")
	case 'w':
		t.out.WriteString("[0-9A-Za-z_]")
	case 'W':
		t.out.WriteString("[^0-9A-Za-z_]")
	case 'p', 'P':
		cat, err := t.category(r, start)
		if err != nil {
			return err
		}
		t.out.WriteString(cat)
	default:
		c, err := t.escapedChar(r, start)
		if err != nil {
			return err
		}
		return t.literal(c)
	}
	return nil
}

// escapedChar returns the single character an escape denotes.
func (t *patternTranslator) escapedChar(r rune, start int) (rune, error) {
	switch r {
	case 't':
		return '\t', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 'x':
		return t.hexChar(start)
	case 's', 'S':
		return 0, fmt.Errorf(`\%c at offset %d: whitespace classes differ between Go and XSD; write the characters, e.g. [ \t\n\r]`, r, start)
	case 'b', 'B', 'A', 'z':
		return 0, fmt.Errorf(`assertion \%c at offset %d cannot be expressed in XSD`, r, start)
	}
	if r < utf8.RuneSelf && !isASCIILetterOrDigit(r) {
		return r, nil // an escaped punctuation character stands for itself
	}
	return 0, fmt.Errorf(`escape \%c at offset %d cannot be expressed in XSD`, r, start)
}

func (t *patternTranslator) hexChar(start int) (rune, error) {
	var digits string
	if t.consume("{") {
		end := t.pos
		for end < len(t.src) && t.src[end] != '}' {
			end++
		}
		digits = string(t.src[t.pos:end])
		t.pos = end + 1
	} else if t.pos+2 <= len(t.src) {
		digits = string(t.src[t.pos : t.pos+2])
		t.pos += 2
	}
	n, err := strconv.ParseUint(digits, 16, 32)
	if err != nil {
		return 0, fmt.Errorf(`bad \x escape at offset %d`, start)
	}
	return rune(n), nil
}

// category translates \pX, \p{X}, \p{^X} and their \P forms (r is 'p' or 'P').
func (t *patternTranslator) category(r rune, start int) (string, error) {
	negate := r == 'P'
	var name string
	switch {
	case t.consume("{"):
		if t.consume("^") {
			negate = !negate
		}
		end := t.pos
		for end < len(t.src) && t.src[end] != '}' {
			end++
		}
		name = string(t.src[t.pos:end])
		t.pos = end + 1
	case !t.eof():
		name = string(t.src[t.pos])
		t.pos++
	}
	if !categories[name] {
		return "", fmt.Errorf(`\%c{%s} at offset %d: only Unicode general categories can be expressed in XSD`, r, name, start)
	}
	if negate {
		return `\P{` + name + `}`, nil
	}
	return `\p{` + name + `}`, nil
}

// literal writes one character outside brackets, escaped for XSD.
func (t *patternTranslator) literal(r rune) error {
	if !isXMLChar(r) {
		return fmt.Errorf("character %U cannot appear in an XML document", r)
	}
	t.writeChar(r, `\|.?*+{}()[]^`)
	return nil
}

// writeClassChar writes one XML character inside brackets, escaped for XSD.
func (t *patternTranslator) writeClassChar(r rune) { t.writeChar(r, `\[]-^`) }

func (t *patternTranslator) writeChar(r rune, special string) {
	switch r {
	case '\n':
		t.out.WriteString(`\n`)
	case '\r':
		t.out.WriteString(`\r`)
	case '\t':
		t.out.WriteString(`\t`)
	default:
		if strings.ContainsRune(special, r) {
			t.out.WriteByte('\\')
		}
		t.out.WriteRune(r)
	}
}

func isASCIILetterOrDigit(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// isXMLChar reports whether r is a Char of XML 1.0.
func isXMLChar(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

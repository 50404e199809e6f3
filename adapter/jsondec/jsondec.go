// Package jsondec reads one JSON value into the generic values the adapter
// works on (map[string]any, []any, string, json.Number, bool, nil): the
// value encoding/json's Decoder with UseNumber reads from the same bytes,
// strings unescaped as it unescapes them, but in one pass over the bytes
// and stricter where a signed document must be: a repeated object key, a
// nesting past the caller's bound or anything after the value is an error.
// Its tests hold it to a reference built on encoding/json's token reader,
// value for value and error for error, under fuzzing.
package jsondec

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrTrailing is the error of a value followed by more than white space.
var ErrTrailing = errors.New("data after the JSON value")

// ErrTooDeep is the error of a value nested deeper than the decoder's
// maximum depth.
var ErrTooDeep = errors.New("JSON nested too deep")

// SyntaxError is malformed JSON at byte Offset.
type SyntaxError struct {
	Offset int
	msg    string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s at byte offset %d", e.msg, e.Offset) }

// Decode reads the one JSON value b holds. Values nested deeper than
// maxDepth (the top value is at depth 0) are refused, as are repeated keys
// in an object and data after the value (ErrTrailing).
func Decode(b []byte, maxDepth int) (any, error) {
	d := decoder{b: b, maxDepth: maxDepth}
	d.space()
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i < len(b) {
		return nil, ErrTrailing
	}
	return v, nil
}

type decoder struct {
	b        []byte
	i        int
	maxDepth int
	buf      []byte // unescaping scratch
}

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) fail(msg string) error {
	if d.i >= len(d.b) {
		return &SyntaxError{Offset: len(d.b), msg: "unexpected end of JSON input"}
	}
	return &SyntaxError{Offset: d.i, msg: msg + " " + strconv.QuoteRune(rune(d.b[d.i]))}
}

func (d *decoder) value(depth int) (any, error) {
	if depth > d.maxDepth {
		return nil, fmt.Errorf("%w: nesting deeper than %d", ErrTooDeep, d.maxDepth)
	}
	if d.i >= len(d.b) {
		return nil, d.fail("")
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '"':
		return d.string()
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, d.fail("invalid character")
}

func (d *decoder) literal(lit string) error {
	for k := 0; k < len(lit); k++ {
		if d.i >= len(d.b) || d.b[d.i] != lit[k] {
			return d.fail("invalid character in literal " + lit + ":")
		}
		d.i++
	}
	return nil
}

func (d *decoder) object(depth int) (any, error) {
	d.i++ // {
	obj := map[string]any{}
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return obj, nil
	}
	for {
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, d.fail("invalid character looking for an object key:")
		}
		k, err := d.string()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, d.fail("invalid character after an object key:")
		}
		d.i++
		d.space()
		if _, dup := obj[k]; dup {
			return nil, fmt.Errorf("duplicate key %q", k)
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		obj[k] = v
		if end, err := d.next('}', "an object value"); err != nil {
			return nil, err
		} else if end {
			return obj, nil
		}
	}
}

func (d *decoder) array(depth int) (any, error) {
	d.i++ // [
	arr := []any{}
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return arr, nil
	}
	for {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		if end, err := d.next(']', "an array element"); err != nil {
			return nil, err
		} else if end {
			return arr, nil
		}
	}
}

// next reads what follows a member or an element: a comma (another one
// follows) or the closing byte (end).
func (d *decoder) next(closing byte, what string) (end bool, err error) {
	d.space()
	if d.i >= len(d.b) {
		return false, d.fail("")
	}
	switch d.b[d.i] {
	case ',':
		d.i++
		d.space()
		return false, nil
	case closing:
		d.i++
		return true, nil
	}
	return false, d.fail("invalid character after " + what + ":")
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? as json.Number.
func (d *decoder) number() (any, error) {
	start := d.i
	if d.b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.b) && d.b[d.i] == '0':
		d.i++
	case d.i < len(d.b) && d.b[d.i] >= '1' && d.b[d.i] <= '9':
		d.digits()
	default:
		return nil, d.fail("invalid character in numeric literal:")
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if d.digits() == 0 {
			return nil, d.fail("invalid character after decimal point in numeric literal:")
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if d.digits() == 0 {
			return nil, d.fail("invalid character in exponent of numeric literal:")
		}
	}
	return json.Number(d.b[start:d.i]), nil
}

func (d *decoder) digits() int {
	n := 0
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
		n++
	}
	return n
}

// string reads a string as encoding/json unquotes it: escapes resolved, a
// \u escape of half a surrogate pair that is not one and every byte of
// invalid UTF-8 read as U+FFFD.
func (d *decoder) string() (string, error) {
	d.i++ // "
	start := d.i
	d.i = plain(d.b, d.i)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := string(d.b[start:d.i])
			d.i++
			return s, nil
		case c == '\\' || c >= utf8.RuneSelf:
			return d.slowString(start)
		case c < 0x20:
			return "", d.fail("invalid character in string literal:")
		}
		d.i++
	}
	return "", d.fail("")
}

// Eight bytes at a time (SWAR): every byte 0x01 and every byte 0x80.
const (
	ones = 0x0101010101010101
	high = 0x8080808080808080
)

// plain returns the index of the first group of eight bytes from i that
// holds a byte a string cannot take as it is (a quote, a backslash, a
// control character or a byte of a multi-byte character), or of the last
// shorter group: the bytes before it need no look one by one. A byte is
// below 0x20 (or zero after the XOR with '"' or '\\') exactly when its
// subtraction below borrows with its high bit clear, which (v - ones*n) &
// ^v & high detects for some byte of v without false alarms.
func plain(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q, bs := x^(ones*'"'), x^(ones*'\\')
		if ((x-ones*0x20)&^x|(q-ones)&^q|(bs-ones)&^bs|x)&high != 0 {
			break
		}
	}
	return i
}

func (d *decoder) slowString(start int) (string, error) {
	out := append(d.buf[:0], d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			d.buf = out
			return string(out), nil
		case c < 0x20:
			return "", d.fail("invalid character in string literal:")
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(d.b[d.i:])
			d.i += size
			out = utf8.AppendRune(out, r)
		case c != '\\':
			out = append(out, c)
			d.i++
		default:
			d.i++
			if d.i >= len(d.b) {
				return "", d.fail("")
			}
			e := d.b[d.i]
			d.i++
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return "", d.fail("invalid character in \\u hexadecimal character escape:")
				}
				if utf16.IsSurrogate(r) {
					// A pair only when a \u of the other half follows.
					if d.i+6 <= len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
						save := d.i
						d.i += 2
						r2, ok2 := d.hex4()
						if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
							out = utf8.AppendRune(out, dec)
							continue
						}
						d.i = save
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
			default:
				d.i--
				return "", d.fail("invalid character in string escape code:")
			}
		}
	}
	return "", d.fail("")
}

// hex4 reads the four hexadecimal digits of a \u escape.
func (d *decoder) hex4() (rune, bool) {
	if d.i+4 > len(d.b) {
		d.i = len(d.b)
		return 0, false
	}
	var r rune
	for k := 0; k < 4; k++ {
		c := d.b[d.i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
		d.i++
	}
	return r, true
}

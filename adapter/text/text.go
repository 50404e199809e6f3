// Package text owns the adapter's rules for the text a unit's software
// sends: bodies are UTF-8 (the first byte that is not is reported by its
// offset, never read as U+FFFD), a UTF-8 byte-order mark before a body is
// skipped, and names that are matched (certificate titles, configured keys)
// are compared in Unicode normalization form C, so a title typed in
// decomposed form (NFD, as macOS keyboards produce) matches its role.
// Nothing here rewrites signed bytes: callers read past a mark, they do not
// remove it from what a signature covers.
package text

import (
	"bytes"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// bom is the UTF-8 encoding of U+FEFF.
var bom = []byte{0xEF, 0xBB, 0xBF}

// SkipBOM returns b without a leading UTF-8 byte-order mark, and how many
// bytes it skipped (0 or 3).
func SkipBOM(b []byte) ([]byte, int) {
	if bytes.HasPrefix(b, bom) {
		return b[len(bom):], len(bom)
	}
	return b, 0
}

// InvalidUTF8 reports the offset of the first byte of b that is not part of
// valid UTF-8; ok is true when there is none.
func InvalidUTF8(b []byte) (offset int, ok bool) {
	if utf8.Valid(b) {
		return 0, true
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i, false
		}
		i += n
	}
	return len(b), false
}

// NFC returns s in normalization form C.
func NFC(s string) string { return norm.NFC.String(s) }

package rules

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// MaxWords is the largest amount ParseWords reads and Words writes: just under 10^18
// ("tỷ tỷ"), far above the 10^15 - 1 a dossier's amount can hold.
const MaxWords = 999_999_999_999_999_999

// maxWordsInput bounds the text ParseWords reads, so that a hostile field costs little; the
// definitions allow 500 characters, which NFD may write in up to ~3 bytes each.
const maxWordsInput = 4000

var errWords = errors.New("not an amount in Vietnamese words")

// digit words, with their usual spelling variants.
var digits = map[string]int64{
	"không": 0, "linh": -1, "lẻ": -1,
	"một": 1, "mốt": 1,
	"hai": 2,
	"ba":  3,
	"bốn": 4, "tư": 4,
	"năm": 5, "lăm": 5, "nhăm": 5,
	"sáu": 6,
	"bảy": 7, "bẩy": 7,
	"tám":  8,
	"chín": 9,
}

// scales of the groups; "nghìn tỷ" and "triệu tỷ" compound.
var scales = map[string]int64{
	"nghìn": 1_000, "ngàn": 1_000,
	"triệu": 1_000_000,
	"tỷ":    1_000_000_000, "tỉ": 1_000_000_000,
}

// ParseWords reads an amount written in Vietnamese words ("Một trăm tám mươi bảy triệu năm
// trăm nghìn đồng chẵn") and returns it. It accepts the usual variants: nghìn/ngàn, tỷ/tỉ,
// linh/lẻ, mốt/một, tư/bốn, lăm/năm, mươi/mười after a digit, any capitalisation, NFC or NFD,
// punctuation between words, a leading label ("Bằng chữ:", "Số tiền bằng chữ:") and a
// trailing "đồng", "chẵn", "đồng chẵn", "đồng Việt Nam", "VND" or "./.".
func ParseWords(s string) (int64, error) {
	if len(s) > maxWordsInput {
		return 0, fmt.Errorf("%w: longer than %d bytes", errWords, maxWordsInput)
	}
	toks := tokens(s)
	toks = withoutLabel(toks)
	toks = withoutTrailing(toks)
	if len(toks) == 0 {
		return 0, fmt.Errorf("%w: no number", errWords)
	}
	if len(toks) == 1 && toks[0] == "không" {
		return 0, nil
	}
	n, err := parseScaled(toks, true)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: zero written with other words", errWords)
	}
	return n, nil
}

// label words may open the text, before "chữ" ("Bằng chữ:", "Số tiền bằng chữ:", "Viết
// bằng chữ:"): the form's label copied with the amount.
var label = map[string]bool{"số": true, "tiền": true, "tổng": true, "bằng": true, "viết": true, "ghi": true}

// trailing words may close the text, in any order: "đồng", "chẵn", "đồng chẵn", "Việt Nam
// đồng", "đồng Việt Nam", "VND".
var trailing = map[string]bool{"đồng": true, "chẵn": true, "vnd": true, "vnđ": true}

// withoutLabel drops a leading label ending in "chữ".
func withoutLabel(toks []string) []string {
	for i, t := range toks {
		if t == "chữ" && i > 0 {
			return toks[i+1:]
		}
		if !label[t] || i >= 4 {
			break
		}
	}
	return toks
}

// withoutTrailing drops the trailing words.
func withoutTrailing(toks []string) []string {
	for {
		n := len(toks)
		switch {
		case n > 0 && trailing[toks[n-1]]:
			toks = toks[:n-1]
		case n >= 2 && toks[n-2] == "việt" && toks[n-1] == "nam":
			toks = toks[:n-2]
		default:
			return toks
		}
	}
}

// tokens normalises s (NFC, lower case, punctuation as spaces) and splits it into words.
func tokens(s string) []string {
	s = strings.ToLower(norm.NFC.String(s))
	return strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r)
	})
}

// parseScaled reads a number made of groups and scale words. It splits at the last occurrence
// of the largest scale word: left × scale + right, where the right part is smaller than the
// scale. leading says whether the number starts the amount (a non-leading group may be written
// "không trăm …" or "linh …").
func parseScaled(toks []string, leading bool) (int64, error) {
	var big int64
	at := -1
	for i, t := range toks {
		if v, ok := scales[t]; ok && v >= big {
			big, at = v, i
		}
	}
	if at < 0 {
		return parseGroup(toks, leading)
	}
	left, right := toks[:at], toks[at+1:]
	if len(left) == 0 {
		return 0, fmt.Errorf("%w: %q without a number before it", errWords, toks[at])
	}
	if big < 1_000_000_000 {
		for _, t := range left {
			if _, ok := scales[t]; ok {
				return 0, fmt.Errorf("%w: %q before %q", errWords, t, toks[at])
			}
		}
	}
	l, err := parseScaled(left, leading)
	if err != nil {
		return 0, err
	}
	if l == 0 || l > MaxWords/big {
		return 0, fmt.Errorf("%w: %q out of range", errWords, toks[at])
	}
	var r int64
	if len(right) > 0 {
		if r, err = parseScaled(right, false); err != nil {
			return 0, err
		}
		if r >= big {
			return 0, fmt.Errorf("%w: %q followed by a larger number", errWords, toks[at])
		}
	}
	return l*big + r, nil
}

// parseGroup reads a number below 1,000: [d trăm] [linh|lẻ d | mười [d] | d mươi [d] | d].
func parseGroup(toks []string, leading bool) (int64, error) {
	if len(toks) == 0 {
		return 0, fmt.Errorf("%w: empty group", errWords)
	}
	var n int64
	i := 0
	digit := func(t string) (int64, bool) {
		v, ok := digits[t]
		return v, ok && v >= 0
	}
	if len(toks) >= 2 && toks[1] == "trăm" {
		h, ok := digit(toks[0])
		if !ok {
			return 0, fmt.Errorf("%w: %q before trăm", errWords, toks[0])
		}
		if h == 0 && leading {
			return 0, fmt.Errorf("%w: a number starting with không trăm", errWords)
		}
		n, i = h*100, 2
		leading = false
	}
	rest := toks[i:]
	switch {
	case len(rest) == 0:
		if i == 0 {
			return 0, fmt.Errorf("%w: empty group", errWords)
		}
	case rest[0] == "linh" || rest[0] == "lẻ":
		if leading {
			return 0, fmt.Errorf("%w: %q at the start", errWords, rest[0])
		}
		if len(rest) != 2 {
			return 0, fmt.Errorf("%w: %q takes one digit", errWords, rest[0])
		}
		u, ok := digit(rest[1])
		if !ok || u == 0 {
			return 0, fmt.Errorf("%w: %q after %s", errWords, rest[1], rest[0])
		}
		n += u
	case rest[0] == "mười":
		n += 10
		if len(rest) > 2 {
			return 0, fmt.Errorf("%w: too many words after mười", errWords)
		}
		if len(rest) == 2 {
			u, ok := digit(rest[1])
			if !ok || u == 0 {
				return 0, fmt.Errorf("%w: %q after mười", errWords, rest[1])
			}
			n += u
		}
	default:
		d, ok := digit(rest[0])
		if !ok {
			return 0, fmt.Errorf("%w: unknown word %q", errWords, rest[0])
		}
		if len(rest) == 1 {
			n += d
			break
		}
		if rest[1] != "mươi" && rest[1] != "mười" || d < 2 {
			return 0, fmt.Errorf("%w: %q after %q", errWords, rest[1], rest[0])
		}
		n += d * 10
		if len(rest) > 3 {
			return 0, fmt.Errorf("%w: too many words after mươi", errWords)
		}
		if len(rest) == 3 {
			u, ok := digit(rest[2])
			if !ok || u == 0 {
				return 0, fmt.Errorf("%w: %q after mươi", errWords, rest[2])
			}
			n += u
		}
	}
	return n, nil
}

var unitWords = [...]string{"không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"}

// Words writes n (0 ≤ n ≤ MaxWords) in Vietnamese words the way the forms are usually filled:
// capitalised, "nghìn", "linh", "mươi mốt", "mươi tư", "lăm", ending in "đồng"
// (Words(187500000) is "Một trăm tám mươi bảy triệu năm trăm nghìn đồng").
func Words(n int64) string {
	if n < 0 || n > MaxWords {
		return ""
	}
	s := "không"
	if n > 0 {
		s = strings.Join(scaled(n, true), " ")
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r) + " đồng"
}

func scaled(n int64, leading bool) []string {
	const ty = 1_000_000_000
	if n >= ty {
		out := append(scaled(n/ty, leading), "tỷ")
		if rest := n % ty; rest > 0 {
			out = append(out, scaled(rest, false)...)
		}
		return out
	}
	var out []string
	for _, sc := range []struct {
		v    int64
		name string
	}{{1_000_000, "triệu"}, {1_000, "nghìn"}, {1, ""}} {
		g := n / sc.v % 1000
		if g == 0 {
			continue
		}
		out = append(out, group(g, leading)...)
		if sc.name != "" {
			out = append(out, sc.name)
		}
		leading = false
	}
	return out
}

func group(g int64, leading bool) []string {
	h, t, u := g/100, g/10%10, g%10
	var out []string
	if h > 0 || !leading {
		out = append(out, unitWords[h], "trăm")
	}
	switch {
	case t == 0 && u == 0:
	case t == 0:
		if len(out) > 0 {
			out = append(out, "linh")
		}
		out = append(out, unitWords[u])
	case t == 1:
		out = append(out, "mười")
		if u == 5 {
			out = append(out, "lăm")
		} else if u > 0 {
			out = append(out, unitWords[u])
		}
	default:
		out = append(out, unitWords[t], "mươi")
		switch u {
		case 0:
		case 1:
			out = append(out, "mốt")
		case 4:
			out = append(out, "tư")
		case 5:
			out = append(out, "lăm")
		default:
			out = append(out, unitWords[u])
		}
	}
	return out
}

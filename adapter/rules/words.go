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

// digits are the digit words where any digit may stand: a hundreds digit,
// the tens digit before "mươi", a group on its own before a scale word.
var digits = map[string]int64{
	"không": 0, "một": 1, "hai": 2, "ba": 3, "bốn": 4, "năm": 5,
	"sáu": 6, "bảy": 7, "bẩy": 7, "tám": 8, "chín": 9,
}

// The units after "linh"/"lẻ", after "mười" and after "<d> mươi" take their
// own variants: "linh tư" (104), "mười lăm" (15), "hai mươi mốt" (21). Each
// variant is read only where it is written so: "mốt", "lăm" or "tư" elsewhere
// is the colloquial shorthand of a round number ("một nghìn mốt" is 1,100,
// "hai trăm tư" 240), not a digit.
var (
	afterLinh  = units("tư")
	afterMuoi  = units("tư", "lăm", "nhăm")
	afterMuoi2 = units("tư", "lăm", "nhăm", "mốt")
)

// units are the digits 1–9 and the variants given.
func units(variants ...string) map[string]int64 {
	m := map[string]int64{}
	for w, v := range digits {
		if v > 0 {
			m[w] = v
		}
	}
	for _, w := range variants {
		m[w] = map[string]int64{"tư": 4, "lăm": 5, "nhăm": 5, "mốt": 1}[w]
	}
	return m
}

// tensWords say "tens" after a digit: "mươi", and its variants "mười" and
// "chục" ("hai chục" is 20; "một chục" 10).
var tensWords = map[string]bool{"mươi": true, "mười": true, "chục": true}

// scales of the groups; "nghìn tỷ" and "triệu tỷ" compound.
var scales = map[string]int64{
	"nghìn": 1_000, "ngàn": 1_000,
	"triệu": 1_000_000,
	"tỷ":    1_000_000_000, "tỉ": 1_000_000_000,
}

// ParseWords reads an amount written in Vietnamese words ("Một trăm tám mươi bảy triệu năm
// trăm nghìn đồng chẵn") and returns it. It accepts the usual variants: nghìn/ngàn, tỷ/tỉ,
// linh/lẻ, mốt after "mươi", tư after "mươi", "mười" and "linh", lăm/nhăm (and năm) after
// "mươi" and "mười", mươi/mười/chục after a digit, any capitalisation, NFC or NFD,
// punctuation between words, a leading label ("Bằng chữ:", "Số tiền bằng chữ:") and a
// trailing "đồng", "chẵn", "đồng chẵn", "đồng Việt Nam", "VND" or "./.".
//
// It refuses what could be read two ways, the shorthand of speech where the last scale
// word is left out: a digit alone after "trăm" ("hai trăm ba": 203, or 230), a digit
// alone after a scale word ("một nghìn hai": 1,002, or 1,200). A whole group after
// "triệu" or "tỷ" with no lower scale word is the units group ("một triệu hai trăm" is
// 1,000,200, as accounting software writes it when it skips zero groups; speech may mean
// 1,200,000, which then fails the comparison with the amount, so the literal reading never
// lets a wrong amount through). It refuses digits among the words.
func ParseWords(s string) (int64, error) {
	if len(s) > maxWordsInput {
		return 0, fmt.Errorf("%w: longer than %d bytes", errWords, maxWordsInput)
	}
	if i := strings.IndexFunc(s, unicode.IsDigit); i >= 0 {
		return 0, fmt.Errorf("%w: a digit among the words", errWords)
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
	n, err := parseScaled(toks, true, 0)
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
// "không trăm …" or "linh …", and a zero group "không nghìn" may hold a place); after is the
// scale word the number follows when it ends the amount or a compound ("tỷ" for the "hai
// trăm" of "một tỷ hai trăm"), zero when a scale word follows it or nothing precedes it.
func parseScaled(toks []string, leading bool, after int64) (int64, error) {
	var big int64
	at := -1
	for i, t := range toks {
		if v, ok := scales[t]; ok && v >= big {
			big, at = v, i
		}
	}
	if at < 0 {
		return parseGroup(toks, leading, after)
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
	l, err := parseScaled(left, leading, 0)
	if err != nil {
		return 0, err
	}
	if (l == 0 && (leading || len(right) == 0)) || l > MaxWords/big {
		return 0, fmt.Errorf("%w: %q out of range", errWords, toks[at])
	}
	var r int64
	if len(right) > 0 {
		if r, err = parseScaled(right, false, big); err != nil {
			return 0, err
		}
		if r >= big {
			return 0, fmt.Errorf("%w: %q followed by a larger number", errWords, toks[at])
		}
		if l == 0 && r == 0 {
			return 0, fmt.Errorf("%w: a zero group followed by zero", errWords)
		}
	}
	return l*big + r, nil
}

// parseGroup reads a number below 1,000: [d trăm] [linh|lẻ u | mười [u] | d mươi [u] | d].
// after is the scale word a last group follows (see parseScaled).
func parseGroup(toks []string, leading bool, after int64) (int64, error) {
	if len(toks) == 0 {
		return 0, fmt.Errorf("%w: empty group", errWords)
	}
	var n int64
	i := 0
	hundreds := false
	if len(toks) >= 2 && toks[1] == "trăm" {
		h, ok := digits[toks[0]]
		if !ok {
			return 0, fmt.Errorf("%w: %q before trăm", errWords, toks[0])
		}
		if h == 0 && leading {
			return 0, fmt.Errorf("%w: a number starting with không trăm", errWords)
		}
		n, i, hundreds = h*100, 2, true
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
		u, ok := afterLinh[rest[1]]
		if !ok {
			return 0, fmt.Errorf("%w: %q after %s", errWords, rest[1], rest[0])
		}
		n += u
	case rest[0] == "mười":
		n += 10
		if len(rest) > 2 {
			return 0, fmt.Errorf("%w: too many words after mười", errWords)
		}
		if len(rest) == 2 {
			u, ok := afterMuoi[rest[1]]
			if !ok {
				return 0, fmt.Errorf("%w: %q after mười", errWords, rest[1])
			}
			n += u
		}
	default:
		d, ok := digits[rest[0]]
		if !ok {
			return 0, fmt.Errorf("%w: unknown word %q", errWords, rest[0])
		}
		if len(rest) == 1 {
			switch {
			case hundreds:
				return 0, fmt.Errorf("%w: %q alone after trăm could be read two ways: write linh %s or %s mươi", errWords, rest[0], rest[0], rest[0])
			case after > 0:
				return 0, fmt.Errorf("%w: %q alone after %s could be read two ways: write linh %s or không trăm linh %s", errWords, rest[0], scaleName(after), rest[0], rest[0])
			}
			n += d
			break
		}
		if !tensWords[rest[1]] || d < 1 || (d < 2 && rest[1] != "chục") {
			return 0, fmt.Errorf("%w: %q after %q", errWords, rest[1], rest[0])
		}
		n += d * 10
		if len(rest) > 3 {
			return 0, fmt.Errorf("%w: too many words after %s", errWords, rest[1])
		}
		if len(rest) == 3 {
			u, ok := afterMuoi2[rest[2]]
			if !ok {
				return 0, fmt.Errorf("%w: %q after %s", errWords, rest[2], rest[1])
			}
			n += u
		}
	}
	return n, nil
}

func scaleName(v int64) string {
	switch v {
	case 1_000:
		return "nghìn"
	case 1_000_000:
		return "triệu"
	}
	return "tỷ"
}

var unitWords = [...]string{"không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"}

// Words writes n (0 ≤ n ≤ MaxWords) in Vietnamese words the way the forms are usually filled:
// capitalised, "nghìn", "linh", "mươi mốt", "mươi tư", "lăm", ending in "đồng"
// (Words(187500000) is "Một trăm tám mươi bảy triệu năm trăm nghìn đồng"), every group after
// the first with its hundreds ("không trăm linh năm"), and "không nghìn" before a last group
// of hundreds that follows triệu or tỷ (Words(1000200) is "Một triệu không nghìn hai trăm
// đồng"): forms ParseWords reads one way only.
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
	wrote := !leading // a larger group comes before n
	for _, sc := range []struct {
		v    int64
		name string
	}{{1_000_000, "triệu"}, {1_000, "nghìn"}, {1, ""}} {
		g := n / sc.v % 1000
		if g == 0 {
			continue
		}
		if sc.v == 1 && g >= 100 && wrote && n/1_000%1_000 == 0 {
			// After triệu or tỷ, the last group holds the nghìn place
			// with a zero group, else it could be read as the nghìn group
			// (ParseWords).
			out = append(out, "không", "nghìn")
		}
		wrote = true
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

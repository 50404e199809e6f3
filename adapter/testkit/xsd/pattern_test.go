package xsd

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTranslatePattern(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`^[0-9]{7}$`, `[0-9]{7}`},
		{`^[A-Za-z0-9.]{1,20}-[0-9]{8}-[0-9]{7}$`, `[A-Za-z0-9.]{1,20}-[0-9]{8}-[0-9]{7}`},
		{`^[0-9A-Za-z.-]{4,34}$`, `[0-9A-Za-z.\-]{4,34}`},
		{`[0-9]{3}`, `[\s\S]*[0-9]{3}[\s\S]*`},
		{`^ab`, `ab[\s\S]*`},
		{`ab$`, `[\s\S]*ab`},
		{`^a|b$`, `a[\s\S]*|[\s\S]*b`},
		{`^$`, ``},
		{`^\d+\.\d{2}$`, `[0-9]+\.[0-9]{2}`},
		{`^\w\W\D$`, `[0-9A-Za-z_][^0-9A-Za-z_][^0-9]`},
		{`^[\d\w-]$`, `[0-90-9A-Za-z_\-]`},
		{`^.$`, `[^\n]`},
		{`^(?:ab)+(?P<y>c)(?<z>d)$`, `(ab)+(c)(d)`},
		{`^a*?b+?c??d{2,}?$`, `a*b+c?d{2,}`},
		{`^a{$`, `a\{`},
		{`^a{,3}$`, `a\{,3\}`},
		{`^\$\^\/\-\[$`, `$\^/-\[`},
		{`^[]a^]$`, `[\]a\^]`},
		{`^[^]a]$`, `[^\]a]`},
		{`^[\p{Lu}\pN]\P{L}\p{^Nd}$`, `[\p{Lu}\p{N}]\P{L}\P{Nd}`},
		{`^\x41\x{1F600}\t\n$`, `A😀\t\n`},
		{`^[\x00-\x7F]$`, "[\\t-\\n\\r -\u007f]"},
		{`^[\x{0}-\x{10FFFF}]$`, "[\\t-\\n\\r -\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"},
		{`^Hà Nội|Huế$`, `Hà Nội[\s\S]*|[\s\S]*Huế`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := translatePattern(tc.in)
			if err != nil {
				t.Fatalf("translatePattern(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("translatePattern(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestTranslatePatternRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, reason string }{
		{`(a`, "not a valid regular expression"},
		{`^(?=a)`, "not a valid regular expression"}, // Go has no look-ahead
		{`(?i)^a$`, "group flags"},
		{`^(?s:.)$`, "group flags"},
		{`^a\b`, `assertion \b`},
		{`\Aa\z`, `assertion \A`},
		{`^\s+$`, `\s`},
		{`^[\S]$`, `\S`},
		{`^[\D]$`, `\D inside a character class`},
		{`a^b`, "anchor ^"},
		{`^(a$)`, "anchor $"},
		{`^(^a)$`, "anchor ^"},
		{`^*a`, "quantifier"},
		{`^\p{Greek}$`, "general categories"},
		{`^[[:alpha:]]$`, "POSIX class"},
		{`^\101$`, `escape \1`},
		{`^\Qa.b\E$`, `escape \Q`},
		{`^\x01$`, "cannot appear in an XML document"},
		{`^[\x01-\x08]$`, "no character XML 1.0 can carry"},
		{`^\f$`, `escape \f`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := translatePattern(tc.in)
			if err == nil {
				t.Fatalf("translatePattern(%q) = %q, want an error", tc.in, got)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("translatePattern(%q): %v, want it to mention %q", tc.in, err, tc.reason)
			}
		})
	}
}

// TestPatternsMatchLikeGoRegexp checks, sample by sample, that libxml2 accepts a value under
// the translated XSD pattern exactly when Go's regexp (the JSON Schema validator's engine)
// matches it under the original pattern.
func TestPatternsMatchLikeGoRegexp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		samples []string
	}{
		{`^[0-9]{7}$`, []string{"1012345", "10123AB", "10123456", "", "１０１２３４５"}},
		{`^[A-Za-z0-9.]{1,20}-[0-9]{8}-[0-9]{7}$`, []string{"G09.20-20260609-0000001", "G09.20-2026-1", "-20260609-0000001"}},
		{`^[0-9A-Za-z.-]{4,34}$`, []string{"0011-004.123", "00 11", "abc"}},
		{`[0-9]{3}`, []string{"a123b", "12", "x\n123\ny", "123"}},
		{`^a|b$`, []string{"abc", "xb", "xbx", "a", "ba"}},
		{`^\d+\.\d{2}$`, []string{"12.34", "١٢.34", "12,34", "1.2"}},
		{`^\w+$`, []string{"abc_1", "ábc", "a-b"}},
		{`^.*$`, []string{"abc", "a\nb", "", "a\tb"}},
		{`^(?:ab)+$`, []string{"abab", "aba", ""}},
		{`^\p{Lu}[\p{Ll} ]*$`, []string{"Hà nội", "hà", "HÀ"}},
		{`^\P{N}+$`, []string{"abc", "a1", "a٣"}},
		{`^[a-c-]+$`, []string{"a-b", "d", "-"}},
		{`^x{2,}?$`, []string{"xx", "xxxx", "x"}},
		{`^a{$`, []string{"a{", "a"}},
		{`^[\x00-\x7F]+$`, []string{"abc", "é", "a\tb"}},
		{`^\$[0-9]+\^$`, []string{"$12^", "12"}},
		{`^[]a^-]+$`, []string{"]a^-", "b", "[]"}},
		{`^[^a-z]$`, []string{"\n", "A", "a"}},
		{`^\x{1F600}?ok$`, []string{"😀ok", "ok", "😁ok"}},
		{`^$`, []string{"", " "}},
		{``, []string{"", "anything\nat all"}},
		{`ab|cd`, []string{"xaby", "ac", "cd"}},
		{`^(a|b)*c(d|e)?$`, []string{"ababc", "cd", "ce", "abcde", "x"}},
	}
	dir := t.TempDir()
	for i, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			t.Parallel()
			re := regexp.MustCompile(tc.pattern)
			quoted, _ := json.Marshal(tc.pattern)
			schema := object(`"v":{"type":"string","pattern":`+string(quoted)+`}`, "v")
			out, err := Generate([]byte(schema))
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			xsdPath := filepath.Join(dir, fmt.Sprintf("p%02d.xsd", i))
			if err := os.WriteFile(xsdPath, out, 0o600); err != nil {
				t.Fatal(err)
			}
			files := make([]string, len(tc.samples))
			for j, s := range tc.samples {
				var text strings.Builder
				_ = xml.EscapeText(&text, []byte(s)) // writes to a strings.Builder never fail
				doc := `<HoSo Id="h"><v>` + text.String() + `</v></HoSo>`
				files[j] = filepath.Join(dir, fmt.Sprintf("p%02d-s%02d.xml", i, j))
				if err := os.WriteFile(files[j], []byte(doc), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			verdicts := xmllint(t, xsdPath, files...)
			for j, s := range tc.samples {
				goMatch, xsdMatch := re.MatchString(s), verdicts[files[j]] == ""
				if goMatch != xsdMatch {
					t.Errorf("%q: Go regexp matches %v, XSD accepts %v\n%s", s, goMatch, xsdMatch, verdicts[files[j]])
				}
			}
		})
	}
}

func FuzzTranslatePattern(f *testing.F) {
	for _, seed := range []string{`^[0-9]{7}$`, `^a|b$`, `[^\]a-]`, `(?:x)*?`, `\p{L}\x{41}`, `a{2,`, `[\d-z]`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		got, err := translatePattern(pattern)
		if err != nil {
			return
		}
		if !utf8.ValidString(got) || !isXMLText(got) {
			t.Errorf("translatePattern(%q) = %q, not XML text", pattern, got)
		}
	})
}

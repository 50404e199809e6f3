package text

import (
	"testing"
	"unicode/utf8"
)

func TestInvalidUTF8(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   []byte
		off  int
		ok   bool
	}{
		{"ascii", []byte(`{"a":1}`), 0, true},
		{"vietnamese", []byte(`{"ten":"Kho bạc Nhà nước"}`), 0, true},
		{"a real U+FFFD is valid", []byte("a\uFFFDb"), 0, true},
		// "Kế" in windows-1258: 'K', 0xEA, then the combining acute 0xEC.
		{"windows-1258", []byte{'{', '"', 'K', 0xEA, 0xEC, '"', '}'}, 3, false},
		{"truncated sequence at the end", []byte{'a', 0xE1, 0xBA}, 1, false},
		{"overlong encoding", []byte{'a', 'b', 0xC0, 0xAF}, 2, false},
	}
	for _, c := range cases {
		off, ok := InvalidUTF8(c.in)
		if off != c.off || ok != c.ok {
			t.Errorf("%s: InvalidUTF8 = %d, %v; want %d, %v", c.name, off, ok, c.off, c.ok)
		}
	}
}

func TestSkipBOM(t *testing.T) {
	t.Parallel()
	b, n := SkipBOM([]byte("\xEF\xBB\xBF<a/>"))
	if string(b) != "<a/>" || n != 3 {
		t.Fatalf("SkipBOM = %q, %d", b, n)
	}
	if b, n := SkipBOM([]byte("<a/>")); string(b) != "<a/>" || n != 0 {
		t.Fatalf("no mark: %q, %d", b, n)
	}
}

func TestNFC(t *testing.T) {
	t.Parallel()
	nfd := "Ke\u0302\u0301 toa\u0301n tru\u031Bo\u031B\u0309ng" // "Kế toán trưởng", decomposed
	if NFC(nfd) != "Kế toán trưởng" {
		t.Fatalf("NFC(%q) = %q", nfd, NFC(nfd))
	}
}

func FuzzInvalidUTF8(f *testing.F) {
	f.Add([]byte("Kho bạc"))
	f.Add([]byte{0xEA, 0xEC})
	f.Fuzz(func(t *testing.T, b []byte) {
		off, ok := InvalidUTF8(b)
		if ok != utf8.Valid(b) {
			t.Fatalf("ok = %v, utf8.Valid = %v", ok, utf8.Valid(b))
		}
		if !ok && (off < 0 || off >= len(b) || !utf8.Valid(b[:off])) {
			t.Fatalf("offset %d of %q: the bytes before it must be valid", off, b)
		}
	})
}

package jsonenc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/schema"
)

// same fails t unless Append writes what Marshal writes, or fails when it does.
func same(t *testing.T, name string, v any) {
	t.Helper()
	want, werr := json.Marshal(v)
	got, gerr := Append([]byte("prefix"), v)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("%s: Append error %v, Marshal error %v", name, gerr, werr)
	}
	if gerr != nil && string(got) != "prefix" {
		t.Fatalf("%s: refused, yet dst became %q", name, got)
	}
	if werr == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("%s:\n got %s\nwant prefix%s", name, got, want)
	}
}

func TestAppendIsMarshal(t *testing.T) {
	values := []any{
		nil, true, false, "", json.Number(""), json.Number("0"), json.Number("-12.5e+3"),
		json.Number("1e"), json.Number("01"), json.Number("-"), json.Number("1.e5"), json.Number("NaN"),
		0, -1, math.MaxInt64, int64(math.MinInt64),
		"plain ASCII", "Hồ sơ chi thường xuyên", "<script>&amp;</script>", "quote \" backslash \\ slash /",
		"\x00\x01\b\f\n\r\t\x1f\x7f", "bad \xff\xfe utf-8 \xe1\xbb", "line\u2028para\u2029", "\U0001F4B0",
		[]any(nil), []any{}, []any{nil, "a", json.Number("1"), []any{map[string]any{}}},
		map[string]any(nil), map[string]any{},
		map[string]any{"b": "2", "a": json.Number("1"), "A": true, "<&>": nil, "ä": []any{"x"}, "": "empty key"},
		map[string]any{"nested": map[string]any{"z": map[string]any{"y": []any{json.Number("7"), false}}}},
		// other types go through Marshal, in place
		map[string]any{"at": time.Date(2026, 12, 6, 1, 2, 3, 0, time.UTC), "f": 1.5, "u": uint8(7),
			"s": struct {
				A string `json:"a,omitempty"`
				B []byte
			}{B: []byte("<x>")}},
		// refused as Marshal refuses them
		map[string]any{"n": json.Number("1x")}, []any{math.NaN()}, map[string]any{"c": make(chan int)},
	}
	for i, v := range values {
		same(t, fmt.Sprintf("value %d (%T)", i, v), v)
	}
	// more keys than the stack array holds
	big := map[string]any{}
	for i := range 100 {
		big[strings.Repeat("k", i%7)+string(rune('a'+i%26))+string(rune('0'+i/26))] = i
	}
	same(t, "100 keys", big)
}

// Every JSON document in testdata, read as the intake reads a JSON body.
func TestAppendIsMarshalOnTestdata(t *testing.T) {
	n := 0
	err := filepath.WalkDir("../../testdata", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		v, err := schema.DecodeJSON(body)
		if err != nil {
			return nil // an attack case, or not one value
		}
		n++
		same(t, path, v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Fatalf("only %d JSON documents read from testdata", n)
	}
}

func FuzzAppend(f *testing.F) {
	for _, s := range []string{`{"a":"<b>&\u2028","c":[1,2.5e3,null,true]}`, `"\u0000\ud800"`, `[{"":{}}]`, `-0.0E-0`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if v, err := schema.DecodeJSON(body); err == nil {
			same(t, "decoded", v)
		}
		// any string, valid UTF-8 or not, as a value and as a key
		s := string(body)
		same(t, "string", s)
		same(t, "key", map[string]any{s: []any{s, nil}})
		same(t, "number", []any{json.Number(s)})
	})
}

// BenchmarkAppendString: a detached JWS of two signatures with their
// certificates (base64url and dots, nothing to escape; about 5 KB), as the
// treasury request's evidence carries it, and Vietnamese text.
func BenchmarkAppendString(b *testing.B) {
	jws := strings.Repeat("eyJhbGciOiJSUzI1NiIsIng1YyI6WyJNSUlD", 140) + ".." + strings.Repeat("AbC-_x", 40)
	for _, tc := range []struct{ name, s string }{
		{"jws", jws},
		{"vietnamese", strings.Repeat("Chi thường xuyên: thanh toán hợp đồng số 15/2026 <HĐMB> & nghiệm thu. ", 20)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dst := make([]byte, 0, 2*len(tc.s))
			b.SetBytes(int64(len(tc.s)))
			b.ReportAllocs()
			for b.Loop() {
				dst = AppendString(dst[:0], tc.s)
			}
		})
	}
}

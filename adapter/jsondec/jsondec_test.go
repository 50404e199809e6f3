package jsondec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// reference is the decoder Decode replaces, on encoding/json's token
// reader: the values and the refusals Decode must give.
func reference(b []byte, maxDepth int) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := referenceValue(dec, 0, maxDepth)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrTrailing
	}
	return v, nil
}

func referenceValue(dec *json.Decoder, depth, maxDepth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nesting deeper than %d", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				if _, dup := obj[k]; dup {
					return nil, fmt.Errorf("duplicate key %q", k)
				}
				v, err := referenceValue(dec, depth+1, maxDepth)
				if err != nil {
					return nil, err
				}
				obj[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return obj, nil
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := referenceValue(dec, depth+1, maxDepth)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return arr, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil
	}
}

const depth = 32

func agree(t *testing.T, b []byte) {
	t.Helper()
	want, werr := reference(b, depth)
	got, gerr := Decode(b, depth)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: reference error %v, Decode error %v", b, werr, gerr)
	}
	if werr != nil {
		if errors.Is(werr, ErrTrailing) != errors.Is(gerr, ErrTrailing) {
			t.Fatalf("%q: reference error %v, Decode error %v", b, werr, gerr)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nDecode    %#v\nreference %#v", b, got, want)
	}
}

var cases = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1.5e-3`, `1E+2`, `"x"`, ` {"a" : [1, 2 ,{"b":"c"}] } `,
	`{"a":1,"a":2}`, `{"a":1} {}`, `{"a":`, ``, `   `, `{"a":1,}`, `[1,]`, `[1 2]`, `{"a" 1}`, `{1:2}`, `01`, `-`, `1.`, `.5`,
	`1e`, `1e+`, `nul`, `nullx`, `[tru]`, `"\u00e9\n\t\"\\\/\b\f\r"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ude00"`, `"\ud83dx"`,
	`"\ud83d\u0041"`, `"\ud83d\ud83d\ude00"`, `"\u12"`, `"\x"`, `"\'"`, "\"a\x01b\"", "\"\xff\xfe\"", "\"caf\xc3\xa9\"", `"é"`,
	`{"\u0061":1,"a":2}`, `[` + strings.Repeat(`[`, depth) + strings.Repeat(`]`, depth) + `]`,
	strings.Repeat(`[`, depth) + `1` + strings.Repeat(`]`, depth), strings.Repeat(`[`, depth+1) + `1` + strings.Repeat(`]`, depth+1),
	`{"a":{"b":{"c":[1,{"d":null}]}}}`, `"unterminated`, `[1,2`, `{"a":1`, "\t\r\n[ ]\n", `[-1.0e10, 9999999999999999999999]`,
}

func TestDecodeIsTheReference(t *testing.T) {
	for _, c := range cases {
		agree(t, []byte(c))
	}
	files, _ := filepath.Glob("../../testdata/*/*/*.json")
	more, _ := filepath.Glob("../../testdata/*/*.json")
	files = append(files, more...)
	if len(files) < 8 {
		t.Fatalf("only %d JSON files in testdata", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		agree(t, b)
	}
}

// TestDecodeStringsAtEveryOffset puts each byte that a string cannot take
// as it is at every offset of strings longer than the eight-byte steps of
// the fast path, before and after an aligned group.
func TestDecodeStringsAtEveryOffset(t *testing.T) {
	for _, special := range []string{`\n`, `\u00e9`, `\"`, "\x01", "\x1f", "é", "\xff", "\x7f", `"`, "\x20", "!", "#", "[", "]"} {
		for n := range 40 {
			for _, tail := range []string{`"`, `x"`, ``} {
				b := `{"k":"` + strings.Repeat("a", n) + special + strings.Repeat("b", 17) + tail + `}`
				agree(t, []byte(b))
			}
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, c := range []string{`{"a":1,"a":2}`, `{"a":1} {}`, `[1,]`, ``, strings.Repeat(`[`, depth+2) + strings.Repeat(`]`, depth+2)} {
		if _, err := Decode([]byte(c), depth); err == nil {
			t.Errorf("%q accepted", c)
		}
	}
	if _, err := Decode([]byte(`{} x`), depth); !errors.Is(err, ErrTrailing) {
		t.Errorf("trailing data: %v, want ErrTrailing", err)
	}
	var se *SyntaxError
	if _, err := Decode([]byte(`{"a":tru}`), depth); !errors.As(err, &se) || se.Offset != 8 {
		t.Errorf("syntax error: %v, want one at offset 8 (the byte that breaks the literal)", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c))
	}
	files, _ := filepath.Glob("../../testdata/templates/*/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		agree(t, b)
	})
}

func BenchmarkDecode(b *testing.B) {
	body, err := os.ReadFile("../../testdata/templates/chi-thuong-xuyen/dossier.json")
	if err != nil {
		b.Fatal(err)
	}
	long := []byte(`{"original":"` + base64.StdEncoding.EncodeToString(body) + `","sha256":"00"}`)
	for _, in := range []struct {
		name string
		b    []byte
	}{{"dossier", body}, {"base64-string", long}} {
		b.Run(in.name, func(b *testing.B) { benchmarkDecode(b, in.b) })
	}
}

func benchmarkDecode(b *testing.B, body []byte) {
	for _, impl := range []struct {
		name string
		fn   func([]byte, int) (any, error)
	}{{"jsondec", Decode}, {"token-reader", reference}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := impl.fn(body, depth); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package intake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kbnn/dvc/adapter/schema"
)

// marshalled is what Fingerprint hashed before appendCanonical: Marshal's
// bytes, empty when Marshal refuses the value.
func marshalled(v any) []byte {
	raw, _ := json.Marshal(v)
	return raw
}

// canonical is appendCanonical's answer, or Marshal's when it declines.
func canonical(v any) []byte {
	raw, ok := appendCanonical(nil, v)
	if !ok {
		return marshalled(v)
	}
	return raw
}

func TestCanonicalIsMarshal(t *testing.T) {
	values := []any{
		nil, true, false, "", json.Number(""), json.Number("0"), json.Number("-12.5e+3"),
		json.Number("1e"), json.Number("01"), json.Number("-"), json.Number("1.e5"), json.Number("NaN"),
		"plain ASCII", "Hồ sơ chi thường xuyên", "<script>&amp;</script>", "quote \" backslash \\ slash /",
		"\x00\x01\b\f\n\r\t\x1f\x7f", "bad \xff\xfe utf-8 \xe1\xbb", "line\u2028para\u2029", "\U0001F4B0",
		[]any(nil), []any{}, []any{nil, "a", json.Number("1"), []any{map[string]any{}}},
		map[string]any(nil), map[string]any{},
		map[string]any{"b": "2", "a": json.Number("1"), "A": true, "<&>": nil, "ä": []any{"x"}, "": "empty key"},
		map[string]any{"nested": map[string]any{"z": map[string]any{"y": []any{json.Number("7"), false}}}},
		map[string]any{"n": int64(5)},          // not a decoder type: Marshal's path
		map[string]any{"n": json.Number("1x")}, // Marshal refuses it: empty, as it always was
	}
	for _, v := range values {
		if got, want := canonical(v), marshalled(v); !bytes.Equal(got, want) {
			t.Errorf("%#v:\n got %s\nwant %s", v, got, want)
		}
	}
	if _, ok := appendCanonical(nil, map[string]any{"n": int64(5)}); ok {
		t.Error("appendCanonical took an int64, which no decoder makes")
	}
}

// Every JSON document in testdata, read as the intake reads a JSON body.
func TestCanonicalIsMarshalOnTestdata(t *testing.T) {
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
			return nil // an attack case or an answer that is not one value
		}
		n++
		if got, want := canonical(v), marshalled(v); !bytes.Equal(got, want) {
			t.Errorf("%s: the canonical encoding differs from Marshal's", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Fatalf("only %d JSON documents read from testdata", n)
	}
}

// The fingerprint of a fixed dossier, worked out with Marshal: stored
// idempotency records hold fingerprints, so it may never change.
func TestFingerprintIsStable(t *testing.T) {
	v := &Verified{Procedure: &Procedure{ID: "chi-thuong-xuyen"}, Value: map[string]any{
		"maHoSo": "G09.20.1012345-20260601-0000001", "soBoSung": json.Number("0"),
		"tenDonVi": "Trường <THCS> & \"Nguyễn Du\"", "chiTiet": []any{
			map[string]any{"soTien": json.Number("12500000"), "noiDung": "Lương\u2028tháng 6"}},
	}}
	const want = "c42bc88457d2f7e89aa48fde98d6bd43aeae4a64e8128ecb7ecc946ca685502d"
	if got := v.Fingerprint(); got != want {
		t.Errorf("fingerprint %s, want %s", got, want)
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"a":"<b>&\u2028","c":[1,2.5e3,null,true]}`, `"\u0000\ud800"`, `[{"":{}}]`, `-0.0E-0`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if v, err := schema.DecodeJSON(body); err == nil {
			if got, want := canonical(v), marshalled(v); !bytes.Equal(got, want) {
				t.Fatalf("%q: got %s, want %s", body, got, want)
			}
		}
		// any string, valid UTF-8 or not, as a value and as a key
		s := string(body)
		for _, v := range []any{s, map[string]any{s: s}} {
			if got, want := canonical(v), marshalled(v); !bytes.Equal(got, want) {
				t.Fatalf("%q: got %s, want %s", s, got, want)
			}
		}
	})
}

// BenchmarkFingerprint: the fingerprint of the two-line chi-thuong-xuyen
// template, against hashing Marshal's bytes as it was done before.
func BenchmarkFingerprint(b *testing.B) {
	body, err := os.ReadFile("../../testdata/templates/chi-thuong-xuyen/dossier.json")
	if err != nil {
		b.Fatal(err)
	}
	val, err := schema.DecodeJSON(body)
	if err != nil {
		b.Fatal(err)
	}
	v := &Verified{Procedure: &Procedure{ID: "chi-thuong-xuyen"}, Value: val.(map[string]any)}
	b.Run("canonical", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = v.Fingerprint()
		}
	})
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw, _ := json.Marshal(v.Value)
			h := sha256.New()
			h.Write([]byte(v.Procedure.ID))
			h.Write([]byte{0})
			h.Write(raw)
			_ = hex.EncodeToString(h.Sum(nil))
		}
	})
}

package intake

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/jsonenc"
)

func evidenceSample() Evidence {
	at := time.Date(2026, 6, 9, 1, 30, 0, 123456789, time.UTC)
	return Evidence{Form: "xml-dsig", ContentType: "application/xml; charset=utf-8", SHA256: "ab12",
		Original: []byte("<HoSo Id=\"x\">Chi thường xuyên & <b></HoSo>\n"),
		Signers: []EvidenceSigner{
			{Role: "chu-tai-khoan", Subject: "CN=Nguyễn Văn A,O=Sở <Tài chính> & Co", Issuer: "CN=CA\u2028x", SerialNumber: "0a",
				CertificateSHA256: "ff", NotBefore: at.Add(-time.Hour), NotAfter: at.In(time.FixedZone("ICT", 7*3600)),
				SignatureAlgorithm: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"},
			{Role: "ke-toan-truong", Subject: "bad \xff utf-8 \"quoted\" \\ \t\x01"},
		},
		VerifiedAt: at, Instance: "adapter-1"}
}

// TestEvidenceAppendJSONIsMarshal holds Evidence.AppendJSON to the bytes
// json.Marshal writes for the same value: the treasury receives the one,
// and tests and tools read the other.
func TestEvidenceAppendJSONIsMarshal(t *testing.T) {
	cases := map[string]func(*Evidence){
		"full":              func(*Evidence) {},
		"no original":       func(e *Evidence) { e.Original = nil },
		"empty original":    func(e *Evidence) { e.Original = []byte{} },
		"jws":               func(e *Evidence) { e.Form, e.JWSSignature = "jws", "eyJhbGciOiJSUzI1NiJ9..c2ln" },
		"nil signers":       func(e *Evidence) { e.Signers = nil },
		"no signers":        func(e *Evidence) { e.Signers = []EvidenceSigner{} },
		"zero":              func(e *Evidence) { *e = Evidence{} },
		"original of 3n+1":  func(e *Evidence) { e.Original = []byte("abcd") },
		"original of 3n+2":  func(e *Evidence) { e.Original = []byte("abcde") },
		"original in UTF-8": func(e *Evidence) { e.Original = []byte("Kho bạc Nhà nước") },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			e := evidenceSample()
			change(&e)
			checkEvidenceJSON(t, e)
		})
	}
	t.Run("inside a request", func(t *testing.T) {
		req := map[string]any{"procedure": "chi-thuong-xuyen", "evidence": evidenceSample()}
		want, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := jsonenc.Append(nil, req)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("jsonenc.Append: %v\n%s\nwant\n%s", err, got, want)
		}
	})
	t.Run("a nil pointer", func(t *testing.T) {
		req := map[string]any{"evidence": (*Evidence)(nil)}
		want, _ := json.Marshal(req)
		if got, err := jsonenc.Append(nil, req); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("jsonenc.Append = %s, %v; want %s", got, err, want)
		}
	})
	t.Run("a year Marshal refuses", func(t *testing.T) {
		e := evidenceSample()
		e.VerifiedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		if _, err := json.Marshal(e); err == nil {
			t.Fatal("json.Marshal accepts the year 10000; the case tests nothing")
		}
		if out, err := jsonenc.Append([]byte("x"), e); err == nil || string(out) != "x" {
			t.Fatalf("Append = %q, %v; want the buffer unchanged and an error", out, err)
		}
	})
}

func checkEvidenceJSON(t *testing.T, e Evidence) {
	t.Helper()
	want, werr := json.Marshal(e)
	got, gerr := e.AppendJSON([]byte("prefix"))
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("json.Marshal error %v, AppendJSON error %v", werr, gerr)
	}
	if werr != nil {
		return
	}
	if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[len("prefix"):], want) {
		t.Fatalf("AppendJSON:\n%s\njson.Marshal:\n%s", got, want)
	}
}

func FuzzEvidenceAppendJSON(f *testing.F) {
	e := evidenceSample()
	f.Add(e.Form, e.Signers[0].Subject, e.Signers[1].Subject, e.Original, int64(0), false)
	f.Add("jws", "", "\u2029<&>", []byte{}, int64(-1)<<62, true)
	f.Fuzz(func(t *testing.T, form, subject, issuer string, original []byte, nanos int64, jws bool) {
		e := evidenceSample()
		e.Form, e.Original = form, original
		e.Signers[0].Subject, e.Signers[1].Issuer = subject, issuer
		e.VerifiedAt = time.Unix(0, nanos).UTC()
		e.Signers[0].NotAfter = time.Unix(0, nanos).In(time.FixedZone("", int(nanos%50000)))
		if jws {
			e.JWSSignature = subject
		}
		checkEvidenceJSON(t, e)
	})
}

// The original and what follows it in the treasury's request take one
// growth of the buffer: the evidence's own fields, its signers and as much
// again of the document as came before it.
func TestEvidenceAppendJSONGrowsOnce(t *testing.T) {
	e := evidenceSample()
	e.Original = bytes.Repeat([]byte("<DongChungTu/>"), 700) // 9.8 KB
	before := bytes.Repeat([]byte(`"k":"v",`), 256)          // 2 KB of the document before the evidence
	dst := append(make([]byte, 0, 4096), before...)
	dst, err := e.AppendJSON(dst)
	if err != nil {
		t.Fatal(err)
	}
	if room := cap(dst) - len(dst); room < len(before) {
		t.Fatalf("%d bytes of room after the evidence, want at least the %d before it", room, len(before))
	}
	first := &dst[0]
	if dst = append(dst, before...); &dst[0] != first {
		t.Fatal("the document after the evidence moved the buffer")
	}
}

func BenchmarkEvidenceAppendJSON(b *testing.B) {
	e := evidenceSample()
	e.Original = bytes.Repeat([]byte("<DongChungTu/>"), 700)
	before := bytes.Repeat([]byte(`"k":"v",`), 256)
	b.ReportAllocs()
	for b.Loop() {
		dst := append(make([]byte, 0, 4096), before...)
		dst, _ = e.AppendJSON(dst)
		_ = append(dst, before...)
	}
}

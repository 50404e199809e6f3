package signers_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/adapter/testkit/signertest"
	"github.com/kbnn/dvc/adapter/testkit/signing"
)

func TestMemoryConformance(t *testing.T) {
	signertest.Run(t, func(*testing.T) signers.Store { return signers.NewMemory() })
}

func TestCanonicalSerial(t *testing.T) {
	for _, in := range []string{"4A25D592", "4a25d592", "0x4A25D592", "00:4A:25:D5:92", " 004a25d592 "} {
		got, err := signers.CanonicalSerial(in)
		if err != nil || got != "4a25d592" {
			t.Errorf("CanonicalSerial(%q) = %q, %v; want 4a25d592", in, got, err)
		}
	}
	for _, in := range []string{"", "xyz", "-1"} {
		if _, err := signers.CanonicalSerial(in); err == nil {
			t.Errorf("CanonicalSerial(%q) accepted", in)
		}
	}
}

func TestCanonicalDN(t *testing.T) {
	a, err := signers.CanonicalDN("CN=KBNN Test Signing CA,O=Kho bac Nha nuoc - TEST ONLY,C=VN")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := signers.CanonicalDN(" cn = kbnn  test signing ca , o=KHO BAC NHA NUOC - TEST ONLY, c=vn")
	if a != b {
		t.Errorf("%q != %q", a, b)
	}
	c, _ := signers.CanonicalDN("CN=Other CA,O=Kho bac Nha nuoc - TEST ONLY,C=VN")
	if a == c {
		t.Error("different issuers compare equal")
	}
	if _, err := signers.CanonicalDN("no equals sign"); err == nil {
		t.Error("malformed DN accepted")
	}
}

// A Vietnamese issuer is the same whether its name is typed composed (NFC,
// as certificates carry it), decomposed (NFD), or hex-escaped UTF-8 as
// `openssl -nameopt RFC2253` prints it; escaped specials stay inside their
// value.
func TestCanonicalDNVietnamese(t *testing.T) {
	nfc, err := signers.CanonicalDN("CN=CA Hà Nội,O=Ban Cơ yếu Chính phủ,C=VN")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		"CN=CA Ha\u0300 No\u0323\u0302i,O=Ban Co\u031b ye\u0302\u0301u Chi\u0301nh phu\u0309,C=VN",
		`CN=CA H\C3\A0 N\E1\BB\99i,O=Ban C\C6\A1 y\E1\BA\BFu Ch\C3\ADnh ph\E1\BB\A7,C=VN`,
	} {
		got, err := signers.CanonicalDN(in)
		if err != nil || got != nfc {
			t.Errorf("CanonicalDN(%q) = %q, %v; want %q", in, got, err, nfc)
		}
	}
	// A capital whose letter composes with its mark only in lower case.
	for _, in := range []string{"CN=W\u030A", "CN=J\u030C", "CN=H\u0331"} {
		once, _ := signers.CanonicalDN(in)
		if twice, _ := signers.CanonicalDN(once); twice != once {
			t.Errorf("CanonicalDN(%q) = %q, then %q", in, once, twice)
		}
		if lower, _ := signers.CanonicalDN(strings.ToLower(in)); lower != once {
			t.Errorf("CanonicalDN(%q) = %q, of its lower case %q", in, once, lower)
		}
	}
	a, _ := signers.CanonicalDN(`CN=Sub\, Inc,O=x`)
	b, _ := signers.CanonicalDN(`CN=Sub\2C Inc,O=x`)
	if a != b || a != `CN=sub\, inc,O=x` {
		t.Errorf("an escaped comma: %q and %q, want CN=sub\\, inc,O=x", a, b)
	}
}

// CanonicalDN never panics and is idempotent: a canonical name stays as it
// is, so an issuer canonicalised when stored matches itself when read.
func FuzzCanonicalDN(f *testing.F) {
	for _, s := range []string{"CN=KBNN Test Signing CA,O=Kho bac,C=VN", `CN=H\C3\A0 N\E1\BB\99i`, `CN=a\, b`, `CN=\#x`,
		"1.2.840.113549.1.9.1=#160b6361406578616d706c65", `CN=\FF\FE`, `CN=\`, ",,=", "CN= a  b ,O=+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dn string) {
		once, err := signers.CanonicalDN(dn)
		if err != nil {
			return
		}
		twice, err := signers.CanonicalDN(once)
		if err != nil || twice != once {
			t.Fatalf("CanonicalDN(%q) = %q, then %q, %v", dn, once, twice, err)
		}
	})
}

// IssuerOf remembers DNs by the raw issuer: each certificate still gets its
// own issuer's canonical DN, the first time and the next.
func TestIssuerOf(t *testing.T) {
	want := map[string]string{
		"chu-tai-khoan.crt":    "CN=kbnn test signing ca,O=kho bac nha nuoc - test only,C=vn",
		"intermediate-ca.crt":  "CN=kbnn test root ca,O=kho bac nha nuoc - test only,C=vn",
		"untrusted-signer.crt": "",
	}
	for name := range want {
		c, err := signing.ReadCertificate(filepath.Join("..", "..", "testdata", "pki", name))
		if err != nil {
			t.Fatal(err)
		}
		exp, err := signers.CanonicalDN(c.Issuer.String())
		if err != nil {
			t.Fatal(err)
		}
		if w := want[name]; w != "" && exp != w {
			t.Fatalf("%s: issuer %q, want %q (the fixture changed)", name, exp, w)
		}
		for i := range 2 {
			if got := signers.IssuerOf(c); got != exp {
				t.Errorf("%s: IssuerOf, call %d = %q, want %q", name, i+1, got, exp)
			}
		}
	}
}

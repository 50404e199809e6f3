package signers_test

import (
	"path/filepath"
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

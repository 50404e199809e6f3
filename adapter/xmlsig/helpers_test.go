package xmlsig

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/testkit/signing"
	"github.com/kbnn/dvc/adapter/trust"
)

const pkiDir = "../../testdata/pki"

// receipt is a fixed receipt time inside every valid test certificate.
var receipt = time.Date(2026, 6, 9, 9, 0, 0, 0, time.FixedZone("ICT", 7*3600))

func signer(t testing.TB, name string) signing.Signer {
	t.Helper()
	inter := filepath.Join(pkiDir, "intermediate-ca.crt")
	if name == "untrusted-signer" {
		inter = filepath.Join(pkiDir, "untrusted-ca.crt")
	}
	s, err := signing.LoadSigner(filepath.Join(pkiDir, name+".crt"), filepath.Join(pkiDir, name+".key"), inter)
	if err != nil {
		t.Fatal(err)
	}
	if name == "untrusted-signer" {
		s.Chain = s.Chain[:1]
	}
	return s
}

func testStore(t testing.TB) *trust.Store {
	t.Helper()
	roots, err := trust.LoadCertificates(filepath.Join(pkiDir, "root-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	inter, err := trust.LoadCertificates(filepath.Join(pkiDir, "intermediate-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	crls, err := trust.LoadCRLs(filepath.Join(pkiDir, "intermediate.crl"))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := trust.New(trust.Options{Roots: roots, Intermediates: inter, CRLs: crls,
		Roles: map[string]string{"Chu tai khoan": "chu-tai-khoan", "Ke toan truong": "ke-toan-truong"}})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func template(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/templates/chi-thuong-xuyen/dossier.xml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(t testing.TB, doc []byte, opts signing.XMLOptions, names ...string) []byte {
	t.Helper()
	var ss []signing.Signer
	for _, n := range names {
		ss = append(ss, signer(t, n))
	}
	out, err := signing.SignXML(doc, opts, ss...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// verify parses and verifies body with the default policy.
func verify(t testing.TB, body []byte, p Policy) (*Result, error) {
	t.Helper()
	doc, err := Parse(body, Limits{})
	if err != nil {
		return nil, err
	}
	return NewVerifier(testStore(t), p).Verify(doc, receipt)
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	var pe *problem.Error
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want problem %s", err, code)
	}
	if pe.Kind.Code() != code {
		t.Fatalf("got %s (%v), want %s", pe.Kind.Code(), pe.Cause, code)
	}
}

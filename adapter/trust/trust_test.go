package trust

import (
	"crypto/x509"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/problem"
)

const pki = "../../testdata/pki"

func certs(t *testing.T, names ...string) []*x509.Certificate {
	t.Helper()
	var paths []string
	for _, n := range names {
		paths = append(paths, filepath.Join(pki, n+".crt"))
	}
	c, err := LoadCertificates(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func store(t *testing.T) *Store {
	t.Helper()
	crls, err := LoadCRLs(filepath.Join(pki, "intermediate.crl"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Roots: certs(t, "root-ca"), Intermediates: certs(t, "intermediate-ca"), CRLs: crls,
		Roles: map[string]string{"Chu tai khoan": "chu-tai-khoan", "Ke toan truong": "ke-toan-truong"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var at = time.Date(2026, 6, 9, 9, 0, 0, 0, time.UTC)

func TestVerify(t *testing.T) {
	s := store(t)
	cases := []struct {
		name  string
		chain []string
		at    time.Time
		code  string
		role  string
	}{
		{"account holder", []string{"chu-tai-khoan"}, at, "", "chu-tai-khoan"},
		{"chief accountant with intermediate sent", []string{"ke-toan-truong", "intermediate-ca"}, at, "", "ke-toan-truong"},
		{"untrusted CA", []string{"untrusted-signer", "untrusted-ca"}, at, "certificate-untrusted", ""},
		{"CA itself as signer", []string{"untrusted-ca"}, at, "certificate-untrusted", ""},
		{"expired", []string{"expired"}, at, "certificate-expired", ""},
		{"revoked", []string{"revoked"}, at, "certificate-revoked", ""},
		{"before validity", []string{"chu-tai-khoan"}, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), "certificate-expired", ""},
		{"late in validity, CRL still current", []string{"chu-tai-khoan"}, time.Date(2049, 12, 1, 0, 0, 0, 0, time.UTC), "", "chu-tai-khoan"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sg, err := s.Verify(certs(t, c.chain...), c.at)
			if c.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if sg.Role != c.role {
					t.Fatalf("role %q, want %q", sg.Role, c.role)
				}
				return
			}
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Kind.Code() != c.code {
				t.Fatalf("got %v, want %s", err, c.code)
			}
		})
	}
}

func TestCRLPastNextUpdateFailsClosed(t *testing.T) {
	s := store(t)
	var next time.Time
	for _, l := range s.crls {
		next = l.nextUpdate
	}
	_, err := s.Verify(certs(t, "chu-tai-khoan"), next.Add(time.Hour))
	var pe *problem.Error
	if !errors.As(err, &pe) {
		t.Fatalf("a signer checked after the CRL's next update must be refused, got %v", err)
	}
}

func TestCRLFromUnknownIssuerRefused(t *testing.T) {
	crls, err := LoadCRLs(filepath.Join(pki, "intermediate.crl"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Roots: certs(t, "untrusted-ca"), CRLs: crls}); err == nil {
		t.Fatal("a CRL no configured CA signed was accepted")
	}
}

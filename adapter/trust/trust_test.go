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

// fakeRevocation answers every chain the same way and records the chains.
type fakeRevocation struct {
	until  time.Time
	err    error
	chains [][]*x509.Certificate
}

func (f *fakeRevocation) Check(chain []*x509.Certificate) (time.Time, error) {
	f.chains = append(f.chains, chain)
	return f.until, f.err
}

// With a Revocation, the verified chain (leaf to root) goes to it, its
// refusal is the answer, and ValidUntil is the earlier of its answer and
// the chain's NotAfter; without one, the configured CRL's nextUpdate
// bounds ValidUntil.
func TestRevocationHook(t *testing.T) {
	leaf := certs(t, "chu-tai-khoan")
	withHook := func(f *fakeRevocation) *Store {
		s, err := New(Options{Roots: certs(t, "root-ca"), Intermediates: certs(t, "intermediate-ca"), Revocation: f})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	soon := at.Add(time.Hour)
	f := &fakeRevocation{until: soon}
	sg, err := withHook(f).Verify(leaf, at)
	if err != nil {
		t.Fatal(err)
	}
	if !sg.ValidUntil.Equal(soon) {
		t.Errorf("ValidUntil %s, want the revocation answer's %s", sg.ValidUntil, soon)
	}
	if len(f.chains) != 1 || len(f.chains[0]) != 3 || f.chains[0][0] != leaf[0] {
		t.Fatalf("the checker got %d chains, want the one verified chain leaf to root", len(f.chains))
	}
	late := &fakeRevocation{until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
	if sg, _ := withHook(late).Verify(leaf, at); !sg.ValidUntil.Equal(leaf[0].NotAfter) {
		t.Errorf("ValidUntil %s, want the leaf's NotAfter %s", sg.ValidUntil, leaf[0].NotAfter)
	}
	refusal := problem.New(problem.RevocationUnavailable, "")
	if _, err := withHook(&fakeRevocation{err: refusal}).Verify(leaf, at); !errors.Is(err, refusal) {
		t.Fatalf("got %v, want the checker's refusal", err)
	}
	sg, err = store(t).Verify(leaf, at)
	if err != nil {
		t.Fatal(err)
	}
	var next time.Time
	for _, l := range store(t).crls {
		next = l.nextUpdate
	}
	if !sg.ValidUntil.Equal(next) {
		t.Errorf("ValidUntil %s, want the configured CRL's nextUpdate %s", sg.ValidUntil, next)
	}
}

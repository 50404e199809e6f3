package testpki

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

func verifyAt(t *testing.T, dir, name string, at time.Time) error {
	t.Helper()
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(readCert(t, filepath.Join(dir, "root-ca.crt")))
	inters.AddCert(readCert(t, filepath.Join(dir, "intermediate-ca.crt")))
	_, err := readCert(t, filepath.Join(dir, name+".crt")).Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inters, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	return err
}

func TestGeneratePKI(t *testing.T) {
	t.Parallel()
	dir := testPKIDir(t)
	tests := []struct {
		name, title, issuerCN string
		ca, ecdsa             bool
		verify                func(error) bool // result of chain verification at receivedAt
	}{
		{name: "root-ca", issuerCN: "KBNN Test Root CA", ca: true, verify: isNil},
		{name: "intermediate-ca", issuerCN: "KBNN Test Root CA", ca: true, verify: isNil},
		{name: "chu-tai-khoan", title: "Chu tai khoan", issuerCN: "KBNN Test Signing CA", verify: isNil},
		{name: "ke-toan-truong", title: "Ke toan truong", issuerCN: "KBNN Test Signing CA", verify: isNil},
		{name: "revoked", title: "Chu tai khoan", issuerCN: "KBNN Test Signing CA", verify: isNil},
		{name: "ecdsa-signer", title: "Ke toan truong", issuerCN: "KBNN Test Signing CA", ecdsa: true, verify: isNil},
		{name: "expired", title: "Chu tai khoan", issuerCN: "KBNN Test Signing CA", verify: isReason(x509.Expired)},
		{name: "untrusted-ca", issuerCN: "Untrusted Test CA", ca: true, verify: isUnknownAuthority},
		{name: "untrusted-signer", title: "Chu tai khoan", issuerCN: "Untrusted Test CA", verify: isUnknownAuthority},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := readCert(t, filepath.Join(dir, tc.name+".crt"))
			if c.Issuer.CommonName != tc.issuerCN {
				t.Errorf("issuer %q, want %q", c.Issuer.CommonName, tc.issuerCN)
			}
			if got := titleOf(c); got != tc.title {
				t.Errorf("title %q, want %q", got, tc.title)
			}
			if c.IsCA != tc.ca || !c.BasicConstraintsValid {
				t.Errorf("IsCA %v (basic constraints %v), want %v", c.IsCA, c.BasicConstraintsValid, tc.ca)
			}
			wantKU := x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
			if tc.ca {
				wantKU = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
			} else if c.Subject.Organization[0] != "Don vi du toan 1012345" {
				t.Errorf("organization %v", c.Subject.Organization)
			}
			if c.KeyUsage != wantKU {
				t.Errorf("key usage %b, want %b", c.KeyUsage, wantKU)
			}
			switch c.PublicKey.(type) {
			case *ecdsa.PublicKey:
				if !tc.ecdsa {
					t.Error("ECDSA key, want RSA")
				}
			case *rsa.PublicKey:
				if tc.ecdsa || c.PublicKey.(*rsa.PublicKey).N.BitLen() != 2048 {
					t.Error("want RSA-2048")
				}
			}
			if err := verifyAt(t, dir, tc.name, receivedAt); !tc.verify(err) {
				t.Errorf("chain verification at %s: %v", receivedAt, err)
			}
			if _, err := NewDir(dir).signer(tc.name); err != nil {
				t.Errorf("cannot load as signer: %v", err)
			}
		})
	}
}

func isNil(err error) bool { return err == nil }

func isReason(r x509.InvalidReason) func(error) bool {
	return func(err error) bool {
		var ce x509.CertificateInvalidError
		return errors.As(err, &ce) && ce.Reason == r
	}
}

func isUnknownAuthority(err error) bool {
	var ua x509.UnknownAuthorityError
	return errors.As(err, &ua)
}

func titleOf(c *x509.Certificate) string {
	for _, n := range c.Subject.Names {
		if n.Type.Equal(oidTitle) {
			s, _ := n.Value.(string)
			return s
		}
	}
	return ""
}

func TestGeneratePKIValidityWindow(t *testing.T) {
	t.Parallel()
	dir := testPKIDir(t)
	for _, at := range []time.Time{time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2046, 12, 31, 0, 0, 0, 0, time.UTC)} {
		for _, name := range []string{"chu-tai-khoan", "ke-toan-truong", "ecdsa-signer", "revoked"} {
			if err := verifyAt(t, dir, name, at); err != nil {
				t.Errorf("%s at %s: %v", name, at.Format(time.DateOnly), err)
			}
		}
	}
	if err := verifyAt(t, dir, "expired", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Errorf("expired was never valid: %v", err)
	}
}

func TestGeneratePKICRL(t *testing.T) {
	t.Parallel()
	dir := testPKIDir(t)
	data, err := os.ReadFile(filepath.Join(dir, crlFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "X509 CRL" {
		t.Fatal("CRL is not PEM X509 CRL")
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(readCert(t, filepath.Join(dir, "intermediate-ca.crt"))); err != nil {
		t.Errorf("CRL not signed by the intermediate: %v", err)
	}
	if !crl.NextUpdate.Equal(crlNextUpdate) || crl.ThisUpdate.After(receivedAt) {
		t.Errorf("CRL window %s – %s", crl.ThisUpdate, crl.NextUpdate)
	}
	listed := map[string]bool{}
	for _, e := range crl.RevokedCertificateEntries {
		listed[e.SerialNumber.String()] = true
	}
	for name, want := range map[string]bool{"revoked": true, "chu-tai-khoan": false, "ke-toan-truong": false, "expired": false} {
		if got := listed[readCert(t, filepath.Join(dir, name+".crt")).SerialNumber.String()]; got != want {
			t.Errorf("%s listed in CRL: %v, want %v", name, got, want)
		}
	}
}

func TestGeneratePKIFiles(t *testing.T) {
	t.Parallel()
	dir := testPKIDir(t)
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil || !strings.Contains(string(readme), "TEST ONLY") {
		t.Errorf("README.md missing or not marked TEST ONLY: %v", err)
	}
	for _, s := range testPKISpecs {
		for _, ext := range []string{".crt", ".key"} {
			if _, err := os.Stat(filepath.Join(dir, s.name+ext)); err != nil {
				t.Errorf("%s%s: %v", s.name, ext, err)
			}
		}
	}
	if err := Generate(dir, false); err == nil || !strings.Contains(err.Error(), "-force") {
		t.Errorf("overwriting an existing PKI without -force: %v", err)
	}
}

// TestCommittedPKI checks testdata/pki, which the fixtures and the adapter's
// tests rely on.
func TestCommittedPKI(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "..", "testdata", "pki")
	if _, err := os.Stat(filepath.Join(dir, "root-ca.crt")); err != nil {
		t.Fatalf("committed test PKI: %v", err)
	}
	for _, at := range []time.Time{receivedAt, time.Date(2046, 12, 31, 0, 0, 0, 0, time.UTC)} {
		for _, name := range []string{"chu-tai-khoan", "ke-toan-truong", "ecdsa-signer"} {
			if err := verifyAt(t, dir, name, at); err != nil {
				t.Errorf("%s at %s: %v", name, at.Format(time.DateOnly), err)
			}
		}
	}
	if err := verifyAt(t, dir, "expired", receivedAt); !isReason(x509.Expired)(err) {
		t.Errorf("expired: %v", err)
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil || !strings.Contains(string(readme), "TEST ONLY") {
		t.Errorf("README.md missing or not marked TEST ONLY: %v", err)
	}
	if string(readme) != pkiReadme {
		t.Error("testdata/pki/README.md is not what dvc-sign pki writes (pkiReadme)")
	}
	checkLogKey(t, dir)
}

// checkLogKey checks the committed evidence-log key pair: the verifier key
// verifies what the signer key signs, under the test origin.
func checkLogKey(t *testing.T, dir string) {
	t.Helper()
	skey, err := os.ReadFile(filepath.Join(dir, "adapter-log.key"))
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := os.ReadFile(filepath.Join(dir, "adapter-log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	if signer.Name() != "kbnn-dvc-adapter/test" {
		t.Errorf("log key name %q, want kbnn-dvc-adapter/test", signer.Name())
	}
	msg, err := note.Sign(&note.Note{Text: "x\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(msg, note.VerifierList(verifier)); err != nil {
		t.Errorf("adapter-log.vkey does not verify adapter-log.key's signature: %v", err)
	}
}

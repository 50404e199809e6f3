package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"testing"
	"time"
)

// receivedAt is the fixed "now" of every test: no wall clock.
var receivedAt = time.Date(2026, 6, 9, 8, 30, 0, 0, time.UTC)

type testPKI struct {
	root, inter *x509.Certificate
	first       Signer // RSA, "Chu tai khoan"
	second      Signer // RSA, "Ke toan truong"
	ec          Signer // ECDSA P-256
}

var (
	pkiOnce sync.Once
	pkiVal  testPKI
	pkiErr  error
)

// sharedPKI builds one small PKI for the whole test binary.
func sharedPKI(t *testing.T) testPKI {
	t.Helper()
	pkiOnce.Do(func() { pkiVal, pkiErr = buildPKI() })
	if pkiErr != nil {
		t.Fatalf("build test PKI: %v", pkiErr)
	}
	return pkiVal
}

func buildPKI() (testPKI, error) {
	var p testPKI
	rootKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return p, err
	}
	p.root, err = issue(1, "Test Root", true, rootKey, nil, rootKey)
	if err != nil {
		return p, err
	}
	interKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return p, err
	}
	p.inter, err = issue(2, "Test Intermediate", true, interKey, p.root, rootKey)
	if err != nil {
		return p, err
	}
	leaf := func(serial int64, cn string, key crypto.Signer) (Signer, error) {
		c, err := issue(serial, cn, false, key, p.inter, interKey)
		return Signer{Key: key, Chain: []*x509.Certificate{c, p.inter}}, err
	}
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return p, err
	}
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return p, err
	}
	k3, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return p, err
	}
	if p.first, err = leaf(3, "Nguyen Van A", k1); err != nil {
		return p, err
	}
	if p.second, err = leaf(4, "Tran Thi B", k2); err != nil {
		return p, err
	}
	p.ec, err = leaf(5, "Vu Thi F", k3)
	return p, err
}

func issue(serial int64, cn string, ca bool, key crypto.Signer, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC),
		BasicConstraintsValid: true,
		IsCA:                  ca,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
	if ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

package ocsptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"sync/atomic"
	"testing"
	"time"
)

// oidTitle is the X.520 title attribute (2.5.4.12) that carries a signer's role.
var oidTitle = asn1.ObjectIdentifier{2, 5, 4, 12}

// CA is a throwaway certification authority made by a test. TEST ONLY.
type CA struct {
	Cert   *x509.Certificate
	Key    crypto.Signer
	serial atomic.Int64
}

// validity of every certificate made here: wide around both the wall
// clock and the fixed receipt times of the tests.
var (
	notBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter  = time.Date(2049, 1, 1, 0, 0, 0, 0, time.UTC)
)

func newKey(tb testing.TB) crypto.Signer {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// NewCA makes a self-signed CA named cn.
func NewCA(tb testing.TB, cn string) *CA {
	tb.Helper()
	ca := &CA{Key: newKey(tb)}
	ca.serial.Store(1000)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn, Organization: []string{"ocsptest - TEST ONLY"}},
		NotBefore: notBefore, NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	ca.Cert = ca.sign(tb, tmpl, ca.Key.Public(), nil)
	return ca
}

func (ca *CA) sign(tb testing.TB, tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate) *x509.Certificate {
	tb.Helper()
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, ca.Key)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// Leaf describes a signer certificate to issue.
type Leaf struct {
	CN, Title string
	OCSP      []string // AIA OCSP responder URLs
	CRL       []string // CRL distribution points
}

// Issue makes a signer certificate (digital signature and non-repudiation).
func (ca *CA) Issue(tb testing.TB, l Leaf) (*x509.Certificate, crypto.Signer) {
	tb.Helper()
	key := newKey(tb)
	subj := pkix.Name{CommonName: l.CN}
	if l.Title != "" {
		subj.ExtraNames = []pkix.AttributeTypeAndValue{{Type: oidTitle, Value: l.Title}}
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.serial.Add(1)), Subject: subj,
		NotBefore: notBefore, NotAfter: notAfter, BasicConstraintsValid: true,
		KeyUsage:   x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		OCSPServer: l.OCSP, CRLDistributionPoints: l.CRL}
	return ca.sign(tb, tmpl, key.Public(), ca.Cert), key
}

// Responder makes a delegated OCSP responder certificate
// (id-kp-OCSPSigning); withoutEKU leaves that usage out, for a responder
// the CA did not authorize.
func (ca *CA) Responder(tb testing.TB, withoutEKU bool) (*x509.Certificate, crypto.Signer) {
	tb.Helper()
	key := newKey(tb)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.serial.Add(1)), Subject: pkix.Name{CommonName: "OCSP responder"},
		NotBefore: notBefore, NotAfter: notAfter, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}}
	if withoutEKU {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	return ca.sign(tb, tmpl, key.Public(), ca.Cert), key
}

// CRL makes a DER CRL signed by the CA that lists revoked, current from
// thisUpdate to nextUpdate.
func (ca *CA) CRL(tb testing.TB, revoked []*x509.Certificate, thisUpdate, nextUpdate time.Time) []byte {
	tb.Helper()
	var entries []x509.RevocationListEntry
	for _, c := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: thisUpdate.Add(-time.Hour)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(ca.serial.Add(1)),
		ThisUpdate: thisUpdate, NextUpdate: nextUpdate, RevokedCertificateEntries: entries}, ca.Cert, ca.Key)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

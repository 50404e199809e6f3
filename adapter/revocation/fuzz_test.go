package revocation

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/kbnn/dvc/adapter/testkit/ocsptest"
)

// fuzzPKI is a CA, a signer it issued, and a time they are valid at.
func fuzzPKI(f *testing.F) (*ocsptest.CA, *x509.Certificate, time.Time) {
	ca := ocsptest.NewCA(f, "Fuzz CA")
	leaf, _ := ca.Issue(f, ocsptest.Leaf{CN: "Fuzz Signer"})
	return ca, leaf, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
}

// An OCSP response body is outside input: whatever the responder (or
// anyone on the path) sends, verifyResponse either refuses it or returns a
// status it checked, signed by the issuer and current.
func FuzzVerifyResponse(f *testing.F) {
	ca, leaf, now := fuzzPKI(f)
	for _, st := range []int{ocsp.Good, ocsp.Revoked, ocsp.Unknown} {
		der, err := ocsp.CreateResponse(ca.Cert, ca.Cert, ocsp.Response{Status: st, SerialNumber: leaf.SerialNumber,
			ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(time.Hour), RevokedAt: now.Add(-2 * time.Hour)}, ca.Key)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x03, 0x0a, 0x01, 0x01}) // malformedRequest
	f.Fuzz(func(t *testing.T, der []byte) {
		a, err := verifyResponse(der, leaf, ca.Cert, nil, now, 0)
		if err != nil {
			return
		}
		if a.status != ocsp.Good && a.status != ocsp.Revoked && a.status != ocsp.Unknown {
			t.Fatalf("status %d", a.status)
		}
		r, err := ocsp.ParseResponseForCert(der, leaf, nil)
		if err != nil {
			t.Fatal(err)
		}
		signer := ca.Cert
		if r.Certificate != nil && !bytes.Equal(r.Certificate.Raw, ca.Cert.Raw) {
			if r.Certificate.CheckSignatureFrom(ca.Cert) != nil {
				t.Fatal("accepted a responder certificate the issuer did not sign")
			}
			signer = r.Certificate
		}
		if r.CheckSignatureFrom(signer) != nil {
			t.Fatal("accepted a response its signer did not sign")
		}
		if a.expires.Before(now) {
			t.Fatalf("accepted a response that expired at %s", a.expires)
		}
	})
}

// A fetched CRL is outside input: verifyCRL refuses it or returns a list
// that is the issuer's and current.
func FuzzVerifyCRL(f *testing.F) {
	ca, leaf, now := fuzzPKI(f)
	f.Add(ca.CRL(f, []*x509.Certificate{leaf}, now.Add(-time.Hour), now.Add(time.Hour)))
	f.Add(ca.CRL(f, nil, now.Add(-2*time.Hour), now.Add(-time.Hour)))
	f.Add([]byte("-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		set, err := verifyCRL(raw, ca.Cert, "http://crl.test/ca.crl", now)
		if err != nil {
			return
		}
		if !now.Before(set.nextUpdate) || set.thisUpdate.After(now.Add(skew)) {
			t.Fatalf("accepted a list current from %s to %s at %s", set.thisUpdate, set.nextUpdate, now)
		}
	})
}

// The issuing distribution point extension is read by hand (parseIDP).
func FuzzParseIDP(f *testing.F) {
	full, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true,
		Bytes: mustMarshal(f, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte("http://crl.test/ca.crl")})})
	dp, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: full})
	flag, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, Bytes: []byte{0xff}})
	seq, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: append(dp, flag...)})
	f.Add(seq)
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		sc, err := parseIDP(der)
		if err == nil && sc.onlyUser && sc.onlyCA {
			// Both flags: RFC 5280 forbids it; the list then covers no
			// certificate, which covers() reports.
			c := &x509.Certificate{SerialNumber: big.NewInt(1)}
			if (&crlSet{scope: sc}).covers(c) == nil {
				t.Fatal("a list for CA certificates only covers an end-entity certificate")
			}
		}
	})
}

func mustMarshal(f *testing.F, v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

package revocation

import (
	"crypto/x509"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/kbnn/dvc/adapter/testkit/ocsptest"
)

// leafSerial is the serial number of the first certificate an ocsptest CA
// issues.
var leafSerial = big.NewInt(1001)

// BenchmarkCheck is the revocation cost a submission pays on the hot path:
// a configured CRL (make run), and an OCSP answer from the cache (a
// production signer seen within its response's validity).
func BenchmarkCheck(b *testing.B) {
	ca := ocsptest.NewCA(b, "Bench CA")
	now := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		// One answer for the one certificate asked about (the serial is
		// the leaf's: the first the CA issues).
		der, _ := ocsp.CreateResponse(ca.Cert, ca.Cert, ocsp.Response{Status: ocsp.Good, SerialNumber: leafSerial,
			ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour)}, ca.Key)
		_, _ = w.Write(der)
	}))
	defer srv.Close()
	leaf, _ := ca.Issue(b, ocsptest.Leaf{CN: "Bench Signer", OCSP: []string{srv.URL}})
	chain := []*x509.Certificate{leaf, ca.Cert}
	crl, err := x509.ParseRevocationList(ca.CRL(b, nil, now.Add(-time.Hour), now.Add(time.Hour)))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		o    Options
	}{
		{"configured-crl", Options{OCSP: OCSPOff, CRLs: []*x509.RevocationList{crl}, Issuers: []*x509.Certificate{ca.Cert}}},
		{"ocsp-cached", Options{OCSP: OCSPRequire}},
	} {
		b.Run(c.name, func(b *testing.B) {
			c.o.Metrics = NewMetrics()
			k, err := New(c.o)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := k.Check(chain); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := k.Check(chain); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

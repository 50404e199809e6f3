package app

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/testkit/ocsptest"
)

// testPKI reads a certificate (and, when key, its private key) of
// testdata/pki.
func testPKI(t *testing.T, name string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	block := func(file string) []byte {
		raw, err := os.ReadFile(filepath.Join(repo, "testdata/pki", file))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := pem.Decode(raw)
		if b == nil {
			t.Fatalf("%s: no PEM block", file)
		}
		return b.Bytes
	}
	c, err := x509.ParseCertificate(block(name + ".crt"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(block(name + ".key"))
	if err != nil {
		t.Fatal(err)
	}
	return c, k.(crypto.Signer)
}

var ocspRevokedSeries = regexp.MustCompile(`(?m)^dvc_revocation_checks_total\{outcome="revoked",source="ocsp"\} 2$`)

// Revocation, live, through the HTTP surface: the signing CA's OCSP
// responder (a real openssl ocsp, signatures.revocation.ocspURL, no CRL
// file configured, ocsp: require) refuses a revoked signer's dossier; with
// the responder down a valid dossier gets 503 revocation-unavailable with
// Retry-After and the treasury hears nothing; with the responder back the
// same request is accepted; a signer revoked at the responder has its next
// dossier refused.
func TestRevocationLiveEndToEnd(t *testing.T) {
	ca, key := testPKI(t, "intermediate-ca")
	signer := func(name string) *x509.Certificate { c, _ := testPKI(t, name); return c }
	accountHolder, chief, ecdsa := signer("chu-tai-khoan"), signer("ke-toan-truong"), signer("ecdsa-signer")
	revokedAt := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	valid := []ocsptest.Entry{{Cert: accountHolder}, {Cert: chief}, {Cert: ecdsa}, {Cert: signer("revoked"), Revoked: revokedAt}}
	responder := ocsptest.Start(t, ocsptest.Options{CA: ca, Signer: ca, Key: key, Entries: valid})
	e := startWith(t, func(c *config.Config) {
		c.Signatures.CRLs = nil
		c.Signatures.Revocation = config.Revocation{OCSP: "require", OCSPURL: responder.URL, FetchCRLs: true,
			OnUnavailable: "fail", Timeout: 2 * time.Second}
	})
	send := func(procedure, name string) httpAnswer {
		t.Helper()
		return httpSend(t, context.Background(), e.adapter.URL, httpCase(t, procedure, name))
	}

	send("chi-thuong-xuyen", "revoked").want(t, http.StatusBadRequest, "certificate-revoked")

	responder.Down()
	for _, c := range [][2]string{{"tai-khoan", "valid-json"}, {"chi-thuong-xuyen", "valid-xml"}} {
		a := send(c[0], c[1])
		a.want(t, http.StatusServiceUnavailable, "revocation-unavailable")
		httpWantRetryAfter(t, a)
	}
	if n := e.documentCalls.Load(); n != 0 {
		t.Fatalf("%d treasury document call(s) while the revocation status was unknown", n)
	}

	responder.Up(t)
	if a := send("tai-khoan", "valid-json"); a.status != http.StatusAccepted {
		t.Fatalf("responder back: %d %s", a.status, a.body)
	}
	if n := e.documentCalls.Load(); n == 0 {
		t.Fatal("the accepted dossier never reached the treasury")
	}

	responder.SetEntries(t, []ocsptest.Entry{{Cert: accountHolder, Revoked: time.Now().Add(-time.Minute)}, {Cert: chief}, {Cert: ecdsa}})
	responder.Down()
	responder.Up(t)
	send("von-dau-tu", "valid-xml").want(t, http.StatusBadRequest, "certificate-revoked")

	resp, err := http.Get(e.adminSrv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if !ocspRevokedSeries.Match(body) {
		t.Errorf(`/metrics lacks dvc_revocation_checks_total{outcome="revoked",source="ocsp"} 2 (the revoked signer, then the one revoked live)`)
	}
}

package jws

import (
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/testkit/signing"
	"github.com/kbnn/dvc/adapter/trust"
)

const pki = "../../testdata/pki"

var at = time.Date(2026, 6, 9, 9, 0, 0, 0, time.UTC)

func signer(t *testing.T, name string) signing.Signer {
	t.Helper()
	s, err := signing.LoadSigner(filepath.Join(pki, name+".crt"), filepath.Join(pki, name+".key"), filepath.Join(pki, "intermediate-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verifier(t testing.TB) *Verifier {
	t.Helper()
	roots, _ := trust.LoadCertificates(filepath.Join(pki, "root-ca.crt"))
	inter, _ := trust.LoadCertificates(filepath.Join(pki, "intermediate-ca.crt"))
	crls, _ := trust.LoadCRLs(filepath.Join(pki, "intermediate.crl"))
	ts, err := trust.New(trust.Options{Roots: roots, Intermediates: inter, CRLs: crls,
		Roles: map[string]string{"Chu tai khoan": "chu-tai-khoan", "Ke toan truong": "ke-toan-truong"}})
	if err != nil {
		t.Fatal(err)
	}
	return NewVerifier(ts, nil, 0)
}

func sig(t *testing.T, body []byte, alg, name string) string {
	t.Helper()
	s, err := signing.SignJWS(body, alg, signer(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	body := []byte(`{"maHoSo":"G09.20-20260609-0000001","soTien":187500000}`)
	v := verifier(t)
	two := sig(t, body, "RS256", "chu-tai-khoan") + "," + sig(t, body, "RS256", "ke-toan-truong")
	signers, err := v.Verify(body, two, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(signers) != 2 || signers[0].Role != "chu-tai-khoan" || signers[1].Role != "ke-toan-truong" {
		t.Fatalf("signers %+v", signers)
	}
	if _, err := v.Verify(body, sig(t, body, "ES256", "ecdsa-signer"), at); err != nil {
		t.Fatalf("ES256: %v", err)
	}

	forgedHeader := func(h string) string {
		parts := strings.Split(sig(t, body, "RS256", "chu-tai-khoan"), ".")
		return base64.RawURLEncoding.EncodeToString([]byte(h)) + ".." + parts[2]
	}
	cases := []struct {
		name, header string
		body         []byte
		code         string
	}{
		{"no header", "", body, "signature-missing"},
		{"body changed", sig(t, body, "RS256", "chu-tai-khoan"), []byte(strings.Replace(string(body), "187500000", "987500000", 1)), "signature-invalid"},
		{"whitespace added to body", sig(t, body, "RS256", "chu-tai-khoan"), append(append([]byte{}, body...), ' '), "signature-invalid"},
		{"RS512", sig(t, body, "RS512", "chu-tai-khoan"), body, "signature-algorithm-not-allowed"},
		{"alg none", forgedHeader(`{"alg":"none"}`), body, "signature-algorithm-not-allowed"},
		{"HS256", forgedHeader(`{"alg":"HS256"}`), body, "signature-algorithm-not-allowed"},
		{"jku", forgedHeader(`{"alg":"RS256","jku":"http://evil/keys"}`), body, "signature-invalid"},
		{"no x5c", forgedHeader(`{"alg":"RS256"}`), body, "certificate-untrusted"},
		{"expired", sig(t, body, "RS256", "expired"), body, "certificate-expired"},
		{"revoked", sig(t, body, "RS256", "revoked"), body, "certificate-revoked"},
		{"attached payload", strings.Replace(sig(t, body, "RS256", "chu-tai-khoan"), "..", "."+base64.RawURLEncoding.EncodeToString(body)+".", 1), body, "signature-invalid"},
		{"garbage", "a.b.c.d", body, "signature-invalid"},
		{"too many", strings.Repeat(sig(t, body, "RS256", "chu-tai-khoan")+",", 5) + "x", body, "limit-exceeded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Verify(c.body, c.header, at)
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Kind.Code() != c.code {
				t.Fatalf("got %v, want %s", err, c.code)
			}
		})
	}
}

func FuzzVerifyHeader(f *testing.F) {
	v := verifier(f)
	f.Add("eyJhbGciOiJSUzI1NiJ9..c2ln")
	f.Add("a..b,c..d")
	f.Fuzz(func(t *testing.T, h string) {
		if _, err := v.Verify([]byte(`{}`), h, at); err == nil {
			t.Fatalf("accepted header %q", h)
		}
	})
}

// A trusted x5c chain with a signature that does not verify is not
// remembered (a refused request leaves the trust store's decisions alone);
// with a good signature it is.
func TestForgedSignatureIsNotRemembered(t *testing.T) {
	body := []byte(`{"maHoSo":"G09.20-20260609-0000001","soTien":187500000}`)
	v := verifier(t)
	good := sig(t, body, "RS256", "chu-tai-khoan")
	chain := signer(t, "chu-tai-khoan").Chain
	ders := make([][]byte, len(chain))
	for i, c := range chain {
		ders[i] = c.Raw
	}
	key := trust.KeyOf(ders)
	if _, err := v.Verify([]byte(strings.Replace(string(body), "187500000", "987500000", 1)), good, at); err == nil {
		t.Fatal("a forged body verified")
	}
	if _, ok := v.trust.Remembered(key, at); ok {
		t.Fatal("the chain of a forged signature was remembered")
	}
	if _, err := v.Verify(body, good, at); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.trust.Remembered(key, at); !ok {
		t.Fatal("the chain of a good signature was not remembered")
	}
}

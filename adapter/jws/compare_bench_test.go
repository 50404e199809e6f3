package jws

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kbnn/dvc/adapter/testkit/signing"
	"github.com/kbnn/dvc/adapter/trust"
)

// BenchmarkVerifyCompare measures, in one run and on the chi-thuong-xuyen
// JSON dossier signed by the account holder and the chief accountant
// (RS256, x5c leaf + intermediate):
//   - floor: SHA-256 of each JWS signing input and two RSA-2048
//     verifications;
//   - stock: go-jose ParseDetached + DetachedVerify and a crypto/x509 chain
//     check per signature (what every request paid before chains were
//     remembered);
//   - adapter: Verifier.Verify, chains remembered by the trust store.
//
// Each run reports its CPU time per operation (cpu-ms/op); the adapter run
// its ratio of CPU time to stock and to floor (x-stock, x-floor); `make
// bench-verify` runs it.
func BenchmarkVerifyCompare(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("../../testdata/templates/chi-thuong-xuyen/dossier.json"))
	if err != nil {
		b.Fatal(err)
	}
	var signers []signing.Signer
	var parts []string
	for _, name := range []string{"chu-tai-khoan", "ke-toan-truong"} {
		s, err := signing.LoadSigner(filepath.Join(pki, name+".crt"), filepath.Join(pki, name+".key"), filepath.Join(pki, "intermediate-ca.crt"))
		if err != nil {
			b.Fatal(err)
		}
		j, err := signing.SignJWS(body, "RS256", s)
		if err != nil {
			b.Fatal(err)
		}
		signers = append(signers, s)
		parts = append(parts, j)
	}
	header := strings.Join(parts, ",")
	v := verifier(b)
	ns := map[string]float64{}
	var start time.Duration
	record := func(b *testing.B, name string) {
		ns[name] = float64(cpuTime(b)-start) / float64(b.N)
		b.ReportMetric(ns[name]/1e6, "cpu-ms/op")
	}
	b.Run(fmt.Sprintf("KB=%.1f", float64(len(body))/1024), func(b *testing.B) {
		b.Run("floor", func(b *testing.B) {
			inputs := make([][]byte, len(parts))
			sigs := make([][]byte, len(parts))
			for i, p := range parts {
				inputs[i] = []byte(p[:strings.IndexByte(p, '.')] + "." + base64.RawURLEncoding.EncodeToString(body))
				d := sha256.Sum256(inputs[i])
				if sigs[i], err = signers[i].Key.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			start = cpuTime(b)
			for b.Loop() {
				for i, s := range signers {
					d := sha256.Sum256(inputs[i])
					if err := rsa.VerifyPKCS1v15(s.Leaf().PublicKey.(*rsa.PublicKey), crypto.SHA256, d[:], sigs[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
			record(b, "floor")
		})
		b.Run("stock", func(b *testing.B) {
			b.ReportAllocs()
			start = cpuTime(b)
			for b.Loop() {
				for _, p := range parts {
					stockVerify(b, v.trust, body, p)
				}
			}
			record(b, "stock")
		})
		b.Run("adapter", func(b *testing.B) {
			b.ReportAllocs()
			start = cpuTime(b)
			for b.Loop() {
				if _, err := v.Verify(body, header, at); err != nil {
					b.Fatal(err)
				}
			}
			record(b, "adapter")
			b.ReportMetric(ns["adapter"]/ns["stock"], "x-stock")
			b.ReportMetric(ns["adapter"]/ns["floor"], "x-floor")
		})
	})
}

// stockVerify is the verification of one detached JWS as it was before
// chains were remembered: the x5c chain parsed and checked by crypto/x509
// on every request, then go-jose parsing the JWS (and x5c) again.
func stockVerify(b *testing.B, ts *trust.Store, body []byte, compact string) {
	raw, err := base64.RawURLEncoding.DecodeString(compact[:strings.IndexByte(compact, '.')])
	if err != nil {
		b.Fatal(err)
	}
	var h protected
	if err := json.Unmarshal(raw, &h); err != nil {
		b.Fatal(err)
	}
	chain := make([]*x509.Certificate, 0, len(h.X5C))
	for _, c := range h.X5C {
		der, err := base64.StdEncoding.DecodeString(c)
		if err != nil {
			b.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			b.Fatal(err)
		}
		chain = append(chain, cert)
	}
	signer, err := ts.Verify(chain, at)
	if err != nil {
		b.Fatal(err)
	}
	obj, err := jose.ParseDetached(compact, body, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		b.Fatal(err)
	}
	if err := obj.DetachedVerify(body, signer.Cert.PublicKey); err != nil {
		b.Fatal(err)
	}
}

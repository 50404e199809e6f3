package xmlsig

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// BenchmarkVerifyCompare measures, in one run and on the same signed
// chi-thuong-xuyen dossier (account holder then chief accountant, RSA-2048,
// C14N 1.0) at three sizes:
//   - floor: what no verifier can avoid, SHA-256 of the body twice and two
//     RSA-2048 verifications;
//   - stock: plain goxmldsig usage, an etree parse then Validate per
//     signature, outermost first, each signature moved to the front of the
//     root (else goxmldsig's traversal budget refuses large dossiers);
//   - reference: the adapter's reference engine (profile, chain, goxmldsig);
//   - fast: the adapter's fast engine, Parse included.
//
// Each run reports its CPU time per operation (cpu-ms/op: on a shared
// machine wall time follows the other processes' load); the reference and
// fast runs report their ratio of CPU time to stock and to floor (x-stock,
// x-floor), and fast its CPU time per KB; `make bench-verify` runs it.
func BenchmarkVerifyCompare(b *testing.B) {
	signers := []signing.Signer{signer(b, "chu-tai-khoan"), signer(b, "ke-toan-truong")}
	for _, lines := range []int{2, 100, 5000} {
		body, err := signing.SignXML(largeDossier(b, lines), signing.XMLOptions{}, signers...)
		if err != nil {
			b.Fatal(err)
		}
		ns := map[string]float64{}
		var start time.Duration
		record := func(b *testing.B, name string) {
			ns[name] = float64(cpuTime(b)-start) / float64(b.N)
			b.ReportMetric(ns[name]/1e6, "cpu-ms/op")
		}
		b.Run(fmt.Sprintf("lines=%d/KB=%.1f", lines, float64(len(body))/1024), func(b *testing.B) {
			b.Run("floor", func(b *testing.B) {
				digest := sha256.Sum256(body)
				sigs := make([][]byte, len(signers))
				for i, s := range signers {
					if sigs[i], err = s.Key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				start = cpuTime(b)
				for b.Loop() {
					for i, s := range signers {
						d := sha256.Sum256(body)
						if err := rsa.VerifyPKCS1v15(s.Leaf().PublicKey.(*rsa.PublicKey), crypto.SHA256, d[:], sigs[i]); err != nil {
							b.Fatal(err)
						}
					}
				}
				record(b, "floor")
			})
			b.Run("stock", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				start = cpuTime(b)
				for b.Loop() {
					stockVerify(b, body, signers)
				}
				record(b, "stock")
			})
			if lines <= 100 {
				b.Run("reference", func(b *testing.B) {
					v := NewVerifier(testStore(b), Policy{Engine: EngineReference})
					b.ReportAllocs()
					b.SetBytes(int64(len(body)))
					start = cpuTime(b)
					for b.Loop() {
						doc, err := Parse(body, Limits{})
						if err != nil {
							b.Fatal(err)
						}
						if _, err := v.Verify(doc, receipt); err != nil {
							b.Fatal(err)
						}
					}
					record(b, "reference")
					b.ReportMetric(ns["reference"]/ns["stock"], "x-stock")
				})
			}
			b.Run("fast", func(b *testing.B) {
				v := NewVerifier(testStore(b), Policy{Engine: EngineFast})
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				start = cpuTime(b)
				for b.Loop() {
					doc, err := Parse(body, Limits{})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := v.Verify(doc, receipt); err != nil {
						b.Fatal(err)
					}
				}
				record(b, "fast")
				b.ReportMetric(ns["fast"]/ns["stock"], "x-stock")
				b.ReportMetric(ns["fast"]/ns["floor"], "x-floor")
				b.ReportMetric(ns["fast"]/1e3/(float64(len(body))/1024), "cpu-µs/KB")
			})
		})
	}
}

// stockVerify is goxmldsig as its README shows it, per signature, with
// the signature about to be checked moved to the front of the root.
func stockVerify(b *testing.B, body []byte, signers []signing.Signer) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(body); err != nil {
		b.Fatal(err)
	}
	current := doc.Root()
	for i := len(signers) - 1; i >= 0; i-- {
		sigs := signatureChildren(current)
		sig := sigs[i]
		current.RemoveChild(sig)
		current.InsertChildAt(0, sig)
		ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{signers[i].Leaf()}})
		ctx.IdAttribute = "Id"
		ctx.Clock = dsig.NewFakeClockAt(receipt)
		verified, err := ctx.Validate(current)
		if err != nil {
			b.Fatal(err)
		}
		current = verified
	}
}

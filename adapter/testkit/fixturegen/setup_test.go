package fixturegen

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/kbnn/dvc/adapter/testkit/testpki"
	dsig "github.com/russellhaering/goxmldsig"
)

// receivedAt is the fixed "now" of every test: no wall clock.
var receivedAt = time.Date(2026, 6, 9, 8, 30, 0, 0, time.UTC)

var (
	pkiOnce sync.Once
	pkiPath string
	pkiErr  error
	tmpRoot string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tmpRoot != "" {
		_ = os.RemoveAll(tmpRoot)
	}
	os.Exit(code)
}

// testPKIDir generates one test PKI for the whole test binary.
func testPKIDir(t *testing.T) string {
	t.Helper()
	pkiOnce.Do(func() {
		tmpRoot, pkiErr = os.MkdirTemp("", "fixturegen-test-")
		if pkiErr != nil {
			return
		}
		pkiPath = filepath.Join(tmpRoot, "pki")
		pkiErr = testpki.Generate(pkiPath, false)
	})
	if pkiErr != nil {
		t.Fatalf("generate test PKI: %v", pkiErr)
	}
	return pkiPath
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return mustParseCert(t, data)
}

// verifyXML checks sequential enveloped signatures with the stock goxmldsig
// ValidationContext, outermost first, each against the certificate its own
// KeyInfo carries (trust is not the point here, the signature bytes are).
// Validate picks the first signature in document order and stops after 1,000
// elements, so the last one is moved to the front of the root first: invisible
// to its own digest, since the enveloped transform removes it again.
func verifyXML(doc []byte) (int, error) {
	tree := etree.NewDocument()
	if err := tree.ReadFromBytes(doc); err != nil {
		return 0, err
	}
	el := tree.Root()
	n := 0
	for {
		var sigs []*etree.Element
		for _, c := range el.ChildElements() {
			if c.Space == "ds" && c.Tag == "Signature" {
				sigs = append(sigs, c)
			}
		}
		if len(sigs) == 0 {
			return n, nil
		}
		last := sigs[len(sigs)-1]
		el.RemoveChild(last)
		el.InsertChildAt(0, last)
		certEl := last.FindElement("./KeyInfo/X509Data/X509Certificate")
		if certEl == nil {
			return n, fmt.Errorf("signature %d has no certificate", len(sigs))
		}
		leaf, err := parseB64Cert(certEl.Text())
		if err != nil {
			return n, err
		}
		ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{leaf}})
		ctx.IdAttribute = "Id"
		ctx.Clock = dsig.NewFakeClockAt(leaf.NotBefore.Add(time.Hour))
		if el, err = ctx.Validate(el); err != nil {
			return n, fmt.Errorf("signature %d: %w", len(sigs), err)
		}
		n++
	}
}

func mustParseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatal("no PEM certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func parseB64Cert(s string) (*x509.Certificate, error) {
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("certificate is not base64")
	}
	return x509.ParseCertificate(der)
}

package main

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
		tmpRoot, pkiErr = os.MkdirTemp("", "dvc-sign-test-")
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

// jwsHeader is the header that carries the detached JWS of a JSON request.
const jwsHeader = "X-JWS-Signature"

// The templates below are copies of the ones the adapter/testkit/fixturegen tests
// use: here they go through the CLI.

const sampleXML = `<?xml version="1.0" encoding="UTF-8"?>
<HoSo Id="HS-G09.20-20260609-0000001">
  <maHoSo>G09.20-20260609-0000001</maHoSo>
  <maDVQHNS>1012345</maDVQHNS>
  <chungTu>
    <tongSoTien>30</tongSoTien>
    <dongChiTiet>
      <maNDKT>6501</maNDKT>
      <soTien>10</soTien>
    </dongChiTiet>
    <dongChiTiet>
      <maNDKT>7001</maNDKT>
      <soTien>20</soTien>
    </dongChiTiet>
    <ghiChu>Thanh toán đồng</ghiChu>
  </chungTu>
</HoSo>
`

const sampleJSON = `{
  "maHoSo": "G09.20-20260609-0000001",
  "maDVQHNS": "1012345",
  "maCapNs": 2,
  "duyet": false,
  "ghiChu": "a <b> & \"c\" đồng",
  "rong": {},
  "chungTu": {
    "tongSoTien": 30,
    "dongChiTiet": [
      {
        "maNDKT": "6501",
        "soTien": 10
      },
      {
        "maNDKT": "7001",
        "soTien": 20
      }
    ]
  }
}`

const ownCasesA = `signers: [chu-tai-khoan, ke-toan-truong]
missingSigner: [chu-tai-khoan]
tamper: {path: chungTu/tongSoTien, value: "999999999"}
schemaViolation: {path: maDVQHNS, value: "12AB"}
refusal: {path: chungTu/dongChiTiet/maNDKT, value: "7799"}
largeLines: {path: chungTu/dongChiTiet, count: 1200}
`

const ownCasesB = `signers: [chu-tai-khoan]
missingSigner: [ke-toan-truong]
tamper: {path: maDVQHNS, value: "1000001"}
schemaViolation: {path: maCapNs, value: "7"}
refusal: {path: maDVQHNS, value: "1999999"}
`

// writeOwnTemplates writes two small procedures: one with two signers and a
// payroll case, one with a single signer.
func writeOwnTemplates(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"thu-a/cases.yaml":   ownCasesA,
		"thu-a/dossier.xml":  sampleXML,
		"thu-a/dossier.json": sampleJSON,
		"thu-b/cases.yaml":   ownCasesB,
		"thu-b/dossier.xml":  strings.Replace(sampleXML, "<maDVQHNS>", "<maCapNs>2</maCapNs>\n  <maDVQHNS>", 1),
		"thu-b/dossier.json": sampleJSON,
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// readHeaders parses headers.txt.
func readHeaders(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("%s: bad line %q", path, line)
		}
		h[name] = value
	}
	return h
}

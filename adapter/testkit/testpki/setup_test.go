package testpki

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
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
		tmpRoot, pkiErr = os.MkdirTemp("", "testpki-test-")
		if pkiErr != nil {
			return
		}
		pkiPath = filepath.Join(tmpRoot, "pki")
		pkiErr = Generate(pkiPath, false)
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

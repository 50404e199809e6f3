package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// issue makes a certificate for title, signed by parent (self-signed when
// parent is nil).
func issue(t *testing.T, title string, ca bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "nfc test", ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidTitle, Value: title}}},
		NotBefore:    time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// A title typed in decomposed Unicode (NFD, as macOS keyboards write it)
// matches the role configured in composed form, and the other way round.
func TestTitleMatchesRoleInNFC(t *testing.T) {
	t.Parallel()
	const nfc = "Kế toán trưởng"
	const nfd = "Ke\u0302\u0301 toa\u0301n tru\u031Bo\u031B\u0309ng"
	if nfc == nfd {
		t.Fatal("the two forms must differ byte for byte")
	}
	root, rootKey := issue(t, "", true, nil, nil)
	for _, c := range []struct{ certTitle, configTitle string }{{nfd, nfc}, {nfc, nfd}, {nfd, nfd}} {
		leaf, _ := issue(t, c.certTitle, false, root, rootKey)
		s, err := New(Options{Roots: []*x509.Certificate{root}, Roles: map[string]string{c.configTitle: "ke-toan-truong"}})
		if err != nil {
			t.Fatal(err)
		}
		signer, err := s.Verify([]*x509.Certificate{leaf}, time.Date(2026, 6, 9, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		if signer.Role != "ke-toan-truong" || signer.Title != nfc {
			t.Errorf("certificate title %q, configured %q: role %q, title %q", c.certTitle, c.configTitle, signer.Role, signer.Title)
		}
	}
}

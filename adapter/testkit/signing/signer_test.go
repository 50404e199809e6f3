package signing

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadSigner(t *testing.T) {
	t.Parallel()
	p := sharedPKI(t)
	dir := t.TempDir()
	pkcs8 := func(s Signer) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(s.Key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	ecDER, err := x509.MarshalECPrivateKey(p.ec.Key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	leaf1 := writePEM(t, dir, "first.crt", "CERTIFICATE", p.first.Leaf().Raw)
	leafEC := writePEM(t, dir, "ec.crt", "CERTIFICATE", p.ec.Leaf().Raw)
	inter := writePEM(t, dir, "inter.crt", "CERTIFICATE", p.inter.Raw)
	key1 := writePEM(t, dir, "first.key", "PRIVATE KEY", pkcs8(p.first))
	key1v1 := writePEM(t, dir, "first-pkcs1.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(p.first.Key.(*rsa.PrivateKey)))
	key2 := writePEM(t, dir, "second.key", "PRIVATE KEY", pkcs8(p.second))
	keyEC := writePEM(t, dir, "ec.key", "EC PRIVATE KEY", ecDER)
	notPEM := filepath.Join(dir, "junk")
	if err := os.WriteFile(notPEM, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name          string
		cert, key     string
		intermediates []string
		wantChain     int
		wantErr       string
	}{
		{"pkcs8 with intermediate", leaf1, key1, []string{inter}, 2, ""},
		{"pkcs1 leaf only", leaf1, key1v1, nil, 1, ""},
		{"sec1 ecdsa", leafEC, keyEC, []string{inter}, 2, ""},
		{"key of another signer", leaf1, key2, nil, 0, "does not match"},
		{"missing cert", filepath.Join(dir, "none.crt"), key1, nil, 0, "read certificate"},
		{"missing key", leaf1, filepath.Join(dir, "none.key"), nil, 0, "read key"},
		{"cert not PEM", notPEM, key1, nil, 0, "no PEM CERTIFICATE"},
		{"key not PEM", leaf1, notPEM, nil, 0, "no PEM private key"},
		{"bad intermediate", leaf1, key1, []string{notPEM}, 0, "no PEM CERTIFICATE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := LoadSigner(tc.cert, tc.key, tc.intermediates...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Chain) != tc.wantChain {
				t.Errorf("chain length %d, want %d", len(s.Chain), tc.wantChain)
			}
			if !publicKeysEqual(s.Key.Public(), s.Leaf().PublicKey) {
				t.Error("loaded key does not match leaf")
			}
			if _, err := SignJWS([]byte("x"), "", s); err != nil {
				t.Errorf("loaded signer cannot sign: %v", err)
			}
		})
	}
}

func TestLeafOfEmptySigner(t *testing.T) {
	t.Parallel()
	if (Signer{}).Leaf() != nil {
		t.Fatal("empty signer has a leaf")
	}
}

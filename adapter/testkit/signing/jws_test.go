package signing

import (
	"crypto/x509"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestSignJWS(t *testing.T) {
	t.Parallel()
	p := sharedPKI(t)
	body := []byte("{\n  \"maHoSo\": \"G09.20-20260609-0000001\",\n  \"tongSoTien\": 187500000\n}")
	tests := []struct {
		name    string
		alg     string
		signer  Signer
		wantAlg jose.SignatureAlgorithm
	}{
		{"RSA default", "", p.first, jose.RS256},
		{"RS256", "RS256", p.second, jose.RS256},
		{"RS384", "RS384", p.first, jose.RS384},
		{"RS512 for negative fixtures", "RS512", p.first, jose.RS512},
		{"ECDSA default", "", p.ec, jose.ES256},
		{"ES256", "ES256", p.ec, jose.ES256},
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.root)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sig, err := SignJWS(body, tc.alg, tc.signer)
			if err != nil {
				t.Fatalf("SignJWS: %v", err)
			}
			parts := strings.Split(sig, ".")
			if len(parts) != 3 || parts[0] == "" || parts[1] != "" || parts[2] == "" {
				t.Fatalf("not a detached compact JWS: %q", sig)
			}
			obj, err := jose.ParseDetached(sig, body, []jose.SignatureAlgorithm{tc.wantAlg})
			if err != nil {
				t.Fatalf("ParseDetached: %v", err)
			}
			if _, err := obj.Verify(tc.signer.Leaf().PublicKey); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			h := obj.Signatures[0].Protected
			if h.Algorithm != string(tc.wantAlg) {
				t.Errorf("alg %q, want %q", h.Algorithm, tc.wantAlg)
			}
			chains, err := h.Certificates(x509.VerifyOptions{
				Roots:       roots,
				CurrentTime: receivedAt,
				KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
			})
			if err != nil {
				t.Fatalf("x5c chain: %v", err)
			}
			if !chains[0][0].Equal(tc.signer.Leaf()) || !chains[0][1].Equal(p.inter) {
				t.Errorf("x5c chain does not start with leaf, intermediate")
			}

			altered := append([]byte{}, body...)
			altered[len(altered)-3] = '1'
			if obj, err := jose.ParseDetached(sig, altered, []jose.SignatureAlgorithm{tc.wantAlg}); err == nil {
				if _, err := obj.Verify(tc.signer.Leaf().PublicKey); err == nil {
					t.Error("signature verified over an altered body")
				}
			}
			other := jose.RS256
			if tc.wantAlg == jose.RS256 {
				other = jose.ES256
			}
			if _, err := jose.ParseDetached(sig, body, []jose.SignatureAlgorithm{other}); err == nil {
				t.Errorf("ParseDetached accepted %s with allowlist [%s]", tc.wantAlg, other)
			}
		})
	}
}

func TestSignJWSEmptyBody(t *testing.T) {
	t.Parallel()
	p := sharedPKI(t)
	sig, err := SignJWS(nil, "", p.first)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := jose.ParseDetached(sig, []byte{}, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obj.Verify(p.first.Leaf().PublicKey); err != nil {
		t.Fatal(err)
	}
}

func TestSignJWSErrors(t *testing.T) {
	t.Parallel()
	p := sharedPKI(t)
	tests := []struct {
		name   string
		alg    string
		signer Signer
		want   string
	}{
		{"unknown alg", "HS256", p.first, "unsupported JWS algorithm"},
		{"none", "none", p.first, "unsupported JWS algorithm"},
		{"EC alg with RSA key", "ES256", p.first, "signing: jws signer"},
		{"RSA alg with EC key", "RS256", p.ec, "signing: jws signer"},
		{"no key", "", Signer{Chain: p.first.Chain}, "no key"},
		{"no chain", "", Signer{Key: p.first.Key}, "no certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := SignJWS([]byte("{}"), tc.alg, tc.signer)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

package signing

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// JWSAlgorithms returns the algorithms SignJWS can produce.
func JWSAlgorithms() []string { return []string{"RS256", "RS384", "RS512", "ES256", "ES384"} }

// SignJWS returns a detached compact JWS ("<header>..<signature>") over the
// exact body bytes (standard b64 payload encoding). The protected header
// carries alg and x5c (the signer's chain, leaf first). An empty alg means
// RS256 for RSA keys and ES256 for ECDSA keys.
func SignJWS(body []byte, alg string, s Signer) (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	if body == nil {
		body = []byte{}
	}
	a, err := jwsAlgorithm(alg, s)
	if err != nil {
		return "", err
	}
	x5c := make([]string, len(s.Chain))
	for i, c := range s.Chain {
		x5c[i] = base64.StdEncoding.EncodeToString(c.Raw)
	}
	opts := (&jose.SignerOptions{}).WithHeader("x5c", x5c)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: a, Key: s.Key}, opts)
	if err != nil {
		return "", fmt.Errorf("signing: jws signer: %w", err)
	}
	obj, err := signer.Sign(body)
	if err != nil {
		return "", fmt.Errorf("signing: jws sign: %w", err)
	}
	out, err := obj.DetachedCompactSerialize()
	if err != nil {
		return "", fmt.Errorf("signing: jws serialize: %w", err)
	}
	return out, nil
}

func jwsAlgorithm(alg string, s Signer) (jose.SignatureAlgorithm, error) {
	if alg == "" {
		switch s.Key.Public().(type) {
		case *rsa.PublicKey:
			return jose.RS256, nil
		case *ecdsa.PublicKey:
			return jose.ES256, nil
		}
		return "", fmt.Errorf("signing: unsupported key type %T", s.Key.Public())
	}
	for _, a := range JWSAlgorithms() {
		if a == alg {
			return jose.SignatureAlgorithm(a), nil
		}
	}
	return "", fmt.Errorf("signing: unsupported JWS algorithm %q", alg)
}

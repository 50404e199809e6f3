// Package signing produces XML-DSig enveloped signatures and detached JWS
// signatures for testers, fixtures and tests. It never verifies anything:
// inbound verification belongs to adapter/xmlsig and adapter/jws.
package signing

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Signer is one signing identity: a private key and its certificate chain,
// leaf first, then intermediates (no root).
type Signer struct {
	Key   crypto.Signer
	Chain []*x509.Certificate
}

// Leaf returns the signer's own certificate, or nil when the chain is empty.
func (s Signer) Leaf() *x509.Certificate {
	if len(s.Chain) == 0 {
		return nil
	}
	return s.Chain[0]
}

// chainDER returns the chain as DER blobs, leaf first.
func (s Signer) chainDER() [][]byte {
	out := make([][]byte, len(s.Chain))
	for i, c := range s.Chain {
		out[i] = c.Raw
	}
	return out
}

func (s Signer) check() error {
	if s.Key == nil {
		return errors.New("signing: signer has no key")
	}
	if len(s.Chain) == 0 {
		return errors.New("signing: signer has no certificate")
	}
	return nil
}

// LoadSigner reads a PEM certificate (the leaf), a PEM private key (PKCS#8,
// PKCS#1 or SEC 1) and optional PEM intermediate certificates, in that order
// in the resulting chain. It checks that the key matches the leaf.
func LoadSigner(certPEMPath, keyPEMPath string, intermediates ...string) (Signer, error) {
	leaf, err := ReadCertificate(certPEMPath)
	if err != nil {
		return Signer{}, err
	}
	keyPEM, err := os.ReadFile(keyPEMPath)
	if err != nil {
		return Signer{}, fmt.Errorf("signing: read key: %w", err)
	}
	key, err := ParsePrivateKey(keyPEM)
	if err != nil {
		return Signer{}, fmt.Errorf("signing: %s: %w", keyPEMPath, err)
	}
	if !publicKeysEqual(key.Public(), leaf.PublicKey) {
		return Signer{}, fmt.Errorf("signing: key %s does not match certificate %s", keyPEMPath, certPEMPath)
	}
	chain := []*x509.Certificate{leaf}
	for _, p := range intermediates {
		c, err := ReadCertificate(p)
		if err != nil {
			return Signer{}, err
		}
		chain = append(chain, c)
	}
	return Signer{Key: key, Chain: chain}, nil
}

// ReadCertificate reads the first PEM CERTIFICATE block of a file.
func ReadCertificate(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing: read certificate: %w", err)
	}
	c, err := ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("signing: %s: %w", path, err)
	}
	return c, nil
}

// ParseCertificate parses the first PEM CERTIFICATE block in data.
func ParseCertificate(data []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if block.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse certificate: %w", err)
			}
			return c, nil
		}
	}
}

// ParsePrivateKey parses the first PEM private key block in data.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key block")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", block.Type, err)
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("key type %T cannot sign", key)
		}
		return s, nil
	}
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

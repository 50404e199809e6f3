// Package trust owns the decision whether a signer certificate is trusted:
// the chain to a configured CA through intermediates, validity at receipt
// time, key usage, revocation by CRL, and the signer's role read from the
// certificate. Both the XML and the JSON signature paths ask it; neither
// trusts a certificate on its own.
package trust

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/text"
)

// oidTitle is the X.520 title attribute (2.5.4.12) that carries the signer's
// role in the subject of the certificate.
var oidTitle = asn1.ObjectIdentifier{2, 5, 4, 12}

// Signer is a verified signer: its certificate and the role it holds.
type Signer struct {
	Cert  *x509.Certificate
	Role  string // "" when the certificate's title maps to no role
	Title string
	// Algorithm is the signature algorithm the signer used, as its form
	// names it (an XML-DSig SignatureMethod URI, a JWS "alg"); set by the
	// verifier that checked the signature, empty from Verify.
	Algorithm string
	// ValidUntil is the instant until which this decision about the chain
	// may be reused (a cache of verified chains must not outlive it): the
	// earliest NotAfter of the chain and the earliest expiry of the
	// revocation answers used (see revocation.go).
	ValidUntil time.Time
	// id is the certificate's identity, worked out once when the chain
	// was accepted (remembered decisions share it); nil for a Signer
	// built elsewhere, whose Identity is worked out on each call.
	id *Identity
}

// Identity is how evidence names a signer's certificate.
type Identity struct {
	Subject, Issuer string // RFC 2253 strings (pkix.Name.String)
	Serial          string // lower-case hex
	SHA256          string // of the DER certificate, lower-case hex
}

// IdentityOf works out the identity of certificate c.
func IdentityOf(c *x509.Certificate) Identity {
	sum := sha256.Sum256(c.Raw)
	return Identity{Subject: c.Subject.String(), Issuer: c.Issuer.String(),
		Serial: c.SerialNumber.Text(16), SHA256: hex.EncodeToString(sum[:])}
}

// Identity returns the identity of the signer's certificate.
func (s Signer) Identity() Identity {
	if s.id != nil {
		return *s.id
	}
	return IdentityOf(s.Cert)
}

// Store holds the trust anchors, intermediates and revocation lists.
type Store struct {
	roots         *x509.CertPool
	intermediates []*x509.Certificate
	// revoked serials by issuer (raw subject of the CRL issuer)
	crls  map[string]*crl
	roles map[string]string // certificate title -> role
	// decisions remembers accepted chains (cache.go).
	decisions decisions
	// revocation, when set, decides revocation instead of crls.
	revocation Revocation
}

type crl struct {
	nextUpdate time.Time
	revoked    map[string]bool // serial (decimal)
}

// Options configure a Store. Roles maps a certificate title (the subject's
// 2.5.4.12 attribute, compared in Unicode normalization form C) to a role
// name.
type Options struct {
	Roots         []*x509.Certificate
	Intermediates []*x509.Certificate
	CRLs          []*x509.RevocationList
	Roles         map[string]string
	// Revocation, when set, decides the revocation status of every
	// verified chain instead of CRLs (which it then holds itself).
	Revocation Revocation
}

// New checks every CRL's signature against a configured CA and builds the store.
func New(o Options) (*Store, error) {
	if len(o.Roots) == 0 {
		return nil, errors.New("trust: no root certificate configured")
	}
	s := &Store{roots: x509.NewCertPool(), intermediates: o.Intermediates,
		crls: map[string]*crl{}, roles: map[string]string{}, revocation: o.Revocation}
	for title, role := range o.Roles {
		s.roles[text.NFC(title)] = role
	}
	for _, r := range o.Roots {
		s.roots.AddCert(r)
	}
	cas := append(append([]*x509.Certificate{}, o.Roots...), o.Intermediates...)
	for i, l := range o.CRLs {
		var issuer *x509.Certificate
		for _, ca := range cas {
			if string(ca.RawSubject) == string(l.RawIssuer) && l.CheckSignatureFrom(ca) == nil {
				issuer = ca
				break
			}
		}
		if issuer == nil {
			return nil, fmt.Errorf("trust: CRL %d is not signed by a configured CA", i+1)
		}
		c := &crl{nextUpdate: l.NextUpdate, revoked: map[string]bool{}}
		for _, e := range l.RevokedCertificateEntries {
			c.revoked[e.SerialNumber.String()] = true
		}
		s.crls[string(l.RawIssuer)] = c
	}
	return s, nil
}

// Verify checks chain (leaf first, then any intermediates the signer sent)
// at time at, and returns the signer. Errors are *problem.Error of kind
// CertificateUntrusted, CertificateExpired or CertificateRevoked, with the
// exact reason as the cause.
func (s *Store) Verify(chain []*x509.Certificate, at time.Time) (Signer, error) {
	signer, _, err := s.verify(chain, at)
	return signer, err
}

// verify is Verify that also returns the chain it checked, root last.
func (s *Store) verify(chain []*x509.Certificate, at time.Time) (Signer, []*x509.Certificate, error) {
	if len(chain) == 0 {
		return Signer{}, nil, problem.Wrap(problem.CertificateUntrusted, errors.New("no certificate"), "")
	}
	leaf := chain[0]
	pool := x509.NewCertPool()
	for _, c := range s.intermediates {
		pool.AddCert(c)
	}
	for _, c := range chain[1:] {
		pool.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots: s.roots, Intermediates: pool, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			return Signer{}, nil, problem.Wrap(problem.CertificateExpired, err, "")
		}
		return Signer{}, nil, problem.Wrap(problem.CertificateUntrusted, err, "")
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return Signer{}, nil, problem.Wrap(problem.CertificateUntrusted,
			fmt.Errorf("certificate %s has no signing key usage", leaf.SerialNumber), "")
	}
	until, err := s.revocationStatus(chains[0], at)
	if err != nil {
		return Signer{}, nil, err
	}
	title := Title(leaf)
	id := IdentityOf(leaf)
	return Signer{Cert: leaf, Title: title, Role: s.roles[title], ValidUntil: until, id: &id}, chains[0], nil
}

// checkRevocation looks up every certificate of the chain below the root in
// its issuer's CRL. A CRL past its next update fails closed.
func (s *Store) checkRevocation(chain []*x509.Certificate, at time.Time) error {
	for _, c := range chain[:len(chain)-1] {
		l, ok := s.crls[string(c.RawIssuer)]
		if !ok {
			continue
		}
		if at.After(l.nextUpdate) {
			return problem.Wrap(problem.CertificateUntrusted,
				fmt.Errorf("CRL of %q is past its next update %s: revocation status unknown", c.Issuer, l.nextUpdate), "")
		}
		if l.revoked[c.SerialNumber.String()] {
			return problem.Wrap(problem.CertificateRevoked,
				fmt.Errorf("certificate %s of %q revoked", c.SerialNumber, c.Subject), "")
		}
	}
	return nil
}

// Title returns the subject's title attribute (2.5.4.12) in Unicode
// normalization form C, or "".
func Title(c *x509.Certificate) string {
	for _, n := range c.Subject.Names {
		if n.Type.Equal(oidTitle) {
			if v, ok := n.Value.(string); ok {
				return text.NFC(v)
			}
		}
	}
	return ""
}

// LoadCertificates reads every CERTIFICATE block of the PEM files.
func LoadCertificates(paths ...string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("trust: %w", err)
		}
		n := 0
		for {
			var b *pem.Block
			b, raw = pem.Decode(raw)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("trust: %s: %w", p, err)
			}
			out = append(out, c)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("trust: %s: no certificate", p)
		}
	}
	return out, nil
}

// LoadCRLs reads CRL files, PEM ("X509 CRL") or DER.
func LoadCRLs(paths ...string) ([]*x509.RevocationList, error) {
	var out []*x509.RevocationList
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("trust: %w", err)
		}
		if b, _ := pem.Decode(raw); b != nil {
			raw = b.Bytes
		}
		l, err := x509.ParseRevocationList(raw)
		if err != nil {
			return nil, fmt.Errorf("trust: %s: %w", p, err)
		}
		out = append(out, l)
	}
	return out, nil
}

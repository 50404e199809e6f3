// Package jws owns inbound JSON signatures: one or more detached compact JWS
// (RFC 7515 appendix F) over the exact request body, carried in the
// X-JWS-Signature header, each with its certificate chain in a protected
// x5c header that the trust store checks like the XML path does.
package jws

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/trust"
)

// Header is the request header that carries the signatures.
const Header = "X-JWS-Signature"

// DefaultAlgorithms returns the accepted algorithms when none are configured.
func DefaultAlgorithms() []string { return []string{"RS256", "ES256"} }

// Verifier checks detached JWS signatures.
type Verifier struct {
	trust   *trust.Store
	algs    []jose.SignatureAlgorithm
	allowed map[string]bool
	maxSigs int
}

// NewVerifier accepts the given algorithms (DefaultAlgorithms when empty)
// and at most maxSigs signatures (4 when zero).
func NewVerifier(ts *trust.Store, algorithms []string, maxSigs int) *Verifier {
	if len(algorithms) == 0 {
		algorithms = DefaultAlgorithms()
	}
	if maxSigs <= 0 {
		maxSigs = 4
	}
	v := &Verifier{trust: ts, allowed: map[string]bool{}, maxSigs: maxSigs}
	for _, a := range algorithms {
		v.algs = append(v.algs, jose.SignatureAlgorithm(a))
		v.allowed[a] = true
	}
	return v
}

type protected struct {
	Alg  string   `json:"alg"`
	X5C  []string `json:"x5c"`
	Crit []string `json:"crit"`
	B64  *bool    `json:"b64"`
	JKU  string   `json:"jku"`
	X5U  string   `json:"x5u"`
}

// Verify checks every signature in header value hv over body at time at and
// returns the signers in header order. Errors are *problem.Error.
func (v *Verifier) Verify(body []byte, hv string, at time.Time) ([]trust.Signer, error) {
	hv = strings.TrimSpace(hv)
	if hv == "" {
		return nil, problem.New(problem.SignatureMissing, "The JSON body needs a detached JWS in the "+Header+" header.")
	}
	parts := strings.Split(hv, ",")
	if len(parts) > v.maxSigs {
		return nil, problem.New(problem.LimitExceeded, fmt.Sprintf("More than %d signatures in %s.", v.maxSigs, Header))
	}
	signers := make([]trust.Signer, 0, len(parts))
	for _, p := range parts {
		s, err := v.verifyOne(body, strings.TrimSpace(p), at)
		if err != nil {
			return nil, err
		}
		signers = append(signers, s)
	}
	return signers, nil
}

func (v *Verifier) verifyOne(body []byte, compact string, at time.Time) (trust.Signer, error) {
	segs := strings.Split(compact, ".")
	if len(segs) != 3 || segs[1] != "" {
		return trust.Signer{}, invalid(errors.New("not a detached compact JWS"))
	}
	raw, err := base64.RawURLEncoding.DecodeString(segs[0])
	if err != nil {
		return trust.Signer{}, invalid(fmt.Errorf("protected header: %w", err))
	}
	var h protected
	if err := json.Unmarshal(raw, &h); err != nil {
		return trust.Signer{}, invalid(fmt.Errorf("protected header: %w", err))
	}
	if !v.allowed[h.Alg] {
		return trust.Signer{}, problem.Wrap(problem.AlgorithmNotAllowed, fmt.Errorf("JWS alg %q", h.Alg),
			"The JWS algorithm is not allowed; use "+strings.Join(algNames(v.algs), " or ")+".")
	}
	if len(h.Crit) > 0 || h.B64 != nil || h.JKU != "" || h.X5U != "" {
		return trust.Signer{}, invalid(errors.New("unsupported protected header parameter (crit, b64, jku or x5u)"))
	}
	if len(h.X5C) == 0 {
		return trust.Signer{}, problem.Wrap(problem.CertificateUntrusted, errors.New("no x5c"), "")
	}
	ders := make([][]byte, 0, len(h.X5C))
	for _, c := range h.X5C {
		der, err := base64.StdEncoding.DecodeString(c)
		if err != nil {
			return trust.Signer{}, problem.Wrap(problem.CertificateUntrusted, fmt.Errorf("x5c: %w", err), "")
		}
		ders = append(ders, der)
	}
	// The trust store remembers an accepted chain: a signer seen before
	// costs neither certificate parsing nor chain building here.
	key := trust.KeyOf(ders)
	signer, known := v.trust.Remembered(key, at)
	if !known {
		chain := make([]*x509.Certificate, 0, len(ders))
		for _, der := range ders {
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return trust.Signer{}, problem.Wrap(problem.CertificateUntrusted, fmt.Errorf("x5c: %w", err), "")
			}
			chain = append(chain, cert)
		}
		var err error
		if signer, err = v.trust.VerifyRemember(key, chain, at); err != nil {
			return trust.Signer{}, err
		}
	}
	obj, err := jose.ParseDetached(compact, body, v.algs)
	if err != nil {
		return trust.Signer{}, invalid(err)
	}
	if err := obj.DetachedVerify(body, signer.Cert.PublicKey); err != nil {
		return trust.Signer{}, invalid(err)
	}
	signer.Algorithm = h.Alg
	return signer, nil
}

func invalid(cause error) error {
	return problem.Wrap(problem.SignatureInvalid, cause, "")
}

func algNames(a []jose.SignatureAlgorithm) []string {
	out := make([]string, len(a))
	for i, x := range a {
		out[i] = string(x)
	}
	return out
}

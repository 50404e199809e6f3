// Package jws owns inbound JSON signatures: one or more detached compact JWS
// (RFC 7515 appendix F) over the exact request body, carried in the
// X-JWS-Signature header, each with its certificate chain in a protected
// x5c header that the trust store checks like the XML path does.
package jws

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kbnn/dvc/adapter/jsondec"
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
	h, jwk, err := readHeader(raw)
	if err != nil {
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
	if jwk {
		return trust.Signer{}, invalid(errors.New("protected header: embedded jwk"))
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
	remember := func() {} // the accepted chain, once the signature verifies
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
		if signer, remember, err = v.trust.VerifyPending(key, chain, at); err != nil {
			return trust.Signer{}, err
		}
	}
	sig, err := base64.RawURLEncoding.DecodeString(segs[2])
	if err != nil {
		return trust.Signer{}, invalid(fmt.Errorf("signature: %w", err))
	}
	// The JWS signing input (RFC 7515 §5.2, appendix F), verified as
	// go-jose's verifyPayload does (asymmetric.go), without go-jose
	// parsing the header and its x5c certificates a second time.
	input := make([]byte, 0, base64.RawURLEncoding.EncodedLen(len(raw))+1+base64.RawURLEncoding.EncodedLen(len(body)))
	input = base64.RawURLEncoding.AppendEncode(input, raw)
	input = append(input, '.')
	input = base64.RawURLEncoding.AppendEncode(input, body)
	if err := verifySignature(h.Alg, signer.Cert.PublicKey, input, sig); err != nil {
		return trust.Signer{}, invalid(err)
	}
	remember()
	signer.Algorithm = h.Alg
	return signer, nil
}

// headerNames are the protected header parameters read here, spelt as RFC
// 7515 spells them.
var headerNames = []string{"alg", "x5c", "crit", "b64", "jku", "x5u", "jwk"}

// maxHeaderDepth bounds the nesting of a protected header (its parameters
// nest two levels at most).
const maxHeaderDepth = 64

// readHeader reads a protected header in one pass: the parameters of
// protected, as json.Unmarshal reads them into it, and whether it embeds a
// jwk (never used: the key is the x5c certificate's, and the caller refuses
// it). It refuses what is not one JSON object, a repeated member, and a
// member encoding/json would match to a parameter under another case
// ("ALG": JOSE names are case-sensitive, RFC 7515 §4).
func readHeader(raw []byte) (h protected, jwk bool, err error) {
	v, err := jsondec.Decode(raw, maxHeaderDepth)
	if err != nil {
		return h, false, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return h, false, errors.New("not a JSON object")
	}
	for name := range obj {
		for _, n := range headerNames {
			if strings.EqualFold(name, n) && name != n {
				return h, false, fmt.Errorf("member %q is not %q", name, n)
			}
		}
	}
	_, jwk = obj["jwk"]
	if h.Alg, err = headerString(obj, "alg"); err != nil {
		return h, false, err
	}
	if h.X5C, err = headerStrings(obj, "x5c"); err != nil {
		return h, false, err
	}
	if h.Crit, err = headerStrings(obj, "crit"); err != nil {
		return h, false, err
	}
	switch b := obj["b64"].(type) {
	case nil:
	case bool:
		h.B64 = &b
	default:
		return h, false, errors.New("b64: not a boolean")
	}
	if h.JKU, err = headerString(obj, "jku"); err != nil {
		return h, false, err
	}
	if h.X5U, err = headerString(obj, "x5u"); err != nil {
		return h, false, err
	}
	return h, jwk, nil
}

// headerString is a string parameter; null or absent is "".
func headerString(obj map[string]any, name string) (string, error) {
	switch s := obj[name].(type) {
	case nil:
		return "", nil
	case string:
		return s, nil
	}
	return "", fmt.Errorf("%s: not a string", name)
}

// headerStrings is an array of strings; null or absent is nil, a null
// element "".
func headerStrings(obj map[string]any, name string) ([]string, error) {
	switch l := obj[name].(type) {
	case nil:
		return nil, nil
	case []any:
		out := make([]string, len(l))
		for i, e := range l {
			switch s := e.(type) {
			case nil:
			case string:
				out[i] = s
			default:
				return nil, fmt.Errorf("%s: not an array of strings", name)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: not an array", name)
}

// verifySignature checks sig over input with the algorithm alg, like
// go-jose v4's rsaEncrypterVerifier and ecEncrypterVerifier verifyPayload.
func verifySignature(alg string, key crypto.PublicKey, input, sig []byte) error {
	var h crypto.Hash
	switch alg {
	case "RS256", "PS256", "ES256":
		h = crypto.SHA256
	case "RS384", "PS384", "ES384":
		h = crypto.SHA384
	case "RS512", "PS512", "ES512":
		h = crypto.SHA512
	default:
		return fmt.Errorf("JWS alg %q not supported", alg)
	}
	d := h.New()
	d.Write(input)
	hashed := d.Sum(nil)
	switch alg[:2] {
	case "RS", "PS":
		pub, ok := key.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("JWS alg %q with a %T key", alg, key)
		}
		if alg[0] == 'R' {
			return rsa.VerifyPKCS1v15(pub, h, hashed, sig)
		}
		return rsa.VerifyPSS(pub, h, hashed, sig, nil)
	default:
		pub, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("JWS alg %q with a %T key", alg, key)
		}
		curve, size := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg],
			map[string]int{"ES256": 32, "ES384": 48, "ES512": 66}[alg]
		if pub.Curve != curve {
			return errors.New("signature uses different algorithm than public key")
		}
		if len(sig) != 2*size {
			return fmt.Errorf("invalid signature size, have %d bytes, wanted %d", len(sig), 2*size)
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(pub, hashed, r, s) {
			return errors.New("ecdsa verification failed")
		}
		return nil
	}
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

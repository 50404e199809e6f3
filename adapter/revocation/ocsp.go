package revocation

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 6960 CertID hashes; SHA-1 is what every responder accepts (RFC 5019 §2.1.1)
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/kbnn/dvc/adapter/problem"
)

// maxOCSPBytes bounds an OCSP response body; real ones are a few KiB.
const maxOCSPBytes = 64 << 10

// skew is the clock difference tolerated between a responder or CRL issuer
// and the adapter (thisUpdate slightly in the future).
const skew = 5 * time.Minute

// noNextUpdateWindow is how old the thisUpdate of a response without
// nextUpdate may be, at least: older ones could be replays.
const noNextUpdateWindow = 5 * time.Minute

var (
	oidNonce    = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2} // RFC 6960 §4.4.1
	oidSHA1     = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	hashByOID   = map[string]crypto.Hash{"1.3.14.3.2.26": crypto.SHA1, "2.16.840.1.101.3.4.2.1": crypto.SHA256, "2.16.840.1.101.3.4.2.2": crypto.SHA384, "2.16.840.1.101.3.4.2.3": crypto.SHA512}
	errUnusable = errors.New("unusable OCSP response")
)

// ocspAnswer is one verified single response.
type ocspAnswer struct {
	status    int // ocsp.Good, ocsp.Revoked or ocsp.Unknown
	revokedAt time.Time
	expires   time.Time // reused while now is before it
}

func (a ocspAnswer) outcome() string {
	switch a.status {
	case ocsp.Good:
		return "good"
	case ocsp.Revoked:
		return "revoked"
	}
	return "unknown"
}

// decide turns the answer into Check's: good until expires, revoked, or
// unknown. "unknown" means the responder authoritative for the issuer does
// not know the certificate (RFC 6960 §2.2): it was not issued by that CA as
// far as the CA can tell, so the certificate is not trusted (a retry cannot
// change that, and it is not known to be revoked).
func (a ocspAnswer) decide(cert *x509.Certificate, now time.Time, url string) (time.Time, error) {
	switch a.status {
	case ocsp.Good:
		return minTime(maxTime(a.expires, now), forever), nil
	case ocsp.Revoked:
		return time.Time{}, revoked(cert, "OCSP "+url)
	}
	return time.Time{}, problem.Wrap(problem.CertificateUntrusted,
		fmt.Errorf("OCSP %s: certificate %s of %q unknown to its issuer's responder", url, cert.SerialNumber, cert.Subject), "")
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// ocspStatus answers from the cache, else asks the responder at url.
func (k *Checker) ocspStatus(cert, issuer *x509.Certificate, url string) (ocspAnswer, bool, error) {
	sum := sha256.Sum256(issuer.RawSubjectPublicKeyInfo)
	key := url + "|" + hex.EncodeToString(sum[:]) + "|" + cert.SerialNumber.String()
	if e, ok := k.ocsp.lookup(key); ok && k.now().Before(e.expires) {
		return e.v, true, nil
	}
	a, err := k.ocsp.do(key, func() (ocspAnswer, error) { return k.queryOCSP(cert, issuer, url) })
	if err != nil {
		return ocspAnswer{}, false, err
	}
	if now := k.now(); now.Before(a.expires) {
		k.ocsp.store(key, entry[ocspAnswer]{v: a, expires: a.expires, keep: a.expires}, now)
	}
	return a, false, nil
}

// queryOCSP POSTs a request for cert (RFC 6960 Appendix A.1) and verifies
// the response.
func (k *Checker) queryOCSP(cert, issuer *x509.Certificate, url string) (ocspAnswer, error) {
	var nonce []byte
	if k.o.Nonce {
		nonce = make([]byte, 32)
		if _, err := rand.Read(nonce); err != nil {
			return ocspAnswer{}, err
		}
	}
	der, err := buildRequest(cert, issuer, nonce)
	if err != nil {
		return ocspAnswer{}, err
	}
	ctx, cancel := k.context()
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(der))
	if err != nil {
		return ocspAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/ocsp-request")
	req.Header.Set("Accept", "application/ocsp-response")
	resp, err := k.client.Do(req)
	if err != nil {
		return ocspAnswer{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return ocspAnswer{}, fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOCSPBytes+1))
	if err != nil {
		return ocspAnswer{}, err
	}
	if len(body) > maxOCSPBytes {
		return ocspAnswer{}, fmt.Errorf("response over %d bytes", maxOCSPBytes)
	}
	return verifyResponse(body, cert, issuer, nonce, k.now(), k.o.MaxAge)
}

// The request, RFC 6960 §4.1.1 (x/crypto/ocsp's request has no extensions,
// so no nonce).
type (
	certID struct {
		HashAlgorithm pkix.AlgorithmIdentifier
		NameHash      []byte
		KeyHash       []byte
		SerialNumber  *big.Int
	}
	singleRequest struct {
		Cert certID
	}
	tbsRequest struct {
		Version     int `asn1:"explicit,tag:0,default:0,optional"`
		RequestList []singleRequest
		Extensions  []pkix.Extension `asn1:"explicit,tag:2,optional"`
	}
	ocspRequest struct {
		TBSRequest tbsRequest
	}
)

// buildRequest returns the DER request for cert, with an RFC 8954 nonce
// extension when nonce is not nil.
func buildRequest(cert, issuer *x509.Certificate, nonce []byte) ([]byte, error) {
	nameHash, keyHash, err := issuerHashes(issuer, crypto.SHA1)
	if err != nil {
		return nil, err
	}
	r := ocspRequest{TBSRequest: tbsRequest{RequestList: []singleRequest{{Cert: certID{
		HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidSHA1, Parameters: asn1.RawValue{Tag: asn1.TagNull}},
		NameHash:      nameHash, KeyHash: keyHash, SerialNumber: cert.SerialNumber,
	}}}}}
	if nonce != nil {
		ext, err := nonceExtension(nonce)
		if err != nil {
			return nil, err
		}
		r.TBSRequest.Extensions = []pkix.Extension{ext}
	}
	return asn1.Marshal(r)
}

func nonceExtension(nonce []byte) (pkix.Extension, error) {
	v, err := asn1.Marshal(nonce) // Nonce ::= OCTET STRING (RFC 8954 §2.1)
	return pkix.Extension{Id: oidNonce, Value: v}, err
}

// issuerHashes are the CertID hashes of issuer: of its subject and of its
// public key's BIT STRING (RFC 6960 §4.1.1).
func issuerHashes(issuer *x509.Certificate, h crypto.Hash) (name, key []byte, err error) {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, nil, fmt.Errorf("issuer public key: %w", err)
	}
	if !h.Available() {
		return nil, nil, errors.New("hash unavailable")
	}
	hn := h.New()
	hn.Write(issuer.RawSubject)
	name = hn.Sum(nil)
	if h == crypto.SHA1 {
		s := sha1.Sum(spki.PublicKey.RightAlign()) //nolint:gosec // RFC 6960 CertID
		return name, s[:], nil
	}
	hk := h.New()
	hk.Write(spki.PublicKey.RightAlign())
	return name, hk.Sum(nil), nil
}

// responseData is the part of a BasicOCSPResponse x/crypto/ocsp does not
// return: each single response's CertID and the response extensions (the
// nonce), RFC 6960 §4.2.1.
type (
	responseData struct {
		Version     int `asn1:"optional,default:0,explicit,tag:0"`
		ResponderID asn1.RawValue
		ProducedAt  time.Time `asn1:"generalized"`
		Responses   []singleResponse
		Extensions  []pkix.Extension `asn1:"explicit,tag:1,optional"`
	}
	singleResponse struct {
		CertID     certID
		Status     asn1.RawValue
		ThisUpdate time.Time        `asn1:"generalized"`
		NextUpdate time.Time        `asn1:"generalized,explicit,tag:0,optional"`
		Extensions []pkix.Extension `asn1:"explicit,tag:1,optional"`
	}
)

// verifyResponse checks an OCSP response for cert, issued by issuer, at
// now: signed by the issuer or by a responder the issuer delegated
// (id-kp-OCSPSigning, RFC 6960 §4.2.2.2), about this very certificate of
// this issuer, current, echoing nonce when one was sent. maxAge is how long
// a response without nextUpdate is reused.
func verifyResponse(der []byte, cert, issuer *x509.Certificate, nonce []byte, now time.Time, maxAge time.Duration) (ocspAnswer, error) {
	r, err := ocsp.ParseResponseForCert(der, cert, nil)
	if err != nil {
		return ocspAnswer{}, fmt.Errorf("%w: %w", errUnusable, err)
	}
	if err := checkResponder(r, issuer, now); err != nil {
		return ocspAnswer{}, fmt.Errorf("%w: %w", errUnusable, err)
	}
	var rd responseData
	if rest, err := asn1.Unmarshal(r.TBSResponseData, &rd); err != nil || len(rest) > 0 {
		return ocspAnswer{}, fmt.Errorf("%w: response data", errUnusable)
	}
	if err := checkCertID(rd.Responses, cert, issuer); err != nil {
		return ocspAnswer{}, fmt.Errorf("%w: %w", errUnusable, err)
	}
	if nonce != nil {
		want, _ := nonceExtension(nonce)
		i := slices.IndexFunc(rd.Extensions, func(e pkix.Extension) bool { return e.Id.Equal(oidNonce) })
		if i < 0 {
			return ocspAnswer{}, fmt.Errorf("%w: no nonce in the response", errUnusable)
		}
		if !bytes.Equal(rd.Extensions[i].Value, want.Value) {
			return ocspAnswer{}, fmt.Errorf("%w: nonce mismatch", errUnusable)
		}
	}
	for _, e := range rd.Extensions {
		if e.Critical && !e.Id.Equal(oidNonce) {
			return ocspAnswer{}, fmt.Errorf("%w: unsupported critical extension %s", errUnusable, e.Id)
		}
	}
	if r.ThisUpdate.After(now.Add(skew)) {
		return ocspAnswer{}, fmt.Errorf("%w: thisUpdate %s is in the future", errUnusable, r.ThisUpdate.Format(time.RFC3339))
	}
	a := ocspAnswer{status: r.Status, revokedAt: r.RevokedAt}
	if r.NextUpdate.IsZero() {
		if now.Sub(r.ThisUpdate) > max(maxAge, noNextUpdateWindow) {
			return ocspAnswer{}, fmt.Errorf("%w: no nextUpdate and thisUpdate %s is too old", errUnusable, r.ThisUpdate.Format(time.RFC3339))
		}
		a.expires = now.Add(maxAge)
	} else {
		if !now.Before(r.NextUpdate) {
			return ocspAnswer{}, fmt.Errorf("%w: stale, nextUpdate %s has passed", errUnusable, r.NextUpdate.Format(time.RFC3339))
		}
		a.expires = r.NextUpdate
	}
	if r.Certificate != nil && r.Certificate.NotAfter.Before(a.expires) {
		a.expires = r.Certificate.NotAfter
	}
	return a, nil
}

// checkResponder verifies the response's signature: by the issuer itself,
// or by a delegated responder certificate the issuer signed for
// id-kp-OCSPSigning and valid now.
func checkResponder(r *ocsp.Response, issuer *x509.Certificate, now time.Time) error {
	rc := r.Certificate
	if rc == nil || bytes.Equal(rc.Raw, issuer.Raw) {
		return r.CheckSignatureFrom(issuer)
	}
	if err := rc.CheckSignatureFrom(issuer); err != nil {
		return fmt.Errorf("responder certificate not issued by the issuer: %w", err)
	}
	if !slices.Contains(rc.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
		return errors.New("responder certificate lacks id-kp-OCSPSigning")
	}
	if now.Before(rc.NotBefore) || now.After(rc.NotAfter) {
		return errors.New("responder certificate not valid now")
	}
	return r.CheckSignatureFrom(rc)
}

// checkCertID requires every single response about cert's serial number to
// name cert's issuer (a serial number alone is ambiguous across issuers).
func checkCertID(rs []singleResponse, cert, issuer *x509.Certificate) error {
	found := false
	for _, s := range rs {
		if s.CertID.SerialNumber == nil || s.CertID.SerialNumber.Cmp(cert.SerialNumber) != 0 {
			continue
		}
		h, ok := hashByOID[s.CertID.HashAlgorithm.Algorithm.String()]
		if !ok {
			return fmt.Errorf("CertID hash %s", s.CertID.HashAlgorithm.Algorithm)
		}
		name, key, err := issuerHashes(issuer, h)
		if err != nil {
			return err
		}
		if !bytes.Equal(name, s.CertID.NameHash) || !bytes.Equal(key, s.CertID.KeyHash) {
			return errors.New("response is about another issuer's certificate")
		}
		found = true
	}
	if !found {
		return errors.New("no response about the certificate")
	}
	return nil
}

// isHTTP reports whether u is an http or https URL.
func isHTTP(u string) bool {
	l := strings.ToLower(u)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

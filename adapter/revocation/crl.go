package revocation

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// maxCRLBytes bounds a fetched CRL.
const maxCRLBytes = 32 << 20

// refreshRetry is how soon a failed refresh of a still-current CRL is
// tried again.
const refreshRetry = time.Minute

var (
	oidIDP      = asn1.ObjectIdentifier{2, 5, 29, 28} // issuingDistributionPoint, RFC 5280 §5.2.5
	oidDeltaCRL = asn1.ObjectIdentifier{2, 5, 29, 27} // deltaCRLIndicator, RFC 5280 §5.2.4
)

// crlSet is one verified CRL as the checks need it.
type crlSet struct {
	revoked                map[string]bool // serial (decimal)
	thisUpdate, nextUpdate time.Time
	issuerKey              []byte // RawSubjectPublicKeyInfo of the CA that signed it
	scope                  scope
}

// scope is what an issuing distribution point extension limits a CRL to.
type scope struct {
	onlyUser, onlyCA bool
	urls             []string // the distribution point's URIs; none: any
}

func newCRLSet(l *x509.RevocationList, issuer *x509.Certificate) *crlSet {
	c := &crlSet{revoked: make(map[string]bool, len(l.RevokedCertificateEntries)),
		thisUpdate: l.ThisUpdate, nextUpdate: l.NextUpdate, issuerKey: issuer.RawSubjectPublicKeyInfo}
	for _, e := range l.RevokedCertificateEntries {
		c.revoked[e.SerialNumber.String()] = true
	}
	return c
}

// covers reports (nil) whether the CRL speaks for cert: an issuing
// distribution point limited to end-entity or CA certificates excludes the
// others.
func (c *crlSet) covers(cert *x509.Certificate) error {
	isCA := cert.BasicConstraintsValid && cert.IsCA
	if c.scope.onlyUser && isCA || c.scope.onlyCA && !isCA {
		return errors.New("the CRL's issuing distribution point excludes this kind of certificate")
	}
	return nil
}

// reuseUntil is the instant until which the CRL answers for a certificate.
func (c *crlSet) reuseUntil(now time.Time, maxAge time.Duration) time.Time {
	if c.nextUpdate.IsZero() {
		return now.Add(maxAge)
	}
	return c.nextUpdate
}

// refreshAt is when a fetched CRL is fetched again: in the last quarter of
// its validity, so that a current list is always at hand.
func (c *crlSet) refreshAt() time.Time {
	return c.nextUpdate.Add(-c.nextUpdate.Sub(c.thisUpdate) / 4)
}

// distributionPoints are cert's http(s) CRL distribution points.
func distributionPoints(cert *x509.Certificate) []string {
	var out []string
	for _, u := range cert.CRLDistributionPoints {
		if isHTTP(u) {
			out = append(out, u)
		}
	}
	return out
}

// fetchedCRL returns the CRL at url, verified against issuer: from the
// cache while it is not due for a refresh, else downloaded. A failed
// refresh keeps the cached list while it is current.
func (k *Checker) fetchedCRL(url string, issuer *x509.Certificate) (*crlSet, bool, error) {
	now := k.now()
	e, ok := k.crls.lookup(url)
	ok = ok && string(e.v.issuerKey) == string(issuer.RawSubjectPublicKeyInfo)
	if ok && now.Before(e.expires) {
		return e.v, true, nil
	}
	set, err := k.crls.do(url, func() (*crlSet, error) { return k.downloadCRL(url, issuer) })
	if err != nil {
		if ok && now.Before(e.v.nextUpdate) {
			k.log.Warn("CRL refresh failed; the cached list is still current", "url", url, "err", err)
			e.expires = minTime(now.Add(refreshRetry), e.v.nextUpdate)
			k.crls.store(url, e, now)
			return e.v, true, nil
		}
		return nil, false, err
	}
	k.crls.store(url, entry[*crlSet]{v: set, expires: set.refreshAt(), keep: set.nextUpdate}, now)
	return set, false, nil
}

// downloadCRL GETs the CRL at url and verifies it.
func (k *Checker) downloadCRL(url string, issuer *x509.Certificate) (*crlSet, error) {
	ctx, cancel := k.context()
	defer cancel()
	raw, err := get(ctx, k.client, url)
	if err != nil {
		return nil, err
	}
	return verifyCRL(raw, issuer, url, k.now())
}

func get(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCRLBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCRLBytes {
		return nil, fmt.Errorf("CRL over %d bytes", maxCRLBytes)
	}
	return b, nil
}

// verifyCRL parses a fetched CRL (DER, or PEM "X509 CRL") and checks it:
// issued and signed by issuer, current at now (thisUpdate not in the
// future, nextUpdate present and not passed), a complete CRL (no delta, no
// indirect or reason-partitioned scope, no other critical extension), and,
// when it has an issuing distribution point with URIs, fetched from one of
// them.
func verifyCRL(raw []byte, issuer *x509.Certificate, url string, now time.Time) (*crlSet, error) {
	if b, _ := pem.Decode(raw); b != nil && b.Type == "X509 CRL" {
		raw = b.Bytes
	}
	l, err := x509.ParseRevocationList(raw)
	if err != nil {
		return nil, err
	}
	if string(l.RawIssuer) != string(issuer.RawSubject) {
		return nil, errors.New("issued by another CA")
	}
	if err := l.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	if l.ThisUpdate.After(now.Add(skew)) {
		return nil, fmt.Errorf("thisUpdate %s is in the future", l.ThisUpdate.Format(time.RFC3339))
	}
	if l.NextUpdate.IsZero() {
		return nil, errors.New("no nextUpdate")
	}
	if !now.Before(l.NextUpdate) {
		return nil, fmt.Errorf("stale, nextUpdate %s has passed", l.NextUpdate.Format(time.RFC3339))
	}
	sc, err := crlScope(l)
	if err != nil {
		return nil, err
	}
	if len(sc.urls) > 0 && url != "" && !slices.Contains(sc.urls, url) {
		return nil, errors.New("the CRL's issuing distribution point does not name the URL it came from")
	}
	set := newCRLSet(l, issuer)
	set.scope = sc
	return set, nil
}

// crlScope reads the CRL's extensions: a delta CRL, an unknown critical
// extension or an issuing distribution point that makes the list indirect
// or reason-partitioned are refused.
func crlScope(l *x509.RevocationList) (scope, error) {
	var sc scope
	for _, e := range l.Extensions {
		switch {
		case e.Id.Equal(oidDeltaCRL):
			return sc, errors.New("a delta CRL")
		case e.Id.Equal(oidIDP):
			var err error
			if sc, err = parseIDP(e.Value); err != nil {
				return sc, fmt.Errorf("issuing distribution point: %w", err)
			}
		case e.Critical:
			return sc, fmt.Errorf("unsupported critical extension %s", e.Id)
		}
	}
	return sc, nil
}

// parseIDP reads an IssuingDistributionPoint (RFC 5280 §5.2.5, implicit
// tags): the distribution point's URIs and the scope flags.
func parseIDP(der []byte) (scope, error) {
	var sc scope
	var seq asn1.RawValue
	if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) > 0 || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return sc, errors.New("not a SEQUENCE")
	}
	for in := seq.Bytes; len(in) > 0; {
		var f asn1.RawValue
		rest, err := asn1.Unmarshal(in, &f)
		if err != nil {
			return sc, err
		}
		in = rest
		if f.Class != asn1.ClassContextSpecific {
			return sc, errors.New("unexpected field")
		}
		flag := !f.IsCompound && len(f.Bytes) == 1 && f.Bytes[0] != 0
		switch f.Tag {
		case 0:
			if sc.urls, err = fullNameURIs(f.Bytes); err != nil {
				return sc, err
			}
		case 1:
			sc.onlyUser = flag
		case 2:
			sc.onlyCA = flag
		case 3:
			return sc, errors.New("only some reasons: a partitioned CRL")
		case 4:
			if flag {
				return sc, errors.New("an indirect CRL")
			}
		case 5:
			if flag {
				return sc, errors.New("only attribute certificates")
			}
		default:
			return sc, errors.New("unexpected field")
		}
	}
	return sc, nil
}

// fullNameURIs reads a DistributionPointName's fullName [0] and returns its
// uniformResourceIdentifier [6] names; nameRelativeToCRLIssuer gives none.
func fullNameURIs(der []byte) ([]string, error) {
	var name asn1.RawValue
	if rest, err := asn1.Unmarshal(der, &name); err != nil || len(rest) > 0 {
		return nil, errors.New("distribution point name")
	}
	if name.Class != asn1.ClassContextSpecific || name.Tag != 0 {
		return nil, nil
	}
	var out []string
	for in := name.Bytes; len(in) > 0; {
		var gn asn1.RawValue
		rest, err := asn1.Unmarshal(in, &gn)
		if err != nil {
			return nil, err
		}
		in = rest
		if gn.Class == asn1.ClassContextSpecific && gn.Tag == 6 && !gn.IsCompound {
			out = append(out, string(gn.Bytes))
		}
	}
	return out, nil
}

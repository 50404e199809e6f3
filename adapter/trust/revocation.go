package trust

import (
	"crypto/x509"
	"time"
)

// Revocation decides whether the certificates of a verified chain (leaf
// first, the root last) are revoked: adapter/revocation implements it with
// OCSP and fetched and configured CRLs. Check returns the instant until
// which its answer may be reused, or a *problem.Error (CertificateRevoked,
// CertificateUntrusted, RevocationUnavailable).
type Revocation interface {
	Check(chain []*x509.Certificate) (time.Time, error)
}

// revocationStatus checks chain's revocation, with Revocation when the
// store has one, else with the configured CRLs at time at, and returns
// the instant until which the decision about chain may be reused.
func (s *Store) revocationStatus(chain []*x509.Certificate, at time.Time) (time.Time, error) {
	until := chain[0].NotAfter
	for _, c := range chain[1:] {
		if c.NotAfter.Before(until) {
			until = c.NotAfter
		}
	}
	if s.revocation != nil {
		u, err := s.revocation.Check(chain)
		if err != nil {
			return time.Time{}, err
		}
		if u.Before(until) {
			until = u
		}
		return until, nil
	}
	if err := s.checkRevocation(chain, at); err != nil {
		return time.Time{}, err
	}
	for _, c := range chain[:len(chain)-1] {
		if l, ok := s.crls[string(c.RawIssuer)]; ok && l.nextUpdate.Before(until) {
			until = l.nextUpdate
		}
	}
	return until, nil
}

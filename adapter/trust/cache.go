package trust

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"sync"
	"time"
)

// Remembered trust decisions. Building and checking a chain costs more than
// the signature itself; a signer sends the same chain with every document.
// An accepted chain is remembered under the hash of every certificate it
// was presented with (leaf and intermediates, in order), for as long as
// the decision cannot change by itself: from the latest NotBefore to the
// earliest NotAfter of the chain that was checked, and no later than the
// next update of any CRL consulted. Refusals are not remembered (an
// attacker could fill the table with them). A Store's CRLs do not change;
// whatever replaces revocation data calls ForgetDecisions. With live
// revocation (Options.Revocation) a decision also ends, by the wall clock,
// at Signer.ValidUntil: the earliest expiry of the OCSP answers and fetched
// CRLs it rests on.

// maxDecisions bounds the table; when it is full an eighth of it, taken
// at random, makes room. Only chains whose signature verified are
// remembered (VerifyPending), so a flood of refused requests, each with an
// extra certificate for a new key, cannot empty it.
const maxDecisions = 4096

// ChainKey identifies a presented chain: SHA-256 over each DER
// certificate, length-prefixed, in the order presented.
type ChainKey [sha256.Size]byte

// KeyOf returns the ChainKey of the DER certificates ders.
func KeyOf(ders [][]byte) ChainKey {
	h := sha256.New()
	var n [8]byte
	for _, d := range ders {
		binary.BigEndian.PutUint64(n[:], uint64(len(d)))
		h.Write(n[:])
		h.Write(d)
	}
	var k ChainKey
	h.Sum(k[:0])
	return k
}

type decision struct {
	signer      Signer
	from, until time.Time // inclusive window of receipt times
	// fresh is the wall-clock instant until which live revocation answers
	// (OCSP, fetched CRLs) behind the decision hold; zero without them.
	fresh time.Time
}

type decisions struct {
	mu sync.RWMutex
	m  map[ChainKey]decision
}

// Remembered returns the signer of an accepted chain with key k when the
// acceptance still holds at time at.
func (s *Store) Remembered(k ChainKey, at time.Time) (Signer, bool) {
	s.decisions.mu.RLock()
	d, ok := s.decisions.m[k]
	s.decisions.mu.RUnlock()
	if !ok || at.Before(d.from) || at.After(d.until) || !d.fresh.IsZero() && !time.Now().Before(d.fresh) {
		return Signer{}, false
	}
	return d.signer, true
}

// VerifyRemember is Verify for a chain presented as key k (KeyOf its DER
// certificates); an accepted chain is remembered for Remembered at once.
func (s *Store) VerifyRemember(k ChainKey, chain []*x509.Certificate, at time.Time) (Signer, error) {
	signer, remember, err := s.VerifyPending(k, chain, at)
	if err == nil {
		remember()
	}
	return signer, err
}

// VerifyPending is Verify for a chain presented as key k (KeyOf its DER
// certificates). An accepted chain is remembered for Remembered when the
// caller calls remember: once the signature the chain vouches for has
// verified, so that requests with forged signatures leave the table alone.
func (s *Store) VerifyPending(k ChainKey, chain []*x509.Certificate, at time.Time) (_ Signer, remember func(), _ error) {
	signer, checked, err := s.verify(chain, at)
	if err != nil {
		return Signer{}, nil, err
	}
	from, until := s.window(checked)
	if at.Before(from) || at.After(until) {
		return signer, func() {}, nil
	}
	var fresh time.Time
	if s.revocation != nil {
		// Live answers expire by the wall clock (as the responder's do):
		// the decision lasts no longer than the earliest of them, and one
		// that may not be reused is not remembered.
		if fresh = signer.ValidUntil; !time.Now().Before(fresh) {
			return signer, func() {}, nil
		}
	}
	d := decision{signer: signer, from: from, until: until, fresh: fresh}
	return signer, func() { s.remember(k, d) }, nil
}

// remember keeps d under k, making room when the table is full.
func (s *Store) remember(k ChainKey, d decision) {
	s.decisions.mu.Lock()
	defer s.decisions.mu.Unlock()
	if s.decisions.m == nil {
		s.decisions.m = make(map[ChainKey]decision)
	}
	if _, ok := s.decisions.m[k]; !ok && len(s.decisions.m) >= maxDecisions {
		n := maxDecisions / 8
		for old := range s.decisions.m { // Go's map order: a random start
			delete(s.decisions.m, old)
			if n--; n == 0 {
				break
			}
		}
	}
	s.decisions.m[k] = d
}

// ForgetDecisions drops every remembered decision. Call it whenever the
// revocation data a Store consults changes.
func (s *Store) ForgetDecisions() {
	s.decisions.mu.Lock()
	s.decisions.m = nil
	s.decisions.mu.Unlock()
}

// window is the span of receipt times over which the decision on chain (as
// checked, root last) stays the same: every certificate valid, every CRL
// consulted for it (checkRevocation) before its next update.
func (s *Store) window(chain []*x509.Certificate) (from, until time.Time) {
	for i, c := range chain {
		if i == 0 || c.NotBefore.After(from) {
			from = c.NotBefore
		}
		if i == 0 || c.NotAfter.Before(until) {
			until = c.NotAfter
		}
		if i == len(chain)-1 {
			break
		}
		if l, ok := s.crls[string(c.RawIssuer)]; ok && l.nextUpdate.Before(until) {
			until = l.nextUpdate
		}
	}
	return from, until
}

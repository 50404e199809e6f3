package trust

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"
)

func ders(cs []*x509.Certificate) [][]byte {
	out := make([][]byte, len(cs))
	for i, c := range cs {
		out[i] = c.Raw
	}
	return out
}

func TestRememberedChain(t *testing.T) {
	s := store(t)
	chain := certs(t, "chu-tai-khoan", "intermediate-ca")
	k := KeyOf(ders(chain))
	if _, ok := s.Remembered(k, at); ok {
		t.Fatal("remembered before any check")
	}
	signer, err := s.VerifyRemember(k, chain, at)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := s.Remembered(k, at.Add(time.Hour))
	if !ok || !got.Cert.Equal(signer.Cert) || got.Role != "chu-tai-khoan" {
		t.Fatalf("remembered %+v, %v", got, ok)
	}
	// the key is the whole presented chain, not the leaf alone
	if _, ok := s.Remembered(KeyOf(ders(chain[:1])), at); ok {
		t.Fatal("the leaf alone shares the decision on leaf + intermediate")
	}
	// outside the window: before the latest NotBefore, after the CRL's
	// next update or the earliest NotAfter
	crl, _ := LoadCRLs(filepath.Join(pki, "intermediate.crl"))
	for name, when := range map[string]time.Time{
		"before NotBefore":      chain[0].NotBefore.Add(-time.Second),
		"after CRL next update": crl[0].NextUpdate.Add(time.Second),
		"after leaf NotAfter":   chain[0].NotAfter.Add(time.Second),
		"after the CA NotAfter": chain[1].NotAfter.Add(time.Second),
	} {
		if _, ok := s.Remembered(k, when); ok {
			t.Errorf("%s: still remembered", name)
		}
	}
	if _, ok := s.Remembered(k, crl[0].NextUpdate); !ok {
		t.Error("not remembered up to the CRL's next update")
	}
}

// The identity evidence names a signer by is worked out once, with the
// decision, and is the certificate's own.
func TestRememberedSignerIdentity(t *testing.T) {
	s := store(t)
	chain := certs(t, "chu-tai-khoan", "intermediate-ca")
	k := KeyOf(ders(chain))
	if _, err := s.VerifyRemember(k, chain, at); err != nil {
		t.Fatal(err)
	}
	got, ok := s.Remembered(k, at)
	if !ok || got.id == nil {
		t.Fatalf("remembered %+v, %v: no identity worked out", got, ok)
	}
	sum := sha256.Sum256(chain[0].Raw)
	want := Identity{Subject: chain[0].Subject.String(), Issuer: chain[0].Issuer.String(),
		Serial: chain[0].SerialNumber.Text(16), SHA256: hex.EncodeToString(sum[:])}
	if got.Identity() != want {
		t.Errorf("identity %+v, want %+v", got.Identity(), want)
	}
	if built := (Signer{Cert: chain[0]}); built.Identity() != want {
		t.Errorf("identity of a Signer built elsewhere %+v, want %+v", built.Identity(), want)
	}
}

func TestRefusalsAreNotRemembered(t *testing.T) {
	s := store(t)
	for _, name := range []string{"revoked", "expired"} {
		chain := certs(t, name, "intermediate-ca")
		k := KeyOf(ders(chain))
		if _, err := s.VerifyRemember(k, chain, at); err == nil {
			t.Fatalf("%s accepted", name)
		}
		if _, ok := s.Remembered(k, at); ok {
			t.Fatalf("%s: refusal remembered", name)
		}
	}
}

// New revocation data means a new Store (or ForgetDecisions): a chain
// accepted before the certificate was listed is refused after.
func TestRevocationDataChangeForgetsDecisions(t *testing.T) {
	before, err := New(Options{Roots: certs(t, "root-ca"), Intermediates: certs(t, "intermediate-ca")})
	if err != nil {
		t.Fatal(err)
	}
	chain := certs(t, "revoked", "intermediate-ca")
	k := KeyOf(ders(chain))
	if _, err := before.VerifyRemember(k, chain, at); err != nil {
		t.Fatalf("without a CRL the certificate is trusted: %v", err)
	}
	if _, ok := before.Remembered(k, at); !ok {
		t.Fatal("not remembered")
	}
	after := store(t) // the same anchors with the CRL that lists it
	if _, ok := after.Remembered(k, at); ok {
		t.Fatal("a store with new revocation data reuses an old decision")
	}
	if _, err := after.VerifyRemember(k, chain, at); err == nil {
		t.Fatal("revoked certificate accepted")
	}
	before.ForgetDecisions()
	if _, ok := before.Remembered(k, at); ok {
		t.Fatal("ForgetDecisions kept a decision")
	}
}

// liveAnswer is a Revocation whose answers hold until a set instant.
type liveAnswer struct{ until time.Time }

func (l *liveAnswer) Check([]*x509.Certificate) (time.Time, error) { return l.until, nil }

// With live revocation a decision lasts no longer, by the wall clock, than
// the answers it rests on; one that may not be reused is not remembered.
func TestLiveRevocationBoundsRememberedChain(t *testing.T) {
	live := &liveAnswer{}
	s, err := New(Options{Roots: certs(t, "root-ca"), Intermediates: certs(t, "intermediate-ca"),
		Roles: map[string]string{"Chu tai khoan": "chu-tai-khoan"}, Revocation: live})
	if err != nil {
		t.Fatal(err)
	}
	chain := certs(t, "chu-tai-khoan", "intermediate-ca")
	k := KeyOf(ders(chain))

	live.until = time.Now() // not reusable
	if _, err := s.VerifyRemember(k, chain, at); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Remembered(k, at); ok {
		t.Fatal("a decision whose revocation answer may not be reused was remembered")
	}

	live.until = time.Now().Add(time.Hour)
	if _, err := s.VerifyRemember(k, chain, at); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Remembered(k, at); !ok {
		t.Fatal("a decision with an hour of fresh revocation answers was not remembered")
	}

	live.until = time.Now().Add(-time.Second) // an answer already past
	s.ForgetDecisions()
	if _, err := s.VerifyRemember(k, chain, at); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Remembered(k, at); ok {
		t.Fatal("a decision resting on a stale answer was remembered")
	}
}

// A decision is remembered only when the caller says so (VerifyPending's
// remember, once the signature verified); a full table makes room by
// dropping an eighth of it, not by forgetting everything.
func TestRememberedWhenAskedAndEvictedInPart(t *testing.T) {
	s := store(t)
	chain := certs(t, "chu-tai-khoan", "intermediate-ca")
	k := KeyOf(ders(chain))
	_, remember, err := s.VerifyPending(k, chain, at)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Remembered(k, at); ok {
		t.Fatal("remembered before the caller asked")
	}
	remember()
	if _, ok := s.Remembered(k, at); !ok {
		t.Fatal("not remembered once asked")
	}

	for i := 0; len(s.decisions.m) < maxDecisions; i++ {
		var fake ChainKey
		binary.BigEndian.PutUint64(fake[:], uint64(i))
		_, remember, err := s.VerifyPending(fake, chain, at)
		if err != nil {
			t.Fatal(err)
		}
		remember()
	}
	var extra ChainKey
	extra[31] = 1
	_, remember, err = s.VerifyPending(extra, chain, at)
	if err != nil {
		t.Fatal(err)
	}
	remember()
	if n := len(s.decisions.m); n != maxDecisions-maxDecisions/8+1 {
		t.Fatalf("%d decisions after the table filled, want %d", n, maxDecisions-maxDecisions/8+1)
	}
	if _, ok := s.Remembered(extra, at); !ok {
		t.Fatal("the newest decision was dropped")
	}
}

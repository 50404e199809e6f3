package xmlsig

import (
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/testkit/signing"
	"github.com/kbnn/dvc/adapter/trust"
)

// TestFallbackSlots: a document the fast engine hands to goxmldsig (here a
// namespace declaration below the root) takes one of the fallback slots;
// with none free in time it is server-busy with a Retry-After, while a
// document the fast engine takes is not held up. Once a slot is free it
// verifies.
func TestFallbackSlots(t *testing.T) {
	inner := sign(t, []byte(strings.Replace(string(template(t)), "<nienDo>", `<nienDo xmlns:x="urn:x">`, 1)), signing.XMLOptions{}, both...)
	plain := sign(t, template(t), signing.XMLOptions{}, both...)
	sharedStore.Do(func() { shared = testStore(t) })
	v := NewVerifier(shared, Policy{FallbackConcurrency: 1, FallbackWait: time.Millisecond})
	run := func(body []byte) error {
		doc, err := Parse(body, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(doc, receipt)
		return err
	}
	if !v.fallback.Take(t.Context()) { // the one slot taken
		t.Fatal("the fallback slot was not free")
	}
	err := run(inner)
	wantCode(t, err, "server-busy")
	if pe := err.(*problem.Error); pe.RetryAfter <= 0 {
		t.Fatalf("server-busy without Retry-After: %+v", pe)
	}
	if err := run(plain); err != nil {
		t.Fatalf("a document of the fast engine waited for the fallback: %v", err)
	}
	v.fallback.Give()
	if err := run(inner); err != nil {
		t.Fatalf("with the slot free: %v", err)
	}
	if v.fallback.Taken() != 0 {
		t.Fatal("the slot was not given back")
	}
}

// A trusted chain presented with a signature that does not verify is not
// remembered: refused requests (each could add a certificate for a new
// key) leave the trust store's remembered decisions alone. The same chain
// with a good signature is.
func TestForgedSignatureIsNotRemembered(t *testing.T) {
	ts := testStore(t)
	v := NewVerifier(ts, Policy{})
	good := sign(t, template(t), signing.XMLOptions{}, "chu-tai-khoan")
	forged := []byte(strings.Replace(string(good), "<nienDo>2026</nienDo>", "<nienDo>2027</nienDo>", 1))
	doc, err := Parse(forged, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ders, err := v.checkProfile(signatureChildren(doc.Root())[0], idOf(doc.Root()))
	if err != nil {
		t.Fatal(err)
	}
	key := trust.KeyOf(ders)
	if _, err := v.Verify(doc, receipt); err == nil {
		t.Fatal("a forged document verified")
	}
	if _, ok := ts.Remembered(key, receipt); ok {
		t.Fatal("the chain of a forged signature was remembered")
	}
	if doc, err = Parse(good, Limits{}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(doc, receipt); err != nil {
		t.Fatal(err)
	}
	if _, ok := ts.Remembered(key, receipt); !ok {
		t.Fatal("the chain of a good signature was not remembered")
	}
}

// A document verified on the fallback path keeps the trust decisions the
// fast engine made on its chains, as one the fast engine verifies does.
func TestFallbackRemembersItsChains(t *testing.T) {
	ts := testStore(t)
	v := NewVerifier(ts, Policy{FallbackConcurrency: 1})
	body := sign(t, []byte(strings.Replace(string(template(t)), "<nienDo>", `<nienDo xmlns:x="urn:x">`, 1)), signing.XMLOptions{}, "chu-tai-khoan")
	doc, err := Parse(body, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ders, err := v.checkProfile(signatureChildren(doc.Root())[0], idOf(doc.Root()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(doc, receipt); err != nil {
		t.Fatal(err)
	}
	if _, ok := ts.Remembered(trust.KeyOf(ders), receipt); !ok {
		t.Fatal("the chain of a document verified on the fallback path was not remembered")
	}
}

package xmlsig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// attackBodies are the documents of this package's refusal and
// signature-wrapping tests, for the differential fuzz target's corpus.
func attackBodies(t testing.TB) [][]byte {
	var out [][]byte
	for _, c := range []signing.Canonicalization{signing.C14N10, signing.ExcC14N} {
		signed := string(sign(t, template(t), signing.XMLOptions{Canonicalization: c}, both...))
		doc := etree.NewDocument()
		_ = doc.ReadFromString(signed)
		orig := doc.Root().Copy()
		forged := doc.Root()
		forged.FindElement("taiLieu/tongSoTien").SetText("987500000")
		sigs := signatureChildren(forged)
		obj := sigs[len(sigs)-1].CreateElement("ds:Object")
		for _, s := range signatureChildren(orig) {
			orig.RemoveChild(s)
		}
		obj.AddChild(orig)
		wrapped, _ := doc.WriteToString()
		out = append(out, []byte(signed),
			[]byte(stripSignature(t, signed, 0)), []byte(stripSignature(t, signed, 1)),
			[]byte(swapSignatures(t, signed)), []byte(wrapped),
			[]byte(strings.Replace(signed, "<maDVQHNS>1012345</maDVQHNS>", "<maDVQHNS>101<!--x-->2345</maDVQHNS>", 1)),
			[]byte(strings.Replace(signed, "<nienDo>", "<ghiChu>x</ghiChu><nienDo>", 1)),
			[]byte(strings.Replace(signed, `URI="#HS-`, `URI="#X-`, 1)),
			[]byte(strings.Replace(signed, "</ds:SignatureValue>", "</ds:SignatureValue><ds:Object><soTien>1</soTien></ds:Object>", 1)),
			[]byte(strings.Replace(signed, "<HoSo ", `<HoSo xmlns:foo="urn:x" `, 1)),
		)
	}
	out = append(out,
		sign(t, template(t), signing.XMLOptions{SignatureMethod: "rsa-sha1"}, both...),
		sign(t, template(t), signing.XMLOptions{Canonicalization: signing.C14N10WithComments}, both...),
		sign(t, template(t), signing.XMLOptions{Canonicalization: signing.ExcC14NWithComments}, both...),
		sign(t, template(t), signing.XMLOptions{}, "chu-tai-khoan", "ecdsa-signer"),
		sign(t, template(t), signing.XMLOptions{}, "untrusted-signer", "ke-toan-truong"),
		sign(t, template(t), signing.XMLOptions{}, "revoked", "ke-toan-truong"),
	)
	return out
}

// xmlFixtures are the request bodies of every XML fixture.
func xmlFixtures(t testing.TB) [][]byte {
	files, err := filepath.Glob("../../testdata/fixtures/*/*/request.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no XML fixtures (%v)", err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// checkEngines is the differential property: whatever the fast engine
// accepts, the reference engine accepts with the same signers and the same
// signed content; when both refuse, they refuse for the same reason; the
// fast engine may refuse (as signature-invalid) a document the reference
// engine accepts, never the other way round.
func checkEngines(t *testing.T, body []byte, p Policy) {
	fast, ferr := verifyWith(t, body, p, EngineFast)
	ref, rerr := verifyWith(t, body, p, EngineReference)
	switch {
	case ferr == nil && rerr != nil:
		t.Fatalf("fast accepts what the reference refuses (%v)", rerr)
	case ferr != nil && rerr == nil:
		if codeOf(ferr) != "signature-invalid" {
			t.Fatalf("fast refuses (%v) what the reference accepts", ferr)
		}
	default:
		if msg := disagreement(fast, ferr, ref, rerr); msg != "" {
			t.Fatal(msg)
		}
	}
}

// FuzzFastMatchesReference runs its seeds (every XML fixture but the
// payroll one, which TestLargeDossierVerifies covers, and every attack
// document of this package, each under the default and the lax policy) in
// every `go test`; `make fuzz` explores from them.
func FuzzFastMatchesReference(f *testing.F) {
	for _, b := range append(xmlFixtures(f), attackBodies(f)...) {
		if len(b) <= 64<<10 {
			f.Add(b, false)
			f.Add(b, true)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, lax bool) {
		if len(body) > 64<<10 {
			return
		}
		checkEngines(t, body, Policy{AllowSHA1: lax, WithComments: lax})
	})
}

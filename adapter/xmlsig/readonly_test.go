package xmlsig

import (
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// The reference engine leaves the caller's document as it was, whether the
// signatures verify or not, and the verified content shares no element with
// it.
func TestVerifyDoesNotChangeTheDocument(t *testing.T) {
	signed := string(sign(t, template(t), signing.XMLOptions{}, both...))
	cases := map[string]struct {
		body string
		ok   bool
	}{
		"valid": {signed, true},
		"content changed after signing": {strings.Replace(signed, "<maDVQHNS>1012345</maDVQHNS>",
			"<maDVQHNS>1099999</maDVQHNS>", 1), false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			doc, err := Parse([]byte(c.body), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			root := doc.Root()
			before, err := doc.WriteToString()
			if err != nil {
				t.Fatal(err)
			}
			sigs := signatureChildren(root)
			if len(sigs) != 2 || sigs[1].Index() == 0 {
				t.Fatalf("fixture: want two signatures, the last not first in the root (%d)", len(sigs))
			}
			index := make([]int, len(sigs))
			for i, s := range sigs {
				index[i] = s.Index()
			}
			own := map[*etree.Element]bool{}
			var walk func(e *etree.Element)
			walk = func(e *etree.Element) {
				own[e] = true
				for _, c := range e.ChildElements() {
					walk(c)
				}
			}
			walk(root)

			res, err := NewVerifier(testStore(t), Policy{Engine: EngineReference}).Verify(doc, receipt)
			if c.ok != (err == nil) {
				t.Fatalf("Verify: %v", err)
			}
			after, _ := doc.WriteToString()
			if after != before {
				t.Fatalf("Verify changed the document:\nbefore %.300s\nafter  %.300s", before, after)
			}
			if doc.Root() != root {
				t.Fatal("Verify replaced the document's root")
			}
			for i, s := range sigs {
				if s.Parent() != root || s.Index() != index[i] {
					t.Fatalf("signature %d moved: parent %p (root %p), index %d, was %d", i+1, s.Parent(), root, s.Index(), index[i])
				}
			}
			if res == nil {
				return
			}
			var shared func(e *etree.Element) bool
			shared = func(e *etree.Element) bool {
				if own[e] {
					return true
				}
				for _, c := range e.ChildElements() {
					if shared(c) {
						return true
					}
				}
				return false
			}
			if shared(res.Root) {
				t.Fatal("the verified content shares elements with the caller's document")
			}
		})
	}
}

// The fast engine returns the parsed root itself, the signatures removed:
// the node list that was hashed, without a copy.
func TestFastEngineReturnsTheParsedRoot(t *testing.T) {
	doc, err := Parse(sign(t, template(t), signing.XMLOptions{}, both...), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	res, err := NewVerifier(testStore(t), Policy{Engine: EngineFast}).Verify(doc, receipt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Root != root || len(signatureChildren(root)) != 0 {
		t.Fatalf("result root %p (parsed %p), %d signatures left", res.Root, root, len(signatureChildren(root)))
	}
}

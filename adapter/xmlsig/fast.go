package xmlsig

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/trust"
)

// The fast engine checks the same profile as the reference engine and
// accepts only what goxmldsig's Validate accepts, but does each thing once:
// the tree is the one Parse built (never copied or re-parsed), every
// signature's digest comes from one streaming canonicalization of the
// root shared by all signatures (each hash skipping the signatures removed
// from what it covers), certificates are parsed only when the trust store
// has not already accepted the same chain, and the verified content is the
// parsed root itself, minus what the transforms removed.
//
// What goxmldsig does that the fast engine reproduces, and where:
//   - the outermost signature is checked over the root without it, each
//     earlier one over the root without itself and every later signature
//     (verify.go, Verify);
//   - SignedInfo is canonicalized detached, with every namespace in scope
//     declared on it (etreeutils.NSDetatch), by its CanonicalizationMethod;
//     the Reference's digest is over the root canonicalized by the
//     Reference's transform (c14n.go);
//   - the result of a canonicalization without comments has no comments,
//     and text that a comment split is one text node again.
//
// goxmldsig re-parses each signature's canonical output before checking
// the next (inner) one, so the inner canonicalization sees the output of
// the outer one. That is the input itself when every signature uses the
// same Reference canonicalization; a document that mixes them, or whose
// exclusive canonicalization would change the namespaces an inner
// SignedInfo sees, is handed to the reference engine.

// maxSignatureElements bounds the elements of one Signature: goxmldsig
// gives up past a budget of 1,000 elements (etreeutils.NSContext), spent
// on the root, the signature's children, SignedInfo and the signature
// again.
const maxSignatureElements = 400

// sigAlgorithms maps SignatureMethod to the x509 algorithm goxmldsig checks it
// with (x509SignatureAlgorithmByIdentifier).
var sigAlgorithms = map[string]x509.SignatureAlgorithm{
	RSASHA1:                         x509.SHA1WithRSA,
	RSASHA256:                       x509.SHA256WithRSA,
	RSASHA384:                       x509.SHA384WithRSA,
	RSASHA512:                       x509.SHA512WithRSA,
	dsig.ECDSASHA1SignatureMethod:   x509.ECDSAWithSHA1,
	ECDSASHA256:                     x509.ECDSAWithSHA256,
	ECDSASHA384:                     x509.ECDSAWithSHA384,
	dsig.ECDSASHA512SignatureMethod: x509.ECDSAWithSHA512,
}

var digestHashes = map[string]crypto.Hash{
	DigestSHA1:   crypto.SHA1,
	DigestSHA256: crypto.SHA256,
	DigestSHA384: crypto.SHA384,
	DigestSHA512: crypto.SHA512,
}

// profiled is one signature that passed checkProfile and fastShape.
type profiled struct {
	sig, signedInfo, sigValue, digestValue *etree.Element
	c14n, transform, digest, method        string
	ders                                   [][]byte
	key                                    trust.ChainKey
	signer                                 trust.Signer
	known                                  bool // signer remembered by the trust store
	chain                                  []*x509.Certificate
}

var sinks = sync.Pool{New: func() any { return &sink{buf: make([]byte, 0, sinkFlush+4096)} }}

func (v *Verifier) verifyFast(doc *etree.Document, at time.Time) (*Result, error) {
	root := doc.Root()
	sigs := signatureChildren(root)
	if len(sigs) == 0 {
		return nil, problem.New(problem.SignatureMissing, "The document carries no enveloped XML-DSig signature.")
	}
	if len(sigs) > v.maxSigs {
		return nil, problem.New(problem.LimitExceeded, fmt.Sprintf("The document carries more than %d signatures.", v.maxSigs))
	}
	if isDS(root, "Signature") {
		return nil, invalid(errors.New("the root is a Signature"))
	}
	rootID := idOf(root)
	ps := make([]profiled, len(sigs))
	for i, s := range sigs {
		p := &ps[i]
		p.sig = s
		ders, err := v.checkProfile(s, rootID)
		if err != nil {
			return nil, err
		}
		p.ders, p.key = ders, trust.KeyOf(ders)
		if p.signer, p.known = v.trust.Remembered(p.key, at); !p.known {
			if p.chain, err = parseChain(ders); err != nil {
				return nil, err
			}
		}
	}
	// The trust decisions come before anything goxmldsig's Validate would
	// refuse, in the reference engine's order, so both give one code.
	signers := make([]trust.Signer, len(ps))
	var remember []func() // the accepted chains, once their signatures verify
	for i := range ps {
		p := &ps[i]
		if !p.known {
			s, r, err := v.trust.VerifyPending(p.key, p.chain, at)
			if err != nil {
				return nil, err
			}
			p.signer, remember = s, append(remember, r)
		}
		p.signer.Algorithm = signatureMethod(p.sig)
		signers[i] = p.signer
	}
	for i := range ps {
		if err := fastShape(&ps[i]); err != nil {
			return nil, invalid(fmt.Errorf("signature %d: %w", i+1, err))
		}
	}
	if !sameCanonicalization(ps) {
		return v.verifyFallback(doc, at, remember)
	}
	comments, nsBelow, err := preflight(root, sigs)
	if err != nil {
		return nil, invalid(err)
	}
	if nsBelow {
		return v.verifyFallback(doc, at, remember)
	}
	if err := v.checkSignatures(root, ps); err != nil {
		return nil, err
	}
	for _, r := range remember {
		r()
	}
	for _, s := range sigs {
		root.RemoveChild(s)
	}
	if comments && !withComments(ps[0].transform) {
		dropComments(root)
	}
	return &Result{Root: root, Signers: signers}, nil
}

// idOf is the value the Reference URI must name: the root's one attribute
// named Id (any prefix, as goxmldsig's SelectAttr matches it) that is not a
// namespace declaration. preflight refuses a root with two attributes of
// that name.
func idOf(root *etree.Element) string {
	for _, a := range root.Attr {
		if a.Key == "Id" && a.Space != "xmlns" {
			return a.Value
		}
	}
	return ""
}

// fastShape adds to checkProfile what goxmldsig's encoding/xml unmarshal
// of the signature would read differently from the etree checks: every
// element of SignedInfo is a known ds element, exactly once where
// goxmldsig reads one, without children where it reads an attribute or
// text; KeyInfo has no X509Data or X509Certificate outside the ds
// namespace; the signature stays within goxmldsig's traversal budget.
func fastShape(p *profiled) error {
	if n := countElements(p.sig, maxSignatureElements+1); n > maxSignatureElements {
		return fmt.Errorf("more than %d elements", maxSignatureElements)
	}
	si, _ := onlyChild(p.sig, "SignedInfo")
	p.signedInfo = si
	p.sigValue, _ = onlyChild(p.sig, "SignatureValue")
	if err := dsChildren(si, "CanonicalizationMethod", "SignatureMethod", "Reference"); err != nil {
		return err
	}
	cm, _ := onlyChild(si, "CanonicalizationMethod")
	sm, _ := onlyChild(si, "SignatureMethod")
	ref, _ := onlyChild(si, "Reference")
	if err := dsChildren(ref, "Transforms", "DigestMethod", "DigestValue"); err != nil {
		return err
	}
	dm, _ := onlyChild(ref, "DigestMethod")
	dv, err := onlyChild(ref, "DigestValue")
	if err != nil {
		return err
	}
	tr, _ := onlyChild(ref, "Transforms")
	for _, el := range []*etree.Element{cm, sm, dm, dv} {
		if hasChildElement(el) {
			return fmt.Errorf("%s has child elements", el.Tag)
		}
	}
	ts := tr.ChildElements()
	p.digestValue = dv
	p.c14n = cm.SelectAttrValue("Algorithm", "")
	p.method = sm.SelectAttrValue("Algorithm", "")
	p.digest = dm.SelectAttrValue("Algorithm", "")
	p.transform = ts[1].SelectAttrValue("Algorithm", "")
	if ki, err := onlyChild(p.sig, "KeyInfo"); err == nil {
		for c := range ki.ChildElementsSeq() {
			if c.Tag == "X509Data" && !isDS(c, "X509Data") {
				return errors.New("X509Data outside the ds namespace")
			}
		}
		xd, _ := onlyChild(ki, "X509Data")
		for c := range xd.ChildElementsSeq() {
			if c.Tag == "X509Certificate" && !isDS(c, "X509Certificate") {
				return errors.New("X509Certificate outside the ds namespace")
			}
		}
	}
	return nil
}

// dsChildren refuses child elements of el other than the ds elements named.
func dsChildren(el *etree.Element, tags ...string) error {
	for c := range el.ChildElementsSeq() {
		ok := false
		for _, t := range tags {
			if isDS(c, t) {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("unexpected %s:%s in %s", c.Space, c.Tag, el.Tag)
		}
	}
	return nil
}

func countElements(el *etree.Element, limit int) int {
	n := 1
	for _, t := range el.Child {
		if c, ok := t.(*etree.Element); ok {
			n += countElements(c, limit-n)
			if n >= limit {
				return n
			}
		}
	}
	return n
}

// sameCanonicalization reports whether goxmldsig's re-parse between
// signatures changes nothing the inner ones see (see the package comment
// above): one Reference canonicalization for all, and under an exclusive
// or comment-less one no inner SignedInfo that would read namespaces or
// comments the outer canonicalization dropped.
func sameCanonicalization(ps []profiled) bool {
	t := ps[0].transform
	for i, p := range ps {
		if p.transform != t {
			return false
		}
		if i == len(ps)-1 {
			break
		}
		if isExclusive(t) && !isExclusive(p.c14n) {
			return false
		}
		if !withComments(t) && withComments(p.c14n) {
			return false
		}
	}
	return true
}

func isExclusive(alg string) bool { return alg == ExcC14N || alg == ExcC14NComments }
func withComments(alg string) bool {
	return alg == C14N10Comments || alg == ExcC14NComments
}

// preflight walks the tree once and refuses what would make the fast and
// the reference engines disagree: an element with two attributes of the
// same local name (goxmldsig reads the first through etree and the last
// through encoding/xml, and sorts such pairs by declarations that
// exclusive canonicalization moves) and a reserved namespace declared
// (goxmldsig refuses it wherever its traversal meets it). It reports
// whether the tree holds a comment, and whether an element below the root,
// outside the signatures, declares a namespace (goxmldsig's canonical
// re-parse may drop such a declaration from the content it returns).
func preflight(root *etree.Element, sigs []*etree.Element) (comments, nsBelow bool, err error) {
	var walk func(el *etree.Element, below bool) error
	walk = func(el *etree.Element, below bool) error {
		for i := range el.Attr {
			a := &el.Attr[i]
			for j := i + 1; j < len(el.Attr); j++ {
				if el.Attr[j].Key == a.Key {
					return fmt.Errorf("element %s has two attributes named %s", el.Tag, a.Key)
				}
			}
			switch {
			case a.Space == "xmlns" && ((a.Key == "xml" && a.Value != nsXML) || a.Key == "xmlns"),
				a.Space == "" && a.Key == "xmlns" && a.Value == nsXMLNS:
				return errReservedNamespace
			}
			if below && isNSDecl(a) {
				nsBelow = true
			}
		}
		for _, t := range el.Child {
			switch c := t.(type) {
			case *etree.Element:
				b := below
				if el == root {
					b = !isOneOf(c, sigs)
				}
				if err := walk(c, b); err != nil {
					return err
				}
			case *etree.Comment:
				comments = true
			}
		}
		return nil
	}
	err = walk(root, false)
	return comments, nsBelow, err
}

func isOneOf(el *etree.Element, list []*etree.Element) bool {
	for _, x := range list {
		if x == el {
			return true
		}
	}
	return false
}

// checkSignatures computes every Reference digest in one canonicalization
// of root, then checks each SignedInfo's signature, outermost first.
func (v *Verifier) checkSignatures(root *etree.Element, ps []profiled) error {
	n := len(ps)
	s := sinks.Get().(*sink)
	defer sinks.Put(s)
	s.buf = s.buf[:0]
	s.hashes = s.hashes[:0]
	c := &c14n{s: s, exclusive: isExclusive(ps[0].transform), comments: withComments(ps[0].transform),
		apex: root, full: 1<<n - 1}
	for i := range ps {
		h, ok := digestHashes[ps[i].digest]
		if !ok {
			return invalid(fmt.Errorf("signature %d: unknown digest %q", i+1, ps[i].digest))
		}
		s.hashes = append(s.hashes, h.New())
		// signature i is removed from its own digest and from every
		// earlier (inner) signature's
		c.skip = append(c.skip, skipped{ps[i].sig, 1<<(i+1) - 1})
	}
	err := c.run(root)
	s.flush()
	if err != nil {
		return invalid(err)
	}
	var sum [64]byte
	for i := n - 1; i >= 0; i-- {
		p := &ps[i]
		got := s.hashes[i].Sum(sum[:0])
		want, err := base64.StdEncoding.DecodeString(charData(p.digestValue))
		if err != nil {
			return invalid(fmt.Errorf("signature %d: DigestValue: %w", i+1, err))
		}
		if !bytes.Equal(got, want) || len(got) < 20 {
			return invalid(fmt.Errorf("signature %d (%s): digest mismatch", i+1, p.signer.Cert.Subject))
		}
		signed, err := canonicalSignedInfo(c, p, root)
		if err != nil {
			return invalid(fmt.Errorf("signature %d: SignedInfo: %w", i+1, err))
		}
		value, err := base64.StdEncoding.DecodeString(charData(p.sigValue))
		if err != nil {
			return invalid(fmt.Errorf("signature %d: SignatureValue: %w", i+1, err))
		}
		alg, ok := sigAlgorithms[p.method]
		if !ok {
			return invalid(fmt.Errorf("signature %d: unknown signature method %q", i+1, p.method))
		}
		if err := p.signer.Cert.CheckSignature(alg, signed, value); err != nil {
			return invalid(fmt.Errorf("signature %d (%s): %w", i+1, p.signer.Cert.Subject, err))
		}
	}
	return nil
}

// charData is the element's direct character data, what encoding/xml's
// ",chardata" collects.
func charData(el *etree.Element) string {
	if len(el.Child) == 1 {
		if cd, ok := el.Child[0].(*etree.CharData); ok {
			return cd.Data
		}
	}
	var b []byte
	for _, t := range el.Child {
		if cd, ok := t.(*etree.CharData); ok {
			b = append(b, cd.Data...)
		}
	}
	return string(b)
}

// canonicalSignedInfo returns p's SignedInfo canonicalized as goxmldsig's
// findSignature and getCanonicalSignedInfo do: detached with every
// namespace in scope (root, Signature, SignedInfo) declared on it.
func canonicalSignedInfo(c *c14n, p *profiled, root *etree.Element) ([]byte, error) {
	s := &sink{buf: make([]byte, 0, 2048)}
	sc := &c14n{s: s, exclusive: isExclusive(p.c14n), comments: withComments(p.c14n), attrs: c.attrs[:0]}
	sc.reset()
	var err error
	for _, el := range []*etree.Element{root, p.sig} {
		if sc.scope, err = declare(sc.scope, el); err != nil {
			return nil, err
		}
	}
	if sc.exclusive {
		err = sc.exc(p.signedInfo)
	} else {
		var scope bindings
		if scope, err = declare(sc.scope, p.signedInfo); err != nil {
			return nil, err
		}
		top := make([]etree.Attr, 0, len(p.signedInfo.Attr)+len(scope))
		for _, a := range p.signedInfo.Attr {
			if !isNSDecl(&a) {
				top = append(top, a)
			}
		}
		for i, b := range scope {
			if b.prefix == "xml" || b.prefix == "xmlns" || (b.prefix == "" && b.uri == nsXML) {
				continue
			}
			if shadowed(scope[i+1:], b.prefix) {
				continue
			}
			if b.prefix == "" {
				top = append(top, etree.Attr{Key: "xmlns", Value: b.uri})
			} else {
				top = append(top, etree.Attr{Space: "xmlns", Key: b.prefix, Value: b.uri})
			}
		}
		sc.scope = sc.scope[:0]
		err = sc.inc(p.signedInfo, top)
	}
	c.attrs = sc.attrs[:0]
	return s.buf, err
}

func shadowed(later bindings, prefix string) bool {
	for _, b := range later {
		if b.prefix == prefix {
			return true
		}
	}
	return false
}

// dropComments removes every comment under el and joins the text nodes a
// comment separated, as goxmldsig's re-parse of a canonical form without
// comments does. Each element's children are rebuilt in one pass, and each
// run of joined text is built once: removing the comments one at a time
// moved every later child each time, and joining by concatenation copied
// the text again for every comment, so a signed document of many comments
// cost their number squared.
func dropComments(el *etree.Element) {
	var sb strings.Builder
	dropCommentsUnder(el, &sb)
}

func dropCommentsUnder(el *etree.Element, sb *strings.Builder) {
	found := false
	for _, t := range el.Child {
		switch c := t.(type) {
		case *etree.Comment:
			found = true
		case *etree.Element:
			dropCommentsUnder(c, sb)
		}
	}
	if !found {
		return
	}
	// out reuses el.Child's array: it never gets ahead of the loop.
	out := el.Child[:0]
	afterComment := false
	var head *etree.CharData // the text node sb's join goes into
	join := func() {
		if head != nil {
			head.Data = sb.String()
			sb.Reset()
			head = nil
		}
	}
	for _, t := range el.Child {
		if _, ok := t.(*etree.Comment); ok {
			afterComment = true
			continue
		}
		if next, ok := t.(*etree.CharData); ok && afterComment && !next.IsCData() && len(out) > 0 {
			if prev, ok := out[len(out)-1].(*etree.CharData); ok && !prev.IsCData() {
				if head != prev {
					join()
					head = prev
					sb.WriteString(prev.Data)
				}
				sb.WriteString(next.Data)
				afterComment = false
				continue
			}
		}
		afterComment = false
		out = append(out, t)
	}
	join()
	clear(el.Child[len(out):])
	el.Child = out
	el.ReindexChildren()
}

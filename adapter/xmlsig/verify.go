package xmlsig

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/slots"
	"github.com/kbnn/dvc/adapter/trust"
)

// Algorithm identifiers of the profile.
const (
	C14N10            = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
	C14N10Comments    = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
	ExcC14N           = "http://www.w3.org/2001/10/xml-exc-c14n#"
	ExcC14NComments   = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
	Enveloped         = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
	RSASHA1           = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	RSASHA256         = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	RSASHA384         = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
	RSASHA512         = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	ECDSASHA256       = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	ECDSASHA384       = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
	DigestSHA1        = "http://www.w3.org/2000/09/xmldsig#sha1"
	DigestSHA256      = "http://www.w3.org/2001/04/xmlenc#sha256"
	DigestSHA384      = "http://www.w3.org/2001/04/xmldsig-more#sha384"
	DigestSHA512      = "http://www.w3.org/2001/04/xmlenc#sha512"
	maxSignaturesHard = 8
)

// Policy is the signature profile's configurable part. The zero value allows
// RSA-SHA256/384/512 and ECDSA-SHA256/384 with SHA-256/384/512 digests and
// C14N 1.0 or exclusive C14N without comments.
type Policy struct {
	// AllowSHA1 also accepts RSA-SHA1 signatures and SHA-1 digests (verify only).
	AllowSHA1 bool
	// WithComments accepts the #WithComments variants of the canonicalizations.
	WithComments bool
	// MaxSignatures bounds the signatures on one document; zero means 4.
	MaxSignatures int
	// Engine picks the verification path; zero means EngineFast.
	Engine Engine
	// FallbackConcurrency caps how many documents the fast engine hands to
	// goxmldsig (a namespace declaration below the root, signatures of
	// different canonicalizations) are verified at once; others wait up to
	// FallbackWait for a slot, then are server-busy. goxmldsig copies the
	// tree for every element it canonicalizes, so a document shaped for it
	// costs hundreds of MB and seconds even under the large-body size.
	// Zero: no cap. The reference engine, chosen for every document, is not
	// capped.
	FallbackConcurrency int
	FallbackWait        time.Duration
}

// Engine names a verification path. Both enforce the same profile and
// accept the same documents; EngineReference is goxmldsig's Validate per
// signature (kept for one release beside the fast path, which
// FuzzFastMatchesReference holds to it).
type Engine string

// Engines.
const (
	EngineFast      Engine = "fast"
	EngineReference Engine = "reference"
)

// Verifier checks signed documents against a Policy and a trust.Store.
type Verifier struct {
	trust         *trust.Store
	sigMethods    map[string]bool
	digestMethods map[string]bool
	c14n          map[string]bool
	maxSigs       int
	engine        Engine
	fallback      *slots.Slots // Policy.FallbackConcurrency; nil: no cap
}

// NewVerifier builds a Verifier.
func NewVerifier(ts *trust.Store, p Policy) *Verifier {
	v := &Verifier{
		trust:         ts,
		sigMethods:    map[string]bool{RSASHA256: true, RSASHA384: true, RSASHA512: true, ECDSASHA256: true, ECDSASHA384: true},
		digestMethods: map[string]bool{DigestSHA256: true, DigestSHA384: true, DigestSHA512: true},
		c14n:          map[string]bool{C14N10: true, ExcC14N: true},
		maxSigs:       p.MaxSignatures,
		engine:        p.Engine,
	}
	if v.engine == "" {
		v.engine = EngineFast
	}
	if p.FallbackConcurrency > 0 {
		v.fallback = slots.New(p.FallbackConcurrency, p.FallbackWait)
	}
	if p.AllowSHA1 {
		v.sigMethods[RSASHA1] = true
		v.digestMethods[DigestSHA1] = true
	}
	if p.WithComments {
		v.c14n[C14N10Comments] = true
		v.c14n[ExcC14NComments] = true
	}
	if v.maxSigs <= 0 {
		v.maxSigs = 4
	}
	if v.maxSigs > maxSignaturesHard {
		v.maxSigs = maxSignaturesHard
	}
	return v
}

// Result is what verification proves: the signed root with every signature
// removed, and the signers in signing order. Nothing else of the request may
// be read.
type Result struct {
	Root    *etree.Element
	Signers []trust.Signer
}

// Verify checks every signature of doc at receipt time at. Signatures are
// direct children of the root; signers sign in turn, each over the root as
// the previous signer left it (so the last signature covers the earlier
// ones), and are verified outermost first. Errors are *problem.Error.
//
// Verify takes doc over: with the fast engine, Result.Root is doc's own
// root with the signatures (and, under a canonicalization without comments,
// the comments) removed, which is exactly the node list that was hashed;
// after an error doc may have been changed. The caller must not use doc
// afterwards, only Result.Root.
func (v *Verifier) Verify(doc *etree.Document, at time.Time) (*Result, error) {
	if v.engine == EngineReference {
		return v.verifyReference(doc, at)
	}
	return v.verifyFast(doc, at)
}

// verifyFallback verifies on the goxmldsig path a document the fast engine
// does not take, in one of the fallback slots (Policy.FallbackConcurrency);
// once it verifies, remember keeps the trust decisions the fast engine
// made on its chains (nil: none).
func (v *Verifier) verifyFallback(doc *etree.Document, at time.Time, remember []func()) (*Result, error) {
	if v.fallback != nil {
		if !v.fallback.Take(context.Background()) {
			// the kind's fixed detail names this path too
			return nil, &problem.Error{Kind: problem.ServerBusy, RetryAfter: 1}
		}
		defer v.fallback.Give()
	}
	res, err := v.verifyReference(doc, at)
	if err == nil {
		for _, r := range remember { // the chains the fast engine accepted
			r()
		}
	}
	return res, err
}

// verifyReference is the goxmldsig path: Validate per signature, outermost
// first, on a copy of the tree. It only reads doc, and Result.Root shares no
// element with it.
func (v *Verifier) verifyReference(doc *etree.Document, at time.Time) (*Result, error) {
	root := doc.Root()
	sigs := signatureChildren(root)
	if len(sigs) == 0 {
		return nil, problem.New(problem.SignatureMissing, "The document carries no enveloped XML-DSig signature.")
	}
	if len(sigs) > v.maxSigs {
		return nil, problem.New(problem.LimitExceeded, fmt.Sprintf("The document carries more than %d signatures.", v.maxSigs))
	}
	rootID := root.SelectAttrValue("Id", "")
	chains := make([][]*x509.Certificate, len(sigs))
	for i, s := range sigs {
		ders, err := v.checkProfile(s, rootID)
		if err != nil {
			return nil, err
		}
		if chains[i], err = parseChain(ders); err != nil {
			return nil, err
		}
	}
	signers := make([]trust.Signer, len(sigs))
	for i, chain := range chains {
		s, err := v.trust.Verify(chain, at)
		if err != nil {
			return nil, err
		}
		s.Algorithm = signatureMethod(sigs[i])
		signers[i] = s
	}

	// Outermost first: each Validate returns the signed content without the
	// signature it checked, which still holds the earlier signatures. The
	// loop moves signatures within its content, so it starts on a copy of
	// the root.
	current := root.Copy()
	for i := len(sigs) - 1; i >= 0; i-- {
		inner := signatureChildren(current)
		if len(inner) != i+1 {
			return nil, invalid(fmt.Errorf("signature %d: %d signatures left in the signed content, want %d", i+1, len(inner), i+1))
		}
		sig := inner[i]
		// goxmldsig looks for the signature with a traversal budget of
		// 1,000 elements. Moving the signature to the front of the root
		// (where the enveloped transform removes it all the same, leaving
		// the same node list) keeps a dossier of any size within budget.
		current.RemoveChild(sig)
		current.InsertChildAt(0, sig)
		ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{signers[i].Cert}})
		ctx.IdAttribute = "Id"
		ctx.Clock = dsig.NewFakeClockAt(at)
		verified, err := ctx.Validate(current)
		if err != nil {
			return nil, invalid(fmt.Errorf("signature %d (%s): %w", i+1, signers[i].Cert.Subject, err))
		}
		current = verified
	}
	return &Result{Root: current, Signers: signers}, nil
}

func invalid(cause error) error {
	return problem.Wrap(problem.SignatureInvalid, cause, "")
}

func isDS(el *etree.Element, tag string) bool {
	return el.Tag == tag && el.NamespaceURI() == dsig.Namespace
}

// signatureMethod is the SignatureMethod Algorithm of a signature that
// passed checkProfile.
func signatureMethod(sig *etree.Element) string {
	si, err := onlyChild(sig, "SignedInfo")
	if err != nil {
		return ""
	}
	sm, err := onlyChild(si, "SignatureMethod")
	if err != nil {
		return ""
	}
	return sm.SelectAttrValue("Algorithm", "")
}

func signatureChildren(root *etree.Element) []*etree.Element {
	var out []*etree.Element
	for c := range root.ChildElementsSeq() {
		if isDS(c, "Signature") {
			out = append(out, c)
		}
	}
	return out
}

// onlyChild returns the single child element of parent with the ds tag.
func onlyChild(parent *etree.Element, tag string) (*etree.Element, error) {
	var found *etree.Element
	for c := range parent.ChildElementsSeq() {
		if isDS(c, tag) {
			if found != nil {
				return nil, fmt.Errorf("%s: more than one %s", parent.Tag, tag)
			}
			found = c
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%s: no %s", parent.Tag, tag)
	}
	return found, nil
}

// checkProfile enforces the shape and algorithms of one Signature and
// returns the DER certificates of its KeyInfo (leaf first).
func (v *Verifier) checkProfile(sig *etree.Element, rootID string) ([][]byte, error) {
	for c := range sig.ChildElementsSeq() {
		if !isDS(c, "SignedInfo") && !isDS(c, "SignatureValue") && !isDS(c, "KeyInfo") {
			return nil, invalid(fmt.Errorf("unexpected %s:%s in Signature", c.Space, c.Tag))
		}
	}
	si, err := onlyChild(sig, "SignedInfo")
	if err != nil {
		return nil, invalid(err)
	}
	if _, err := onlyChild(sig, "SignatureValue"); err != nil {
		return nil, invalid(err)
	}
	cm, err := onlyChild(si, "CanonicalizationMethod")
	if err != nil {
		return nil, notAllowed("canonicalization", err.Error())
	}
	c14n := cm.SelectAttrValue("Algorithm", "")
	if !v.c14n[c14n] {
		return nil, notAllowed("canonicalization", c14n)
	}
	sm, err := onlyChild(si, "SignatureMethod")
	if err != nil {
		return nil, invalid(err)
	}
	if alg := sm.SelectAttrValue("Algorithm", ""); !v.sigMethods[alg] {
		return nil, notAllowed("signature", alg)
	}
	ref, err := onlyChild(si, "Reference")
	if err != nil {
		return nil, invalid(err)
	}
	if uri := ref.SelectAttrValue("URI", "#"); uri != "" && (rootID == "" || uri != "#"+rootID) {
		return nil, invalid(fmt.Errorf("reference %q does not point at the root", uri))
	}
	dm, err := onlyChild(ref, "DigestMethod")
	if err != nil {
		return nil, invalid(err)
	}
	if alg := dm.SelectAttrValue("Algorithm", ""); !v.digestMethods[alg] {
		return nil, notAllowed("digest", alg)
	}
	tr, err := onlyChild(ref, "Transforms")
	if err != nil {
		return nil, notAllowed("transform", "none")
	}
	var algs []string
	for t := range tr.ChildElementsSeq() {
		if !isDS(t, "Transform") || hasChildElement(t) {
			return nil, notAllowed("transform", t.Tag)
		}
		algs = append(algs, t.SelectAttrValue("Algorithm", ""))
	}
	if len(algs) != 2 || algs[0] != Enveloped || !v.c14n[algs[1]] {
		return nil, notAllowed("transform", strings.Join(algs, " "))
	}
	return keyInfoDER(sig)
}

func notAllowed(what, alg string) error {
	return problem.Wrap(problem.AlgorithmNotAllowed, fmt.Errorf("%s algorithm %q", what, alg),
		fmt.Sprintf("The %s algorithm is not allowed by the signature profile.", what))
}

// keyInfoDER decodes the ds:X509Certificate children of KeyInfo/X509Data.
func keyInfoDER(sig *etree.Element) ([][]byte, error) {
	ki, err := onlyChild(sig, "KeyInfo")
	if err != nil {
		return nil, problem.Wrap(problem.CertificateUntrusted, err, "")
	}
	xd, err := onlyChild(ki, "X509Data")
	if err != nil {
		return nil, problem.Wrap(problem.CertificateUntrusted, err, "")
	}
	var ders [][]byte
	for c := range xd.ChildElementsSeq() {
		if !isDS(c, "X509Certificate") {
			continue
		}
		der, err := decodeBase64Text(c.Text())
		if err != nil {
			return nil, problem.Wrap(problem.CertificateUntrusted, fmt.Errorf("X509Certificate: %w", err), "")
		}
		ders = append(ders, der)
	}
	if len(ders) == 0 {
		return nil, problem.Wrap(problem.CertificateUntrusted, errors.New("KeyInfo holds no certificate"), "")
	}
	return ders, nil
}

// decodeBase64Text decodes base64 text with white space anywhere in it (as
// strings.Fields finds it), as a certificate's element holds it.
func decodeBase64Text(text string) ([]byte, error) {
	buf := make([]byte, 0, len(text))
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			if asciiSpace[c] == 0 {
				buf = append(buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		if !unicode.IsSpace(r) {
			buf = append(buf, text[i:i+size]...)
		}
		i += size
	}
	der := make([]byte, base64.StdEncoding.DecodedLen(len(buf)))
	n, err := base64.StdEncoding.Decode(der, buf)
	if err != nil {
		return nil, err
	}
	return der[:n], nil
}

// asciiSpace marks the ASCII bytes unicode.IsSpace reports.
var asciiSpace = [utf8.RuneSelf]uint8{'\t': 1, '\n': 1, '\v': 1, '\f': 1, '\r': 1, ' ': 1}

// parseChain parses the DER certificates of a KeyInfo.
func parseChain(ders [][]byte) ([]*x509.Certificate, error) {
	chain := make([]*x509.Certificate, 0, len(ders))
	for _, der := range ders {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, problem.Wrap(problem.CertificateUntrusted, fmt.Errorf("X509Certificate: %w", err), "")
		}
		chain = append(chain, cert)
	}
	return chain, nil
}

// hasChildElement reports whether el has a child element (without the
// slice ChildElements allocates).
func hasChildElement(el *etree.Element) bool {
	for range el.ChildElementsSeq() {
		return true
	}
	return false
}

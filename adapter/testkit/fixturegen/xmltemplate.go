package fixturegen

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"

	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// xmlTemplate signs copies of one XML dossier that differ from it only in a
// placeholder string (the dossier code) without parsing, copying or
// canonicalizing anything per copy. It holds, for each of the sequential
// enveloped signatures that signing.SignXML made over the placeholder
// document, the canonical bytes its reference digests and the canonical
// SignedInfo its value signs. Those bytes change with the code only where
// the placeholder, or an earlier signature's DigestValue or SignatureValue,
// appears in them: replacing those strings and redoing the SHA-256 and the
// RSA operation gives exactly what SignXML gives for the new code. Each
// template is confirmed when it is made: every digest must match the
// signed document's DigestValue and every SignatureValue must verify over
// the rebuilt SignedInfo; otherwise newXMLTemplate fails and the caller
// signs each dossier with SignXML.
type xmlTemplate struct {
	signed      string   // the signed placeholder document
	digested    []string // per signature: canonical bytes under its reference
	signedInfo  []string // per signature: canonical SignedInfo
	digestValue []string // per signature, as in signed
	sigValue    []string
	keys        []*rsa.PrivateKey
}

// newXMLTemplate signs body (which holds placeholder) with signers, RSA with
// SHA-256 and inclusive C14N 1.0 (SignXML's defaults), and keeps what
// later copies need.
func newXMLTemplate(body []byte, signers []signing.Signer) (*xmlTemplate, error) {
	signed, err := signing.SignXML(body, signing.XMLOptions{}, signers...)
	if err != nil {
		return nil, err
	}
	tree := etree.NewDocument()
	if err := tree.ReadFromBytes(signed); err != nil {
		return nil, err
	}
	root := tree.Root()
	sigs := root.SelectElements("Signature")
	if len(sigs) != len(signers) {
		return nil, fmt.Errorf("xml template: %d signatures, want %d", len(sigs), len(signers))
	}
	canon := dsig.MakeC14N10RecCanonicalizer()
	t := &xmlTemplate{signed: string(signed)}
	for k, sig := range sigs {
		key, ok := signers[k].Key.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("xml template: not an RSA key")
		}
		dv, sv := sig.FindElement("./SignedInfo/Reference/DigestValue"), sig.FindElement("./SignatureValue")
		si := sig.FindElement("./SignedInfo")
		if dv == nil || sv == nil || si == nil {
			return nil, errors.New("xml template: signature without SignedInfo, DigestValue or SignatureValue")
		}
		// The reference: the root as it was before signature k was added.
		cp := root.Copy()
		for _, s := range cp.SelectElements("Signature")[k:] {
			cp.RemoveChild(s)
		}
		digested, err := canon.Canonicalize(cp)
		if err != nil {
			return nil, err
		}
		if h := sha256.Sum256(digested); base64.StdEncoding.EncodeToString(h[:]) != dv.Text() {
			return nil, fmt.Errorf("xml template: signature %d: the rebuilt reference does not match its digest", k+1)
		}
		// SignedInfo with the namespaces in scope where it sits, as
		// goxmldsig's ConstructSignature canonicalizes it.
		nsRoot, err := etreeutils.NSBuildParentContext(root)
		if err != nil {
			return nil, err
		}
		nsEl, err := nsRoot.SubContext(root)
		if err != nil {
			return nil, err
		}
		nsSig, err := nsEl.SubContext(sig)
		if err != nil {
			return nil, err
		}
		detached, err := etreeutils.NSDetatch(nsSig, si)
		if err != nil {
			return nil, err
		}
		info, err := canon.Canonicalize(detached)
		if err != nil {
			return nil, err
		}
		raw, err := base64.StdEncoding.DecodeString(sv.Text())
		if err != nil {
			return nil, err
		}
		h := sha256.Sum256(info)
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, h[:], raw); err != nil {
			return nil, fmt.Errorf("xml template: signature %d: the rebuilt SignedInfo does not verify: %w", k+1, err)
		}
		t.digested = append(t.digested, string(digested))
		t.signedInfo = append(t.signedInfo, string(info))
		t.digestValue = append(t.digestValue, dv.Text())
		t.sigValue = append(t.sigValue, sv.Text())
		t.keys = append(t.keys, key)
	}
	for _, s := range append(append([]string(nil), t.digestValue...), t.sigValue...) {
		if strings.Count(t.signed, s) != 1 {
			return nil, errors.New("xml template: a digest or signature value is not unique in the document")
		}
	}
	return t, nil
}

// sign returns the document signed for code in place of placeholder.
func (t *xmlTemplate) sign(placeholder, code string) ([]byte, error) {
	pairs := []string{placeholder, code}
	for k, key := range t.keys {
		r := strings.NewReplacer(pairs...)
		h := sha256.Sum256([]byte(r.Replace(t.digested[k])))
		pairs = append(pairs, t.digestValue[k], base64.StdEncoding.EncodeToString(h[:]))
		info := strings.NewReplacer(pairs...).Replace(t.signedInfo[k])
		hi := sha256.Sum256([]byte(info))
		raw, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, hi[:])
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, t.sigValue[k], base64.StdEncoding.EncodeToString(raw))
	}
	var b bytes.Buffer
	b.Grow(len(t.signed) + 64)
	_, _ = strings.NewReplacer(pairs...).WriteString(&b, t.signed)
	return b.Bytes(), nil
}

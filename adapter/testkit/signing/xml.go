package signing

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"sort"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// Canonicalization names the C14N algorithm used both as the Reference
// transform and as the SignedInfo CanonicalizationMethod.
type Canonicalization string

// Canonicalizations accepted by SignXML. The empty value means C14N10.
const (
	C14N10              Canonicalization = "c14n10"
	C14N10WithComments  Canonicalization = "c14n10-comments"
	ExcC14N             Canonicalization = "exc-c14n"
	ExcC14NWithComments Canonicalization = "exc-c14n-comments"
)

// Short names of XML signature methods, accepted in XMLOptions.SignatureMethod
// next to the full algorithm URIs.
var signatureMethods = map[string]string{
	"rsa-sha1":     dsig.RSASHA1SignatureMethod,
	"rsa-sha256":   dsig.RSASHA256SignatureMethod,
	"rsa-sha384":   dsig.RSASHA384SignatureMethod,
	"rsa-sha512":   dsig.RSASHA512SignatureMethod,
	"ecdsa-sha1":   dsig.ECDSASHA1SignatureMethod,
	"ecdsa-sha256": dsig.ECDSASHA256SignatureMethod,
	"ecdsa-sha384": dsig.ECDSASHA384SignatureMethod,
	"ecdsa-sha512": dsig.ECDSASHA512SignatureMethod,
}

// SignatureMethodNames lists the short names accepted in
// XMLOptions.SignatureMethod, sorted.
func SignatureMethodNames() []string {
	names := make([]string, 0, len(signatureMethods))
	for n := range signatureMethods {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// XMLOptions tunes SignXML. The zero value gives the profile's defaults.
type XMLOptions struct {
	// SignatureMethod is a short name ("rsa-sha256", "rsa-sha1",
	// "ecdsa-sha256", ...) or a full algorithm URI. The digest uses the same
	// hash. Empty: rsa-sha256 for RSA keys, ecdsa-sha256 for ECDSA keys.
	SignatureMethod string
	// Canonicalization defaults to C14N10 (inclusive C14N 1.0).
	Canonicalization Canonicalization
}

// IDAttribute is the attribute that carries the root's Id, referenced by each
// signature as URI="#<Id>".
const IDAttribute = "Id"

// SignXML signs the root element of doc with each signer in turn (sequential
// enveloped signatures): the first signer signs the unsigned root, the next
// signs the root that already holds the previous signature, and so on. Each
// ds:Signature is appended as the last child of the root, without added
// whitespace. The document is not re-indented: the returned bytes are exactly
// what was signed, and the XML declaration is kept when the input had one.
func SignXML(doc []byte, opts XMLOptions, signers ...Signer) ([]byte, error) {
	if len(signers) == 0 {
		return nil, errors.New("signing: no signer")
	}
	canon, err := opts.canonicalizer()
	if err != nil {
		return nil, err
	}
	tree, err := parseStable(doc)
	if err != nil {
		return nil, err
	}
	root := tree.Root()
	for i, s := range signers {
		ctx, err := opts.context(s, canon)
		if err != nil {
			return nil, fmt.Errorf("signing: signer %d: %w", i+1, err)
		}
		signed, err := ctx.SignEnveloped(root)
		if err != nil {
			return nil, fmt.Errorf("signing: signer %d: %w", i+1, err)
		}
		tree.SetRoot(signed)
		root = signed
	}
	out, err := tree.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("signing: write document: %w", err)
	}
	return out, nil
}

// parseStable parses doc and returns the tree a reader of our output will
// see: the input is parsed, written and parsed again, so that anything the
// writer would normalise (attribute quoting, escapes) is normalised before the
// digest is taken rather than after.
func parseStable(doc []byte) (*etree.Document, error) {
	first := etree.NewDocument()
	if err := first.ReadFromBytes(doc); err != nil {
		return nil, fmt.Errorf("signing: parse document: %w", err)
	}
	if first.Root() == nil {
		return nil, errors.New("signing: document has no root element")
	}
	written, err := first.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("signing: write document: %w", err)
	}
	tree := etree.NewDocument()
	if err := tree.ReadFromBytes(written); err != nil {
		return nil, fmt.Errorf("signing: reparse document: %w", err)
	}
	return tree, nil
}

func (o XMLOptions) canonicalizer() (dsig.Canonicalizer, error) {
	switch o.Canonicalization {
	case "", C14N10:
		return dsig.MakeC14N10RecCanonicalizer(), nil
	case C14N10WithComments:
		return dsig.MakeC14N10WithCommentsCanonicalizer(), nil
	case ExcC14N:
		return dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList(""), nil
	case ExcC14NWithComments:
		return dsig.MakeC14N10ExclusiveWithCommentsCanonicalizerWithPrefixList(""), nil
	}
	return nil, fmt.Errorf("signing: unknown canonicalization %q", o.Canonicalization)
}

func (o XMLOptions) context(s Signer, canon dsig.Canonicalizer) (*dsig.SigningContext, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	method, err := signatureMethodURI(o.SignatureMethod, s)
	if err != nil {
		return nil, err
	}
	ctx, err := dsig.NewSigningContext(s.Key, s.chainDER())
	if err != nil {
		return nil, fmt.Errorf("new signing context: %w", err)
	}
	ctx.IdAttribute = IDAttribute
	ctx.Prefix = dsig.DefaultPrefix
	ctx.Canonicalizer = canon
	if err := ctx.SetSignatureMethod(method); err != nil {
		return nil, fmt.Errorf("signature method: %w", err)
	}
	return ctx, nil
}

func signatureMethodURI(name string, s Signer) (string, error) {
	if name == "" {
		switch s.Key.Public().(type) {
		case *rsa.PublicKey:
			return dsig.RSASHA256SignatureMethod, nil
		case *ecdsa.PublicKey:
			return dsig.ECDSASHA256SignatureMethod, nil
		}
		return "", fmt.Errorf("unsupported key type %T", s.Key.Public())
	}
	if uri, ok := signatureMethods[name]; ok {
		return uri, nil
	}
	for _, uri := range signatureMethods {
		if uri == name {
			return uri, nil
		}
	}
	return "", fmt.Errorf("unknown signature method %q", name)
}

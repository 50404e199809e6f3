package signing

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

const dossierXML = `<?xml version="1.0" encoding="UTF-8"?>
<HoSo Id="HS-G09.20-20260609-0000001">
  <maHoSo>G09.20-20260609-0000001</maHoSo>
  <maDVQHNS>1012345</maDVQHNS>
  <chungTu>
    <tongSoTien>187500000</tongSoTien>
    <ghiChu a='x &amp; "y"'>Thanh toán &lt;tiền điện&gt;</ghiChu>
    <dongChiTiet><maNDKT>6501</maNDKT><soTien>12500000</soTien></dongChiTiet>
  </chungTu>
</HoSo>
`

// verifyOutermostFirst checks sequential enveloped signatures with the stock
// goxmldsig ValidationContext, outermost (last) signature first, each against
// a store that holds only the expected leaf, and feeds the element Validate
// returns to the next step.
//
// Validate picks the FIRST ds:Signature (document order) whose Reference
// points at the root, i.e. the innermost one, and gives up after visiting
// 1,000 elements. Moving the last signature to the front of the root is
// invisible to its own digest (the enveloped transform removes it again,
// leaving the other children in their original order), and Validate then finds
// the outermost signature second in its walk, whatever the document's size.
func verifyOutermostFirst(doc []byte, leaves ...*x509.Certificate) error {
	tree := etree.NewDocument()
	if err := tree.ReadFromBytes(doc); err != nil {
		return err
	}
	el := tree.Root()
	for i := len(leaves) - 1; i >= 0; i-- {
		sigs := directSignatures(el)
		if len(sigs) != i+1 {
			return fmt.Errorf("step %d: %d signatures, want %d", i+1, len(sigs), i+1)
		}
		last := sigs[len(sigs)-1]
		el.RemoveChild(last)
		el.InsertChildAt(0, last)
		verified, err := validator(leaves[i]).Validate(el)
		if err != nil {
			return fmt.Errorf("signature %d: %w", i+1, err)
		}
		el = verified
	}
	if n := len(directSignatures(el)); n != 0 {
		return fmt.Errorf("%d signatures left over", n)
	}
	return nil
}

func validator(leaf *x509.Certificate) *dsig.ValidationContext {
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{leaf}})
	ctx.IdAttribute = "Id"
	ctx.Clock = dsig.NewFakeClockAt(receivedAt)
	return ctx
}

func directSignatures(el *etree.Element) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == "Signature" && c.Space == "ds" {
			out = append(out, c)
		}
	}
	return out
}

// mutate parses doc, applies f to its root, and writes it back unchanged
// otherwise.
func mutate(t *testing.T, doc []byte, f func(root *etree.Element)) []byte {
	t.Helper()
	tree := etree.NewDocument()
	if err := tree.ReadFromBytes(doc); err != nil {
		t.Fatal(err)
	}
	f(tree.Root())
	out, err := tree.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSignXMLRoundTrip(t *testing.T) {
	t.Parallel()
	p := sharedPKI(t)
	tests := []struct {
		name    string
		opts    XMLOptions
		signers []Signer
		method  string
	}{
		{"one signer", XMLOptions{}, []Signer{p.first}, dsig.RSASHA256SignatureMethod},
		{"two signers c14n10", XMLOptions{}, []Signer{p.first, p.second}, dsig.RSASHA256SignatureMethod},
		{"two signers exc-c14n", XMLOptions{Canonicalization: ExcC14N}, []Signer{p.first, p.second}, dsig.RSASHA256SignatureMethod},
		{"c14n10 with comments", XMLOptions{Canonicalization: C14N10WithComments}, []Signer{p.first, p.second}, dsig.RSASHA256SignatureMethod},
		{"rsa-sha384", XMLOptions{SignatureMethod: "rsa-sha384"}, []Signer{p.first, p.second}, dsig.RSASHA384SignatureMethod},
		{"rsa-sha512 by URI", XMLOptions{SignatureMethod: dsig.RSASHA512SignatureMethod}, []Signer{p.first}, dsig.RSASHA512SignatureMethod},
		{"rsa-sha1 for negative fixtures", XMLOptions{SignatureMethod: "rsa-sha1"}, []Signer{p.first, p.second}, dsig.RSASHA1SignatureMethod},
		{"ecdsa by key default", XMLOptions{}, []Signer{p.ec}, dsig.ECDSASHA256SignatureMethod},
		{"three signers", XMLOptions{}, []Signer{p.first, p.second, p.ec}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := SignXML([]byte(dossierXML), tc.opts, tc.signers...)
			if err != nil {
				t.Fatalf("SignXML: %v", err)
			}
			if !bytes.HasPrefix(out, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
				t.Errorf("XML declaration lost: %.60q", out)
			}
			if !bytes.HasSuffix(bytes.TrimSpace(out), []byte("</ds:Signature></HoSo>")) {
				t.Errorf("last signature is not the root's last child: %q", out[len(out)-60:])
			}
			leaves := make([]*x509.Certificate, len(tc.signers))
			for i, s := range tc.signers {
				leaves[i] = s.Leaf()
			}
			if err := verifyOutermostFirst(out, leaves...); err != nil {
				t.Fatalf("round trip: %v", err)
			}
			root := mustRoot(t, out)
			sigs := directSignatures(root)
			for i, sig := range sigs {
				if got := sig.FindElement("./SignedInfo/Reference").SelectAttrValue("URI", ""); got != "#HS-G09.20-20260609-0000001" {
					t.Errorf("signature %d: Reference URI %q", i+1, got)
				}
				if tc.method != "" {
					if got := sig.FindElement("./SignedInfo/SignatureMethod").SelectAttrValue("Algorithm", ""); got != tc.method {
						t.Errorf("signature %d: method %q, want %q", i+1, got, tc.method)
					}
				}
				certs := sig.FindElements("./KeyInfo/X509Data/X509Certificate")
				if len(certs) != 2 {
					t.Errorf("signature %d: %d certificates in KeyInfo, want leaf and intermediate", i+1, len(certs))
				}
			}
		})
	}
}

func mustRoot(t *testing.T, doc []byte) *etree.Element {
	t.Helper()
	tree := etree.NewDocument()
	if err := tree.ReadFromBytes(doc); err != nil {
		t.Fatal(err)
	}
	return tree.Root()
}

func TestSignXMLRejectsTampering(t *testing.T) {
	t.Parallel()
	p := sharedPKI(t)
	signed, err := SignXML([]byte(dossierXML), XMLOptions{}, p.first, p.second)
	if err != nil {
		t.Fatal(err)
	}
	l1, l2 := p.first.Leaf(), p.second.Leaf()
	tests := []struct {
		name   string
		doc    func(t *testing.T) []byte
		leaves []*x509.Certificate
	}{
		{"amount changed", func(t *testing.T) []byte {
			return mutate(t, signed, func(r *etree.Element) { r.FindElement("./chungTu/tongSoTien").SetText("987500000") })
		}, []*x509.Certificate{l1, l2}},
		{"inner signature value changed", func(t *testing.T) []byte {
			return mutate(t, signed, func(r *etree.Element) {
				sv := directSignatures(r)[0].FindElement("./SignatureValue")
				sv.SetText("AAAA" + sv.Text()[4:])
			})
		}, []*x509.Certificate{l1, l2}},
		{"outer signature stripped", func(t *testing.T) []byte {
			return mutate(t, signed, func(r *etree.Element) { r.RemoveChild(directSignatures(r)[1]) })
		}, []*x509.Certificate{l2}},
		{"inner signature stripped", func(t *testing.T) []byte {
			return mutate(t, signed, func(r *etree.Element) { r.RemoveChild(directSignatures(r)[0]) })
		}, []*x509.Certificate{l2}},
		{"signers swapped in expectation", func(*testing.T) []byte { return signed }, []*x509.Certificate{l2, l1}},
		{"whitespace added between signatures", func(t *testing.T) []byte {
			return mutate(t, signed, func(r *etree.Element) { r.InsertChildAt(directSignatures(r)[1].Index(), etree.NewText("\n")) })
		}, []*x509.Certificate{l1, l2}},
		{"re-indented after signing", func(t *testing.T) []byte {
			tree := etree.NewDocument()
			if err := tree.ReadFromBytes(signed); err != nil {
				t.Fatal(err)
			}
			tree.Indent(4)
			out, err := tree.WriteToBytes()
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, []*x509.Certificate{l1, l2}},
	}
	if err := verifyOutermostFirst(signed, l1, l2); err != nil {
		t.Fatalf("control: untampered document must verify: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := verifyOutermostFirst(tc.doc(t), tc.leaves...); err == nil {
				t.Fatal("tampered document verified")
			}
		})
	}
}

// TestStockValidatePicksInnerSignature records why verifyOutermostFirst
// reorders: on the document as signed, Validate selects signature 1, which
// cannot verify while signature 2 is still in the tree.
func TestStockValidatePicksInnerSignature(t *testing.T) {
	t.Parallel()
	p := sharedPKI(t)
	signed, err := SignXML([]byte(dossierXML), XMLOptions{}, p.first, p.second)
	if err != nil {
		t.Fatal(err)
	}
	for _, leaf := range []*x509.Certificate{p.first.Leaf(), p.second.Leaf()} {
		if _, err := validator(leaf).Validate(mustRoot(t, signed)); err == nil {
			t.Errorf("stock Validate on the untouched two-signature document passed for %s", leaf.Subject.CommonName)
		}
	}
}

func TestSignXMLWithoutDeclaration(t *testing.T) {
	t.Parallel()
	p := sharedPKI(t)
	in := strings.TrimPrefix(dossierXML, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	out, err := SignXML([]byte(in), XMLOptions{}, p.first)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte("<HoSo ")) {
		t.Errorf("output starts with %.20q, want the root", out)
	}
	if err := verifyOutermostFirst(out, p.first.Leaf()); err != nil {
		t.Fatal(err)
	}
}

func TestSignXMLErrors(t *testing.T) {
	t.Parallel()
	p := sharedPKI(t)
	tests := []struct {
		name    string
		doc     string
		opts    XMLOptions
		signers []Signer
		want    string
	}{
		{"no signer", dossierXML, XMLOptions{}, nil, "no signer"},
		{"malformed", "<HoSo Id='1'><a></HoSo>", XMLOptions{}, []Signer{p.first}, "parse document"},
		{"empty", "", XMLOptions{}, []Signer{p.first}, "no root"},
		{"unknown method", dossierXML, XMLOptions{SignatureMethod: "rsa-md5"}, []Signer{p.first}, "unknown signature method"},
		{"ecdsa method with RSA key", dossierXML, XMLOptions{SignatureMethod: "ecdsa-sha256"}, []Signer{p.first}, "incompatible"},
		{"unknown c14n", dossierXML, XMLOptions{Canonicalization: "c14n11"}, []Signer{p.first}, "unknown canonicalization"},
		{"signer without key", dossierXML, XMLOptions{}, []Signer{{Chain: p.first.Chain}}, "no key"},
		{"signer without chain", dossierXML, XMLOptions{}, []Signer{{Key: p.first.Key}}, "no certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := SignXML([]byte(tc.doc), tc.opts, tc.signers...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "signing: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestSignatureMethodNames(t *testing.T) {
	t.Parallel()
	names := SignatureMethodNames()
	for _, want := range []string{"ecdsa-sha256", "rsa-sha1", "rsa-sha256", "rsa-sha384", "rsa-sha512"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("%s missing from %v", want, names)
		}
	}
}

// TestSignXMLLargeDocument signs a document far beyond goxmldsig's traversal
// budget of 1,000 elements. Validate on the document as signed stops with
// "traversal limit reached" before it reaches the signature at the end;
// verifyOutermostFirst, which moves the signature under test to the front,
// verifies it.
func TestSignXMLLargeDocument(t *testing.T) {
	t.Parallel()
	p := sharedPKI(t)
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<HoSo Id="HS-1">` + "\n  <chungTu>\n")
	for i := 0; i < 1500; i++ {
		fmt.Fprintf(&b, "    <dongChiTiet><maNDKT>6001</maNDKT><soTien>%d</soTien></dongChiTiet>\n", 1000+i)
	}
	b.WriteString("  </chungTu>\n</HoSo>\n")
	signed, err := SignXML([]byte(b.String()), XMLOptions{}, p.first, p.second)
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyOutermostFirst(signed, p.first.Leaf(), p.second.Leaf()); err != nil {
		t.Fatalf("large document: %v", err)
	}
	single, err := SignXML([]byte(b.String()), XMLOptions{}, p.first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := validator(p.first.Leaf()).Validate(mustRoot(t, single)); !errors.Is(err, etreeutils.ErrTraversalLimit) {
		t.Errorf("stock Validate on a signature after 4,500 elements: %v, want the traversal limit (has goxmldsig changed?)", err)
	}
}

package xmlsig

import (
	"crypto/x509"
	"fmt"
	"strings"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/kbnn/dvc/adapter/testkit/signing"
)

var both = []string{"chu-tai-khoan", "ke-toan-truong"}

func TestValidTwoSigners(t *testing.T) {
	for _, c14n := range []signing.Canonicalization{signing.C14N10, signing.ExcC14N} {
		t.Run(string(c14n), func(t *testing.T) {
			res, err := verify(t, sign(t, template(t), signing.XMLOptions{Canonicalization: c14n}, both...), Policy{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Signers) != 2 || res.Signers[0].Role != "chu-tai-khoan" || res.Signers[1].Role != "ke-toan-truong" {
				t.Fatalf("signers = %+v", res.Signers)
			}
			if len(signatureChildren(res.Root)) != 0 {
				t.Fatal("verified content still holds a signature")
			}
			if got := res.Root.FindElement("maDVQHNS").Text(); got != "1012345" {
				t.Fatalf("maDVQHNS = %q", got)
			}
		})
	}
}

func TestSHA1OnlyWhenAllowed(t *testing.T) {
	body := sign(t, template(t), signing.XMLOptions{SignatureMethod: "rsa-sha1"}, both...)
	_, err := verify(t, body, Policy{})
	wantCode(t, err, "signature-algorithm-not-allowed")
	if _, err := verify(t, body, Policy{AllowSHA1: true}); err != nil {
		t.Fatalf("allowSHA1 should verify an RSA-SHA1 signature: %v", err)
	}
}

func TestECDSASigner(t *testing.T) {
	if _, err := verify(t, sign(t, template(t), signing.XMLOptions{}, "chu-tai-khoan", "ecdsa-signer"), Policy{}); err != nil {
		t.Fatal(err)
	}
}

func TestRefusals(t *testing.T) {
	signed := string(sign(t, template(t), signing.XMLOptions{}, both...))
	cases := []struct {
		name string
		body func() string
		code string
	}{
		{"unsigned", func() string { return string(template(t)) }, "signature-missing"},
		{"tampered amount", func() string {
			return strings.Replace(signed, "<tongSoTien>187500000<", "<tongSoTien>987500000<", 1)
		}, "signature-invalid"},
		{"rsa-sha1", func() string {
			return string(sign(t, template(t), signing.XMLOptions{SignatureMethod: "rsa-sha1"}, both...))
		}, "signature-algorithm-not-allowed"},
		{"c14n with comments not configured", func() string {
			return string(sign(t, template(t), signing.XMLOptions{Canonicalization: signing.C14N10WithComments}, both...))
		}, "signature-algorithm-not-allowed"},
		{"untrusted CA", func() string {
			return string(sign(t, template(t), signing.XMLOptions{}, "untrusted-signer", "ke-toan-truong"))
		}, "certificate-untrusted"},
		{"expired", func() string { return string(sign(t, template(t), signing.XMLOptions{}, "expired", "ke-toan-truong")) }, "certificate-expired"},
		{"revoked", func() string { return string(sign(t, template(t), signing.XMLOptions{}, "revoked", "ke-toan-truong")) }, "certificate-revoked"},
		{"outer signature removed, inner kept", func() string { return stripSignature(t, signed, 1) }, ""},
		{"inner signature removed", func() string { return stripSignature(t, signed, 0) }, "signature-invalid"},
		{"signatures swapped", func() string { return swapSignatures(t, signed) }, "signature-invalid"},
		{"digest method sha1", func() string {
			return strings.Replace(signed, "http://www.w3.org/2001/04/xmlenc#sha256", "http://www.w3.org/2000/09/xmldsig#sha1", 1)
		}, "signature-algorithm-not-allowed"},
		{"no enveloped transform", func() string {
			return strings.Replace(signed, `<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>`, "", 1)
		}, "signature-algorithm-not-allowed"},
		{"reference to another id", func() string {
			return strings.Replace(signed, `URI="#HS-`, `URI="#X-`, 1)
		}, "signature-invalid"},
		{"object inside signature", func() string {
			return strings.Replace(signed, "</ds:SignatureValue>", "</ds:SignatureValue><ds:Object><soTien>1</soTien></ds:Object>", 1)
		}, "signature-invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := verify(t, []byte(c.body()), Policy{})
			if c.code == "" {
				if err != nil {
					t.Fatalf("the inner signature alone is a valid signed document: %v", err)
				}
				return
			}
			wantCode(t, err, c.code)
		})
	}
}

// stripSignature removes the i-th ds:Signature child of the root.
func stripSignature(t testing.TB, body string, i int) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(body); err != nil {
		t.Fatal(err)
	}
	sigs := signatureChildren(doc.Root())
	doc.Root().RemoveChild(sigs[i])
	s, _ := doc.WriteToString()
	return s
}

func swapSignatures(t testing.TB, body string) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(body); err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	sigs := signatureChildren(root)
	i, j := sigs[0].Index(), sigs[1].Index()
	root.Child[i], root.Child[j] = root.Child[j], root.Child[i]
	s, _ := doc.WriteToString()
	return s
}

// Signature-wrapping attacks, each its own named regression test.

// The signed root is moved into a ds:Object of its own signature and a
// forged root with the same Id takes its place.
func TestXSWSignedRootMovedIntoObjectIsRejected(t *testing.T) {
	signed := sign(t, template(t), signing.XMLOptions{}, both...)
	doc := etree.NewDocument()
	_ = doc.ReadFromBytes(signed)
	orig := doc.Root().Copy()
	forged := doc.Root()
	forged.FindElement("taiLieu/tongSoTien").SetText("987500000")
	sigs := signatureChildren(forged)
	last := sigs[len(sigs)-1]
	obj := last.CreateElement("ds:Object")
	for _, s := range signatureChildren(orig) {
		orig.RemoveChild(s)
	}
	obj.AddChild(orig)
	body, _ := doc.WriteToBytes()
	_, err := verify(t, body, Policy{})
	wantCode(t, err, "signature-invalid")
}

// A forged document carries a signature copied from a validly signed one.
func TestXSWCopiedSignatureOnForgedRootIsRejected(t *testing.T) {
	signed := sign(t, template(t), signing.XMLOptions{}, both...)
	doc := etree.NewDocument()
	_ = doc.ReadFromBytes(signed)
	doc.Root().FindElement("maDVQHNS").SetText("1045678")
	body, _ := doc.WriteToBytes()
	_, err := verify(t, body, Policy{})
	wantCode(t, err, "signature-invalid")
}

// The signature references a signed child element; the root around it is
// the attacker's.
func TestXSWReferenceToChildElementIsRejected(t *testing.T) {
	inner := []byte(`<taiLieu Id="CT-1"><tongSoTien>1</tongSoTien></taiLieu>`)
	signedInner := sign(t, inner, signing.XMLOptions{}, "chu-tai-khoan")
	body := append([]byte(`<HoSo Id="HS-1"><maDVQHNS>1012345</maDVQHNS>`), signedInner...)
	body = append(body, []byte(`</HoSo>`)...)
	_, err := verify(t, body, Policy{})
	wantCode(t, err, "signature-missing")
}

// An element added to the root after signing is not signed.
func TestXSWUnsignedElementAddedToRootIsRejected(t *testing.T) {
	signed := string(sign(t, template(t), signing.XMLOptions{}, both...))
	body := strings.Replace(signed, "<nienDo>", "<ghiChu>x</ghiChu><nienDo>", 1)
	_, err := verify(t, []byte(body), Policy{})
	wantCode(t, err, "signature-invalid")
}

// A comment inserted inside signed text does not change a C14N digest
// without comments; the value read must still be the signed one.
func TestCommentInjectionReadsSignedText(t *testing.T) {
	signed := string(sign(t, template(t), signing.XMLOptions{}, both...))
	body := strings.Replace(signed, "<maDVQHNS>1012345</maDVQHNS>", "<maDVQHNS>101<!--x-->2345</maDVQHNS>", 1)
	res, err := verify(t, []byte(body), Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Root.FindElement("maDVQHNS").Text(); got != "1012345" {
		t.Fatalf("read %q, not the signed text", got)
	}
}

// largeDossier returns the template with n payee lines.
func largeDossier(t testing.TB, n int) []byte {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(template(t)); err != nil {
		t.Fatal(err)
	}
	ct := doc.Root().FindElement("taiLieu")
	lines := ct.SelectElements("dongChiTiet")
	for _, l := range lines {
		ct.RemoveChild(l)
	}
	for i := 0; i < n; i++ {
		l := lines[0].Copy()
		l.FindElement("soTien").SetText("8000000")
		l.FindElement("maNDKT").SetText("6001")
		nh := l.CreateElement("tenNguoiHuong")
		nh.SetText(fmt.Sprintf("Người hưởng %d", i+1))
		ct.AddChild(l)
	}
	ct.FindElement("tongSoTien").SetText(fmt.Sprint(int64(n) * 8000000))
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goxmldsig alone gives up on a large dossier whose signature is last;
// the verifier's placement makes the same document verify.
func TestLargeDossierVerifies(t *testing.T) {
	signed := sign(t, largeDossier(t, 5000), signing.XMLOptions{}, both...)
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(signed); err != nil {
		t.Fatal(err)
	}
	stock := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{signer(t, "ke-toan-truong").Leaf()}})
	stock.IdAttribute = "Id"
	stock.Clock = dsig.NewFakeClockAt(receipt)
	if _, err := stock.Validate(doc.Root()); err == nil || !strings.Contains(err.Error(), "traversal") {
		t.Fatalf("stock goxmldsig: %v (expected the traversal limit)", err)
	}
	res, err := verify(t, signed, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Root.FindElement("taiLieu").SelectElements("dongChiTiet")); n != 5000 {
		t.Fatalf("%d lines verified", n)
	}
}

func TestMaxSignatures(t *testing.T) {
	body := sign(t, template(t), signing.XMLOptions{}, "chu-tai-khoan", "ke-toan-truong", "ecdsa-signer")
	_, err := verify(t, body, Policy{MaxSignatures: 2})
	wantCode(t, err, "limit-exceeded")
}

func BenchmarkVerify(b *testing.B) {
	for _, n := range []int{2, 5000} {
		body := sign(b, largeDossier(b, n), signing.XMLOptions{}, both...)
		v := NewVerifier(testStore(b), Policy{})
		b.Run(fmt.Sprintf("lines=%d/bytes=%d", n, len(body)), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				doc, err := Parse(body, Limits{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := v.Verify(doc, receipt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

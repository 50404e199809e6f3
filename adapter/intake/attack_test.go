package intake

// Attacks on the promise "an attacker who holds one validly signed dossier
// cannot get any altered content accepted". Each attack is a named
// regression test: either Submit refuses (with the named problem code) and
// nothing reaches the treasury, or, for a semantically harmless alteration,
// the treasury receives exactly what the untouched dossier produces.
//
// Most attacks start from testdata/fixtures/chi-thuong-xuyen/valid-xml
// (account holder, then chief accountant, inclusive C14N 1.0) or valid-json.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/beevik/etree"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/kbnn/dvc/adapter/testkit/signing"
	"github.com/kbnn/dvc/adapter/xmlsig"
)

const (
	proc       = "chi-thuong-xuyen"
	dsNS       = "http://www.w3.org/2000/09/xmldsig#"
	signedID   = "HS-G09.20-20260609-0000101"
	signedSum  = "<tongSoTien>187500000</tongSoTien>"
	forgedSum  = "<tongSoTien>987500000</tongSoTien>"
	codeSigInv = "signature-invalid"
)

// ---- XML helpers ----

func parseXML(t testing.TB, b []byte) *etree.Document {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		t.Fatal(err)
	}
	return doc
}

func writeXML(t testing.TB, doc *etree.Document) []byte {
	t.Helper()
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit parses b, lets f change the tree and writes it back.
func edit(t testing.TB, b []byte, f func(doc *etree.Document, root *etree.Element)) []byte {
	t.Helper()
	doc := parseXML(t, b)
	f(doc, doc.Root())
	return writeXML(t, doc)
}

// dsSigs returns the ds:Signature children of el, in document order.
func dsSigs(el *etree.Element) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == "Signature" && c.NamespaceURI() == dsNS {
			out = append(out, c)
		}
	}
	return out
}

// unsignedCopy returns a copy of root without its signatures.
func unsignedCopy(root *etree.Element) *etree.Element {
	c := root.Copy()
	for _, s := range dsSigs(c) {
		c.RemoveChild(s)
	}
	return c
}

// forge changes the total amount of el (the attacker's goal).
func forge(t testing.TB, el *etree.Element) {
	t.Helper()
	ts := el.FindElement("taiLieu/tongSoTien")
	if ts == nil {
		t.Fatal("no taiLieu/tongSoTien")
	}
	ts.SetText("987500000")
	el.FindElement("taiLieu/dongChiTiet/soTien").SetText("812500000")
}

func dsChild(el *etree.Element, tag string) *etree.Element {
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == dsNS {
			return c
		}
	}
	return nil
}

func keyInfo(sig *etree.Element) *etree.Element { return dsChild(sig, "KeyInfo") }
func x509Data(sig *etree.Element) *etree.Element {
	return dsChild(keyInfo(sig), "X509Data")
}

func certB64(t testing.TB, name string) string {
	t.Helper()
	return base64.StdEncoding.EncodeToString(loadSigner(t, name).Leaf().Raw)
}

// excSigned is the chi-thuong-xuyen template signed by both roles with
// exclusive C14N.
func excSigned(t testing.TB) []byte {
	t.Helper()
	return signXML(t, template(t, proc, "xml"), signing.XMLOptions{Canonicalization: signing.ExcC14N}, both...)
}

func baselineXML(t testing.TB) ([]byte, sent) {
	t.Helper()
	b := xmlFixture(t, proc)
	return b, mustAccept(t, xmlSub(proc, b))
}

// ---- controls ----

// Every valid fixture is accepted, and the XML and JSON forms of one template
// signed by the same signers give the same treasury request.
func TestAttackControl_ValidFixturesAcceptedAndFormsAgree(t *testing.T) {
	for _, p := range allProcedures {
		t.Run(p, func(t *testing.T) {
			mustAccept(t, xmlSub(p, xmlFixture(t, p)))
			body, sig := jsonFixture(t, p)
			mustAccept(t, jsonSub(p, body, sig))

			signers := both
			if p == "tai-khoan" {
				signers = []string{"chu-tai-khoan"}
			}
			x := mustAccept(t, xmlSub(p, signXML(t, template(t, p, "xml"), signing.XMLOptions{}, signers...)))
			jb := template(t, p, "json")
			j := mustAccept(t, jsonSub(p, jb, signJWS(t, jb, signers...)))
			sameAsSigned(t, x, j)
		})
	}
}

// Re-serialising the signed fixture with etree (which the structural attacks
// below use) keeps it valid, so their refusals are due to the attack.
func TestAttackControl_EtreeRoundTripStillVerifies(t *testing.T) {
	b, signed := baselineXML(t)
	wantSameAsSigned(t, run(t, xmlSub(proc, edit(t, b, func(*etree.Document, *etree.Element) {})), svcOptions{}), signed)
}

// ---- signature wrapping (XSW) ----

// XSW #1: forged root with the same Id keeps the signatures; the signed root
// is moved into a ds:Object of the outer signature.
func TestAttackXSW_SignedRootMovedIntoObject(t *testing.T) {
	b, _ := baselineXML(t)
	body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
		orig := unsignedCopy(root)
		forge(t, root)
		sigs := dsSigs(root)
		sigs[len(sigs)-1].CreateElement("ds:Object").AddChild(orig)
	})
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
}

// XSW #2: the signed root is moved into a ds:Object of an extra, third
// Signature element.
func TestAttackXSW_SignedRootMovedIntoExtraSignature(t *testing.T) {
	b, _ := baselineXML(t)
	body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
		orig := root.Copy()
		forge(t, root)
		extra := root.CreateElement("ds:Signature")
		extra.CreateElement("ds:Object").AddChild(orig)
	})
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
}

// XSW #3: the signed root is hidden in the (unsigned) KeyInfo of the outer
// signature; the forged root carries the same Id.
func TestAttackXSW_SignedRootMovedIntoKeyInfo(t *testing.T) {
	b, _ := baselineXML(t)
	for _, where := range []string{"KeyInfo", "X509Data"} {
		t.Run(where, func(t *testing.T) {
			body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
				orig := unsignedCopy(root)
				forge(t, root)
				sigs := dsSigs(root)
				target := keyInfo(sigs[len(sigs)-1])
				if where == "X509Data" {
					target = x509Data(sigs[len(sigs)-1])
				}
				target.AddChild(orig)
			})
			wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
		})
	}
}

// XSW #4: the signed root (with its signatures) is nested inside a forged
// root that carries the same Id.
func TestAttackXSW_ForgedRootSameIdWrapsSignedRoot(t *testing.T) {
	b, _ := baselineXML(t)
	body := edit(t, b, func(doc *etree.Document, root *etree.Element) {
		forged := unsignedCopy(root)
		forge(t, forged)
		forged.AddChild(root.Copy())
		doc.SetRoot(forged)
	})
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "signature-missing")
}

// XSW #5: a forged root with the same Id keeps the signatures as direct
// children and carries the original signed root as an extra child.
func TestAttackXSW_ForgedRootSameIdSignaturesOnTopOriginalNested(t *testing.T) {
	b, _ := baselineXML(t)
	body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
		orig := unsignedCopy(root)
		forge(t, root)
		root.InsertChildAt(0, orig)
	})
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
}

// XSW #6: the signatures' Reference URI="#<Id>" is made to point at a nested
// element carrying that Id, the root getting another Id (or none).
func TestAttackXSW_ReferenceToNestedElementWithSameId(t *testing.T) {
	b, _ := baselineXML(t)
	for _, newID := range []string{"HS-EVIL", ""} {
		t.Run("root Id "+newID, func(t *testing.T) {
			body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
				orig := unsignedCopy(root)
				forge(t, root)
				if newID == "" {
					root.RemoveAttr("Id")
				} else {
					root.CreateAttr("Id", newID)
				}
				root.InsertChildAt(0, orig) // carries Id=signedID
			})
			wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
		})
	}
}

// XSW #7: two Id attributes on the root (not well-formed XML, which
// encoding/xml tolerates), the forged one first or last.
func TestAttackXSW_DuplicateIdAttributes(t *testing.T) {
	b, signed := baselineXML(t)
	for name, repl := range map[string]string{
		"forged first": `<HoSo Id="HS-EVIL" Id="` + signedID + `">`,
		"forged last":  `<HoSo Id="` + signedID + `" Id="HS-EVIL">`,
		"same twice":   `<HoSo Id="` + signedID + `" Id="` + signedID + `">`,
	} {
		t.Run(name, func(t *testing.T) {
			body := replaceOnce(t, b, `<HoSo Id="`+signedID+`">`, repl)
			body = replaceOnce(t, body, signedSum, forgedSum)
			wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv, "malformed-body")
			// Without the forged amount, the duplicate attribute alone. The
			// document is not well-formed; etree keeps the last value
			// (encoding/xml does not check), so a duplicate placed before the
			// signed one is dropped: harmless, but not refused as malformed.
			body = replaceOnce(t, b, `<HoSo Id="`+signedID+`">`, repl)
			wantRefusedOrSame(t, run(t, xmlSub(proc, body), svcOptions{}), signed, codeSigInv, "malformed-body")
		})
	}
}

// XSW #8: the Id moved to another namespace prefix (foo:Id), alone or next to
// a forged plain Id, in both orders.
func TestAttackXSW_IdInOtherNamespacePrefix(t *testing.T) {
	b, _ := baselineXML(t)
	for name, repl := range map[string]string{
		"foo:Id only":            `<HoSo xmlns:foo="urn:x" foo:Id="` + signedID + `">`,
		"foo:Id then forged Id":  `<HoSo xmlns:foo="urn:x" foo:Id="` + signedID + `" Id="HS-EVIL">`,
		"forged Id then foo:Id":  `<HoSo xmlns:foo="urn:x" Id="HS-EVIL" foo:Id="` + signedID + `">`,
		"Id then foo:Id forged":  `<HoSo xmlns:foo="urn:x" Id="` + signedID + `" foo:Id="HS-EVIL">`,
		"xmlns:Id declaration":   `<HoSo xmlns:Id="` + signedID + `" Id="HS-EVIL">`,
		"ds:Id in dsig":          `<HoSo xmlns:ds="` + dsNS + `" ds:Id="` + signedID + `">`,
		"xml:id instead of Id":   `<HoSo xml:id="` + signedID + `">`,
		"lower-case id":          `<HoSo id="` + signedID + `">`,
		"ID upper-case (dsig's)": `<HoSo ID="` + signedID + `" Id="` + signedID + `">`,
	} {
		t.Run(name, func(t *testing.T) {
			body := replaceOnce(t, b, `<HoSo Id="`+signedID+`">`, repl)
			wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv, "malformed-body")
			body = replaceOnce(t, body, signedSum, forgedSum)
			wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv, "malformed-body")
		})
	}
}

// XSW #9: a second root-level element (the forged dossier) before or after
// the signed root. After it, it is outside the signed content and must never
// be read; before it, it becomes "the root" and has no valid signature.
func TestAttackXSW_SecondRootLevelElement(t *testing.T) {
	b, signed := baselineXML(t)
	forged := func() string {
		doc := parseXML(t, b)
		f := unsignedCopy(doc.Root())
		forge(t, f)
		d := etree.NewDocument()
		d.SetRoot(f)
		s, _ := d.WriteToString()
		return s
	}()
	t.Run("forged after signed", func(t *testing.T) {
		body := append(append([]byte{}, b...), forged...)
		wantRefusedOrSame(t, run(t, xmlSub(proc, body), svcOptions{}), signed, "malformed-body")
	})
	t.Run("forged before signed", func(t *testing.T) {
		s := string(b)
		i := strings.Index(s, "<HoSo")
		body := []byte(s[:i] + forged + s[i:])
		wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "malformed-body", "signature-missing")
	})
}

// ---- where the signatures are ----

// The outer signature is moved under a child element.
func TestAttackSig_OuterSignatureMovedUnderChild(t *testing.T) {
	b, _ := baselineXML(t)
	body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
		s := dsSigs(root)[1]
		root.RemoveChild(s)
		root.FindElement("taiLieu").AddChild(s)
	})
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
}

// Both signatures are moved under a child element, where a naive verifier
// might still find them.
func TestAttackSig_AllSignaturesMovedUnderChild(t *testing.T) {
	b, _ := baselineXML(t)
	body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
		ct := root.FindElement("taiLieu")
		for _, s := range dsSigs(root) {
			root.RemoveChild(s)
			ct.AddChild(s)
		}
	})
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "signature-missing")
}

// A signed taiLieu moved into a forged root: the signatures sit inside a
// child that carries its own copy of the dossier.
func TestAttackSig_SignedDossierNestedAsChild(t *testing.T) {
	b, _ := baselineXML(t)
	body := edit(t, b, func(doc *etree.Document, root *etree.Element) {
		forged := unsignedCopy(root)
		forge(t, forged)
		forged.FindElement("taiLieu").AddChild(root.Copy())
		doc.SetRoot(forged)
	})
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "signature-missing")
}

// A third, sequential signature by a signer from an untrusted CA.
func TestAttackSig_ThirdSignatureByUntrustedSigner(t *testing.T) {
	b, _ := baselineXML(t)
	body := signXML(t, b, signing.XMLOptions{}, "untrusted-signer")
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "certificate-untrusted")
}

// A third signature by an expired or a revoked signer.
func TestAttackSig_ThirdSignatureByExpiredOrRevokedSigner(t *testing.T) {
	b, _ := baselineXML(t)
	wantRefused(t, run(t, xmlSub(proc, signXML(t, b, signing.XMLOptions{}, "expired")), svcOptions{}), "certificate-expired")
	wantRefused(t, run(t, xmlSub(proc, signXML(t, b, signing.XMLOptions{}, "revoked")), svcOptions{}), "certificate-revoked")
}

// A third signature by another trusted signer over the unchanged content is
// not an alteration: accepted, and exactly the signed value is sent.
func TestAttackSig_ThirdSignatureByValidOtherSignerChangesNothing(t *testing.T) {
	b, signed := baselineXML(t)
	body := signXML(t, b, signing.XMLOptions{}, "ecdsa-signer")
	wantSameAsSigned(t, run(t, xmlSub(proc, body), svcOptions{}), signed)
}

// A third signature by a signer who already signed (one person cannot hold
// both roles by signing twice).
func TestAttackSig_SameSignerTwice(t *testing.T) {
	b, _ := baselineXML(t)
	wantRefused(t, run(t, xmlSub(proc, signXML(t, b, signing.XMLOptions{}, "chu-tai-khoan")), svcOptions{}), "signer-role-missing")
	twice := signXML(t, template(t, proc, "xml"), signing.XMLOptions{}, "ke-toan-truong", "ke-toan-truong")
	wantRefused(t, run(t, xmlSub(proc, twice), svcOptions{}), "signer-role-missing")
}

// The outer (chief accountant's) signature is stripped: the holder's alone
// is valid but the procedure moves money and needs both roles.
func TestAttackSig_OuterSignatureStripped(t *testing.T) {
	b, _ := baselineXML(t)
	body := edit(t, b, func(_ *etree.Document, root *etree.Element) { root.RemoveChild(dsSigs(root)[1]) })
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "signer-role-missing")
}

// The inner signature is stripped: the outer one covered it.
func TestAttackSig_InnerSignatureStripped(t *testing.T) {
	b, _ := baselineXML(t)
	body := edit(t, b, func(_ *etree.Document, root *etree.Element) { root.RemoveChild(dsSigs(root)[0]) })
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
}

// Every signature stripped.
func TestAttackSig_AllSignaturesStripped(t *testing.T) {
	b, _ := baselineXML(t)
	body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
		for _, s := range dsSigs(root) {
			root.RemoveChild(s)
		}
	})
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "signature-missing")
}

// The two signatures are swapped, or the outer one moved to the front of
// the root.
func TestAttackSig_SignaturesReordered(t *testing.T) {
	b, _ := baselineXML(t)
	t.Run("swapped", func(t *testing.T) {
		body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
			s := dsSigs(root)
			i, j := s[0].Index(), s[1].Index()
			root.Child[i], root.Child[j] = root.Child[j], root.Child[i]
		})
		wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
	})
	t.Run("outer first in root", func(t *testing.T) {
		body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
			s := dsSigs(root)[1]
			root.RemoveChild(s)
			root.InsertChildAt(0, s)
		})
		wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
	})
	t.Run("inner moved to the front", func(t *testing.T) {
		// the inner signature is part of what the outer one signed, at its place
		body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
			s := dsSigs(root)[0]
			root.RemoveChild(s)
			root.InsertChildAt(0, s)
		})
		wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
	})
}

// The outer signature is duplicated (a copy appended after it).
func TestAttackSig_OuterSignatureDuplicated(t *testing.T) {
	b, _ := baselineXML(t)
	body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
		root.AddChild(dsSigs(root)[1].Copy())
	})
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv, "signer-role-missing")
}

// The chief accountant's signature from the validly signed dossier is
// grafted onto a different dossier that only the account holder signed (an
// altered draft the chief never approved).
func TestAttackSig_ChiefSignatureGraftedOntoHolderOnlyDossier(t *testing.T) {
	b, _ := baselineXML(t)
	altered := replaceOnce(t, b, signedSum, forgedSum)
	altered = replaceOnce(t, altered, "<soTien>12500000</soTien>", "<soTien>812500000</soTien>")
	holderOnly := edit(t, altered, func(_ *etree.Document, root *etree.Element) {
		for _, s := range dsSigs(root) {
			root.RemoveChild(s)
		}
	})
	holderOnly = signXML(t, holderOnly, signing.XMLOptions{}, "chu-tai-khoan")
	chief := dsSigs(parseXML(t, b).Root())[1]
	body := edit(t, holderOnly, func(_ *etree.Document, root *etree.Element) { root.AddChild(chief.Copy()) })
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
}

// ---- KeyInfo (unsigned in the outer signature) ----

// The outer signature's certificate is swapped for another trusted signer's
// certificate (the other role, or the same role from another person).
func TestAttackKeyInfo_CertificateSwappedForOtherTrustedSigner(t *testing.T) {
	b, _ := baselineXML(t)
	for _, who := range []string{"chu-tai-khoan", "ecdsa-signer"} {
		t.Run(who, func(t *testing.T) {
			body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
				c := dsChild(x509Data(dsSigs(root)[1]), "X509Certificate")
				c.SetText(certB64(t, who))
			})
			wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
		})
	}
}

// The outer signature's certificate is swapped for an untrusted, expired or
// revoked one: the trust decision comes first.
func TestAttackKeyInfo_CertificateSwappedForUnacceptableOne(t *testing.T) {
	b, _ := baselineXML(t)
	for who, code := range map[string]string{
		"untrusted-signer": "certificate-untrusted",
		"expired":          "certificate-expired",
		"revoked":          "certificate-revoked",
	} {
		t.Run(who, func(t *testing.T) {
			body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
				dsChild(x509Data(dsSigs(root)[1]), "X509Certificate").SetText(certB64(t, who))
			})
			wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), code)
		})
	}
}

// Extra KeyInfo content the profile ignores (X509IssuerSerial,
// RetrievalMethod, a KeyValue of another key) changes nothing: the key is the
// trusted certificate's.
func TestAttackKeyInfo_ExtraElementsAreIgnored(t *testing.T) {
	b, signed := baselineXML(t)
	other := loadSigner(t, "ecdsa-signer").Leaf()
	adds := map[string]func(sig *etree.Element){
		"X509IssuerSerial": func(sig *etree.Element) {
			is := x509Data(sig).CreateElement("ds:X509IssuerSerial")
			is.CreateElement("ds:X509IssuerName").SetText(other.Issuer.String())
			is.CreateElement("ds:X509SerialNumber").SetText(other.SerialNumber.String())
		},
		"X509SubjectName of another signer": func(sig *etree.Element) {
			x509Data(sig).CreateElement("ds:X509SubjectName").SetText(other.Subject.String())
		},
		"RetrievalMethod": func(sig *etree.Element) {
			rm := keyInfo(sig).CreateElement("ds:RetrievalMethod")
			rm.CreateAttr("URI", "http://attacker.invalid/cert.der")
			rm.CreateAttr("Type", "http://www.w3.org/2000/09/xmldsig#rawX509Certificate")
		},
		"KeyValue of another key (first)": func(sig *etree.Element) {
			kv := etree.NewElement("ds:KeyValue")
			kv.CreateElement("ds:RSAKeyValue").CreateElement("ds:Modulus").SetText(base64.StdEncoding.EncodeToString([]byte("attacker modulus")))
			keyInfo(sig).InsertChildAt(0, kv)
		},
		"KeyName": func(sig *etree.Element) { keyInfo(sig).CreateElement("ds:KeyName").SetText("Tran Thi B") },
	}
	for name, add := range adds {
		t.Run(name, func(t *testing.T) {
			body := edit(t, b, func(_ *etree.Document, root *etree.Element) { add(dsSigs(root)[1]) })
			wantSameAsSigned(t, run(t, xmlSub(proc, body), svcOptions{}), signed)
			// the same change to the inner signature alters what the outer one signed
			body = edit(t, b, func(_ *etree.Document, root *etree.Element) { add(dsSigs(root)[0]) })
			wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
		})
	}
}

// KeyInfo variants that must not be trusted.
func TestAttackKeyInfo_Malformed(t *testing.T) {
	b, _ := baselineXML(t)
	cases := []struct {
		name string
		f    func(sig *etree.Element)
		code []string
	}{
		{"no KeyInfo", func(sig *etree.Element) { sig.RemoveChild(keyInfo(sig)) }, []string{"certificate-untrusted"}},
		{"KeyValue only", func(sig *etree.Element) {
			ki := keyInfo(sig)
			ki.RemoveChild(x509Data(sig))
			ki.CreateElement("ds:KeyValue").CreateElement("ds:RSAKeyValue")
		}, []string{"certificate-untrusted"}},
		{"two X509Data, another signer's first", func(sig *etree.Element) {
			xd := etree.NewElement("ds:X509Data")
			xd.CreateElement("ds:X509Certificate").SetText(certB64(t, "chu-tai-khoan"))
			keyInfo(sig).InsertChildAt(0, xd)
		}, []string{"certificate-untrusted", codeSigInv}},
		{"two KeyInfo", func(sig *etree.Element) {
			ki := etree.NewElement("ds:KeyInfo")
			ki.CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").SetText(certB64(t, "chu-tai-khoan"))
			sig.InsertChildAt(keyInfo(sig).Index(), ki)
		}, []string{"certificate-untrusted", codeSigInv}},
		{"chain reversed (CA first)", func(sig *etree.Element) {
			xd := x509Data(sig)
			cs := xd.ChildElements()
			xd.RemoveChild(cs[1])
			xd.InsertChildAt(0, cs[1])
		}, []string{"certificate-untrusted", codeSigInv}},
		{"another signer's certificate first", func(sig *etree.Element) {
			c := etree.NewElement("ds:X509Certificate")
			c.SetText(certB64(t, "chu-tai-khoan"))
			x509Data(sig).InsertChildAt(0, c)
		}, []string{codeSigInv}},
		{"certificate not base64", func(sig *etree.Element) {
			dsChild(x509Data(sig), "X509Certificate").SetText("!!!")
		}, []string{"certificate-untrusted"}},
		{"empty X509Data", func(sig *etree.Element) {
			xd := x509Data(sig)
			for _, c := range xd.ChildElements() {
				xd.RemoveChild(c)
			}
		}, []string{"certificate-untrusted"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := edit(t, b, func(_ *etree.Document, root *etree.Element) { c.f(dsSigs(root)[1]) })
			wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), c.code...)
		})
	}
}

// A certificate in a foreign namespace (local name X509Certificate) placed
// before the real one: the profile skips it; goxmldsig must not use it.
func TestAttackKeyInfo_ForeignNamespaceCertificate(t *testing.T) {
	b, signed := baselineXML(t)
	for _, who := range []string{"chu-tai-khoan", "ke-toan-truong"} {
		t.Run(who, func(t *testing.T) {
			body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
				c := etree.NewElement("x:X509Certificate")
				c.CreateAttr("xmlns:x", "urn:attacker")
				c.SetText(certB64(t, who))
				x509Data(dsSigs(root)[1]).InsertChildAt(0, c)
			})
			wantRefusedOrSame(t, run(t, xmlSub(proc, body), svcOptions{}), signed, codeSigInv, "certificate-untrusted")
		})
	}
}

// ---- SignedInfo ----

// SignedInfo of the outer signature changed in ways a permissive verifier
// might follow.
func TestAttackSignedInfo_Alterations(t *testing.T) {
	b, _ := baselineXML(t)
	const (
		c14nInc = `Algorithm="` + xmlsig.C14N10 + `"`
		tr      = `<ds:Transform Algorithm="` + xmlsig.C14N10 + `"/>`
	)
	outer := func(f func(s string) string) []byte {
		s := string(b)
		i := strings.LastIndex(s, "<ds:Signature ")
		return []byte(s[:i] + f(s[i:]))
	}
	cases := []struct {
		name string
		body []byte
		code []string
	}{
		{"second Reference to a forged element", outer(func(s string) string {
			return strings.Replace(s, "</ds:Reference>", `</ds:Reference><ds:Reference URI="#EVIL"><ds:Transforms><ds:Transform Algorithm="`+xmlsig.Enveloped+`"/>`+tr+`</ds:Transforms><ds:DigestMethod Algorithm="`+xmlsig.DigestSHA256+`"/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference>`, 1)
		}), []string{codeSigInv}},
		{"XPath transform instead of C14N", outer(func(s string) string {
			return strings.Replace(s, tr, `<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>not(ancestor-or-self::taiLieu)</ds:XPath></ds:Transform>`, 1)
		}), []string{"signature-algorithm-not-allowed"}},
		{"XPath filter child in the C14N transform", outer(func(s string) string {
			return strings.Replace(s, tr, `<ds:Transform Algorithm="`+xmlsig.C14N10+`"><ds:XPath>1</ds:XPath></ds:Transform>`, 1)
		}), []string{"signature-algorithm-not-allowed"}},
		{"XPath filter 2.0 transform added", outer(func(s string) string {
			return strings.Replace(s, tr, tr+`<ds:Transform Algorithm="http://www.w3.org/2002/06/xmldsig-filter2"/>`, 1)
		}), []string{"signature-algorithm-not-allowed"}},
		{"CanonicalizationMethod changed to exclusive", outer(func(s string) string {
			return strings.Replace(s, `<ds:CanonicalizationMethod `+c14nInc, `<ds:CanonicalizationMethod Algorithm="`+xmlsig.ExcC14N+`"`, 1)
		}), []string{codeSigInv}},
		{"Reference transform changed to exclusive", outer(func(s string) string {
			return strings.Replace(s, tr, `<ds:Transform Algorithm="`+xmlsig.ExcC14N+`"/>`, 1)
		}), []string{codeSigInv}},
		{"C14N 1.1", outer(func(s string) string {
			return strings.Replace(s, tr, `<ds:Transform Algorithm="http://www.w3.org/2006/12/xml-c14n11"/>`, 1)
		}), []string{"signature-algorithm-not-allowed"}},
		{"C14N with comments (not configured)", outer(func(s string) string {
			return strings.Replace(s, tr, `<ds:Transform Algorithm="`+xmlsig.C14N10Comments+`"/>`, 1)
		}), []string{"signature-algorithm-not-allowed"}},
		{"no C14N transform", outer(func(s string) string { return strings.Replace(s, tr, "", 1) }), []string{"signature-algorithm-not-allowed"}},
		{"no Transforms", outer(func(s string) string {
			i, j := strings.Index(s, "<ds:Transforms>"), strings.Index(s, "</ds:Transforms>")
			return s[:i] + s[j+len("</ds:Transforms>"):]
		}), []string{"signature-algorithm-not-allowed"}},
		{"enveloped transform twice", outer(func(s string) string {
			return strings.Replace(s, tr, `<ds:Transform Algorithm="`+xmlsig.Enveloped+`"/>`+tr, 1)
		}), []string{"signature-algorithm-not-allowed"}},
		{"SHA-1 digest", outer(func(s string) string {
			return strings.Replace(s, xmlsig.DigestSHA256, xmlsig.DigestSHA1, 1)
		}), []string{"signature-algorithm-not-allowed"}},
		{"RSA-SHA1 signature method", outer(func(s string) string {
			return strings.Replace(s, xmlsig.RSASHA256, xmlsig.RSASHA1, 1)
		}), []string{"signature-algorithm-not-allowed"}},
		{"HMAC signature method", outer(func(s string) string {
			return strings.Replace(s, xmlsig.RSASHA256, "http://www.w3.org/2000/09/xmldsig#hmac-sha1", 1)
		}), []string{"signature-algorithm-not-allowed"}},
		{"Reference URI emptied", outer(func(s string) string {
			return strings.Replace(s, `URI="#`+signedID+`"`, `URI=""`, 1)
		}), []string{codeSigInv}},
		{"Reference URI to another Id", outer(func(s string) string {
			return strings.Replace(s, `URI="#`+signedID+`"`, `URI="#HS-EVIL"`, 1)
		}), []string{codeSigInv}},
		{"InclusiveNamespaces PrefixList in the transform", outer(func(s string) string {
			return strings.Replace(s, tr, `<ds:Transform Algorithm="`+xmlsig.ExcC14N+`"><ec:InclusiveNamespaces xmlns:ec="`+xmlsig.ExcC14N+`" PrefixList="foo"/></ds:Transform>`, 1)
		}), []string{"signature-algorithm-not-allowed"}},
		{"whitespace between SignedInfo children", outer(func(s string) string {
			return strings.Replace(s, "<ds:SignatureMethod ", "\n<ds:SignatureMethod ", 1)
		}), []string{codeSigInv}},
		{"second URI attribute in another namespace", outer(func(s string) string {
			return strings.Replace(s, `URI="#`+signedID+`"`, `URI="#`+signedID+`" xmlns:x="urn:x" x:URI="#HS-EVIL"`, 1)
		}), []string{codeSigInv}},
		{"ds:Object added to Signature", outer(func(s string) string {
			return strings.Replace(s, "</ds:SignatureValue>", "</ds:SignatureValue><ds:Object>"+forgedSum+"</ds:Object>", 1)
		}), []string{codeSigInv}},
		{"second SignedInfo", outer(func(s string) string {
			i, j := strings.Index(s, "<ds:SignedInfo>"), strings.Index(s, "</ds:SignedInfo>")+len("</ds:SignedInfo>")
			return s[:j] + s[i:j] + s[j:]
		}), []string{codeSigInv}},
		{"second SignatureValue", outer(func(s string) string {
			return strings.Replace(s, "</ds:SignatureValue>", "</ds:SignatureValue><ds:SignatureValue>AAAA</ds:SignatureValue>", 1)
		}), []string{codeSigInv}},
		{"SignatureValue emptied", outer(func(s string) string {
			i, j := strings.Index(s, "<ds:SignatureValue>")+len("<ds:SignatureValue>"), strings.Index(s, "</ds:SignatureValue>")
			return s[:i] + s[j:]
		}), []string{codeSigInv}},
		{"DigestValue of the forged content", func() []byte {
			// the attacker recomputes the digest; the SignatureValue no longer matches
			forged := replaceOnce(t, b, signedSum, forgedSum)
			return forged
		}(), []string{codeSigInv}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if bytes.Equal(c.body, b) {
				t.Fatal("the alteration did not apply")
			}
			wantRefused(t, run(t, xmlSub(proc, c.body), svcOptions{}), c.code...)
		})
	}
}

// The outer Signature element itself is not signed (only its SignedInfo):
// attributes, text, comments and processing instructions added there, or a
// comment inside its SignedInfo (removed by C14N without comments), change
// nothing that is read.
func TestAttackSignedInfo_UnsignedPartsOfOuterSignature(t *testing.T) {
	b, signed := baselineXML(t)
	outer := func(f func(s string) string) []byte {
		s := string(b)
		i := strings.LastIndex(s, "<ds:Signature ")
		return []byte(s[:i] + f(s[i:]))
	}
	for name, body := range map[string][]byte{
		"Id attribute on Signature": outer(func(s string) string {
			return strings.Replace(s, "<ds:Signature ", `<ds:Signature Id="`+signedID+`" `, 1)
		}),
		"text inside Signature": outer(func(s string) string {
			return strings.Replace(s, "<ds:SignatureValue>", "987500000<ds:SignatureValue>", 1)
		}),
		"comment inside Signature": outer(func(s string) string {
			return strings.Replace(s, "<ds:KeyInfo>", "<!--<tongSoTien>987500000</tongSoTien>--><ds:KeyInfo>", 1)
		}),
		"comment inside SignedInfo": outer(func(s string) string {
			return strings.Replace(s, "<ds:SignatureMethod ", "<!--x--><ds:SignatureMethod ", 1)
		}),
		"comment inside DigestValue": outer(func(s string) string {
			return strings.Replace(s, "<ds:DigestValue>", "<ds:DigestValue><!--x-->", 1)
		}),
	} {
		t.Run(name, func(t *testing.T) {
			wantSameAsSigned(t, run(t, xmlSub(proc, body), svcOptions{}), signed)
		})
	}
	t.Run("the same on the inner signature is covered by the outer one", func(t *testing.T) {
		s := string(b)
		i := strings.Index(s, "<ds:Signature ")
		body := []byte(s[:i] + strings.Replace(s[i:], "<ds:Signature ", `<ds:Signature Id="x" `, 1))
		wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
	})
}

// A huge base64 SignatureValue (1 MiB).
func TestAttackSignedInfo_HugeSignatureValue(t *testing.T) {
	b, _ := baselineXML(t)
	s := string(b)
	i := strings.LastIndex(s, "<ds:SignatureValue>") + len("<ds:SignatureValue>")
	j := strings.LastIndex(s, "</ds:SignatureValue>")
	body := []byte(s[:i] + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xA5}, 768<<10)) + s[j:])
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
}

// Line breaks inside the base64 of the SignatureValue and certificate
// (allowed by XML-DSig) change nothing.
func TestAttackSignedInfo_Base64LineBreaks(t *testing.T) {
	b, signed := baselineXML(t)
	body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
		sig := dsSigs(root)[1]
		sv := dsChild(sig, "SignatureValue")
		v := sv.Text()
		sv.SetText(v[:40] + "\n" + v[40:100] + "\r\n" + v[100:])
		c := dsChild(x509Data(sig), "X509Certificate")
		cv := c.Text()
		c.SetText(cv[:64] + "\n" + cv[64:])
	})
	wantRefusedOrSame(t, run(t, xmlSub(proc, body), svcOptions{}), signed, codeSigInv, "certificate-untrusted")
}

// ---- parsing and canonicalization ----

// DOCTYPE with an internal entity that would change the amount.
func TestAttackParse_DoctypeEntity(t *testing.T) {
	b, _ := baselineXML(t)
	body := replaceOnce(t, b, "<HoSo ", `<!DOCTYPE HoSo [<!ENTITY amt "987500000">]><HoSo `)
	body = replaceOnce(t, body, signedSum, "<tongSoTien>&amt;</tongSoTien>")
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "xml-doctype-forbidden")
	ext := replaceOnce(t, b, "<HoSo ", `<!DOCTYPE HoSo SYSTEM "http://attacker.invalid/x.dtd"><HoSo `)
	wantRefused(t, run(t, xmlSub(proc, ext), svcOptions{}), "xml-doctype-forbidden")
	lower := replaceOnce(t, b, "<HoSo ", `<!doctype HoSo><HoSo `)
	wantRefused(t, run(t, xmlSub(proc, lower), svcOptions{}), "xml-doctype-forbidden", "malformed-body")
}

// An entity declaration or a marked section inside the signed part.
func TestAttackParse_DeclarationsInsideRoot(t *testing.T) {
	b, _ := baselineXML(t)
	for name, inj := range map[string]string{
		"ENTITY":          `<!ENTITY amt "987500000">`,
		"ATTLIST default": `<!ATTLIST maKBNN Id CDATA "x">`,
		"IGNORE section":  `<![IGNORE[<tongSoTien>1</tongSoTien>]]>`,
	} {
		t.Run(name, func(t *testing.T) {
			body := replaceOnce(t, b, "<maKBNN>", inj+"<maKBNN>")
			wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "xml-doctype-forbidden", "malformed-body")
		})
	}
}

// An undeclared entity reference.
func TestAttackParse_UndeclaredEntityReference(t *testing.T) {
	b, _ := baselineXML(t)
	body := replaceOnce(t, b, signedSum, "<tongSoTien>&amt;</tongSoTien>")
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "malformed-body")
}

// A comment inside signed text does not change a C14N digest without
// comments; the value read must be the signed text, not the part before
// the comment.
func TestAttackParse_CommentInsideSignedText(t *testing.T) {
	for _, c := range []struct {
		name string
		body func(t *testing.T) []byte
	}{
		{"inclusive", func(t *testing.T) []byte { return xmlFixture(t, proc) }},
		{"exclusive", func(t *testing.T) []byte { return excSigned(t) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.body(t)
			signed := mustAccept(t, xmlSub(proc, b))
			for name, repl := range map[string]string{
				"split amount":     "<tongSoTien>9<!---->87500000</tongSoTien>",
				"split amount 2":   "<tongSoTien>187500000<!--0--></tongSoTien>",
				"comment first":    "<tongSoTien><!--987500000-->187500000</tongSoTien>",
				"comment element":  "<tongSoTien>187500000</tongSoTien><!--<tongSoTien>1</tongSoTien>-->",
				"comment in split": "<tongSoTien>1875<!--x-->00000</tongSoTien>",
			} {
				t.Run(name, func(t *testing.T) {
					body := replaceOnce(t, b, signedSum, repl)
					out := run(t, xmlSub(proc, body), svcOptions{})
					if name == "split amount" {
						// the digest covers "987500000", not the signed "187500000"
						wantRefused(t, out, codeSigInv)
						return
					}
					wantSameAsSigned(t, out, signed)
				})
			}
		})
	}
}

// With comments in the canonicalization (configured), a comment is signed
// content: inserting one breaks the signature.
func TestAttackParse_CommentWithCommentsC14N(t *testing.T) {
	pol := &xmlsig.Policy{WithComments: true}
	for _, c14n := range []signing.Canonicalization{signing.C14N10WithComments, signing.ExcC14NWithComments} {
		t.Run(string(c14n), func(t *testing.T) {
			b := signXML(t, template(t, proc, "xml"), signing.XMLOptions{Canonicalization: c14n}, both...)
			out := run(t, xmlSub(proc, b), svcOptions{policy: pol})
			if out.err != nil {
				t.Fatalf("baseline with comments refused: %v", out.err)
			}
			body := replaceOnce(t, b, "<tongSoTien>187500000</tongSoTien>", "<tongSoTien>1875<!--x-->00000</tongSoTien>")
			wantRefused(t, run(t, xmlSub(proc, body), svcOptions{policy: pol}), codeSigInv)
		})
	}
}

// A comment signed inside a value (with-comments canonicalization) must not
// make the adapter read only the text before the comment.
func TestAttackParse_SignedCommentInsideValueWithComments(t *testing.T) {
	pol := &xmlsig.Policy{WithComments: true}
	tmpl := replaceOnce(t, template(t, proc, "xml"), "<maDVQHNS>1012345</maDVQHNS>", "<maDVQHNS>1012<!--c-->345</maDVQHNS>")
	b := signXML(t, tmpl, signing.XMLOptions{Canonicalization: signing.C14N10WithComments}, both...)
	out := run(t, xmlSub(proc, b), svcOptions{policy: pol})
	if out.err != nil {
		t.Logf("refused: %v", out.err)
		return
	}
	if got := out.calls[0].request["budgetUnitCode"]; got != "1012345" {
		t.Errorf("signed text 1012<!--c-->345 sent as budgetUnitCode %v, not 1012345", got)
	}
}

// CDATA sections and character references are the same characters.
func TestAttackParse_CDATAAndCharacterReferences(t *testing.T) {
	b, signed := baselineXML(t)
	for name, repl := range map[string]string{
		"CDATA whole":          "<tongSoTien><![CDATA[187500000]]></tongSoTien>",
		"CDATA part":           "<tongSoTien>1875<![CDATA[000]]>00</tongSoTien>",
		"decimal reference":    "<tongSoTien>&#49;87500000</tongSoTien>",
		"hex reference":        "<tongSoTien>&#x31;8750000&#x30;</tongSoTien>",
		"predefined in CDATA":  "<tongSoTien>187500000<![CDATA[]]></tongSoTien>",
		"reference in a name?": "<tongSoTien>187500000</tongSoTien >",
	} {
		t.Run(name, func(t *testing.T) {
			wantSameAsSigned(t, run(t, xmlSub(proc, replaceOnce(t, b, signedSum, repl)), svcOptions{}), signed)
		})
	}
	t.Run("CDATA with markup is text", func(t *testing.T) {
		body := replaceOnce(t, b, signedSum, "<tongSoTien><![CDATA[<x/>]]>187500000</tongSoTien>")
		wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
	})
	t.Run("carriage return reference", func(t *testing.T) {
		body := replaceOnce(t, b, "<maKBNN>0011</maKBNN>", "<maKBNN>0011&#13;</maKBNN>")
		wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
	})
	t.Run("CRLF line ends", func(t *testing.T) {
		body := bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
		wantSameAsSigned(t, run(t, xmlSub(proc, body), svcOptions{}), signed)
	})
	t.Run("attribute quotes and spaces in tags", func(t *testing.T) {
		body := replaceOnce(t, b, `<HoSo Id="`+signedID+`">`, "<HoSo\n  Id = '"+signedID+"' >")
		body = replaceOnce(t, body, "<maKBNN>0011</maKBNN>", "<maKBNN >0011</maKBNN\n>")
		wantSameAsSigned(t, run(t, xmlSub(proc, body), svcOptions{}), signed)
	})
	t.Run("leading zero in the amount", func(t *testing.T) {
		body := replaceOnce(t, b, signedSum, "<tongSoTien>0187500000</tongSoTien>")
		wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
	})
	t.Run("whitespace around the amount", func(t *testing.T) {
		body := replaceOnce(t, b, signedSum, "<tongSoTien> 187500000 </tongSoTien>")
		wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
	})
}

// Processing instructions: inside the root they are signed content (C14N
// keeps them); in the prolog or after the root they are outside it.
func TestAttackParse_ProcessingInstructions(t *testing.T) {
	b, signed := baselineXML(t)
	// The parser refuses every processing instruction but the XML
	// declaration, before any signature is looked at.
	t.Run("inside the root", func(t *testing.T) {
		body := replaceOnce(t, b, "<maKBNN>", "<?amount 987500000?><maKBNN>")
		wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "malformed-body")
	})
	t.Run("inside a value", func(t *testing.T) {
		body := replaceOnce(t, b, signedSum, "<tongSoTien>1875<?x?>00000</tongSoTien>")
		wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "malformed-body")
	})
	t.Run("inside a Signature", func(t *testing.T) {
		i := bytes.LastIndex(b, []byte("<ds:KeyInfo>"))
		body := append(append(append([]byte{}, b[:i]...), []byte("<?x y?>")...), b[i:]...)
		wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "malformed-body")
	})
	t.Run("prolog and epilog", func(t *testing.T) {
		body := replaceOnce(t, b, "<HoSo ", "<?xml-stylesheet href=\"evil.xsl\"?><!--x--><HoSo ")
		body = append(body, []byte("<?amount 987500000?><!-- after -->")...)
		wantRefusedOrSame(t, run(t, xmlSub(proc, body), svcOptions{}), signed, "malformed-body")
	})
}

// Namespace and xml:* attributes added to the root or inside it.
func TestAttackParse_NamespacesAndXMLAttributes(t *testing.T) {
	incl, inclSigned := baselineXML(t)
	exc := excSigned(t)
	excSignedVal := mustAccept(t, xmlSub(proc, exc))
	rootTag := func(b []byte) string {
		s := string(b)
		i := strings.Index(s, "<HoSo")
		return s[i : i+strings.Index(s[i:], ">")+1]
	}
	type doc struct {
		name   string
		b      []byte
		signed sent
		exc    bool
	}
	for _, d := range []doc{{"inclusive", incl, inclSigned, false}, {"exclusive", exc, excSignedVal, true}} {
		t.Run(d.name, func(t *testing.T) {
			root := rootTag(d.b)
			withAttr := func(attr string) []byte {
				return replaceOnce(t, d.b, root, strings.TrimSuffix(root, ">")+" "+attr+">")
			}
			for _, c := range []struct {
				name string
				attr string
			}{
				{"xml:base", `xml:base="http://attacker.invalid/"`},
				{"xml:lang", `xml:lang="en"`},
				{"xml:space", `xml:space="preserve"`},
				{"default namespace", `xmlns="urn:attacker"`},
				{"attribute in a namespace", `xmlns:a="urn:a" a:amount="987500000"`},
				{"plain attribute", `amount="987500000"`},
			} {
				t.Run(c.name, func(t *testing.T) {
					wantRefused(t, run(t, xmlSub(proc, withAttr(c.attr)), svcOptions{}), codeSigInv)
				})
			}
			t.Run("unused namespace declaration on the root", func(t *testing.T) {
				out := run(t, xmlSub(proc, withAttr(`xmlns:foo="urn:unused"`)), svcOptions{})
				if d.exc {
					wantSameAsSigned(t, out, d.signed)
				} else {
					wantRefused(t, out, codeSigInv)
				}
			})
			t.Run("unused namespace declaration inside", func(t *testing.T) {
				body := replaceOnce(t, d.b, "<taiLieu>", `<taiLieu xmlns:foo="urn:unused">`)
				out := run(t, xmlSub(proc, body), svcOptions{})
				if d.exc {
					wantSameAsSigned(t, out, d.signed)
				} else {
					wantRefused(t, out, codeSigInv)
				}
			})
			t.Run("ds namespace hoisted to the root", func(t *testing.T) {
				body := bytes.ReplaceAll(d.b, []byte(`<ds:Signature xmlns:ds="`+dsNS+`">`), []byte("<ds:Signature>"))
				body = replaceOnce(t, body, root, strings.TrimSuffix(root, ">")+` xmlns:ds="`+dsNS+`">`)
				out := run(t, xmlSub(proc, body), svcOptions{})
				if d.exc {
					wantSameAsSigned(t, out, d.signed)
				} else {
					wantRefused(t, out, codeSigInv)
				}
			})
			t.Run("default namespace undeclared inside", func(t *testing.T) {
				body := replaceOnce(t, d.b, "<taiLieu>", `<taiLieu xmlns="">`)
				// xmlns="" where no default namespace is in scope is superfluous
				wantRefusedOrSame(t, run(t, xmlSub(proc, body), svcOptions{}), d.signed, codeSigInv)
			})
			t.Run("element moved into a namespace", func(t *testing.T) {
				body := replaceOnce(t, d.b, "<taiLieu>", `<taiLieu xmlns="urn:attacker">`)
				wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv)
			})
		})
	}
}

// The root element renamed or put in a namespace.
func TestAttackParse_RootRenamed(t *testing.T) {
	b, _ := baselineXML(t)
	for name, tags := range map[string][2]string{
		"renamed":         {"<HoSoX ", "</HoSoX>"},
		"prefixed":        {`<x:HoSo xmlns:x="urn:x" `, "</x:HoSo>"},
		"ds namespace":    {`<ds:HoSo xmlns:ds="` + dsNS + `" `, "</ds:HoSo>"},
		"root Signature?": {`<Signature xmlns="` + dsNS + `" `, "</Signature>"},
	} {
		t.Run(name, func(t *testing.T) {
			body := replaceOnce(t, b, "<HoSo ", tags[0])
			body = replaceOnce(t, body, "</HoSo>", tags[1])
			wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), codeSigInv, "signature-missing", "malformed-body")
		})
	}
}

// Bytes before the document: whitespace, a UTF-8 BOM, a UTF-16 BOM.
func TestAttackParse_Prefixes(t *testing.T) {
	b, signed := baselineXML(t)
	t.Run("whitespace before the declaration", func(t *testing.T) {
		wantRefusedOrSame(t, run(t, xmlSub(proc, append([]byte(" \n"), b...)), svcOptions{}), signed, "malformed-body")
	})
	t.Run("UTF-8 BOM", func(t *testing.T) {
		wantRefusedOrSame(t, run(t, xmlSub(proc, append([]byte{0xEF, 0xBB, 0xBF}, b...)), svcOptions{}), signed, "malformed-body")
	})
	t.Run("no declaration", func(t *testing.T) {
		s := string(b)
		body := []byte(s[strings.Index(s, "<HoSo"):])
		wantSameAsSigned(t, run(t, xmlSub(proc, body), svcOptions{}), signed)
	})
}

// Declared or actual encodings other than UTF-8.
func TestAttackParse_Encodings(t *testing.T) {
	b, _ := baselineXML(t)
	decl := `<?xml version="1.0" encoding="UTF-8"?>`
	for _, enc := range []string{"UTF-16", "ISO-8859-1", "windows-1258", "US-ASCII", "UTF-7"} {
		t.Run("declared "+enc, func(t *testing.T) {
			body := replaceOnce(t, b, decl, `<?xml version="1.0" encoding="`+enc+`"?>`)
			wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "malformed-body")
		})
	}
	t.Run("UTF-16LE body", func(t *testing.T) {
		s := strings.Replace(string(b), decl, `<?xml version="1.0" encoding="UTF-16"?>`, 1)
		u := utf16.Encode([]rune(s))
		body := []byte{0xFF, 0xFE}
		for _, r := range u {
			body = binary.LittleEndian.AppendUint16(body, r)
		}
		// the byte scanner sees the NUL bytes first and reports a limit
		wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "malformed-body", "limit-exceeded")
	})
	t.Run("invalid UTF-8 in a value", func(t *testing.T) {
		body := replaceOnce(t, b, "<maKBNN>0011</maKBNN>", "<maKBNN>0011\xff</maKBNN>")
		wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "malformed-body", codeSigInv)
	})
	t.Run("XML 1.1 declared", func(t *testing.T) {
		body := replaceOnce(t, b, decl, `<?xml version="1.1" encoding="UTF-8"?>`)
		wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "malformed-body")
	})
}

// Bytes after the root element.
func TestAttackParse_TrailingData(t *testing.T) {
	b, signed := baselineXML(t)
	for name, tail := range map[string]string{
		"text":            "garbage 987500000",
		"element":         "<tongSoTien>987500000</tongSoTien>",
		"unclosed markup": "<",
		"NUL":             "\x00",
		"whitespace":      "\n\n  ",
	} {
		t.Run(name, func(t *testing.T) {
			body := append(append([]byte{}, b...), tail...)
			wantRefusedOrSame(t, run(t, xmlSub(proc, body), svcOptions{}), signed, "malformed-body")
		})
	}
}

// Very deep documents: inside the signed content and inside the unsigned
// KeyInfo of the outer signature.
func TestAttackLimits_Depth(t *testing.T) {
	b, _ := baselineXML(t)
	deep := strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40)
	wantRefused(t, run(t, xmlSub(proc, replaceOnce(t, b, "<maKBNN>", deep+"<maKBNN>")), svcOptions{}), "limit-exceeded")
	body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
		el := keyInfo(dsSigs(root)[1])
		for i := 0; i < 40; i++ {
			el = el.CreateElement("ds:KeyName")
		}
	})
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "limit-exceeded")
	// self-closing tags and end tags must be counted the same way by the
	// pre-parse scanner and the parser
	selfClosing := strings.Repeat("<a/>", 100) + strings.Repeat("<b x='>'>", 40) + strings.Repeat("</b>", 40)
	wantRefused(t, run(t, xmlSub(proc, replaceOnce(t, b, "<maKBNN>", selfClosing+"<maKBNN>")), svcOptions{}), "limit-exceeded")
}

// Very wide documents: more elements than the limit, in the unsigned KeyInfo.
func TestAttackLimits_Width(t *testing.T) {
	b, _ := baselineXML(t)
	wide := strings.Repeat("<ds:KeyName/>", 200_001)
	body := replaceOnce(t, b, "</ds:KeyInfo></ds:Signature></HoSo>", wide+"</ds:KeyInfo></ds:Signature></HoSo>")
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "limit-exceeded")
	// with a small configured limit, a normal dossier is refused before any crypto
	lim := &xmlsig.Limits{MaxElements: 20}
	wantRefused(t, run(t, xmlSub(proc, b), svcOptions{limits: lim}), "limit-exceeded")
}

// Below the element limit but far beyond goxmldsig's 1,000-element traversal
// budget, in the outer signature's KeyInfo (before or after the certificate).
func TestAttackLimits_ManyElementsInKeyInfo(t *testing.T) {
	b, signed := baselineXML(t)
	junk := strings.Repeat("<ds:KeyName>x</ds:KeyName>", 5000)
	before := replaceOnce(t, b, "</ds:KeyInfo></ds:Signature></HoSo>", junk+"</ds:KeyInfo></ds:Signature></HoSo>")
	wantRefusedOrSame(t, run(t, xmlSub(proc, before), svcOptions{}), signed, codeSigInv)
}

// More signatures than the configured maximum.
func TestAttackLimits_TooManySignatures(t *testing.T) {
	b, _ := baselineXML(t)
	body := edit(t, b, func(_ *etree.Document, root *etree.Element) {
		s := dsSigs(root)[1]
		for i := 0; i < 3; i++ {
			root.AddChild(s.Copy())
		}
	})
	wantRefused(t, run(t, xmlSub(proc, body), svcOptions{}), "limit-exceeded")
}

// ---- JSON ----

func baselineJSON(t testing.TB) ([]byte, string, sent) {
	t.Helper()
	body, sig := jsonFixture(t, proc)
	return body, sig, mustAccept(t, jsonSub(proc, body, sig))
}

func splitSigs(h string) []string { return strings.Split(h, ",") }

// The same signature twice in the header, to count one signer for two roles.
func TestAttackJSON_SameSignatureTwice(t *testing.T) {
	body, h, _ := baselineJSON(t)
	s := splitSigs(h)
	wantRefused(t, run(t, jsonSub(proc, body, s[0]+","+s[0]), svcOptions{}), "signer-role-missing")
	wantRefused(t, run(t, jsonSub(proc, body, s[1]+","+s[1]), svcOptions{}), "signer-role-missing")
	wantRefused(t, run(t, jsonSub(proc, body, s[0]+","+s[1]+","+s[0]), svcOptions{}), "signer-role-missing")
	// two distinct signatures by the same key (RSA PKCS#1 v1.5 is
	// deterministic, so use ES256 twice)
	es := signJWS(t, body, "chu-tai-khoan", "ecdsa-signer", "ecdsa-signer")
	wantRefused(t, run(t, jsonSub(proc, body, es), svcOptions{}), "signer-role-missing")
}

// Only the holder's signature.
func TestAttackJSON_ChiefSignatureDropped(t *testing.T) {
	body, h, _ := baselineJSON(t)
	wantRefused(t, run(t, jsonSub(proc, body, splitSigs(h)[0]), svcOptions{}), "signer-role-missing")
}

// The signatures of the valid dossier over an altered body.
func TestAttackJSON_SignaturesOverDifferentBody(t *testing.T) {
	body, h, _ := baselineJSON(t)
	altered := replaceOnce(t, body, `"tongSoTien": 187500000`, `"tongSoTien": 987500000`)
	wantRefused(t, run(t, jsonSub(proc, altered, h), svcOptions{}), codeSigInv)
	// the holder signs an altered draft; the chief's signature comes from the valid dossier
	mixed := signJWS(t, altered, "chu-tai-khoan") + "," + splitSigs(h)[1]
	wantRefused(t, run(t, jsonSub(proc, altered, mixed), svcOptions{}), codeSigInv)
	// cross-form: the XML dossier's content with the JSON signatures
	wantRefused(t, run(t, jsonSub(proc, xmlFixture(t, proc), h), svcOptions{}), codeSigInv)
}

// Duplicate keys: added to the signed body (unsigned), or signed by both
// (the signer's parser and the adapter's might read different values).
func TestAttackJSON_DuplicateKeys(t *testing.T) {
	body, h, _ := baselineJSON(t)
	dup := replaceOnce(t, body, `"tongSoTien": 187500000,`, `"tongSoTien": 187500000, "tongSoTien": 987500000,`)
	wantRefused(t, run(t, jsonSub(proc, dup, h), svcOptions{}), codeSigInv)
	wantRefused(t, run(t, jsonSub(proc, dup, signJWS(t, dup, both...)), svcOptions{}), "malformed-body")
	// keys that differ only in case, or by an escape
	for name, repl := range map[string]string{
		"case":   `"tongSoTien": 187500000, "TongSoTien": 987500000,`,
		"escape": `"tongSoTien": 187500000, "tongSo\u0054ien": 987500000,`,
	} {
		t.Run(name, func(t *testing.T) {
			b := replaceOnce(t, body, `"tongSoTien": 187500000,`, repl)
			wantRefused(t, run(t, jsonSub(proc, b, signJWS(t, b, both...)), svcOptions{}), "malformed-body", "schema-violation")
		})
	}
}

// Bytes after the JSON value.
func TestAttackJSON_TrailingBytes(t *testing.T) {
	body, h, signed := baselineJSON(t)
	for name, tail := range map[string]string{
		"second object": `{"tongSoTien": 987500000}`,
		"garbage":       "x",
		"NUL":           "\x00",
		"space":         " ",
	} {
		t.Run(name, func(t *testing.T) {
			b := append(append([]byte{}, body...), tail...)
			wantRefused(t, run(t, jsonSub(proc, b, h), svcOptions{}), codeSigInv)
			if name != "space" {
				wantRefused(t, run(t, jsonSub(proc, b, signJWS(t, b, both...)), svcOptions{}), "malformed-body")
			}
		})
	}
	t.Run("BOM prefix", func(t *testing.T) {
		// A byte-order mark added after signing breaks the signature; one
		// the signer's tool wrote (and signed) is read past, and the
		// treasury gets exactly the signed value.
		b := append([]byte{0xEF, 0xBB, 0xBF}, body...)
		wantRefused(t, run(t, jsonSub(proc, b, h), svcOptions{}), codeSigInv)
		wantSameAsSigned(t, run(t, jsonSub(proc, b, signJWS(t, b, both...)), svcOptions{}), signed)
		// A second mark is not a mark: it is U+FEFF before the value.
		bb := append([]byte{0xEF, 0xBB, 0xBF}, b...)
		wantRefused(t, run(t, jsonSub(proc, bb, signJWS(t, bb, both...)), svcOptions{}), "malformed-body")
	})
}

// jwsWith builds a detached compact JWS with the given protected header,
// signing "<b64 header>.<b64 body>" (or the raw body) with sign.
func jwsWith(header map[string]any, body []byte, rawPayload bool, sign func(in []byte) []byte) string {
	hb, _ := jsonMarshal(header)
	h := base64.RawURLEncoding.EncodeToString(hb)
	in := h + "." + base64.RawURLEncoding.EncodeToString(body)
	if rawPayload {
		in = h + "." + string(body)
	}
	return h + ".." + base64.RawURLEncoding.EncodeToString(sign([]byte(in)))
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func x5c(t testing.TB, name string) []string {
	t.Helper()
	var out []string
	for _, c := range loadSigner(t, name).Chain {
		out = append(out, base64.StdEncoding.EncodeToString(c.Raw))
	}
	return out
}

func rsaSign(t testing.TB, name string) func([]byte) []byte {
	return func(in []byte) []byte {
		key := loadSigner(t, name).Key.(*rsa.PrivateKey)
		sum := sha256.Sum256(in)
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, 5, sum[:]) // crypto.SHA256 == 5
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

// alg none, HS256 keyed with the certificate's public key, and an alg
// smuggled in a duplicate or case-variant member.
func TestAttackJSON_AlgorithmConfusion(t *testing.T) {
	body, h, _ := baselineJSON(t)
	altered := replaceOnce(t, body, `"tongSoTien": 187500000`, `"tongSoTien": 987500000`)
	chief := splitSigs(h)[1]
	leaf := loadSigner(t, "chu-tai-khoan").Leaf()
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	pkix, _ := x509.MarshalPKIXPublicKey(leaf.PublicKey)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
	hmacWith := func(key []byte) func([]byte) []byte {
		return func(in []byte) []byte { m := hmac.New(sha256.New, key); m.Write(in); return m.Sum(nil) }
	}
	for _, c := range []struct {
		name string
		sig  string
		code []string
	}{
		{"none", func() string {
			hb, _ := jsonMarshal(map[string]any{"alg": "none", "x5c": x5c(t, "chu-tai-khoan")})
			return base64.RawURLEncoding.EncodeToString(hb) + ".."
		}(), []string{"signature-algorithm-not-allowed", codeSigInv}},
		{"HS256 keyed with the DER certificate", jwsWith(map[string]any{"alg": "HS256", "x5c": x5c(t, "chu-tai-khoan")}, altered, false, hmacWith(leaf.Raw)), []string{"signature-algorithm-not-allowed"}},
		{"HS256 keyed with the PEM certificate", jwsWith(map[string]any{"alg": "HS256", "x5c": x5c(t, "chu-tai-khoan")}, altered, false, hmacWith(pemCert)), []string{"signature-algorithm-not-allowed"}},
		{"HS256 keyed with the PEM public key", jwsWith(map[string]any{"alg": "HS256", "x5c": x5c(t, "chu-tai-khoan")}, altered, false, hmacWith(pemKey)), []string{"signature-algorithm-not-allowed"}},
		{"HS256 keyed with the SPKI", jwsWith(map[string]any{"alg": "HS256", "x5c": x5c(t, "chu-tai-khoan")}, altered, false, hmacWith(leaf.RawSubjectPublicKeyInfo)), []string{"signature-algorithm-not-allowed"}},
		{"PS256 with the holder's key (not configured)", jwsWith(map[string]any{"alg": "PS256", "x5c": x5c(t, "chu-tai-khoan")}, altered, false, func([]byte) []byte { return []byte("x") }), []string{"signature-algorithm-not-allowed"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantRefused(t, run(t, jsonSub(proc, altered, c.sig+","+chief), svcOptions{}), c.code...)
		})
	}
	// Members that encoding/json folds together but go-jose keeps apart.
	rawHeader := func(hdr string) string {
		h := base64.RawURLEncoding.EncodeToString([]byte(hdr))
		in := h + "." + base64.RawURLEncoding.EncodeToString(altered)
		return h + ".." + base64.RawURLEncoding.EncodeToString(hmacWith(pemKey)([]byte(in)))
	}
	x := `["` + strings.Join(x5c(t, "chu-tai-khoan"), `","`) + `"]`
	for name, hdr := range map[string]string{
		"ALG then alg":     `{"ALG":"HS256","alg":"RS256","x5c":` + x + `}`,
		"alg then ALG":     `{"alg":"RS256","ALG":"HS256","x5c":` + x + `}`,
		"alg twice":        `{"alg":"RS256","alg":"HS256","x5c":` + x + `}`,
		"alg twice, RS256": `{"alg":"HS256","alg":"RS256","x5c":` + x + `}`,
	} {
		t.Run(name, func(t *testing.T) {
			wantRefused(t, run(t, jsonSub(proc, altered, rawHeader(hdr)+","+chief), svcOptions{}),
				"signature-algorithm-not-allowed", codeSigInv)
		})
	}
}

// b64:false (RFC 7797) and crit, even when really signed by both roles.
func TestAttackJSON_B64FalseAndCrit(t *testing.T) {
	body, _, _ := baselineJSON(t)
	unencoded := func(name string) string {
		s := loadSigner(t, name)
		opts := (&jose.SignerOptions{}).WithBase64(false).WithHeader("x5c", x5c(t, name))
		sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: s.Key}, opts)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := sg.Sign(body)
		if err != nil {
			t.Fatal(err)
		}
		out, err := obj.DetachedCompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	wantRefused(t, run(t, jsonSub(proc, body, unencoded("chu-tai-khoan")+","+unencoded("ke-toan-truong")), svcOptions{}), codeSigInv)
	for name, hdr := range map[string]map[string]any{
		"crit unknown":        {"alg": "RS256", "x5c": x5c(t, "chu-tai-khoan"), "crit": []string{"exp"}, "exp": 1},
		"b64 true":            {"alg": "RS256", "x5c": x5c(t, "chu-tai-khoan"), "b64": true, "crit": []string{"b64"}},
		"B64 false (case)":    {"alg": "RS256", "x5c": x5c(t, "chu-tai-khoan"), "B64": false},
		"jku":                 {"alg": "RS256", "x5c": x5c(t, "chu-tai-khoan"), "jku": "http://attacker.invalid/jwks"},
		"x5u":                 {"alg": "RS256", "x5c": x5c(t, "chu-tai-khoan"), "x5u": "http://attacker.invalid/cert"},
		"b64 false, raw body": {"alg": "RS256", "x5c": x5c(t, "chu-tai-khoan"), "b64": false},
	} {
		t.Run(name, func(t *testing.T) {
			raw := name == "b64 false, raw body"
			sig := jwsWith(hdr, body, raw, rsaSign(t, "chu-tai-khoan"))
			out := run(t, jsonSub(proc, body, sig+","+signJWS(t, body, "ke-toan-truong")), svcOptions{})
			if name == "B64 false (case)" {
				// an unknown member, but encoding/json folds case: either is safe
				if out.err == nil {
					t.Logf("accepted: B64 is an unknown member and the body is the signed one")
					return
				}
			}
			wantRefused(t, out, codeSigInv)
		})
	}
}

func attackerKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func selfSigned(t testing.TB, key *rsa.PrivateKey, title string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject: pkix.Name{CommonName: "Nguyen Van A", Organization: []string{"Don vi du toan 1012345"},
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: []int{2, 5, 4, 12}, Value: title}}},
		NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// The attacker signs the altered body with a key of their own and names a
// trusted signer (x5c) or embeds their key (jwk).
func TestAttackJSON_AttackerKey(t *testing.T) {
	body, h, _ := baselineJSON(t)
	altered := replaceOnce(t, body, `"tongSoTien": 187500000`, `"tongSoTien": 987500000`)
	chiefAltered := func() string { return splitSigs(h)[1] }()
	key := attackerKey(t)
	sign := func(opts *jose.SignerOptions) string {
		sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := sg.Sign(altered)
		if err != nil {
			t.Fatal(err)
		}
		s, err := obj.DetachedCompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	self := selfSigned(t, key, "Chu tai khoan")
	for _, c := range []struct {
		name string
		opts *jose.SignerOptions
		code []string
	}{
		{"x5c of the holder, attacker's key", (&jose.SignerOptions{}).WithHeader("x5c", x5c(t, "chu-tai-khoan")), []string{codeSigInv}},
		{"embedded jwk and x5c of the holder", (&jose.SignerOptions{EmbedJWK: true}).WithHeader("x5c", x5c(t, "chu-tai-khoan")), []string{codeSigInv}},
		{"embedded jwk only", &jose.SignerOptions{EmbedJWK: true}, []string{"certificate-untrusted"}},
		{"self-signed x5c with the holder's title", (&jose.SignerOptions{}).WithHeader("x5c", []string{base64.StdEncoding.EncodeToString(self.Raw)}), []string{"certificate-untrusted"}},
		{"x5c: holder leaf then attacker cert", (&jose.SignerOptions{}).WithHeader("x5c", append(x5c(t, "chu-tai-khoan"), base64.StdEncoding.EncodeToString(self.Raw))), []string{codeSigInv}},
		{"x5c: attacker cert then holder chain", (&jose.SignerOptions{}).WithHeader("x5c", append([]string{base64.StdEncoding.EncodeToString(self.Raw)}, x5c(t, "chu-tai-khoan")...)), []string{"certificate-untrusted"}},
		{"x5c: intermediate CA as leaf", (&jose.SignerOptions{}).WithHeader("x5c", x5c(t, "chu-tai-khoan")[1:]), []string{"certificate-untrusted", codeSigInv}},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantRefused(t, run(t, jsonSub(proc, altered, sign(c.opts)+","+chiefAltered), svcOptions{}), c.code...)
		})
	}
	t.Run("x5c member twice (case-folded)", func(t *testing.T) {
		for _, hdr := range []string{
			`{"alg":"RS256","x5c":["` + strings.Join(x5c(t, "chu-tai-khoan"), `","`) + `"],"X5C":["` + base64.StdEncoding.EncodeToString(self.Raw) + `"]}`,
			`{"alg":"RS256","X5C":["` + base64.StdEncoding.EncodeToString(self.Raw) + `"],"x5c":["` + strings.Join(x5c(t, "chu-tai-khoan"), `","`) + `"]}`,
		} {
			hb := base64.RawURLEncoding.EncodeToString([]byte(hdr))
			in := hb + "." + base64.RawURLEncoding.EncodeToString(altered)
			sum := sha256.Sum256([]byte(in))
			sg, _ := rsa.SignPKCS1v15(rand.Reader, key, 5, sum[:])
			s := hb + ".." + base64.RawURLEncoding.EncodeToString(sg)
			wantRefused(t, run(t, jsonSub(proc, altered, s+","+chiefAltered), svcOptions{}), codeSigInv, "certificate-untrusted")
		}
	})
	t.Run("ES256 header with an RSA certificate", func(t *testing.T) {
		ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		sg, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ek}, (&jose.SignerOptions{}).WithHeader("x5c", x5c(t, "chu-tai-khoan")))
		obj, _ := sg.Sign(altered)
		s, _ := obj.DetachedCompactSerialize()
		wantRefused(t, run(t, jsonSub(proc, altered, s+","+chiefAltered), svcOptions{}), codeSigInv)
	})
}

// Header framing: attached payloads, empty members, whitespace.
func TestAttackJSON_HeaderFraming(t *testing.T) {
	body, h, signed := baselineJSON(t)
	altered := replaceOnce(t, body, `"tongSoTien": 187500000`, `"tongSoTien": 987500000`)
	s := splitSigs(h)
	attach := func(sig string, payload []byte) string {
		p := strings.Split(sig, ".")
		return p[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + p[2]
	}
	t.Run("attached signed payload with an altered body", func(t *testing.T) {
		wantRefused(t, run(t, jsonSub(proc, altered, attach(s[0], body)+","+attach(s[1], body)), svcOptions{}), codeSigInv)
	})
	t.Run("empty member", func(t *testing.T) {
		wantRefused(t, run(t, jsonSub(proc, body, s[0]+",,"+s[1]), svcOptions{}), codeSigInv)
		wantRefused(t, run(t, jsonSub(proc, body, s[0]+","+s[1]+","), svcOptions{}), codeSigInv)
	})
	t.Run("JWS JSON serialization", func(t *testing.T) {
		p := strings.Split(s[0], ".")
		js := `{"protected":"` + p[0] + `","signature":"` + p[2] + `"}`
		wantRefused(t, run(t, jsonSub(proc, body, js), svcOptions{}), codeSigInv)
	})
	t.Run("whitespace around members changes nothing", func(t *testing.T) {
		wantSameAsSigned(t, run(t, jsonSub(proc, body, "  "+s[0]+" ,\t"+s[1]+" "), svcOptions{}), signed)
	})
	t.Run("signatures in the other order change nothing", func(t *testing.T) {
		wantSameAsSigned(t, run(t, jsonSub(proc, body, s[1]+","+s[0]), svcOptions{}), signed)
	})
	t.Run("five signatures", func(t *testing.T) {
		es := signJWS(t, body, "ecdsa-signer")
		wantRefused(t, run(t, jsonSub(proc, body, strings.Join([]string{s[0], s[1], es, es, es}, ",")), svcOptions{}), "limit-exceeded")
	})
	t.Run("no header", func(t *testing.T) {
		wantRefused(t, run(t, jsonSub(proc, body, ""), svcOptions{}), "signature-missing")
	})
}

// Number forms a signer might produce for an integer: the adapter must
// refuse them or read the same integer.
func TestAttackJSON_SignedNumberForms(t *testing.T) {
	body, _, signed := baselineJSON(t)
	for name, repl := range map[string][2]string{
		"amount 1.875e8":         {`"tongSoTien": 187500000`, `"tongSoTien": 1.875e8`},
		"amount 187500000.0":     {`"tongSoTien": 187500000`, `"tongSoTien": 187500000.0`},
		"amount as string":       {`"tongSoTien": 187500000`, `"tongSoTien": "187500000"`},
		"supplement 0.0":         {`"soBoSung": 0`, `"soBoSung": 0.0`},
		"supplement -0":          {`"soBoSung": 0`, `"soBoSung": -0`},
		"supplement 0e5":         {`"soBoSung": 0`, `"soBoSung": 0e5`},
		"amount 2^63 overflow":   {`"tongSoTien": 187500000`, `"tongSoTien": 9223372036854775808`},
		"amount huge exponent":   {`"tongSoTien": 187500000`, `"tongSoTien": 1e400`},
		"supplement 1.0 (alias)": {`"soBoSung": 0`, `"soBoSung": 1.0`},
	} {
		t.Run(name, func(t *testing.T) {
			b := replaceOnce(t, body, repl[0], repl[1])
			out := run(t, jsonSub(proc, b, signJWS(t, b, both...)), svcOptions{})
			if out.err != nil {
				wantRefused(t, out, "schema-violation", "malformed-body")
				return
			}
			t.Logf("accepted %s", repl[1])
			sameAsSigned(t, out.calls[0], signed)
		})
	}
}

// ---- content types ----

func TestAttackContentType(t *testing.T) {
	xb, xsigned := baselineXML(t)
	jb, jh, jsigned := baselineJSON(t)
	for _, c := range []struct {
		ct     string
		xml    bool
		code   string // "" means accepted, same as signed
		header string
	}{
		{"application/xml; charset=utf-8", true, "", ""},
		{"application/xml; charset=utf-16", true, "", ""},
		{"APPLICATION/XML", true, "", ""},
		{"text/xml", true, "", ""},
		{"application/xml+foo", true, "unsupported-media-type", ""},
		{"application/soap+xml", true, "unsupported-media-type", ""},
		{"application/xhtml+xml", true, "unsupported-media-type", ""},
		{"application/x-www-form-urlencoded", true, "unsupported-media-type", ""},
		{"multipart/form-data; boundary=x", true, "unsupported-media-type", ""},
		{"", true, "unsupported-media-type", ""},
		{"application/xml;", true, "", ""}, // mime.ParseMediaType tolerates the empty parameter
		{"application/xml, application/json", true, "unsupported-media-type", ""},
		{"application/json", true, "signature-missing", ""},
		{"application/json; charset=utf-8", false, "", ""},
		{"application/problem+json", false, "unsupported-media-type", ""},
		{"application/jose+json", false, "unsupported-media-type", ""},
		{"application/xml", false, "malformed-body", ""},
	} {
		t.Run(fmt.Sprintf("%q xml=%v", c.ct, c.xml), func(t *testing.T) {
			s := submission{procedure: proc, contentType: c.ct}
			signed := xsigned
			if c.xml {
				s.body = xb
			} else {
				s.body, s.jws, signed = jb, jh, jsigned
			}
			out := run(t, s, svcOptions{})
			if c.code == "" {
				wantSameAsSigned(t, out, signed)
				return
			}
			wantRefused(t, out, c.code)
		})
	}
	t.Run("XML body sent as JSON with the JSON dossier's signatures", func(t *testing.T) {
		wantRefused(t, run(t, submission{procedure: proc, contentType: "application/json", body: xb, jws: jh}, svcOptions{}), codeSigInv)
	})
	t.Run("JSON body sent as XML with its signatures", func(t *testing.T) {
		wantRefused(t, run(t, submission{procedure: proc, contentType: "text/xml", body: jb, jws: jh}, svcOptions{}), "malformed-body")
	})
}

// ---- replay ----

// A dossier signed for one procedure sent to every other procedure.
func TestAttackReplay_CrossProcedure(t *testing.T) {
	for _, from := range allProcedures {
		xb := xmlFixture(t, from)
		jb, jh := jsonFixture(t, from)
		for _, to := range allProcedures {
			if to == from {
				continue
			}
			t.Run(from+"->"+to, func(t *testing.T) {
				wantRefused(t, run(t, xmlSub(to, xb), svcOptions{}), "schema-violation", "signer-role-missing")
				wantRefused(t, run(t, jsonSub(to, jb, jh), svcOptions{}), "schema-violation", "signer-role-missing")
			})
		}
	}
	t.Run("unknown procedure", func(t *testing.T) {
		wantRefused(t, run(t, xmlSub("chi-thuong-xuyen ", xmlFixture(t, proc)), svcOptions{}), "unknown-procedure")
		wantRefused(t, run(t, xmlSub("Chi-Thuong-Xuyen", xmlFixture(t, proc)), svcOptions{}), "unknown-procedure")
	})
}

// A tai-khoan template (one signer) rewritten to the chi-thuong-xuyen code and
// signed by the holder only: the procedure that moves money still needs the
// chief accountant.
func TestAttackReplay_HolderOnlyForMoneyProcedure(t *testing.T) {
	b := signXML(t, template(t, proc, "xml"), signing.XMLOptions{}, "chu-tai-khoan")
	wantRefused(t, run(t, xmlSub(proc, b), svcOptions{}), "signer-role-missing")
	jb := template(t, proc, "json")
	wantRefused(t, run(t, jsonSub(proc, jb, signJWS(t, jb, "chu-tai-khoan")), svcOptions{}), "signer-role-missing")
	wantRefused(t, run(t, jsonSub(proc, jb, signJWS(t, jb, "ke-toan-truong", "ecdsa-signer")), svcOptions{}), "signer-role-missing")
}

// The same signed dossier sent twice (or as XML and as JSON) always carries
// the same downstream idempotency key, so the treasury cannot create a
// second document from a replay.
func TestAttackReplay_SameDossierSameDownstreamKey(t *testing.T) {
	b, signed := baselineXML(t)
	again := mustAccept(t, xmlSub(proc, b))
	sameAsSigned(t, again, signed)
	x := mustAccept(t, xmlSub(proc, signXML(t, template(t, proc, "xml"), signing.XMLOptions{}, both...)))
	jb := template(t, proc, "json")
	j := mustAccept(t, jsonSub(proc, jb, signJWS(t, jb, both...)))
	if x.key != j.key {
		t.Errorf("the XML and JSON forms of one dossier get different downstream keys: %s, %s", x.key, j.key)
	}
}

// The same signed dossier under another Idempotency-Key is not sent again.
func TestAttackReplay_SameDossierUnderAnotherIdempotencyKey(t *testing.T) {
	b := xmlFixture(t, proc)
	svc, fs := newService(t, svcOptions{})
	first := submitOn(t, svc, fs, xmlSub(proc, b), "key-1", receipt)
	if first.err != nil {
		t.Fatal(first.err)
	}
	wantRefused(t, submitOn(t, svc, fs, xmlSub(proc, b), "key-2", receipt), "dossier-already-submitted")
	again := submitOn(t, svc, fs, xmlSub(proc, b), "", receipt)
	if again.err == nil && len(again.calls) > 0 {
		t.Errorf("HOLE: the same dossier reached the treasury twice")
	} else {
		t.Logf("derived key: %v", again.err)
	}
	// the same key with a different (validly signed) dossier is refused
	other := signXML(t, template(t, proc, "xml"), signing.XMLOptions{}, both...)
	wantRefused(t, submitOn(t, svc, fs, xmlSub(proc, other), "key-1", receipt), "idempotency-key-reused")
	if n := len(fs.sent()); n != 1 {
		t.Errorf("%d treasury calls, want 1", n)
	}
}

// The XML and the JSON form of one dossier are one dossier: the second is
// not sent again.
func TestAttackReplay_XMLThenJSONFormOfSameDossier(t *testing.T) {
	xb := signXML(t, template(t, proc, "xml"), signing.XMLOptions{}, both...)
	jb := template(t, proc, "json")
	svc, fs := newService(t, svcOptions{})
	if out := submitOn(t, svc, fs, xmlSub(proc, xb), "", receipt); out.err != nil {
		t.Fatal(out.err)
	}
	resp, err := svc.Submit(context.Background(), Submission{RequestID: "attack", Procedure: proc,
		ContentType: "application/json", Body: jb, JWSSignature: signJWS(t, jb, both...), Caller: "portal", ReceivedAt: receipt})
	t.Logf("JSON form after the XML form: resp=%v err=%v", resp != nil && resp.Replayed, err)
	if n := len(fs.sent()); n != 1 {
		t.Errorf("HOLE: one dossier reached the treasury %d times", n)
	}
}

// A validly signed dossier carries no expiry: replayed after every
// retention has passed, it is sent again, and only the downstream key (the
// same as the first time) lets the treasury recognise it.
func TestAttackReplay_AfterRetentionSameDownstreamKey(t *testing.T) {
	now := receipt
	clock := func() time.Time { return now }
	b := xmlFixture(t, proc)
	svc, fs := newService(t, svcOptions{clock: clock})
	first := submitOn(t, svc, fs, xmlSub(proc, b), "", now)
	if first.err != nil {
		t.Fatal(first.err)
	}
	now = now.Add(31 * 24 * time.Hour)
	second := submitOn(t, svc, fs, xmlSub(proc, b), "", now)
	if second.err != nil {
		t.Logf("refused after retention: %v", second.err)
		return
	}
	if len(second.calls) == 1 {
		t.Logf("NOTE: sent to the treasury again after 31 days (no freshness check on signed dossiers)")
		if second.calls[0].key != first.calls[0].key {
			t.Errorf("HOLE: the replay got another downstream key: %s vs %s", second.calls[0].key, first.calls[0].key)
		}
	}
}

// Namespace declarations × elements: goxmldsig copies the whole in-scope
// prefix map for every element it canonicalizes (canonicalPrepInner,
// NSContext.SubContext), so unused declarations on an element that is not
// an ancestor of the signatures (the SignedInfo stays valid) make the digest
// computation cost O(declarations × elements) before the digest is compared.
// Measured here (2 cores): 2,000 declarations × 20,000 elements (130 KB)
// ≈ 7 s; 5,000 × 50,000 (320 KB) ≈ 40 s, for one request. The attack is
// refused in the end (the digest changes), so this test passes; it logs the
// amplification so that a limit in xmlsig.scan can be checked against it.
func TestAttackLimits_NamespaceDeclarationAmplification(t *testing.T) {
	b, _ := baselineXML(t)
	build := func(decls, elems int) []byte {
		var d strings.Builder
		for i := 0; i < decls; i++ {
			fmt.Fprintf(&d, ` xmlns:p%d="urn:%d"`, i, i)
		}
		return replaceOnce(t, b, "<taiLieu>", "<taiLieu"+d.String()+">"+strings.Repeat("<x/>", elems))
	}
	timed := func(body []byte) (outcome, time.Duration) {
		start := time.Now()
		out := run(t, xmlSub(proc, body), svcOptions{})
		return out, time.Since(start)
	}
	plain, tPlain := timed(build(0, 4000))
	wantRefused(t, plain, codeSigInv)
	amp, tAmp := timed(build(400, 4000))
	wantRefused(t, amp, codeSigInv, "limit-exceeded")
	t.Logf("4,000 added elements: %v; with 400 unused namespace declarations in scope: %v (%.0fx, %s)",
		tPlain, tAmp, float64(tAmp)/float64(max(tPlain, time.Microsecond)), codeOf(amp.err))
	if codeOf(amp.err) != "limit-exceeded" && tAmp > 20*tPlain {
		t.Logf("NOTE: CPU amplification through namespace declarations is not bounded before verification")
	}
}

// A processing instruction inside a value is signed content (C14N keeps
// it), and the XPath string-value of the element is all of its text
// ("0011004" + "123456"). etree's Text() stops at the first processing
// instruction, so the adapter would read only the part before it: a signer
// (or the portal's rendering of what is signed) and the adapter would read
// different account numbers and amounts from one signed document. The
// definition says mixed content is refused; it must be refused here too.
func TestAttackParse_SignedProcessingInstructionInsideValue(t *testing.T) {
	for _, c := range []struct {
		name      string
		old, new  string
		field     func(req map[string]any) any
		stringVal string // what a standard XML reader (XPath string-value) reads
	}{
		{"payee account", "<soTaiKhoan>0011004123456</soTaiKhoan>", "<soTaiKhoan>0011004<?x?>999999</soTaiKhoan>",
			func(r map[string]any) any { return r["payee"].(map[string]any)["accountNumber"] }, "0011004999999"},
		{"line amount", "<soTien>12500000</soTien>", "<soTien>1250000<?x?>0</soTien>",
			func(r map[string]any) any { return r["lines"].([]any)[0].(map[string]any)["amount"] }, "12500000"},
		{"total amount", signedSum, "<tongSoTien>18750000<?x?>0</tongSoTien>",
			func(r map[string]any) any { return r["totalAmount"] }, "187500000"},
		{"description", "<noiDung>Thanh toán tiền điện tháng 5/2026</noiDung>", "<noiDung>Thanh toán<?x?> tiền điện tháng 5/2026</noiDung>",
			func(r map[string]any) any { return r["lines"].([]any)[0].(map[string]any)["description"] }, "Thanh toán tiền điện tháng 5/2026"},
		{"PI first", "<maKBNN>0011</maKBNN>", "<maKBNN><?x?>0011</maKBNN>",
			func(r map[string]any) any { return r["treasuryOfficeCode"] }, "0011"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmpl := replaceOnce(t, template(t, proc, "xml"), c.old, c.new)
			b := signXML(t, tmpl, signing.XMLOptions{}, both...)
			out := run(t, xmlSub(proc, b), svcOptions{})
			if out.err != nil {
				// refused by the parser (processing instructions), or by the
				// definition if one ever got through
				if codeOf(out.err) != "malformed-body" {
					wantRefused(t, out, "schema-violation")
				}
				return
			}
			v := c.field(out.calls[0].request)
			if fmt.Sprint(v) == c.stringVal {
				return
			}
			t.Errorf("HOLE (signed content misread): the signed document holds %s, whose text is %q, "+
				"but the treasury was sent %v: the text after the processing instruction was silently dropped "+
				"(etree Element.Text stops at the first non-text token). Refuse processing instructions "+
				"in values (schema-violation) in document.readValue.", c.new, c.stringVal, v)
		})
	}
}

// Invalid UTF-8 and lone surrogates in a signed JSON string: Go's decoder
// turns them into U+FFFD without error, so the adapter reads a value that
// differs from the signed bytes (another reader might refuse them or keep
// the bytes). Logged, not failed: the signed bytes are the signer's own.
func TestAttackJSON_SignedInvalidUTF8(t *testing.T) {
	body, _, _ := baselineJSON(t)
	for name, repl := range map[string]string{
		"invalid byte":   "\"noiDung\": \"Thanh to\xffán",
		"lone surrogate": `"noiDung": "Thanh to\ud800án`,
	} {
		t.Run(name, func(t *testing.T) {
			b := replaceOnce(t, body, `"noiDung": "Thanh toán`, repl)
			out := run(t, jsonSub(proc, b, signJWS(t, b, both...)), svcOptions{})
			if out.err != nil {
				t.Logf("refused: %v", out.err)
				return
			}
			d := out.calls[0].request["lines"].([]any)[0].(map[string]any)["description"]
			t.Logf("NOTE: accepted; description sent as %q", d)
		})
	}
}

package httpapi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"
)

// certWithSubject is a self-signed certificate whose subject is exactly
// the RDN sequence given (attribute type OIDs and values, first RDN first).
func certWithSubject(t *testing.T, rdns pkix.RDNSequence) *x509.Certificate {
	t.Helper()
	raw, err := asn1.Marshal(rdns)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), RawSubject: raw,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func attr(oid asn1.ObjectIdentifier, v string) []pkix.AttributeTypeAndValue {
	return []pkix.AttributeTypeAndValue{{Type: oid, Value: v}}
}

var (
	oidC  = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidO  = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}
)

// A client certificate is matched on its subject's own RDN sequence: one
// with two CNs, the last the configured client's, is not that client (Go's
// pkix.Name keeps only the last CN); one with exactly the configured
// subject is, whatever the spacing and case of the types in the
// configuration.
func TestClientSubjectIsTheWholeName(t *testing.T) {
	portal := ClientCert{Name: "portal", Subject: "cn=portal, O=Example, C=VN", Group: GroupSubmissions}
	two := certWithSubject(t, pkix.RDNSequence{attr(oidC, "VN"), attr(oidO, "Example"), attr(oidCN, "unit-17.evil"), attr(oidCN, "portal")})
	if match(portal, two) {
		t.Errorf("a subject with another CN before the client's (%s) is taken for %s", two.Subject.String(), portal.Subject)
	}
	exact := certWithSubject(t, pkix.RDNSequence{attr(oidC, "VN"), attr(oidO, "Example"), attr(oidCN, "portal")})
	if !match(portal, exact) {
		t.Errorf("the client's own subject is not matched")
	}
	// A Vietnamese organisation, configured as `openssl -nameopt RFC2253`
	// prints it (UTF-8 as hex pairs).
	vn := certWithSubject(t, pkix.RDNSequence{attr(oidC, "VN"), attr(oidO, "Văn phòng"), attr(oidCN, "portal")})
	if !match(ClientCert{Name: "portal", Subject: `CN=portal,O=V\C4\83n ph\C3\B2ng,C=VN`, Group: GroupSubmissions}, vn) {
		t.Errorf("a Vietnamese subject as openssl prints it is not matched (%s)", vn.Subject.String())
	}
	reordered := certWithSubject(t, pkix.RDNSequence{attr(oidCN, "portal"), attr(oidO, "Example"), attr(oidC, "VN")})
	if match(portal, reordered) {
		t.Errorf("a subject in another order (C=VN,O=Example,CN=portal as RFC 4514 writes it) is taken for %s", portal.Subject)
	}
}

// match is matches with cc's subject parsed as the server parses it.
func match(cc ClientCert, leaf *x509.Certificate) bool {
	return matches(cc, parseSubjects([]ClientCert{cc})[0], leaf)
}

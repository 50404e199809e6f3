package tlsconf_test

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/kbnn/dvc/adapter/tlsconf"
)

var (
	oidC  = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidO  = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidE  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

// subject is the DER of an RDN sequence, first RDN first, as a
// certificate's RawSubject holds it.
func subject(t testing.TB, rdns ...[]pkix.AttributeTypeAndValue) []byte {
	t.Helper()
	seq := make(pkix.RDNSequence, len(rdns))
	for i, r := range rdns {
		seq[i] = r
	}
	raw, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func one(oid asn1.ObjectIdentifier, v any) []pkix.AttributeTypeAndValue {
	return []pkix.AttributeTypeAndValue{{Type: oid, Value: v}}
}

func TestDNMatchesSubject(t *testing.T) {
	portal := subject(t, one(oidC, "VN"), one(oidO, "Example"), one(oidCN, "portal"))
	vn := subject(t, one(oidC, "VN"), one(oidO, "Văn phòng"), one(oidCN, "portal"))
	multi := subject(t, one(oidC, "VN"), one(oidO, "Example"),
		[]pkix.AttributeTypeAndValue{{Type: oidCN, Value: "portal"}, {Type: oidOU, Value: "ops"}})
	comma := subject(t, one(oidC, "VN"), one(oidO, "Sub, Inc"), one(oidCN, "portal"))
	email := subject(t, one(oidC, "VN"), one(oidCN, "portal"), one(oidE, asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte("ops@kbnn.vn")}))
	for _, tt := range []struct {
		dn   string
		raw  []byte
		want bool
	}{
		{"CN=portal,O=Example,C=VN", portal, true},
		{"cn = portal , o= Example ,C=VN", portal, true},
		{"2.5.4.3=portal,O=Example,C=VN", portal, true},
		// openssl -nameopt RFC2253 prints UTF-8 as hex pairs
		{`CN=portal,O=V\C4\83n ph\C3\B2ng,C=VN`, vn, true},
		{"CN=portal,O=Văn phòng,C=VN", vn, true},
		// decomposed (NFD) as typed is the composed name the certificate carries
		{"CN=portal,O=Va\u0306n pho\u0300ng,C=VN", vn, true},
		{`CN=portal,O=Sub\, Inc,C=VN`, comma, true},
		{`CN=portal,O=Sub\2C Inc,C=VN`, comma, true},
		{"CN=portal+OU=ops,O=Example,C=VN", multi, true},
		{"OU=ops+CN=portal,O=Example,C=VN", multi, true},
		{"emailAddress=ops@kbnn.vn,CN=portal,C=VN", email, true},
		{"E=ops@kbnn.vn,CN=portal,C=VN", email, true},
		// not the same name
		{"CN=portal,O=Example", portal, false},
		{"C=VN,O=Example,CN=portal", portal, false},
		{"CN=Portal,O=Example,C=VN", portal, false},
		{"CN=portal,O=Example,C=VN", multi, false},
		{"CN=portal+OU=ops+OU=ops,O=Example,C=VN", multi, false},
		{`OU=ops\+CN\=portal,O=Example,C=VN`, multi, false},
	} {
		d, err := tlsconf.ParseDN(tt.dn)
		if err != nil {
			t.Errorf("ParseDN(%q): %v", tt.dn, err)
			continue
		}
		if got := d.MatchesSubject(tt.raw); got != tt.want {
			t.Errorf("ParseDN(%q).MatchesSubject = %v, want %v", tt.dn, got, tt.want)
		}
	}
}

// A certificate's values are compared as they are: a white space or a
// compatibility character the configured name does not have is another
// name, however it prints.
func TestDNCertificateValuesAreNotNormalised(t *testing.T) {
	d, err := tlsconf.ParseDN("CN=portal,O=Example,C=VN")
	if err != nil {
		t.Fatal(err)
	}
	for _, cn := range []string{"portal\u00a0", "portal\t", "\u3000portal", "portal\u2003", "\u0085portal", "portal ", " portal", `portal\`, "\u212aportal", "PORTAL"} {
		if d.MatchesSubject(subject(t, one(oidC, "VN"), one(oidO, "Example"), one(oidCN, cn))) {
			t.Errorf("CN %q taken for %s", cn, d)
		}
	}
	kelvin, err := tlsconf.ParseDN("CN=KBNN Portal,C=VN")
	if err != nil {
		t.Fatal(err)
	}
	if kelvin.MatchesSubject(subject(t, one(oidC, "VN"), one(oidCN, "\u212aBNN Portal"))) {
		t.Error("a CN with the Kelvin sign (NFC: K) taken for CN=KBNN Portal")
	}
	// an escaped space is part of the value, as the certificate's is
	spaced, err := tlsconf.ParseDN(`CN=portal\20,C=VN`)
	if err != nil {
		t.Fatal(err)
	}
	if !spaced.MatchesSubject(subject(t, one(oidC, "VN"), one(oidCN, "portal "))) || spaced.MatchesSubject(subject(t, one(oidC, "VN"), one(oidCN, "portal"))) {
		t.Errorf(`CN=portal\20 does not stand for "portal " alone`)
	}
}

func TestParseDNRefuses(t *testing.T) {
	for _, dn := range []string{"", " ", "portal", "CN", "CN=", "CN=a,", ",CN=a", "CN=a,,O=b", "CN=a+", "XX=a", "1=a", "2.5.x=a",
		`CN=a\`, `CN=a\q`, `CN="a"`, "CN=a;O=b", "CN=#0403616263", "CN=a<b"} {
		if d, err := tlsconf.ParseDN(dn); err == nil {
			t.Errorf("ParseDN(%q) = %s, want an error", dn, d)
		}
	}
}

func TestDNString(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"cn = portal , o= Example ,C=VN", "CN=portal,O=Example,C=VN"},
		{`CN=portal,O=V\C4\83n ph\C3\B2ng,C=VN`, "CN=portal,O=Văn phòng,C=VN"},
		{"CN=portal,O=Va\u0306n pho\u0300ng,C=VN", "CN=portal,O=Văn phòng,C=VN"},
		{`CN=a\2C b,O=x`, `CN=a\, b,O=x`},
		{`CN=\FF\FE,O=x`, `CN=\FF\FE,O=x`},
		{`CN=\20a\20,O=x`, `CN=\20a\20,O=x`},
		{"OU=ops+CN=portal,2.5.4.10=x", "CN=portal+OU=ops,O=x"},
		{"e=a@b", "emailAddress=a@b"},
		{"organizationIdentifier=VNVN-0101,2.5.4.15=x", "organizationIdentifier=VNVN-0101,businessCategory=x"},
	} {
		d, err := tlsconf.ParseDN(tt.in)
		if err != nil {
			t.Errorf("ParseDN(%q): %v", tt.in, err)
			continue
		}
		if got := d.String(); got != tt.want {
			t.Errorf("ParseDN(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// hexAll writes every byte of v as a hex pair: a valid RFC 4514 value
// whatever v holds.
func hexAll(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		fmt.Fprintf(&b, `\%02X`, v[i])
	}
	return b.String()
}

// FuzzParseDN: a configured CN (written with every byte as a hex pair, and
// as Go prints a subject) matches a certificate's CN exactly when the two
// are the same bytes, or the certificate's is the configured one in NFC;
// and a parsed name writes one way (String parses back to itself).
func FuzzParseDN(f *testing.F) {
	for _, s := range [][2]string{{"portal", "portal"}, {"portal\u00a0", "portal"}, {"portal ", `portal\`}, {"\u212a", "K"},
		{"Văn phòng", "Va\u0306n pho\u0300ng"}, {"a,b", "a+b"}, {"#x", "#x"}, {" a ", "a"}, {"a=b", "a\\=b"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, certCN, configCN string) {
		if certCN == "" || !utf8.ValidString(certCN) || configCN == "" {
			return
		}
		raw := subject(t, one(oidC, "VN"), one(oidCN, certCN))
		want := certCN == configCN || certCN == norm.NFC.String(configCN)
		d, err := tlsconf.ParseDN("CN=" + hexAll(configCN) + ",C=VN")
		if err != nil {
			t.Fatalf("CN %q written in hex pairs: %v", configCN, err)
		}
		if got := d.MatchesSubject(raw); got != want {
			t.Fatalf("configured CN %q, certificate CN %q: match %v, want %v", configCN, certCN, got, want)
		}
		again, err := tlsconf.ParseDN(d.String())
		if err != nil || again.String() != d.String() {
			t.Fatalf("%q parses back as %v, %v", d.String(), again, err)
		}
		if !utf8.ValidString(configCN) {
			return
		}
		printed := pkix.RDNSequence{one(oidC, "VN"), one(oidCN, configCN)}.String()
		g, err := tlsconf.ParseDN(printed)
		if err != nil {
			t.Fatalf("Go's %q: %v", printed, err)
		}
		if got := g.MatchesSubject(raw); got != want {
			t.Fatalf("configured as Go prints it, %q; certificate CN %q: match %v, want %v", printed, certCN, got, want)
		}
	})
}

package tlsconf_test

import (
	"testing"

	"github.com/kbnn/dvc/adapter/tlsconf"
)

func TestCanonicalDN(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"CN=portal,O=Example", "CN=portal,O=Example"},
		{"cn = portal , o= Example ,C=VN", "CN=portal,O=Example,C=VN"},
		{`CN=a\, b,O=x`, `CN=a\, b,O=x`},
		// openssl -nameopt RFC2253 prints UTF-8 as hex pairs; Go writes the characters.
		{`CN=portal,O=V\C4\83n ph\C3\B2ng,C=VN`, "CN=portal,O=Văn phòng,C=VN"},
		// decomposed (NFD) as typed is the composed name a certificate carries
		{"CN=portal,O=Va\u0306n pho\u0300ng,C=VN", "CN=portal,O=Văn phòng,C=VN"},
		// a hex pair that spells a special character stays inside its value
		{`CN=a\2C b,O=x`, `CN=a\, b,O=x`},
		// pairs that are not UTF-8 stay as written
		{`CN=\FF\FE,O=x`, `CN=\FF\FE,O=x`},
	} {
		if got := tlsconf.CanonicalDN(tt.in); got != tt.want {
			t.Errorf("CanonicalDN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// CanonicalDN is idempotent: a canonical name stays as it is.
func FuzzCanonicalDN(f *testing.F) {
	for _, s := range []string{"CN=portal,O=Example", " cn = a , o=b", `CN=a\, b`, "", ",,=", `\`, `O=V\C4\83n`, `CN=\5C41`, `CN=\2C\3D`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dn string) {
		once := tlsconf.CanonicalDN(dn)
		if twice := tlsconf.CanonicalDN(once); twice != once {
			t.Fatalf("CanonicalDN(%q) = %q, then %q", dn, once, twice)
		}
	})
}

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
	} {
		if got := tlsconf.CanonicalDN(tt.in); got != tt.want {
			t.Errorf("CanonicalDN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// CanonicalDN is idempotent: a canonical name stays as it is.
func FuzzCanonicalDN(f *testing.F) {
	for _, s := range []string{"CN=portal,O=Example", " cn = a , o=b", `CN=a\, b`, "", ",,=", `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dn string) {
		once := tlsconf.CanonicalDN(dn)
		if twice := tlsconf.CanonicalDN(once); twice != once {
			t.Fatalf("CanonicalDN(%q) = %q, then %q", dn, once, twice)
		}
	})
}

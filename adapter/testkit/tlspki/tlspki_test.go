package tlspki

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// check verifies a PKI folder: every leaf loads with its key, chains to
// ca.crt for its purpose at a time inside the validity, except the expired
// one and the one from other-ca, which must not.
func check(t *testing.T, dir string) {
	t.Helper()
	pool := x509.NewCertPool()
	b, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil || !pool.AppendCertsFromPEM(b) {
		t.Fatalf("ca.crt: %v", err)
	}
	at := time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, l := range Leaves {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, l.Name+".crt"), filepath.Join(dir, l.Name+".key"))
		if err != nil {
			t.Fatalf("%s: %v", l.Name, err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		usage := x509.ExtKeyUsageClientAuth
		opts := x509.VerifyOptions{Roots: pool, CurrentTime: at}
		if l.Server {
			usage, opts.DNSName = x509.ExtKeyUsageServerAuth, "localhost"
		}
		opts.KeyUsages = []x509.ExtKeyUsage{usage}
		_, err = leaf.Verify(opts)
		if want := !l.Expired && !l.Other; (err == nil) != want {
			t.Errorf("%s verifies: %v, want %v", l.Name, err, want)
		}
		if !l.Server && leaf.Subject.String() != Subject(l) {
			t.Errorf("%s subject %q, want %q", l.Name, leaf.Subject.String(), Subject(l))
		}
		if l.URI != "" && (len(leaf.URIs) != 1 || leaf.URIs[0].String() != l.URI) {
			t.Errorf("%s URIs %v, want %s", l.Name, leaf.URIs, l.URI)
		}
	}
}

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	if err := Generate(dir, false); err != nil {
		t.Fatal(err)
	}
	check(t, dir)
	if err := Generate(dir, false); err == nil {
		t.Fatal("an existing PKI was replaced without force")
	}
	if err := Generate(dir, true); err != nil {
		t.Fatal(err)
	}
}

// The committed testdata/tls is what Generate writes.
func TestCommittedPKI(t *testing.T) {
	check(t, filepath.Join("..", "..", "..", "testdata", "tls"))
}

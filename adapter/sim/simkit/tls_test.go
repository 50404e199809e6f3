package simkit

import (
	"crypto/tls"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/kbnn/dvc/adapter/testkit/tlstest"
)

// -tls-cert, -tls-key and -client-ca make a simulator serve HTTPS and
// require a client certificate from the CA; the flags are checked.
func TestTLSFlags(t *testing.T) {
	ca := tlstest.NewCA(t, "sim CA")
	dir := t.TempDir()
	certFile, keyFile := ca.Server(t, "sim").Write(t, dir, "sim")
	caFile := filepath.Join(dir, "ca.pem")
	tlstest.WriteFile(t, caFile, ca.PEM)
	for _, bad := range []TLSFlags{{Cert: certFile}, {ClientCA: caFile}, {Cert: certFile, Key: caFile}} {
		if err := bad.Apply(&http.Server{}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	plain := &http.Server{}
	if err := (&TLSFlags{}).Apply(plain); err != nil || plain.TLSConfig != nil {
		t.Fatalf("no flags: %v %v", err, plain.TLSConfig)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	if err := (&TLSFlags{Cert: certFile, Key: keyFile, ClientCA: caFile}).Apply(srv); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	client := ca.Issue(t, tlstest.Leaf{CN: "adapter", Client: true}).TLS(t)
	for _, tt := range []struct {
		certs []tls.Certificate
		ok    bool
	}{{nil, false}, {[]tls.Certificate{client}, true}} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", Certificates: tt.certs}}}
		resp, err := c.Get("https://" + ln.Addr().String() + "/")
		if err == nil {
			_ = resp.Body.Close()
		}
		if (err == nil) != tt.ok {
			t.Errorf("client certificates %d: %v, want success %v", len(tt.certs), err, tt.ok)
		}
	}
}

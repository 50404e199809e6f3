package tlsconf_test

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kbnn/dvc/adapter/testkit/tlstest"
	"github.com/kbnn/dvc/adapter/tlsconf"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// serveTLS serves a handler that answers 200 over TLS with cfg and returns
// the address.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}), ErrorLog: log.New(io.Discard, "", 0)} // refused handshakes are the point of some tests
	go func() { _ = srv.Serve(tls.NewListener(ln, cfg)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// get makes one request on a new connection (a new handshake) and returns
// the serial of the certificate the server presented.
func get(pool *tlsClient, addr string) (string, error) {
	tr := &http.Transport{TLSClientConfig: pool.cfg.Clone(), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	if _, err := io.ReadAll(resp.Body); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(resp.Status)
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.Text(16), nil
}

type tlsClient struct{ cfg *tls.Config }

// The certificate is rotated while clients keep connecting: every request
// succeeds, and every handshake begun after Check reported the reload
// presents the new certificate. A half-done rotation (the certificate
// written, not yet its key) keeps the old pair.
func TestRotateUnderLoad(t *testing.T) {
	ca := tlstest.NewCA(t, "rotation CA")
	dir := t.TempDir()
	first, second := ca.Server(t, "adapter-1"), ca.Server(t, "adapter-2")
	certFile, keyFile := first.Write(t, dir, "server")
	cert, err := tlsconf.NewCert(certFile, keyFile, quiet())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tlsconf.Server(tlsconf.Options{Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, cfg)
	client := &tlsClient{cfg: &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}}
	oldSerial, newSerial := first.Cert.SerialNumber.Text(16), second.Cert.SerialNumber.Text(16)

	const clients, perClientAfter = 4, 10
	var rotated atomic.Bool
	var failures atomic.Int64
	var mu sync.Mutex
	var stale []string // serials seen by handshakes begun after the rotation, other than the new one
	started := make(chan struct{}, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			after, signalled := 0, false
			for after < perClientAfter {
				begunAfter := rotated.Load()
				s, err := get(client, addr)
				switch {
				case err != nil:
					failures.Add(1)
					t.Errorf("request failed: %v", err)
					return
				case begunAfter && s != newSerial:
					mu.Lock()
					stale = append(stale, s)
					mu.Unlock()
				case !begunAfter && s != oldSerial && s != newSerial:
					t.Errorf("unknown certificate %s", s)
				}
				if !signalled {
					started <- struct{}{}
					signalled = true
				}
				if begunAfter {
					after++
				}
			}
		}()
	}
	for range clients {
		<-started // every client has been answered with the first pair
	}
	// Half a rotation: the new certificate with the old key does not load.
	tlstest.WriteFile(t, certFile, second.CertPEM)
	if ok, err := cert.Check(); ok || err == nil {
		t.Fatalf("a certificate without its key reloaded: %v %v", ok, err)
	}
	if got := cert.Current().Leaf.SerialNumber.Text(16); got != oldSerial {
		t.Fatalf("serving %s after a failed reload, want the old %s", got, oldSerial)
	}
	tlstest.WriteFile(t, keyFile, second.KeyPEM)
	if ok, err := cert.Check(); !ok || err != nil {
		t.Fatalf("rotation not loaded: %v %v", ok, err)
	}
	rotated.Store(true)
	wg.Wait()
	if failures.Load() != 0 || len(stale) != 0 {
		t.Fatalf("%d failed requests, %d handshakes after the rotation with an old certificate %v", failures.Load(), len(stale), stale)
	}
	// Nothing changed: nothing to reload.
	if ok, err := cert.Check(); ok || err != nil {
		t.Fatalf("Check without a change: %v %v", ok, err)
	}
}

// A minimum version of 1.3 refuses a 1.2 client; the default 1.2 refuses
// 1.1.
func TestMinVersion(t *testing.T) {
	ca := tlstest.NewCA(t, "version CA")
	certFile, keyFile := ca.Server(t, "adapter").Write(t, t.TempDir(), "server")
	cert, err := tlsconf.NewCert(certFile, keyFile, quiet())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		min       string
		clientMax uint16
		ok        bool
	}{{"1.3", tls.VersionTLS12, false}, {"1.3", tls.VersionTLS13, true}, {"", tls.VersionTLS11, false}, {"1.2", tls.VersionTLS12, true}} {
		cfg, err := tlsconf.Server(tlsconf.Options{Cert: cert, MinVersion: tt.min})
		if err != nil {
			t.Fatal(err)
		}
		addr := serveTLS(t, cfg)
		_, err = get(&tlsClient{cfg: &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MaxVersion: tt.clientMax}}, addr)
		if (err == nil) != tt.ok {
			t.Errorf("server min %q, client max %x: %v, want success %v", tt.min, tt.clientMax, err, tt.ok)
		}
	}
	if _, err := tlsconf.Server(tlsconf.Options{Cert: cert, MinVersion: "1.1"}); err == nil {
		t.Error("minimum version 1.1 accepted")
	}
}

// With a client CA, a client certificate from that CA is verified and
// seen by the handler; none is allowed (routes decide); one from another
// CA, or expired, fails the handshake.
func TestClientCertificates(t *testing.T) {
	ca, other := tlstest.NewCA(t, "server and clients CA"), tlstest.NewCA(t, "another CA")
	dir := t.TempDir()
	certFile, keyFile := ca.Server(t, "adapter").Write(t, dir, "server")
	caFile := filepath.Join(dir, "clients-ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := tlsconf.NewCert(certFile, keyFile, quiet())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tlsconf.Server(tlsconf.Options{Cert: cert, ClientCAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, cfg)
	good := ca.Issue(t, tlstest.Leaf{CN: "portal", Client: true})
	expired := ca.Issue(t, tlstest.Leaf{CN: "portal", Client: true, NotBefore: good.Cert.NotBefore.AddDate(-2, 0, 0), NotAfter: good.Cert.NotBefore.AddDate(-1, 0, 0)})
	foreign := other.Issue(t, tlstest.Leaf{CN: "portal", Client: true})
	for _, tt := range []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{{"none", nil, true}, {"from the CA", []tls.Certificate{good.TLS(t)}, true},
		{"expired", []tls.Certificate{expired.TLS(t)}, false}, {"another CA", []tls.Certificate{foreign.TLS(t)}, false}} {
		ccfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
		if tt.certs != nil {
			// sent whatever CAs the server names, as curl --cert does
			ccfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tt.certs[0], nil }
		}
		_, err := get(&tlsClient{cfg: ccfg}, addr)
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v, want success %v", tt.name, err, tt.ok)
		}
	}
}

package main

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/tlstest"
)

// With server.tls set, both listeners serve HTTPS only, from the
// configured pair; the admin routes stay on the admin listener.
func TestRunServesTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "listener CA")
	certFile, keyFile := ca.Server(t, "adapter").Write(t, t.TempDir(), "server")
	pub, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	adm, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	pubAddr, admAddr := "127.0.0.1:"+strconv.Itoa(pub), "127.0.0.1:"+strconv.Itoa(adm)
	base := testEnv(pubAddr, t.TempDir())
	env := func(k string) (string, bool) {
		switch k {
		case "DVC_SERVER_ADMINADDR":
			return admAddr, true
		case "DVC_SERVER_TLS_CERTFILE":
			return certFile, true
		case "DVC_SERVER_TLS_KEYFILE":
			return keyFile, true
		}
		return base(k)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, env, io.Discard, assemble) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}}}
	status := func(url string) int {
		resp, err := client.Get(url)
		if err != nil {
			return 0
		}
		defer func() { _ = resp.Body.Close() }()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	wait, stop := context.WithTimeout(t.Context(), readyTimeout)
	defer stop()
	for status("https://"+pubAddr+"/healthz") != http.StatusOK {
		select {
		case err := <-done:
			done <- err // for the deferred wait, which would block for ever otherwise
			t.Fatalf("run ended: %v", err)
		case <-wait.Done():
			t.Fatal("the TLS listener never answered")
		case <-time.After(pollEvery):
		}
	}
	for _, tt := range []struct {
		url  string
		want int
	}{
		{"https://" + admAddr + "/healthz", 200},
		{"https://" + admAddr + "/metrics", 200},
		{"https://" + pubAddr + "/metrics", 404},
	} {
		if got := status(tt.url); got != tt.want {
			t.Errorf("GET %s: %d, want %d", tt.url, got, tt.want)
		}
	}
	// Plain HTTP is not served.
	for _, addr := range []string{pubAddr, admAddr} {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Errorf("plain HTTP on %s answered 200", addr)
			}
		}
	}
}

// startTLSAdapter runs the adapter in this process on writeConfig's
// configuration with both listeners' addresses chosen here, edited by edit;
// it returns the public and admin addresses and stops the adapter when t
// ends.
func startTLSAdapter(t *testing.T, edit func(cfg map[string]any)) (pubAddr, admAddr string) {
	t.Helper()
	pub, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	adm, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	pubAddr, admAddr = "127.0.0.1:"+strconv.Itoa(pub), "127.0.0.1:"+strconv.Itoa(adm)
	path := filepath.Join(t.TempDir(), "adapter.yaml")
	writeConfig(t, path, pubAddr, h.simURL, batchPrefix(t, "mtls")+":")
	editConfig(t, path, func(c map[string]any) {
		section(c, "server")["adminAddr"] = admAddr
		section(c, "log")["level"] = "error"
		edit(c)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-config", path}, func(string) (string, bool) { return "", false }, io.Discard, assemble)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return pubAddr, admAddr
}

// Mutual TLS on the public and admin listeners, from a configuration file:
// submissions need the portal's client certificate and its token (both),
// operators their client certificate (mtls). A client without a
// certificate is refused (401); one with an expired certificate or one
// from another CA never completes the handshake.
func TestRunMutualTLS(t *testing.T) {
	ca, other := tlstest.NewCA(t, "listener CA"), tlstest.NewCA(t, "another CA")
	dir := t.TempDir()
	certFile, keyFile := ca.Server(t, "adapter").Write(t, dir, "server")
	caFile := filepath.Join(dir, "clients-ca.pem")
	tlstest.WriteFile(t, caFile, ca.PEM)
	portal := ca.Issue(t, tlstest.Leaf{CN: "portal.dvc.test", O: "Portal TEST ONLY", Client: true})
	operator := ca.Issue(t, tlstest.Leaf{CN: "ops", Client: true, URIs: []string{"spiffe://kbnn.test/ops"}})
	expired := ca.Issue(t, tlstest.Leaf{CN: "portal.dvc.test", O: "Portal TEST ONLY", Client: true,
		NotBefore: time.Now().AddDate(-2, 0, 0), NotAfter: time.Now().AddDate(-1, 0, 0)})
	foreign := other.Issue(t, tlstest.Leaf{CN: "portal.dvc.test", O: "Portal TEST ONLY", Client: true})

	pubAddr, admAddr := startTLSAdapter(t, func(c map[string]any) {
		section(c, "server")["tls"] = map[string]any{"certFile": certFile, "keyFile": keyFile, "clientCAFile": caFile,
			"clients": []map[string]any{
				{"name": "portal", "subject": "CN=portal.dvc.test, O=Portal TEST ONLY", "group": "submissions"},
				{"name": "operator", "uri": "spiffe://kbnn.test/ops", "group": "admin"},
			}}
		section(c, "auth")["submissions"] = "both"
		section(c, "auth")["admin"] = "mtls"
	})
	clientWith := func(cert *tlstest.Issued) *client {
		cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
		if cert != nil {
			pair := cert.TLS(t)
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
		}
		c := newClient(func() string { return "https://" + pubAddr })
		c.http.Transport = &http.Transport{TLSClientConfig: cfg}
		return c
	}
	ctx, cancel := context.WithTimeout(t.Context(), readyTimeout)
	defer cancel()
	portalClient := clientWith(&portal)
	for {
		resp, err := portalClient.http.Get("https://" + pubAddr + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the TLS listener never answered: %v", err)
		case <-time.After(pollEvery):
		}
	}
	d := makeDossiers(t, batchPrefix(t, "mtls"), 1)[0]
	base := "https://" + pubAddr
	if a, err := clientWith(nil).post(ctx, base, d, ""); err != nil || a.status != http.StatusUnauthorized {
		t.Fatalf("without a client certificate: %v %v, want 401", a, err)
	}
	for name, cert := range map[string]*tlstest.Issued{"expired": &expired, "another CA": &foreign} {
		if a, err := clientWith(cert).post(ctx, base, d, ""); err == nil {
			t.Errorf("%s client certificate: answered %v, want a failed handshake", name, a)
		}
	}
	if a, err := portalClient.post(ctx, base, d, ""); err != nil || a.status != http.StatusAccepted {
		t.Fatalf("with the portal's certificate and token: %v %v, want 202", a, err)
	}
	// Operators: their certificate on the admin listener; the portal's is refused.
	for _, tt := range []struct {
		cert *tlstest.Issued
		want int
	}{{&operator, 200}, {&portal, 401}, {nil, 401}} {
		resp, err := clientWith(tt.cert).http.Get("https://" + admAddr + "/v1/admin/dead-letters")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("dead letters with %v: %d, want %d", tt.cert != nil, resp.StatusCode, tt.want)
		}
	}
}

package main

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
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
	base := testEnv(pubAddr)
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

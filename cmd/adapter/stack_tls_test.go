package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/sim/portalsim"
)

// The whole stack over mutual TLS on every hop, with the committed TEST
// ONLY TLS PKI (testdata/tls) and the real binaries: the portal submits
// with its client certificate and token to the adapter process, which
// sends the document to the treasury simulator process (requiring the
// adapter's client certificate), which calls the statuses back over TLS
// with its own client certificate, and the adapter delivers them to a
// portal that requires the adapter's client certificate.
func TestStackOverMutualTLS(t *testing.T) {
	pki := filepath.Join(h.repo, "testdata", "tls")
	f := func(name string) string { return filepath.Join(pki, name) }
	dir := testDir(t)
	caPEM, err := os.ReadFile(f("ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	pair := func(name string) tls.Certificate {
		c, err := tls.LoadX509KeyPair(f(name+".crt"), f(name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	port := func() string {
		p, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		return strconv.Itoa(p)
	}
	pubPort, admPort, treasuryPort := port(), port(), port()

	// The portal, requiring the adapter's client certificate.
	portal := portalsim.New(portalsim.Options{})
	portalSrv := httptest.NewUnstartedServer(portal)
	portalSrv.TLS = &tls.Config{Certificates: []tls.Certificate{pair("portal")}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert}
	portalSrv.StartTLS()
	t.Cleanup(portalSrv.Close)

	// The treasury simulator, requiring it too, calling back over TLS.
	sim, err := h.start(procSpec{name: "treasury-sim-tls", bin: h.simBin, log: filepath.Join(dir, "treasury-sim.log"),
		args: []string{"-addr", "127.0.0.1:" + treasuryPort,
			"-tls-cert", f("treasury.crt"), "-tls-key", f("treasury.key"), "-client-ca", f("ca.crt"),
			"-callback-url", "https://localhost:" + pubPort + "/v1/callbacks/treasury/status",
			"-callback-secret", "whsec_ZGV2LXRyZWFzdXJ5LWNhbGxiYWNrLXNlY3JldC0wMDAx", "-callback-interval", "200ms",
			"-callback-ca", f("ca.crt"), "-callback-cert", f("treasury-client.crt"), "-callback-key", f("treasury-client.key")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.kill)

	// The adapter.
	cfgPath := filepath.Join(dir, "adapter.yaml")
	writeConfig(t, cfgPath, "127.0.0.1:"+pubPort, "https://localhost:"+treasuryPort, batchPrefix(t, "stls")+":")
	client := map[string]any{"caFile": f("ca.crt"), "certFile": f("adapter-client.crt"), "keyFile": f("adapter-client.key")}
	editConfig(t, cfgPath, func(c map[string]any) {
		srv := section(c, "server")
		srv["adminAddr"] = "127.0.0.1:" + admPort
		srv["tls"] = map[string]any{"certFile": f("adapter.crt"), "keyFile": f("adapter.key"), "clientCAFile": f("ca.crt"),
			"clients": []map[string]any{
				{"name": "portal", "subject": "CN=portal.dvc.test,O=DVC TLS TEST ONLY", "group": "submissions"},
				{"name": "treasury", "uri": "spiffe://kbnn.test/treasury", "group": "callbacks"},
				{"name": "operator", "subject": "CN=operator-1,O=DVC TLS TEST ONLY", "group": "admin"}}}
		auth := section(c, "auth")
		auth["submissions"], auth["callbacks"], auth["admin"] = "both", "both", "mtls"
		section(c, "treasury")["tls"] = client
		p := section(c, "portal")
		p["url"], p["tls"] = portalSrv.URL+"/api", client
	})
	adapter, err := h.start(procSpec{name: "adapter-tls", bin: h.adapterBin, args: []string{"-config", cfgPath},
		log: filepath.Join(dir, "adapter.log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adapter.kill)

	portalClient := newClient(func() string { return "https://localhost:" + pubPort })
	portalClient.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool,
		Certificates: []tls.Certificate{pair("portal-client")}}}
	ctx, cancel := context.WithTimeout(t.Context(), 3*readyTimeout)
	defer cancel()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			select {
			case <-ctx.Done():
				t.Fatalf("%s: not before the deadline\nadapter:\n%s\ntreasury-sim:\n%s", what,
					tail(filepath.Join(dir, "adapter.log"), 15), tail(filepath.Join(dir, "treasury-sim.log"), 15))
			case <-adapter.done:
				t.Fatalf("the adapter exited (%s):\n%s", adapter.exitState(), tail(filepath.Join(dir, "adapter.log"), 15))
			case <-time.After(pollEvery):
			}
		}
	}
	waitFor("the adapter's TLS listener answers", func() bool {
		resp, err := portalClient.http.Get("https://localhost:" + pubPort + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	d := makeDossiers(t, batchPrefix(t, "stls"), 1)[0]
	if a, err := portalClient.post(ctx, "https://localhost:"+pubPort, d, ""); err != nil || a.status != http.StatusAccepted {
		t.Fatalf("submission over mutual TLS: %v %v", a, err)
	}
	waitFor("the portal receives the dossier's statuses", func() bool {
		full, progress := false, false
		for _, r := range portal.Received() {
			if r.MaHoSo == d.code && r.ErrorCode == "" && r.Status != "" && r.Status != "1" && r.Status != "2" {
				full = full || r.Service == "DongBoHoSoMC"
				progress = progress || r.Service == "CapNhatTienDoHoSoMC"
			}
		}
		return full && progress
	})
}

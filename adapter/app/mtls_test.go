package app

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/sim/portalsim"
	"github.com/kbnn/dvc/adapter/sim/treasurysim"
	"github.com/kbnn/dvc/adapter/testkit/clock"
	"github.com/kbnn/dvc/adapter/testkit/tlstest"
	"github.com/kbnn/dvc/adapter/tlsconf"
	"github.com/kbnn/dvc/adapter/webhook"
)

// requireClientCerts serves h over TLS with cert, requiring a client
// certificate from ca (mutual TLS), as the treasury gateway and the portal
// may.
func requireClientCerts(t *testing.T, h http.Handler, cert tlstest.Issued, ca *tlstest.CA) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS(t)}, ClientCAs: ca.Pool(),
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// tlsClient is an HTTP client trusting ca and presenting cert (none when
// nil).
func tlsClient(t *testing.T, ca *tlstest.CA, cert *tlstest.Issued) *http.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	if cert != nil {
		pair := cert.TLS(t)
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}

// One dossier goes the whole way over mutual TLS on every hop: the portal
// submits it to the adapter with its client certificate and token, the
// adapter sends it to a treasury that requires the adapter's client
// certificate, the treasury calls the status back with its own client
// certificate (no signature needed: auth.callbacks mtls), and the adapter
// delivers the status to a portal that requires the adapter's client
// certificate. Without a certificate the portal and the treasury are
// refused.
func TestMutualTLSEveryHop(t *testing.T) {
	ca := tlstest.NewCA(t, "every hop CA")
	dir := t.TempDir()
	write := func(name string, i tlstest.Issued) (string, string) { return i.Write(t, dir, name) }
	caFile := filepath.Join(dir, "ca.pem")
	tlstest.WriteFile(t, caFile, ca.PEM)
	adapterServerCert, adapterServerKey := write("adapter-server", ca.Server(t, "adapter"))
	adapterClientCert, adapterClientKey := write("adapter-client", ca.Issue(t, tlstest.Leaf{CN: "dvc-adapter", O: "KBNN TEST ONLY", Client: true}))
	portalClient := ca.Issue(t, tlstest.Leaf{CN: "portal.dvc.test", O: "Portal TEST ONLY", Client: true})
	treasuryClient := ca.Issue(t, tlstest.Leaf{CN: "gateway", Client: true, URIs: []string{"spiffe://kbnn.test/treasury"}})

	clk := clock.New(receipt)
	sim := treasurysim.New(treasurysim.Options{Clock: clk.Now, MaxBodyBytes: 64 << 20})
	treasurySrv := requireClientCerts(t, sim, ca.Server(t, "treasury"), ca)
	portal := portalsim.New(portalsim.Options{Clock: clk.Now})
	portalSrv := requireClientCerts(t, portal, ca.Server(t, "portal"), ca)

	cfg := testConfig(t, treasurySrv.URL)
	cfg.Treasury.TLS = config.ClientTLS{CAFile: caFile, CertFile: adapterClientCert, KeyFile: adapterClientKey}
	cfg.Portal.URL = portalSrv.URL + "/api"
	cfg.Portal.TLS = config.ClientTLS{CAFile: caFile, CertFile: adapterClientCert, KeyFile: adapterClientKey, ServerName: "localhost"}
	cfg.Server.TLS.CertFile, cfg.Server.TLS.KeyFile, cfg.Server.TLS.ClientCAFile = adapterServerCert, adapterServerKey, caFile
	cfg.Server.TLS.Clients = []config.TLSClient{
		{Name: "portal", Subject: "CN=portal.dvc.test,O=Portal TEST ONLY", Group: "submissions"},
		{Name: "treasury", URI: "spiffe://kbnn.test/treasury", Group: "callbacks"},
	}
	cfg.Auth.Submissions, cfg.Auth.Callbacks = "both", "mtls"
	cfg.Portal.Resilience.Retries = -1
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Clock: clk.Now, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	cert, err := tlsconf.NewCert(adapterServerCert, adapterServerKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, err := tlsconf.Server(tlsconf.Options{Cert: cert, ClientCAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	adapterSrv := httptest.NewUnstartedServer(a.Handler)
	adapterSrv.TLS = serverTLS
	adapterSrv.StartTLS()
	t.Cleanup(adapterSrv.Close)

	secret, err := webhook.ParseSecret(cfg.Callbacks.Secrets[0].Reveal())
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.StartCallbacks(t.Context(), treasurysim.CallbackOptions{
		URL: adapterSrv.URL + "/v1/callbacks/treasury/status", Secret: secret, Interval: -1,
		Client: tlsClient(t, ca, &treasuryClient),
	}); err != nil {
		t.Fatal(err)
	}

	// portal → adapter
	c := fx(t, "tai-khoan/valid-xml")
	code, _ := c.DossierCode()
	post := func(client *http.Client) int {
		req, err := c.Request(adapterSrv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("submission: %d %s", resp.StatusCode, body)
		}
		return resp.StatusCode
	}
	if got := post(tlsClient(t, ca, nil)); got != http.StatusUnauthorized {
		t.Fatalf("submission without a client certificate: %d, want 401", got)
	}
	// adapter → treasury (the document is there)
	if got := post(tlsClient(t, ca, &portalClient)); got != http.StatusAccepted {
		t.Fatalf("submission with the portal's certificate and token: %d, want 202", got)
	}
	docs := 0
	for _, d := range sim.Documents() {
		if d.DossierCode == code {
			docs++
		}
	}
	if docs != 1 {
		t.Fatalf("%d treasury documents for %s, want 1", docs, code)
	}
	// treasury → adapter
	if n := sim.TickCallbacks(t.Context()); n == 0 {
		t.Fatal("the treasury sent no status")
	}
	for _, r := range sim.Callbacks() {
		if !r.Delivered || r.LastResponse != http.StatusAccepted {
			t.Fatalf("callback %s over mutual TLS: %d %s", r.EventID, r.LastResponse, r.LastError)
		}
	}
	// adapter → portal
	for range 20 {
		clk.Advance(2e9)
		n, err := a.Delivery.Poll(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	var services []string
	for _, r := range portal.Received() {
		if r.MaHoSo == code && r.ErrorCode == "" {
			services = append(services, r.Service)
		}
	}
	if len(services) < 2 || services[len(services)-2] != "DongBoHoSoMC" || services[len(services)-1] != "CapNhatTienDoHoSoMC" {
		t.Fatalf("the portal received %v for %s, want the full dossier then the progress", services, code)
	}
	// The treasury and the portal refuse a client without a certificate.
	for _, url := range []string{treasurySrv.URL + "/api/v1/login", portalSrv.URL + "/api"} {
		if resp, err := tlsClient(t, ca, nil).Post(url, "application/json", nil); err == nil {
			_ = resp.Body.Close()
			t.Errorf("%s answered %d without a client certificate", url, resp.StatusCode)
		}
	}
}

package httpapi_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"testing"

	"github.com/kbnn/dvc/adapter/httpapi"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/testkit/tlstest"
	"github.com/kbnn/dvc/adapter/webhook"
)

// channelRecorder is a callback receiver that accepts an event when the
// channel authenticated the sender, and otherwise answers as a bad
// signature does.
type channelRecorder struct{}

func (channelRecorder) Receive(ctx context.Context, _ http.Header, _ []byte) (bool, error) {
	if webhook.AuthenticatedChannel(ctx) {
		return false, nil
	}
	return false, problem.New(problem.Unauthorized, "")
}

// mtlsWorld is a CA, the server's TLS (client certificates from the CA
// verified when given), and client certificates for the portal (by
// subject), the treasury (by URI SAN), an operator, and one the
// configuration does not know.
type mtlsWorld struct {
	ca                                   *tlstest.CA
	server                               *tls.Config
	portal, treasury, operator, stranger tls.Certificate
}

func newMTLSWorld(t *testing.T) *mtlsWorld {
	ca := tlstest.NewCA(t, "mtls test CA")
	srv := ca.Server(t, "adapter").TLS(t)
	w := &mtlsWorld{ca: ca, server: &tls.Config{Certificates: []tls.Certificate{srv}, ClientCAs: ca.Pool(),
		ClientAuth: tls.VerifyClientCertIfGiven}}
	w.portal = ca.Issue(t, tlstest.Leaf{CN: "portal.dvc.test", O: "Portal TEST ONLY", Client: true}).TLS(t)
	w.treasury = ca.Issue(t, tlstest.Leaf{CN: "gateway", Client: true, URIs: []string{"spiffe://kbnn.test/treasury"}}).TLS(t)
	w.operator = ca.Issue(t, tlstest.Leaf{CN: "ops-1", O: "Operations TEST ONLY", Client: true}).TLS(t)
	w.stranger = ca.Issue(t, tlstest.Leaf{CN: "stranger", Client: true}).TLS(t)
	return w
}

// clientCerts map the world's certificates to callers.
var clientCerts = []httpapi.ClientCert{
	{Name: "portal", Subject: "cn=portal.dvc.test, O=Portal TEST ONLY", Group: httpapi.GroupSubmissions},
	{Name: "treasury", URI: "spiffe://kbnn.test/treasury", Group: httpapi.GroupCallbacks},
	{Name: "ops", Subject: "CN=ops-1,O=Operations TEST ONLY", Group: httpapi.GroupAdmin},
}

// client returns an HTTP client presenting cert (none when nil), on a new
// connection for each request.
func (w *mtlsWorld) client(cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: w.ca.Pool(), ServerName: "localhost"}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

// Each route group takes the credential, a client certificate of the
// group, either or both, as configured; a certificate of another group or
// unknown to the configuration admits nothing.
func TestMutualTLSPerGroup(t *testing.T) {
	w := newMTLSWorld(t)
	type call struct {
		name   string
		cert   *tls.Certificate
		token  string
		status int
	}
	tests := []struct {
		name  string
		modes httpapi.Modes
		route string // "dossier", "dead" or "callback"
		calls []call
	}{
		{"submissions by certificate only", httpapi.Modes{Submissions: "mtls"}, "dossier", []call{
			{"portal certificate", &w.portal, "", 404},
			{"portal certificate and a token", &w.portal, token, 404},
			{"token only", nil, token, 401},
			{"operator certificate", &w.operator, "", 401},
			{"treasury certificate", &w.treasury, "", 401},
			{"unknown certificate", &w.stranger, "", 401},
			{"nothing", nil, "", 401},
		}},
		{"submissions by either", httpapi.Modes{Submissions: "either"}, "dossier", []call{
			{"portal certificate", &w.portal, "", 404},
			{"token only", nil, token, 404},
			{"unknown certificate and a token", &w.stranger, token, 404},
			{"unknown certificate", &w.stranger, "", 401},
			{"nothing", nil, "", 401},
		}},
		{"submissions by both", httpapi.Modes{Submissions: "both"}, "dossier", []call{
			{"portal certificate and its token", &w.portal, token, 404},
			{"portal certificate only", &w.portal, "", 401},
			{"token only", nil, token, 401},
			{"unknown certificate and a token", &w.stranger, token, 401},
		}},
		{"submissions by token (default)", httpapi.Modes{}, "dossier", []call{
			{"token", nil, token, 404},
			{"portal certificate only", &w.portal, "", 401},
		}},
		{"admin by certificate", httpapi.Modes{Admin: "mtls"}, "dead", []call{
			{"operator certificate", &w.operator, "", 200},
			{"admin token only", nil, adminToken, 401},
			{"portal certificate", &w.portal, "", 401},
		}},
		{"callbacks by certificate", httpapi.Modes{Callbacks: "mtls"}, "callback", []call{
			{"treasury certificate", &w.treasury, "", 202},
			{"no certificate", nil, "", 401},
			{"portal certificate", &w.portal, "", 401},
		}},
		{"callbacks by either", httpapi.Modes{Callbacks: "either"}, "callback", []call{
			{"treasury certificate", &w.treasury, "", 202},
			{"no certificate: the signature decides", nil, "", 401},
		}},
		{"callbacks by signature (default)", httpapi.Modes{}, "callback", []call{
			{"treasury certificate: the signature still decides", &w.treasury, "", 401},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newServerTLS(t, func(o *httpapi.Options) {
				o.Modes, o.ClientCerts = tt.modes, clientCerts
				o.DeadLetters, o.Callbacks = noDeadLetters{}, channelRecorder{}
				o.AdminCallers = []httpapi.Caller{{Name: "ops", Token: adminToken}}
			}, w.server)
			url, method := h.url+"/v1/procedures/chi-thuong-xuyen/dossiers/G09.20-20260609-0000101", "GET"
			switch tt.route {
			case "dead":
				url = h.admin + "/v1/admin/dead-letters"
			case "callback":
				url, method = h.url+"/v1/callbacks/treasury/status", "POST"
			}
			for _, c := range tt.calls {
				req := newRequest(t, method, url, []byte("{}"))
				if c.token != "" {
					req.Header.Set("Authorization", "Bearer "+c.token)
				}
				resp, err := w.client(c.cert).Do(req)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != c.status {
					t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, body, c.status)
				}
			}
		})
	}
}

// A client certificate from another CA never reaches a route: the
// handshake fails.
func TestMutualTLSForeignCertificate(t *testing.T) {
	w := newMTLSWorld(t)
	other := tlstest.NewCA(t, "another CA")
	foreign := other.Issue(t, tlstest.Leaf{CN: "portal.dvc.test", O: "Portal TEST ONLY", Client: true}).TLS(t)
	h := newServerTLS(t, func(o *httpapi.Options) {
		o.Modes, o.ClientCerts = httpapi.Modes{Submissions: "mtls"}, clientCerts
	}, w.server)
	prev := log.Writer()
	log.SetOutput(io.Discard) // the refused handshake is logged by net/http
	defer log.SetOutput(prev)
	_, err := w.client(&foreign).Get(h.url + "/healthz")
	if err == nil {
		t.Fatal("a certificate of another CA was accepted")
	}
}

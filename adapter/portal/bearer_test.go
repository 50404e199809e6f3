package portal_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/portal"
	"github.com/kbnn/dvc/adapter/sim/portalsim"
)

func TestBearerTokenRefresh(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		between    func(e *env)
		calls      int
		wantTokens int
	}{
		{"token reused", func(*env) {}, 3, 1},
		{"401 after the portal forgot its tokens", func(e *env) { e.sim.InvalidateTokens() }, 3, 2},
		// 5-minute tokens, 30 s margin: renewed before the portal would refuse them.
		{"renewed shortly before expiry", func(e *env) { e.clk.Advance(4*time.Minute + 30*time.Second) }, 3, 2},
		{"still fresh just before the margin", func(e *env) { e.clk.Advance(4*time.Minute + 29*time.Second) }, 3, 1},
		{"every token refused after one call", func(e *env) { e.sim.SetFaults(portalsim.Faults{ExpireSessions: true}) }, 3, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, portalsim.Options{})
			tr := e.bearer(t, nil)
			if _, err := tr.Call(context.Background(), portal.ServiceLookup, lookupD1); err != nil {
				t.Fatal(err)
			}
			tc.between(e)
			for i := range tc.calls {
				if _, err := tr.Call(context.Background(), portal.ServiceLookup, lookupD1); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			if _, tokens := e.counts(); tokens != tc.wantTokens {
				t.Fatalf("%d token requests, want %d", tokens, tc.wantTokens)
			}
		})
	}
}

func TestBearerPayload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, portalsim.Options{})
	c, _ := newClient(t, e.bearer(t, nil), zeroSettings)
	if err := c.SyncDossier(context.Background(), false, dossier("D1", portal.StatusAccepted)); err != nil {
		t.Fatal(err)
	}
	got := e.body(portal.ServiceSyncDossier)
	if got["madonvi"] != "000.00.00.G09" || got["isUpdating"] != "False" || got["session"] != nil || got["service"] != nil {
		t.Fatalf("bearer body %v: want madonvi and isUpdating, no session or service", got)
	}
	if st, ok := e.sim.Status("D1"); !ok || st != 2 {
		t.Fatalf("simulator holds D1 at %d (%v), want 2", st, ok)
	}
}

func TestBearerRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, portalsim.Options{})
	_, err := e.bearer(t, func(c *portal.BearerConfig) { c.ClientSecret = "wrong" }).
		Call(context.Background(), portal.ServiceLookup, lookupD1)
	if !errors.Is(err, portal.ErrUnauthorized) || portal.Permanent(err) {
		t.Fatalf("wrong secret: got %v, want ErrUnauthorized", err)
	}

	always401 := fixed(t, http.StatusUnauthorized, nil, `{"error":"invalid_token"}`)
	tr, err := portal.NewBearerTransport(portal.BearerConfig{BaseURL: always401.URL + "/api",
		TokenURL: always401.URL + "/oauth/token", ClientID: "c", ClientSecret: "s"}, always401.Client())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Call(context.Background(), portal.ServiceLookup, lookupD1); !errors.Is(err, portal.ErrUnauthorized) {
		t.Fatalf("token refused twice: got %v, want ErrUnauthorized", err)
	}

	forbidden := fixed(t, http.StatusForbidden, nil, ``)
	tr, err = portal.NewBearerTransport(portal.BearerConfig{BaseURL: forbidden.URL + "/api",
		TokenURL: forbidden.URL + "/oauth/token", ClientID: "c", ClientSecret: "s"}, forbidden.Client())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Call(context.Background(), portal.ServiceLookup, lookupD1); !errors.Is(err, portal.ErrUnauthorized) {
		t.Fatalf("403: got %v, want ErrUnauthorized", err)
	}
	session, err := portal.NewSessionTransport(portal.SessionConfig{URL: forbidden.URL + "/api", Username: "u",
		Password: "p", MaDonVi: "m"}, forbidden.Client())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := session.Call(context.Background(), portal.ServiceLookup, lookupD1); !errors.Is(err, portal.ErrUnauthorized) {
		t.Fatalf("403 to the session transport: got %v, want ErrUnauthorized", err)
	}
}

func TestBearerTokenAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"no access_token", 200, `{"token_type":"Bearer","expires_in":300}`, portal.ErrProtocol},
		{"not a bearer token", 200, `{"access_token":"t","token_type":"mac"}`, portal.ErrProtocol},
		{"not JSON", 200, `access_token=t`, portal.ErrProtocol},
		{"invalid_client", 401, `{"error":"invalid_client"}`, portal.ErrUnauthorized},
		{"bad request", 400, `{"error":"invalid_scope"}`, portal.ErrUnauthorized},
		{"token endpoint down", 503, ``, portal.ErrUnavailable},
		{"redirect", 302, ``, portal.ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := fixedToken(t, tc.status, tc.body)
			tr, err := portal.NewBearerTransport(portal.BearerConfig{BaseURL: srv.URL + "/api",
				TokenURL: srv.URL + "/token", ClientID: "c", ClientSecret: "s"}, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr.Call(context.Background(), portal.ServiceLookup, lookupD1); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

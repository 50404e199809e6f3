package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/kbnn/dvc/adapter/httpapi"
	"github.com/kbnn/dvc/adapter/outbox"
)

// noDeadLetters is an outbox without dead letters.
type noDeadLetters struct{}

func (noDeadLetters) DeadLetters(context.Context, string, int) ([]outbox.DeadLetter, string, error) {
	return nil, "", nil
}

func (noDeadLetters) Inspect(context.Context, string, string) (outbox.DeadLetter, error) {
	return outbox.DeadLetter{}, outbox.ErrNotFound
}

func (noDeadLetters) Replay(context.Context, string, string) error  { return outbox.ErrNotFound }
func (noDeadLetters) ReplayAll(context.Context) (int, error)        { return 0, nil }
func (noDeadLetters) Discard(context.Context, string, string) error { return outbox.ErrNotFound }

const adminToken = "ops-admin-token"

// Each route admits its own callers only and names its own realm.
func TestBearerPerCallerList(t *testing.T) {
	h := newServer(t, func(o *httpapi.Options) {
		o.DeadLetters = noDeadLetters{}
		o.AdminCallers = []httpapi.Caller{{Name: "ops", Token: adminToken}}
	})
	dossier := h.url + "/v1/procedures/chi-thuong-xuyen/dossiers/G09.20-20260609-0000101"
	dead := h.admin + "/v1/admin/dead-letters"
	tests := []struct {
		name, method, url, auth string
		status                  int
		realm                   string // the challenge of a 401
	}{
		{"portal token on a dossier", "GET", dossier, "Bearer " + token, 404, ""},
		{"admin token on a dossier", "GET", dossier, "Bearer " + adminToken, 401, `Bearer realm="dvc-adapter"`},
		{"no token on a dossier", "GET", dossier, "", 401, `Bearer realm="dvc-adapter"`},
		{"admin token on dead letters", "GET", dead, "Bearer " + adminToken, 200, ""},
		{"admin token, lower-case scheme", "GET", dead, "bearer " + adminToken, 200, ""},
		{"portal token on dead letters", "GET", dead, "Bearer " + token, 401, `Bearer realm="dvc-adapter-admin"`},
		{"admin token prefix on dead letters", "POST", dead + "/replay", "Bearer " + adminToken[:5], 401, `Bearer realm="dvc-adapter-admin"`},
		{"no token on dead letters", "GET", dead, "", 401, `Bearer realm="dvc-adapter-admin"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, tt.method, tt.url, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, body := do(t, req)
			if resp.StatusCode != tt.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tt.status)
			}
			if resp.StatusCode == http.StatusUnauthorized {
				wantProblem(t, resp, body, http.StatusUnauthorized, "unauthorized")
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tt.realm {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tt.realm)
			}
		})
	}
}

// Operators' routes are on the admin listener only: the public one answers
// 404 for them, whatever the credential; /healthz and /readyz are on both.
func TestAdminRoutesOnAdminListenerOnly(t *testing.T) {
	h := newServer(t, func(o *httpapi.Options) {
		o.DeadLetters = noDeadLetters{}
		o.AdminCallers = []httpapi.Caller{{Name: "ops", Token: adminToken}}
	})
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/goroutine", "/debug/pprof/cmdline",
		"/v1/admin/dead-letters", "/v1/admin/signers?unit=1"} {
		t.Run(path, func(t *testing.T) {
			resp, body := do(t, newRequest(t, "GET", h.url+path, nil, "Authorization", "Bearer "+adminToken))
			wantProblem(t, resp, body, http.StatusNotFound, "not-found")
		})
	}
	for _, tt := range []struct {
		path   string
		status int
	}{{"/metrics", 200}, {"/debug/pprof/", 200}, {"/debug/pprof/goroutine?debug=1", 200}, {"/debug/pprof/cmdline", 200},
		{"/v1/admin/dead-letters", 200}, {"/healthz", 200}, {"/readyz", 200}} {
		t.Run("admin "+tt.path, func(t *testing.T) {
			resp, body := do(t, newRequest(t, "GET", h.admin+tt.path, nil, "Authorization", "Bearer "+adminToken))
			if resp.StatusCode != tt.status {
				t.Fatalf("%d %.200s, want %d", resp.StatusCode, body, tt.status)
			}
		})
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, body := do(t, newRequest(t, "GET", h.url+path, nil)); resp.StatusCode != http.StatusOK {
			t.Fatalf("public %s: %d %s", path, resp.StatusCode, body)
		}
	}
}

// Profiles need an operator's credential, like the other admin routes: the
// command line and the heap show configuration and secrets.
func TestPprofNeedsAdmin(t *testing.T) {
	h := newServer(t, func(o *httpapi.Options) {
		o.AdminCallers = []httpapi.Caller{{Name: "ops", Token: adminToken}}
	})
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline", "/debug/pprof/heap"} {
		for _, cred := range []string{"", "Bearer " + token} {
			resp, body := do(t, newRequest(t, "GET", h.admin+path, nil, "Authorization", cred))
			wantProblem(t, resp, body, http.StatusUnauthorized, "unauthorized")
		}
		if resp, body := do(t, newRequest(t, "GET", h.admin+path, nil, "Authorization", "Bearer "+adminToken)); resp.StatusCode != http.StatusOK {
			t.Errorf("%s with the admin token: %d %.200s", path, resp.StatusCode, body)
		}
	}
	if resp, body := do(t, newRequest(t, "GET", h.admin+"/metrics", nil)); resp.StatusCode != http.StatusOK {
		t.Errorf("/metrics without a credential: %d %.200s", resp.StatusCode, body)
	}
}

package portal_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/kbnn/dvc/adapter/portal"
	"github.com/kbnn/dvc/adapter/sim/portalsim"
	"github.com/kbnn/dvc/adapter/upstream"
)

// Both login variants reach a session the simulator accepts: the Login service on the
// integration URL, and OpenCPS's {"username","password"} on a separate authentication URL.
func TestLoginVariants(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		auth      bool
		wantPath  string
		wantBody  map[string]any
		wantFalse string // a member the login body must not have
	}{
		{"Login service on the integration URL", false, "/api",
			map[string]any{"service": "Login", "username": "dvc-adapter", "password": "dev-portal-secret"}, ""},
		{"separate authentication URL", true, "/auth",
			map[string]any{"username": "dvc-adapter", "password": "dev-portal-secret"}, "service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, portalsim.Options{})
			tr := e.session(t, func(c *portal.SessionConfig) {
				if tc.auth {
					c.AuthURL = e.srv.URL + "/auth"
				}
			})
			c, _ := newClient(t, tr, upstream.Settings{})
			if err := c.SyncDossier(context.Background(), false, dossier("D1", portal.StatusAccepted)); err != nil {
				t.Fatal(err)
			}
			if err := c.UpdateProgress(context.Background(), progress("D1", portal.StatusProcessing)); err != nil {
				t.Fatal(err)
			}
			if paths := e.loginPathsSeen(); !slices.Equal(paths, []string{tc.wantPath}) {
				t.Fatalf("logins at %v, want one at %s", paths, tc.wantPath)
			}
			body := e.body(portal.ServiceLogin)
			for k, v := range tc.wantBody {
				if body[k] != v {
					t.Fatalf("login body %v: %s = %v, want %v", body, k, body[k], v)
				}
			}
			if _, has := body[tc.wantFalse]; tc.wantFalse != "" && has {
				t.Fatalf("login body %v has %q", body, tc.wantFalse)
			}
			if got := e.body(portal.ServiceUpdateProgress); got["session"] == "" || got["madonvi"] != "000.00.00.G09" {
				t.Fatalf("service call %v lacks the session or madonvi", got)
			}
			if st, ok := e.sim.Status("D1"); !ok || st != 4 {
				t.Fatalf("simulator holds D1 at %d (%v), want 4", st, ok)
			}
		})
	}
}

// A configured dstcode goes on every request, the login included, in both login variants and
// in the bearer transport; a simulator that requires it refuses a client without it.
func TestDstCodeOnEveryRequest(t *testing.T) {
	t.Parallel()
	const dst = "000.00.00.G09-KBNN"
	e := newEnv(t, portalsim.Options{DstCode: dst})
	transports := map[string]portal.Transport{
		"Login service": e.session(t, func(c *portal.SessionConfig) { c.DstCode = dst }),
		"auth URL": e.session(t, func(c *portal.SessionConfig) {
			c.DstCode, c.AuthURL = dst, e.srv.URL+"/auth"
		}),
		"bearer": e.bearer(t, func(c *portal.BearerConfig) { c.DstCode = dst }),
	}
	for name, tr := range transports {
		if _, err := tr.Call(context.Background(), portal.ServiceLookup, lookupD1); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	got := e.dstCodes()
	if len(got) != 6 { // a login (or token request) and a look-up each
		t.Fatalf("%d requests, want 6", len(got))
	}
	for i, v := range got {
		if v != dst {
			t.Fatalf("request %d carried dstcode %q, want %q", i, v, dst)
		}
	}

	for name, tr := range map[string]portal.Transport{
		"session without dstcode": e.session(t, nil),
		"bearer without dstcode":  e.bearer(t, nil),
		"wrong dstcode":           e.session(t, func(c *portal.SessionConfig) { c.DstCode = "other" }),
	} {
		_, err := tr.Call(context.Background(), portal.ServiceLookup, lookupD1)
		if !errors.Is(err, portal.ErrUnauthorized) || portal.Permanent(err) {
			t.Fatalf("%s: got %v, want ErrUnauthorized (retryable)", name, err)
		}
	}
}

// An HTTP 401 or a session-expired error code on a service call drops the session, logs in
// once more and repeats the call once: one refusal is cured, two are ErrUnauthorized.
func TestSessionRefusedReloginOnce(t *testing.T) {
	t.Parallel()
	refuse401 := func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"unauthorized"}`))
	}
	refuseCode := func(code string) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"error_code":"` + code + `","message":"phiên hết hạn"}`))
		}
	}
	for _, tc := range []struct {
		name     string
		refuse   func(w http.ResponseWriter)
		codes    portal.ErrorCodes
		refusals int32 // service calls refused before the simulator answers
		wantErr  bool
	}{
		{"401 once", refuse401, portal.ErrorCodes{}, 1, false},
		{"401 twice", refuse401, portal.ErrorCodes{}, 2, true},
		{"default session-expired code once", refuseCode("-1"), portal.ErrorCodes{}, 1, false},
		{"configured session-expired code once", refuseCode("-401"), portal.ErrorCodes{SessionExpired: []string{"-401"}}, 1, false},
		{"configured session-expired code twice", refuseCode("-401"), portal.ErrorCodes{SessionExpired: []string{"-401"}}, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, name := range []string{"session", "auth URL", "bearer"} {
				e := newEnv(t, portalsim.Options{})
				var left atomic.Int32
				var tr portal.Transport
				switch name {
				case "session":
					tr = e.session(t, func(c *portal.SessionConfig) { c.ErrorCodes = tc.codes })
				case "auth URL":
					tr = e.session(t, func(c *portal.SessionConfig) { c.ErrorCodes, c.AuthURL = tc.codes, e.srv.URL+"/auth" })
				case "bearer":
					tr = e.bearer(t, func(c *portal.BearerConfig) { c.ErrorCodes = tc.codes })
				}
				if _, err := tr.Call(context.Background(), portal.ServiceLookup, lookupD1); err != nil { // logs in
					t.Fatalf("%s: first call: %v", name, err)
				}
				left.Store(tc.refusals)
				e.setIntercept(func(w http.ResponseWriter, service string) bool {
					if left.Add(-1) < 0 {
						return false
					}
					tc.refuse(w)
					return true
				})
				_, err := tr.Call(context.Background(), portal.ServiceLookup, lookupD1)
				logins, tokens := e.counts()
				if name == "bearer" {
					logins = tokens
				}
				if logins != 2 {
					t.Fatalf("%s: %d logins, want 2 (the first and one more)", name, logins)
				}
				if !tc.wantErr {
					if err != nil {
						t.Fatalf("%s: %v, want the repeated call to succeed", name, err)
					}
					continue
				}
				if !errors.Is(err, portal.ErrUnauthorized) || portal.Permanent(err) || portal.Classify(err) != upstream.Success {
					t.Fatalf("%s: got %v, want a retryable ErrUnauthorized from a healthy portal", name, err)
				}
			}
		})
	}
}

// A transport refuses a table of error codes that contradicts itself.
func TestErrorCodesChecked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		codes portal.ErrorCodes
	}{
		{"code in two classes", portal.ErrorCodes{Transient: []string{"99"}, Permanent: []string{"99"}}},
		{"default session code in another class", portal.ErrorCodes{Transient: []string{"-1"}}},
		{"success code", portal.ErrorCodes{Permanent: []string{"00"}}},
		{"empty code", portal.ErrorCodes{Transient: []string{" "}}},
		{"session expired as the default", portal.ErrorCodes{Default: portal.ClassSessionExpired}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, serr := portal.NewSessionTransport(portal.SessionConfig{URL: "http://127.0.0.1:8082/api", Username: "u",
				Password: "p", MaDonVi: "m", ErrorCodes: tc.codes}, nil)
			_, berr := portal.NewBearerTransport(portal.BearerConfig{BaseURL: "http://127.0.0.1:8082/api",
				TokenURL: "http://127.0.0.1:8082/oauth/token", ClientID: "c", ClientSecret: "s", ErrorCodes: tc.codes}, nil)
			if serr == nil || berr == nil {
				t.Fatalf("session: %v, bearer: %v; want both refused", serr, berr)
			}
		})
	}
	for _, s := range []string{"permanent", "transient", "sessionExpired"} {
		c, err := portal.ParseErrorClass(s)
		if err != nil || c.String() != s {
			t.Fatalf("ParseErrorClass(%q) = %v, %v", s, c, err)
		}
	}
	if _, err := portal.ParseErrorClass("retry"); err == nil {
		t.Fatal(`ParseErrorClass("retry") accepted`)
	}
}

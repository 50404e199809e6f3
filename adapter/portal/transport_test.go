package portal_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/portal"
	"github.com/kbnn/dvc/adapter/sim/portalsim"
	"github.com/kbnn/dvc/adapter/upstream"
)

var lookupD1 = map[string]any{"mahoso": "D1"}

func TestSessionLoginIsSharedAndCached(t *testing.T) {
	t.Parallel()
	e := newEnv(t, portalsim.Options{})
	tr := e.session(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := tr.Call(context.Background(), portal.ServiceLookup, lookupD1)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if logins, _ := e.counts(); logins != 1 {
		t.Fatalf("%d logins for 20 calls, want 1", logins)
	}
	if got := e.body(portal.ServiceLookup); got["madonvi"] != "000.00.00.G09" || got["session"] == "" || got["mahoso"] != "D1" {
		t.Fatalf("call body %v lacks madonvi, session or the payload", got)
	}
}

func TestSessionReloginAfterExpiry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		expire     func(e *env)
		calls      int
		wantLogins int
	}{
		{"no expiry", func(*env) {}, 3, 1},
		{"portal forgot its sessions", func(e *env) { e.sim.ExpireSessions() }, 3, 2},
		{"session lifetime passed", func(e *env) { e.clk.Advance(30 * time.Minute) }, 3, 2},
		{"every session expires after one call", func(e *env) { e.sim.SetFaults(portalsim.Faults{ExpireSessions: true}) }, 3, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, portalsim.Options{})
			tr := e.session(t, nil)
			if _, err := tr.Call(context.Background(), portal.ServiceLookup, lookupD1); err != nil {
				t.Fatal(err)
			}
			tc.expire(e)
			for i := range tc.calls {
				if _, err := tr.Call(context.Background(), portal.ServiceLookup, lookupD1); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			if logins, _ := e.counts(); logins != tc.wantLogins {
				t.Fatalf("%d logins, want %d", logins, tc.wantLogins)
			}
		})
	}
}

func TestSessionExpiredRightAfterLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, portalsim.Options{})
	e.sim.SetFaults(portalsim.Faults{ErrorCode: portalsim.CodeSessionExpired}) // every call says "expired"
	_, err := e.session(t, nil).Call(context.Background(), portal.ServiceLookup, lookupD1)
	var pe *portal.PortalError
	if !errors.Is(err, portal.ErrUnauthorized) || !errors.As(err, &pe) || pe.Code != "-1" {
		t.Fatalf("got %v, want ErrUnauthorized wrapping error_code -1", err)
	}
	if logins, _ := e.counts(); logins != 2 {
		t.Fatalf("%d logins, want 2 (one re-login only)", logins)
	}
}

func TestLoginRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, portalsim.Options{})
	tr := e.session(t, func(c *portal.SessionConfig) { c.Password = "wrong" })
	_, err := tr.Call(context.Background(), portal.ServiceLookup, lookupD1)
	var pe *portal.PortalError
	if !errors.Is(err, portal.ErrUnauthorized) || !errors.As(err, &pe) || pe.Service != "Login" || pe.Code != portalsim.CodeLoginRefused {
		t.Fatalf("got %v, want ErrUnauthorized wrapping the Login error code", err)
	}
	if portal.Permanent(err) || portal.Classify(err) != upstream.Success {
		t.Fatalf("Permanent = %v, Classify = %v; want retryable and a healthy portal", portal.Permanent(err), portal.Classify(err))
	}
}

func TestSuccessCodes(t *testing.T) {
	t.Parallel()
	for _, code := range []string{`0`, `"0"`, `"00"`} {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, portalsim.Options{SuccessCode: code})
			for name, tr := range map[string]portal.Transport{"session": e.session(t, nil), "bearer": e.bearer(t, nil)} {
				c, _ := newClient(t, tr, upstream.Settings{})
				if err := c.SyncDossier(context.Background(), false, dossier("D1", portal.StatusAccepted)); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
		})
	}
}

// Each class of error code, as configured, is reported on the *PortalError and decides
// Permanent and the breaker's outcome, in both transports.
func TestErrorCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		code      string
		codes     portal.ErrorCodes
		wantClass portal.ErrorClass
	}{
		{"unlisted: permanent by default", "99", portal.ErrorCodes{}, portal.ClassPermanent},
		{"listed transient", "99", portal.ErrorCodes{Transient: []string{"99", "-7"}}, portal.ClassTransient},
		{"listed permanent under a transient default", "98",
			portal.ErrorCodes{Permanent: []string{"98"}, Default: portal.ClassTransient}, portal.ClassPermanent},
		{"unlisted under a transient default", "97",
			portal.ErrorCodes{Permanent: []string{"98"}, Default: portal.ClassTransient}, portal.ClassTransient},
		{"other code stays permanent", "-9", portal.ErrorCodes{Transient: []string{"99"}}, portal.ClassPermanent},
		{"unknown dossier", "", portal.ErrorCodes{}, portal.ClassPermanent}, // the simulator's own CodeUnknownDossier
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, portalsim.Options{})
			want := tc.code
			if tc.code != "" {
				e.sim.SetFaults(portalsim.Faults{ErrorCode: tc.code})
			} else {
				want = portalsim.CodeUnknownDossier
			}
			transports := map[string]portal.Transport{
				"session": e.session(t, func(c *portal.SessionConfig) { c.ErrorCodes = tc.codes }),
				"bearer":  e.bearer(t, func(c *portal.BearerConfig) { c.ErrorCodes = tc.codes }),
			}
			for name, tr := range transports {
				c, _ := newClient(t, tr, upstream.Settings{})
				err := c.UpdateProgress(context.Background(), progress("D1", portal.StatusProcessing))
				var pe *portal.PortalError
				if !errors.As(err, &pe) || pe.Code != want || pe.Class != tc.wantClass || pe.Service != portal.ServiceUpdateProgress {
					t.Fatalf("%s: got %v (%+v), want error_code %s of class %s", name, err, pe, want, tc.wantClass)
				}
				if got, wantPermanent := portal.Permanent(err), tc.wantClass == portal.ClassPermanent; got != wantPermanent {
					t.Fatalf("%s: Permanent = %v, want %v", name, got, wantPermanent)
				}
				wantOutcome := upstream.Success
				if tc.wantClass == portal.ClassTransient {
					wantOutcome = upstream.Failure
				}
				if got := portal.Classify(err); got != wantOutcome {
					t.Fatalf("%s: Classify = %v, want %v", name, got, wantOutcome)
				}
			}
		})
	}
}

func TestServerFailures(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 9, 9, 0, 0, 0, portal.ICT)
	for _, tc := range []struct {
		name           string
		status         int
		header         map[string]string
		body           string
		want           error
		wantRetryAfter time.Duration // 0: none
	}{
		{"503 with Retry-After seconds", 503, map[string]string{"Retry-After": "7"}, "", portal.ErrUnavailable, 7 * time.Second},
		{"429 with Retry-After date", 429, map[string]string{"Retry-After": now.Add(30 * time.Second).UTC().Format(http.TimeFormat)}, "", portal.ErrUnavailable, 30 * time.Second},
		{"500 without Retry-After", 500, nil, `{"error_code":"00"}`, portal.ErrUnavailable, 0},
		{"502 with a bad Retry-After", 502, map[string]string{"Retry-After": "soon"}, "", portal.ErrUnavailable, 0},
		{"504 from a gateway", 504, nil, "", portal.ErrTimeout, 0},
		{"200 with HTML", 200, nil, "<html>maintenance</html>", portal.ErrProtocol, 0},
		{"200 without error_code", 200, nil, `{"data":[]}`, portal.ErrProtocol, 0},
		{"404 page", 404, nil, "not found", portal.ErrProtocol, 0},
		{"400 with a success code", 400, nil, `{"error_code":0}`, portal.ErrProtocol, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := fixed(t, tc.status, tc.header, tc.body)
			clock := func() time.Time { return now }
			session, err := portal.NewSessionTransport(portal.SessionConfig{URL: srv.URL + "/api", Username: "u",
				Password: "p", MaDonVi: "m", Clock: clock}, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			bearer, err := portal.NewBearerTransport(portal.BearerConfig{BaseURL: srv.URL + "/api",
				TokenURL: srv.URL + "/oauth/token", ClientID: "c", ClientSecret: "s", Clock: clock}, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			for name, tr := range map[string]portal.Transport{"session": session, "bearer": bearer} {
				_, err := tr.Call(context.Background(), portal.ServiceSyncDossier, map[string]any{})
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s: got %v, want %v", name, err, tc.want)
				}
				d, ok := portal.RetryAfter(err)
				if ok != (tc.wantRetryAfter != 0) || d != tc.wantRetryAfter {
					t.Fatalf("%s: RetryAfter = %v, %v; want %v", name, d, ok, tc.wantRetryAfter)
				}
				if portal.Permanent(err) || portal.Classify(err) != upstream.Failure {
					t.Fatalf("%s: Permanent = %v, Classify = %v; want retryable failure", name, portal.Permanent(err), portal.Classify(err))
				}
			}
		})
	}
}

func TestErrorCodeWithHTTPError(t *testing.T) {
	t.Parallel()
	srv := fixed(t, http.StatusBadRequest, nil, `{"error_code":"-3","message":"thiếu dữ liệu"}`)
	tr, err := portal.NewSessionTransport(portal.SessionConfig{URL: srv.URL, Username: "u", Password: "p", MaDonVi: "m"}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.Call(context.Background(), portal.ServiceSyncDossier, nil)
	var pe *portal.PortalError
	if !errors.As(err, &pe) || pe.Code != "-3" || pe.HTTPStatus != 400 || pe.Message != "thiếu dữ liệu" {
		t.Fatalf("got %v (%+v), want the error code of a 400 answer", err, pe)
	}
}

func TestPortalDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, portalsim.Options{})
	e.sim.SetFaults(portalsim.Faults{Down: true})
	for name, tr := range map[string]portal.Transport{"session": e.session(t, nil), "bearer": e.bearer(t, nil)} {
		_, err := tr.Call(context.Background(), portal.ServiceLookup, lookupD1)
		if d, ok := portal.RetryAfter(err); !errors.Is(err, portal.ErrUnavailable) || !ok || d != time.Second {
			t.Fatalf("%s: got %v, RetryAfter %v %v; want ErrUnavailable after 1s", name, err, d, ok)
		}
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, portalsim.Options{})
	e.sim.SetFaults(portalsim.Faults{Latency: time.Hour}) // ends when the client gives up
	transports := map[string]portal.Transport{
		"session": e.session(t, func(c *portal.SessionConfig) { c.Timeout = 20 * time.Millisecond }),
		"bearer":  e.bearer(t, func(c *portal.BearerConfig) { c.Timeout = 20 * time.Millisecond }),
	}
	for name, tr := range transports {
		_, err := tr.Call(context.Background(), portal.ServiceLookup, lookupD1)
		if !errors.Is(err, portal.ErrTimeout) || portal.Permanent(err) {
			t.Fatalf("%s: got %v, want ErrTimeout", name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.session(t, nil).Call(ctx, portal.ServiceLookup, lookupD1)
	if !errors.Is(err, context.Canceled) || errors.Is(err, portal.ErrTimeout) || portal.Classify(err) != upstream.Excluded {
		t.Fatalf("cancelled call: %v, want context.Canceled, excluded", err)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, portalsim.Options{})
	tr := e.session(t, nil)
	e.srv.Close()
	_, err := tr.Call(context.Background(), portal.ServiceLookup, lookupD1)
	if !errors.Is(err, portal.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if _, ok := portal.RetryAfter(err); ok {
		t.Fatal("RetryAfter reported for a transport failure")
	}
}

func TestConfigChecks(t *testing.T) {
	t.Parallel()
	okSession := portal.SessionConfig{URL: "http://127.0.0.1:8082/api", Username: "u", Password: "p", MaDonVi: "m"}
	okBearer := portal.BearerConfig{BaseURL: "http://127.0.0.1:8082/api", TokenURL: "http://127.0.0.1:8082/oauth/token",
		ClientID: "c", ClientSecret: "s"}
	for _, tc := range []struct {
		name string
		mod  func(*portal.SessionConfig, *portal.BearerConfig)
		ok   bool
	}{
		{"valid", func(*portal.SessionConfig, *portal.BearerConfig) {}, true},
		{"relative URL", func(s *portal.SessionConfig, b *portal.BearerConfig) { s.URL, b.BaseURL = "/api", "/api" }, false},
		{"ftp URL", func(s *portal.SessionConfig, b *portal.BearerConfig) { s.URL, b.TokenURL = "ftp://x/api", "ftp://x/t" }, false},
		{"no secret", func(s *portal.SessionConfig, b *portal.BearerConfig) { s.Password, b.ClientSecret = "", "" }, false},
		{"negative timeout", func(s *portal.SessionConfig, b *portal.BearerConfig) { s.Timeout, b.Timeout = -1, -1 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, b := okSession, okBearer
			tc.mod(&s, &b)
			_, serr := portal.NewSessionTransport(s, nil)
			_, berr := portal.NewBearerTransport(b, nil)
			if (serr == nil) != tc.ok || (berr == nil) != tc.ok {
				t.Fatalf("session: %v, bearer: %v; want ok %v", serr, berr, tc.ok)
			}
		})
	}
	if _, err := portal.NewSessionTransport(portal.SessionConfig{URL: okSession.URL, Username: "u", Password: "p"}, nil); err == nil {
		t.Fatal("session transport without MaDonVi accepted")
	}
}

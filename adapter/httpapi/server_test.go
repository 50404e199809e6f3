package httpapi_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/kbnn/dvc/adapter/httpapi"
	"github.com/kbnn/dvc/adapter/intake"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/schema"
	"github.com/kbnn/dvc/adapter/testkit/fixture"
)

const token = "dev-portal-token" // the portal's token in configs/local.yaml and the fixtures

// countingSender is the treasury as intake sees it; it only counts.
type countingSender struct{ calls atomic.Int64 }

func (s *countingSender) Send(context.Context, string, map[string]any) (intake.Receipt, error) {
	s.calls.Add(1)
	return intake.Receipt{DocumentID: "D-1", Reference: "R-1"}, nil
}

func (s *countingSender) Find(context.Context, string) (intake.Receipt, bool, error) {
	s.calls.Add(1)
	return intake.Receipt{}, false, nil
}

func (s *countingSender) Withdraw(context.Context, string, string, intake.Withdrawal) (intake.WithdrawalReceipt, error) {
	s.calls.Add(1)
	return intake.WithdrawalReceipt{DocumentID: "D-1", Reference: "R-1"}, nil
}

// syncBuffer is a log destination written by the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type harness struct {
	url   string // the public listener
	admin string // the admin listener
	sent  *countingSender
	log   *syncBuffer
}

// newServer serves httpapi over a real intake.Service that knows one
// procedure and withdrawals. Its verifiers are not wired: the tests here are
// refused before any signature is read, and a call to the sender would show
// it.
func newServer(t *testing.T, edit func(*httpapi.Options)) *harness {
	t.Helper()
	return newServerTLS(t, edit, nil)
}

// newServerTLS is newServer with both listeners serving TLS with cfg when
// it is not nil.
func newServerTLS(t *testing.T, edit func(*httpapi.Options), cfg *tls.Config) *harness {
	t.Helper()
	h := &harness{sent: &countingSender{}, log: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(h.log, nil))
	withdrawal, err := schema.LoadForm(os.DirFS("../../schemas"), schema.WithdrawalFolder, schema.Withdrawal)
	if err != nil {
		t.Fatal(err)
	}
	o := httpapi.Options{
		Intake: intake.New(intake.Options{
			Procedures: []*intake.Procedure{{ID: "chi-thuong-xuyen", Code: "2.002208"}},
			Sender:     h.sent, Log: log,
			Withdrawal: withdrawal, WithdrawalRoles: []string{"chu-tai-khoan"}, Withdrawer: h.sent,
		}),
		Callers:      []httpapi.Caller{{Name: "portal", Token: token}},
		MaxBodyBytes: 1 << 20,
		Log:          log,
	}
	if edit != nil {
		edit(&o)
	}
	if o.Metrics == nil {
		o.Metrics = httpapi.NewMetrics() // one set of series for both listeners
	}
	start := func(handler http.Handler) string {
		srv := httptest.NewUnstartedServer(handler)
		if cfg != nil {
			srv.TLS = cfg
			srv.StartTLS()
		} else {
			srv.Start()
		}
		t.Cleanup(srv.Close)
		return srv.URL
	}
	h.url, h.admin = start(httpapi.New(o)), start(httpapi.NewAdmin(o))
	t.Cleanup(func() {
		if n := h.sent.calls.Load(); n != 0 {
			t.Errorf("%d request(s) reached the treasury sender", n)
		}
	})
	return h
}

func load(t *testing.T, name string) fixture.Case {
	t.Helper()
	c, err := fixture.Load(filepath.Join("../../testdata/fixtures/chi-thuong-xuyen", name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func newRequest(t *testing.T, method, url string, body []byte, header ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

// wantProblem checks a problem+json answer: status, code, the members of
// RFC 9457, and that its instance is the response's request id.
func wantProblem(t *testing.T, resp *http.Response, body []byte, status int, code string) problem.Body {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("content type %q, want %s: %s", ct, problem.ContentType, body)
	}
	var p problem.Body
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if p.Code != code || p.Status != status || p.Type != problem.TypeBase+code || p.Title == "" || p.Detail == "" {
		t.Fatalf("problem %+v, want code %s and status %d", p, code, status)
	}
	if id := resp.Header.Get("X-Request-Id"); p.Instance == "" || p.Instance != id {
		t.Fatalf("instance %q, X-Request-Id %q", p.Instance, id)
	}
	return p
}

func TestUnauthenticatedIsRefused(t *testing.T) {
	h := newServer(t, nil)
	tests := []struct{ name, proc, auth string }{
		{"no credential", "chi-thuong-xuyen", ""},
		{"wrong token", "chi-thuong-xuyen", "Bearer not-the-portal-token"},
		{"token prefix", "chi-thuong-xuyen", "Bearer " + token[:len(token)-1]},
		{"token with suffix", "chi-thuong-xuyen", "Bearer " + token + "x"},
		{"empty bearer", "chi-thuong-xuyen", "Bearer "},
		{"other scheme", "chi-thuong-xuyen", "Basic " + token},
		{"unknown procedure", "no-such-procedure", ""}, // authentication comes first
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := load(t, "no-credential")
			c.Procedure = tt.proc
			req, err := c.Request(h.url)
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, body := do(t, req)
			wantProblem(t, resp, body, http.StatusUnauthorized, "unauthorized")
			if wa := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Bearer ") {
				t.Errorf("WWW-Authenticate %q", wa)
			}
		})
	}
}

func TestRefusedRequests(t *testing.T) {
	h := newServer(t, func(o *httpapi.Options) { o.MaxBodyBytes = 4096 })
	auth := "Bearer " + token
	dossiers := h.url + "/v1/procedures/chi-thuong-xuyen/dossiers"
	tests := []struct {
		name   string
		req    func(t *testing.T) *http.Request
		status int
		code   string
	}{
		{"unknown procedure", func(t *testing.T) *http.Request {
			c := load(t, "wrong-content-type")
			c.Procedure = "no-such-procedure"
			r, _ := c.Request(h.url)
			return r
		}, 404, "unknown-procedure"},
		{"unknown route", func(t *testing.T) *http.Request {
			return newRequest(t, "GET", h.url+"/no/such/route", nil)
		}, 404, "not-found"},
		{"unknown route under /v1", func(t *testing.T) *http.Request {
			return newRequest(t, "GET", h.url+"/v1/no/such/route", nil, "Authorization", auth)
		}, 404, "not-found"},
		{"wrong method on /healthz", func(t *testing.T) *http.Request {
			return newRequest(t, "POST", h.url+"/healthz", nil)
		}, 405, "method-not-allowed"},
		{"wrong method on dossiers", func(t *testing.T) *http.Request {
			return newRequest(t, "PUT", dossiers, []byte("{}"), "Authorization", auth, "Content-Type", "application/json")
		}, 405, "method-not-allowed"},
		{"text/plain", func(t *testing.T) *http.Request {
			r, _ := load(t, "wrong-content-type").Request(h.url)
			return r
		}, 415, "unsupported-media-type"},
		{"no content type", func(t *testing.T) *http.Request {
			return newRequest(t, "POST", dossiers, []byte("<a/>"), "Authorization", auth)
		}, 415, "unsupported-media-type"},
		{"body at the limit is read", func(t *testing.T) *http.Request {
			return newRequest(t, "POST", dossiers, bytes.Repeat([]byte("x"), 4096), "Authorization", auth, "Content-Type", "text/plain")
		}, 415, "unsupported-media-type"},
		{"body one byte over the limit", func(t *testing.T) *http.Request {
			return newRequest(t, "POST", dossiers, bytes.Repeat([]byte("x"), 4097), "Authorization", auth, "Content-Type", "text/plain")
		}, 413, "body-too-large"},
		{"signed dossier over the limit", func(t *testing.T) *http.Request {
			r, _ := load(t, "valid-xml").Request(h.url)
			return r
		}, 413, "body-too-large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, tt.req(t))
			wantProblem(t, resp, body, tt.status, tt.code)
			if tt.status == 405 && resp.Header.Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
		})
	}
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{24}$`)

// A valid X-Request-Id is echoed; an absent or invalid one is replaced by a
// generated one. Either way it is the problem's instance.
func TestRequestID(t *testing.T) {
	h := newServer(t, nil)
	tests := []struct {
		name, sent string
		echoed     bool
	}{
		{"valid", "portal-req.0001_A", true},
		{"longest valid", strings.Repeat("a", 64), true},
		{"absent", "", false},
		{"too short", "abc1234", false},
		{"too long", strings.Repeat("a", 65), false},
		{"space", "portal req 0001", false},
		{"percent and colon", "abcdefgh%0d%0aSet-Cookie:x", false},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, "GET", h.url+"/v1/procedures/chi-thuong-xuyen/dossiers/X", nil)
			if tt.sent != "" {
				req.Header.Set("X-Request-Id", tt.sent)
			}
			resp, body := do(t, req)
			p := wantProblem(t, resp, body, http.StatusUnauthorized, "unauthorized")
			switch {
			case tt.echoed && p.Instance != tt.sent:
				t.Fatalf("request id %q not echoed: %q", tt.sent, p.Instance)
			case !tt.echoed && !generatedID.MatchString(p.Instance):
				t.Fatalf("request id %q not replaced by a generated one: %q", tt.sent, p.Instance)
			case !tt.echoed && seen[p.Instance]:
				t.Fatalf("generated request id %q given twice", p.Instance)
			}
			seen[p.Instance] = true
		})
	}
	t.Run("success", func(t *testing.T) {
		resp, _ := do(t, newRequest(t, "GET", h.url+"/healthz", nil, "X-Request-Id", "health-check-1"))
		if got := resp.Header.Get("X-Request-Id"); got != "health-check-1" {
			t.Fatalf("X-Request-Id %q", got)
		}
	})
}

func TestHealthAndReadiness(t *testing.T) {
	ready := newServer(t, nil)
	notReady := newServer(t, func(o *httpapi.Options) { o.Ready = func() error { return errors.New("store down") } })
	tests := []struct {
		name, url, status string
		code              int
	}{
		{"alive", ready.url + "/healthz", "alive", 200},
		{"ready", ready.url + "/readyz", "ready", 200},
		{"alive while not ready", notReady.url + "/healthz", "alive", 200},
		{"not ready", notReady.url + "/readyz", "not ready", 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, newRequest(t, "GET", tt.url, nil))
			var v struct{ Status string }
			if resp.StatusCode != tt.code || json.Unmarshal(body, &v) != nil || v.Status != tt.status {
				t.Fatalf("%d %s, want %d with status %q", resp.StatusCode, body, tt.code, tt.status)
			}
		})
	}
}

var submissions = regexp.MustCompile(`(?m)^dvc_submissions_total\{(.*)\} (\S+)$`)

// metric returns the dvc_submissions_total series as "labels value" lines.
func metric(t *testing.T, url string) []string {
	t.Helper()
	resp, body := do(t, newRequest(t, "GET", url+"/metrics", nil))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	var out []string
	for _, m := range submissions.FindAllStringSubmatch(string(body), -1) {
		out = append(out, m[1]+" "+m[2])
	}
	return out
}

// Every submission is counted by outcome, the unauthenticated ones too; a
// procedure that is not configured never becomes a label value. Other
// routes are not submissions.
func TestMetricsCountSubmissions(t *testing.T) {
	h := newServer(t, nil)
	if got := metric(t, h.admin); len(got) != 0 {
		t.Fatalf("submissions before any: %q", got)
	}
	for _, name := range []string{"wrong-content-type", "wrong-content-type", "no-credential"} {
		req, err := load(t, name).Request(h.url)
		if err != nil {
			t.Fatal(err)
		}
		do(t, req)
	}
	c := load(t, "wrong-content-type")
	c.Procedure = "no-such-procedure" // must not become a label value
	req, _ := c.Request(h.url)
	do(t, req)
	do(t, newRequest(t, "GET", h.url+"/v1/procedures/chi-thuong-xuyen/dossiers/X", nil))
	do(t, newRequest(t, "PUT", h.url+"/v1/procedures/chi-thuong-xuyen/dossiers", nil))

	want := []string{
		`outcome="unauthorized",procedure="chi-thuong-xuyen" 1`,
		`outcome="unknown-procedure",procedure="" 1`,
		`outcome="unsupported-media-type",procedure="chi-thuong-xuyen" 2`,
	}
	if got := metric(t, h.admin); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("dvc_submissions_total:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A panic in a handler becomes a 500 internal problem that tells the caller
// nothing of the cause, logged with the panic value and the stack of the
// handler that panicked; the server goes on serving.
func TestPanicBecomesInternalProblem(t *testing.T) {
	log := &syncBuffer{}
	e := httpapi.New(httpapi.Options{Log: slog.New(slog.NewJSONHandler(log, nil))})
	e.GET("/boom", func(echo.Context) error { panic("secret detail of the crash") })
	srv := httptest.NewServer(e)
	defer srv.Close()

	resp, body := do(t, newRequest(t, "GET", srv.URL+"/boom", nil, "X-Request-Id", "panic-request-1"))
	wantProblem(t, resp, body, http.StatusInternalServerError, "internal")
	if strings.Contains(string(body), "secret detail") || strings.Contains(string(body), "goroutine") {
		t.Errorf("panic value or stack shown to the caller: %s", body)
	}
	var rec struct{ Level, Cause string }
	for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		var r map[string]any
		if json.Unmarshal([]byte(line), &r) == nil && r["request_id"] == "panic-request-1" {
			rec.Level, _ = r["level"].(string)
			rec.Cause, _ = r["cause"].(string)
		}
	}
	if rec.Level != "ERROR" || !strings.Contains(rec.Cause, "secret detail of the crash") {
		t.Errorf("panic not logged as an error with its request id and cause:\n%s", log.String())
	}
	if !strings.Contains(rec.Cause, "goroutine ") || !strings.Contains(rec.Cause, "TestPanicBecomesInternalProblem.func") {
		t.Errorf("logged cause lacks the stack of the panicking handler:\n%s", rec.Cause)
	}
	if resp, _ := do(t, newRequest(t, "GET", srv.URL+"/healthz", nil)); resp.StatusCode != http.StatusOK {
		t.Errorf("after a panic /healthz answers %d", resp.StatusCode)
	}
}

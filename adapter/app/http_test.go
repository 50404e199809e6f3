package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/sim/treasurysim"
	"github.com/kbnn/dvc/adapter/testkit/fixture"
)

// httpSurface is an adapter assembled by New in front of a treasury simulator
// that counts every request it gets, login included.
type httpSurface struct {
	adapter  *httptest.Server
	treasury *httptest.Server
	hits     atomic.Int64
}

// startHTTP is start with the configuration edited before New and the
// simulator wrapped (wrap may be nil).
func startHTTP(t *testing.T, edit func(*config.Config), wrap func(http.Handler) http.Handler) *httpSurface {
	t.Helper()
	s := &httpSurface{}
	var h http.Handler = treasurysim.New(treasurysim.Options{Clock: func() time.Time { return receipt }})
	if wrap != nil {
		h = wrap(h)
	}
	s.treasury = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.treasury.Close)
	cfg := testConfig(t, s.treasury.URL)
	if edit != nil {
		edit(cfg)
	}
	a, err := New(cfg, Options{
		Clock: func() time.Time { return receipt },
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	seedTemplateFiles(t, a)
	s.adapter = httptest.NewServer(a.Handler)
	t.Cleanup(s.adapter.Close)
	return s
}

func httpCase(t *testing.T, procedure, name string) fixture.Case {
	t.Helper()
	c, err := fixture.Load(filepath.Join(repo, "testdata/fixtures", procedure, name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type httpAnswer struct {
	status  int
	header  http.Header
	problem struct {
		Code, Type, Instance string
		Status               int
	}
	body []byte
}

// httpSend sends the case to base and reads the answer; ctx bounds the whole exchange.
func httpSend(t *testing.T, ctx context.Context, base string, c fixture.Case) httpAnswer {
	t.Helper()
	req, err := c.Request(base)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var a httpAnswer
	a.status, a.header = resp.StatusCode, resp.Header
	if a.body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Content-Type") == "application/problem+json" {
		if err := json.Unmarshal(a.body, &a.problem); err != nil {
			t.Fatalf("%v: %s", err, a.body)
		}
		if a.problem.Status != a.status || a.problem.Instance != resp.Header.Get("X-Request-Id") {
			t.Fatalf("problem %+v does not match status %d / X-Request-Id %q", a.problem, a.status, resp.Header.Get("X-Request-Id"))
		}
	}
	return a
}

func (a httpAnswer) want(t *testing.T, status int, code string) {
	t.Helper()
	if a.status != status || a.problem.Code != code {
		t.Fatalf("%d %s, want %d %s", a.status, a.body, status, code)
	}
}

// Requests refused for their caller, route, procedure, media type, size,
// signature or content never cause a single treasury request, login
// included. The valid dossier at the end shows the count would see one.
func TestRefusedRequestsNeverReachTreasury(t *testing.T) {
	s := startHTTP(t, func(c *config.Config) { c.Server.MaxBodyBytes = 6144 }, nil)
	tests := []struct {
		name, procedure, fixture string
		edit                     func(*fixture.Case)
		status                   int
		code                     string
	}{
		{"no credential", "chi-thuong-xuyen", "no-credential", nil, 401, "unauthorized"},
		{"wrong token", "chi-thuong-xuyen", "valid-json", func(c *fixture.Case) {
			c.Header.Set("Authorization", "Bearer dev-portal-tokem")
		}, 401, "unauthorized"},
		{"unknown procedure", "chi-thuong-xuyen", "valid-json", func(c *fixture.Case) {
			c.Procedure = "chi-dau-tu"
		}, 404, "unknown-procedure"},
		{"text/plain", "chi-thuong-xuyen", "wrong-content-type", nil, 415, "unsupported-media-type"},
		{"over server.maxBodyBytes", "chi-thuong-xuyen", "valid-xml", nil, 413, "body-too-large"},
		{"tampered", "chi-thuong-xuyen", "tampered-json", nil, 400, "signature-invalid"},
		{"untrusted", "tai-khoan", "untrusted-ca", nil, 400, "certificate-untrusted"},
		{"schema violation", "chi-thuong-xuyen", "schema-violation-json", nil, 422, "schema-violation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := httpCase(t, tt.procedure, tt.fixture)
			if tt.edit != nil {
				tt.edit(&c)
			}
			httpSend(t, context.Background(), s.adapter.URL, c).want(t, tt.status, tt.code)
			if n := s.hits.Load(); n != 0 {
				t.Fatalf("%d request(s) reached the treasury", n)
			}
		})
	}
	a := httpSend(t, context.Background(), s.adapter.URL, httpCase(t, "chi-thuong-xuyen", "valid-json"))
	if a.status != http.StatusAccepted || s.hits.Load() == 0 {
		t.Fatalf("control: valid dossier under the small body limit: %d %s, %d treasury requests", a.status, a.body, s.hits.Load())
	}
}

var httpAcceptedSeries = regexp.MustCompile(`(?m)^dvc_submissions_total\{outcome="accepted",procedure="tai-khoan"\} (\S+)$`)

func TestMetricsCountAcceptedSubmission(t *testing.T) {
	e := start(t)
	count := func() string {
		t.Helper()
		resp, err := http.Get(e.adminSrv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		if m := httpAcceptedSeries.FindSubmatch(body); m != nil {
			return string(m[1])
		}
		return "absent"
	}
	if got := count(); got != "absent" {
		t.Fatalf("accepted submissions before any: %s", got)
	}
	a := httpSend(t, context.Background(), e.adapter.URL, httpCase(t, "tai-khoan", "valid-xml"))
	if a.status != http.StatusAccepted {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if got := count(); got != "1" {
		t.Fatalf(`dvc_submissions_total{outcome="accepted",procedure="tai-khoan"} = %s, want 1`, got)
	}
}

func httpWantRetryAfter(t *testing.T, a httpAnswer) {
	t.Helper()
	if n, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || n <= 0 {
		t.Fatalf("Retry-After %q, want a positive number of seconds", a.header.Get("Retry-After"))
	}
}

// With the treasury gone, a valid dossier gets 503 treasury-unavailable
// and is told when to retry.
func TestTreasuryUnavailable(t *testing.T) {
	e := start(t)
	e.treasury.Close()
	for _, name := range []string{"valid-xml", "valid-json"} {
		t.Run(name, func(t *testing.T) {
			a := httpSend(t, context.Background(), e.adapter.URL, httpCase(t, "von-dau-tu", name))
			a.want(t, http.StatusServiceUnavailable, "treasury-unavailable")
			httpWantRetryAfter(t, a)
		})
	}
}

// A treasury that does not answer within the procedure's deadline gives 504
// treasury-timeout. The stub lets the first document (another procedure,
// with the default deadline) through so that the login is done and cached,
// and holds the next one until the adapter gives up on it; the test's own
// deadline only keeps a broken adapter from hanging the suite.
func TestTreasuryTimeout(t *testing.T) {
	var documents atomic.Int64
	s := startHTTP(t, func(c *config.Config) {
		p := c.Procedures["cam-ket-chi"]
		p.Deadline = 500 * time.Millisecond
		c.Procedures["cam-ket-chi"] = p
	},
		func(sim http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost && r.URL.Path == "/api/v1/documents" && documents.Add(1) > 1 {
					// Read the body first: only then does the server notice
					// the adapter hanging up and end the request's context.
					_, _ = io.Copy(io.Discard, r.Body)
					<-r.Context().Done()
					return
				}
				sim.ServeHTTP(w, r)
			})
		})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if a := httpSend(t, ctx, s.adapter.URL, httpCase(t, "tai-khoan", "valid-xml")); a.status != http.StatusAccepted {
		t.Fatalf("first dossier: %d %s", a.status, a.body)
	}
	a := httpSend(t, ctx, s.adapter.URL, httpCase(t, "cam-ket-chi", "valid-json"))
	a.want(t, http.StatusGatewayTimeout, "treasury-timeout")
	if n := documents.Load(); n != 2 {
		t.Fatalf("%d document requests reached the treasury, want 2", n)
	}
}

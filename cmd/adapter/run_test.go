package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/app"
	"github.com/kbnn/dvc/adapter/config"
)

// recorder is a delivery worker that records what it is asked, in order,
// together with what the server does (see fakeServer); inner, if set, is
// the real worker it passes the calls to.
type recorder struct {
	inner   worker
	mu      sync.Mutex
	events  []string
	stopErr error // ctx.Err() of Stop's context when Stop was called
}

func (r *recorder) record(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) Start(ctx context.Context) error {
	r.record("start")
	if r.inner != nil {
		return r.inner.Start(ctx)
	}
	return nil
}

func (r *recorder) Stop(ctx context.Context) error {
	r.mu.Lock()
	r.events = append(r.events, "stop")
	r.stopErr = ctx.Err()
	r.mu.Unlock()
	if r.inner != nil {
		return r.inner.Stop(ctx)
	}
	return nil
}

// running reports whether a Start is not matched by a Stop.
func (r *recorder) running() bool {
	n := 0
	for _, e := range r.got() {
		switch e {
		case "start":
			n++
		case "stop":
			n--
		}
	}
	return n > 0
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testEnv is the process environment run sees: the embedded configuration
// with the test PKI's paths, the listener address and the evidence log in
// evidenceDir.
func testEnv(addr, evidenceDir string) func(string) (string, bool) {
	pki := filepath.Join("..", "..", "testdata", "pki")
	vars := map[string]string{
		"DVC_SERVER_ADDR":              addr,
		"DVC_SERVER_ADMINADDR":         "127.0.0.1:0",
		"DVC_SERVER_SHUTDOWNTIMEOUT":   "10s",
		"DVC_SIGNATURES_TRUSTROOTS":    filepath.Join(pki, "root-ca.crt"),
		"DVC_SIGNATURES_INTERMEDIATES": filepath.Join(pki, "intermediate-ca.crt"),
		"DVC_SIGNATURES_CRLS":          filepath.Join(pki, "intermediate.crl"),
		"DVC_LOG_LEVEL":                "error",
		"DVC_EVIDENCE_DIR":             evidenceDir,
		"DVC_EVIDENCE_KEYFILE":         filepath.Join(pki, "adapter-log.key"),
	}
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

// An address already in use ends run with the listener's error, with the
// stores closed and no delivery worker left running.
func TestRunAddressInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = taken.Close() }()
	rec := &recorder{}
	closed := 0
	build := func(cfg *config.Config, o app.Options) (*parts, error) {
		p, err := assemble(cfg, o)
		if err != nil {
			return nil, err
		}
		rec.inner = p.delivery
		p.delivery = rec
		inner := p.close
		p.close = func() error { closed++; return inner() }
		return p, nil
	}
	err = run(t.Context(), nil, testEnv(taken.Addr().String(), t.TempDir()), io.Discard, build)
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("run: %v, want address in use", err)
	}
	if rec.inner == nil {
		t.Fatal("run did not assemble the adapter")
	}
	if closed != 1 {
		t.Fatalf("stores closed %d times, want 1", closed)
	}
	if rec.running() {
		t.Fatalf("delivery worker left running: %v", rec.got())
	}
}

// brokenListener fails its first Accept for good, as a listener whose
// socket went away does.
type brokenListener struct{ net.Listener }

var errBroken = errors.New("listener broken")

func (brokenListener) Accept() (net.Conn, error) { return nil, errBroken }

// A listener that fails while serving stops the delivery workers, which
// drain (their context still open), and serve returns the listener's error.
func TestServeListenerFailureStopsDelivery(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	rec := &recorder{}
	err = serve(t.Context(), []listening{{"public", newServer(config.Server{ReadTimeout: time.Second}, http.NotFoundHandler()),
		brokenListener{ln}}}, rec, 10*time.Second, discard())
	if !errors.Is(err, errBroken) {
		t.Fatalf("serve: %v, want the listener's error", err)
	}
	if got := rec.got(); !slices.Equal(got, []string{"start", "stop"}) {
		t.Fatalf("delivery calls %v, want start then stop", got)
	}
	if rec.stopErr != nil {
		t.Fatalf("delivery stopped with an ended context (%v): aborted, not drained", rec.stopErr)
	}
}

// fakeServer is a server whose Serve returns, with errLate, only after
// Shutdown was called.
type fakeServer struct {
	rec      *recorder
	shutdown chan struct{}
}

var errLate = errors.New("server goroutine's own error")

func (s *fakeServer) Serve(net.Listener) error {
	<-s.shutdown
	s.rec.record("serve returned")
	return errLate
}

func (s *fakeServer) Shutdown(context.Context) error {
	s.rec.record("shutdown")
	close(s.shutdown)
	return nil
}

// On shutdown, serve waits for the server goroutine to return (and reports
// what it returned) before it stops the delivery workers.
func TestServeWaitsForServerGoroutine(t *testing.T) {
	rec := &recorder{}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := serve(ctx, []listening{{"public", &fakeServer{rec: rec, shutdown: make(chan struct{})}, nil}}, rec, 10*time.Second, discard())
	if !errors.Is(err, errLate) {
		t.Fatalf("serve: %v, want the server goroutine's error", err)
	}
	if got := rec.got(); !slices.Equal(got, []string{"start", "shutdown", "serve returned", "stop"}) {
		t.Fatalf("events %v", got)
	}
}

// A shutdown of a real server returns nil once it stopped, with the
// delivery workers stopped.
func TestServeShutdownIsClean(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := serve(ctx, []listening{{"public", newServer(config.Server{ReadTimeout: time.Second}, http.NotFoundHandler()), ln}}, rec, 10*time.Second, discard()); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if got := rec.got(); !slices.Equal(got, []string{"start", "stop"}) || rec.stopErr != nil {
		t.Fatalf("delivery calls %v (stop context %v)", got, rec.stopErr)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		_ = c.Close()
		t.Fatal("the listener still accepts connections")
	}
}

// The server closes idle keep-alive connections.
func TestServerIdleTimeout(t *testing.T) {
	srv := newServer(config.Server{Addr: "127.0.0.1:0", ReadTimeout: 30 * time.Second, WriteTimeout: time.Minute}, http.NotFoundHandler())
	if srv.IdleTimeout != time.Minute {
		t.Fatalf("IdleTimeout %v, want twice the read timeout", srv.IdleTimeout)
	}
	if srv.ReadTimeout != 30*time.Second || srv.ReadHeaderTimeout != 30*time.Second || srv.WriteTimeout != time.Minute {
		t.Fatalf("timeouts %v %v %v", srv.ReadTimeout, srv.ReadHeaderTimeout, srv.WriteTimeout)
	}
}

// A plain-HTTP admin listener on an address other than loopback is
// warned about at start-up; on loopback, or with TLS, it is not.
func TestWarnExposedAdmin(t *testing.T) {
	for _, tc := range []struct {
		addr string
		tls  bool
		warn bool
	}{
		{"127.0.0.1:8090", false, false},
		{"[::1]:8090", false, false},
		{"0.0.0.0:8090", false, true},
		{"[::]:8090", false, true},
		{"10.1.2.3:8090", false, true},
		{"10.1.2.3:8090", true, false},
	} {
		var buf bytes.Buffer
		a, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		got := warnExposedAdmin(slog.New(slog.NewJSONHandler(&buf, nil)), a, tc.tls)
		if got != tc.warn || strings.Contains(buf.String(), `"level":"WARN"`) != tc.warn {
			t.Errorf("%s (tls %v): warned %v, log %q; want a warning %v", tc.addr, tc.tls, got, buf.String(), tc.warn)
		}
	}
}

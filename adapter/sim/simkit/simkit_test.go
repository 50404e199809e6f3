package simkit

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type testFaults struct {
	Rate float64 `json:"rate"`
}

func (f testFaults) Validate() error {
	if f.Rate < 0 || f.Rate > 1 {
		return errors.New("rate outside [0, 1]")
	}
	return nil
}

func newAdmin(t *testing.T) (*Switch[testFaults], http.Handler) {
	t.Helper()
	var s Switch[testFaults]
	mux := http.NewServeMux()
	s.Routes(mux, Admin[testFaults]{
		Name: "test-sim", Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Decode: func(b []byte) (f testFaults, err error) {
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.DisallowUnknownFields()
			return f, dec.Decode(&f)
		},
		Refuse: func(w http.ResponseWriter, msg string) { http.Error(w, msg, http.StatusBadRequest) },
		Write: func(w http.ResponseWriter, status int, v any) {
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(v)
		},
	})
	return &s, mux
}

func do(t *testing.T, h http.Handler, method, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "/sim/admin/faults", strings.NewReader(body)))
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

func TestFaultRoutes(t *testing.T) {
	t.Parallel()
	s, h := newAdmin(t)
	if code, body := do(t, h, http.MethodPut, `{"rate":0.5}`); code != 200 || body != `{"rate":0.5}` {
		t.Fatalf("PUT valid: %d %s", code, body)
	}
	if got := s.Get(); got.Rate != 0.5 {
		t.Fatalf("after PUT: %+v", got)
	}
	for _, bad := range []string{`{"rate":2}`, `{"nope":1}`, `not json`} {
		if code, _ := do(t, h, http.MethodPut, bad); code != http.StatusBadRequest {
			t.Errorf("PUT %s: %d, want 400", bad, code)
		}
	}
	if got := s.Get(); got.Rate != 0.5 {
		t.Fatalf("a refused PUT changed the faults: %+v", got)
	}
	if code, body := do(t, h, http.MethodGet, ""); code != 200 || body != `{"rate":0.5}` {
		t.Fatalf("GET: %d %s", code, body)
	}
	if code, body := do(t, h, http.MethodDelete, ""); code != 200 || body != `{"rate":0}` {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if got := s.Get(); got.Rate != 0 {
		t.Fatalf("after DELETE: %+v", got)
	}
}

func TestSetPanicsOnInvalid(t *testing.T) {
	t.Parallel()
	var s Switch[testFaults]
	defer func() {
		if recover() == nil {
			t.Fatal("Set accepted invalid faults")
		}
	}()
	s.Set(testFaults{Rate: 2})
}

func TestRandEdges(t *testing.T) {
	t.Parallel()
	r := NewRand(rand.NewPCG(1, 1))
	if r.Chance(0) || !r.Chance(1) || r.Jitter(0) != 0 {
		t.Fatal("0 and 1 are certain; a zero limit is no jitter")
	}
	hits := 0
	for range 1000 {
		if r.Chance(0.5) {
			hits++
		}
		if d := r.Jitter(time.Second); d < 0 || d >= time.Second {
			t.Fatalf("jitter %v outside [0, 1s)", d)
		}
	}
	if hits == 0 || hits == 1000 {
		t.Fatalf("Chance(0.5) hit %d times in 1000", hits)
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a done context: %v", err)
	}
	if err := Sleep(context.Background(), 0); err != nil {
		t.Fatalf("Sleep(0): %v", err)
	}
}

func TestServeStopsOnContextAndReportsListenErrors(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	// The address is taken: Serve returns the listen error at once.
	err = Serve(context.Background(), log, "test-sim", &http.Server{Addr: l.Addr().String(), Handler: http.NotFoundHandler()})
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Serve on a taken address: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Serve(ctx, log, "test-sim", &http.Server{Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()}); err != nil {
		t.Fatalf("Serve after the context ended: %v", err)
	}
}

// -log-level sets the level the simulator logs at; a level slog does not
// know is an error.
func TestLogLevel(t *testing.T) {
	for _, c := range []struct {
		args      []string
		info, wrn bool
	}{
		{nil, true, true},
		{[]string{"-log-level", "warn"}, false, true},
		{[]string{"-log-level", "debug"}, true, true},
		{[]string{"-log-level", "error"}, false, false},
	} {
		fs := flag.NewFlagSet("sim", flag.ContinueOnError)
		logger := LogLevel(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		log, err := logger()
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		ctx := context.Background()
		if got := log.Enabled(ctx, slog.LevelInfo); got != c.info {
			t.Errorf("%v: info enabled %v, want %v", c.args, got, c.info)
		}
		if got := log.Enabled(ctx, slog.LevelWarn); got != c.wrn {
			t.Errorf("%v: warn enabled %v, want %v", c.args, got, c.wrn)
		}
	}
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	logger := LogLevel(fs)
	if err := fs.Parse([]string{"-log-level", "loud"}); err != nil {
		t.Fatal(err)
	}
	if log, err := logger(); err == nil || log == nil {
		t.Fatalf("-log-level loud: %v, %v; want an error and a logger to report it", log, err)
	}
}

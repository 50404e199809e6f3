// Package simkit owns what the simulators share: the switch that holds a
// simulator's injected faults and serves them on /sim/admin/faults, a random
// source safe for concurrent use, a context-aware sleep, and the
// serve-until-signal loop of their commands. Production code never imports
// it.
package simkit

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"time"
)

// Faults is what a simulator's fault set must offer: a check of its values
// and its JSON form (unknown fields and malformed values refused).
type Faults interface {
	Validate() error
}

// Switch holds the faults a simulator injects. The zero value holds the zero
// faults and is ready to use.
type Switch[F Faults] struct {
	mu sync.Mutex
	f  F
}

// Set replaces the faults; the zero F clears them. It panics if f.Validate
// reports an error: the admin route and the commands validate first.
func (s *Switch[F]) Set(f F) {
	if err := f.Validate(); err != nil {
		panic("simkit: " + err.Error())
	}
	s.mu.Lock()
	s.f = f
	s.mu.Unlock()
}

// Get returns the faults being injected.
func (s *Switch[F]) Get() F {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f
}

// maxAdminBody bounds a PUT /sim/admin/faults body.
const maxAdminBody = 64 << 10

// Admin is how one simulator answers on its fault routes.
type Admin[F Faults] struct {
	Name   string // for log lines, e.g. "portal-sim"
	Log    *slog.Logger
	Decode func(body []byte) (F, error)            // the JSON form, unknown fields refused
	Refuse func(w http.ResponseWriter, msg string) // a 400 in the simulator's own error shape
	Write  func(w http.ResponseWriter, status int, v any)
}

// Routes adds the fault administration routes to mux. They are never
// subject to faults themselves:
//
//	GET    /sim/admin/faults   the current faults (200)
//	PUT    /sim/admin/faults   replace them; missing fields are zero; unknown fields, malformed
//	                           durations, invalid values: 400 (200, the new faults)
//	DELETE /sim/admin/faults   clear them (200, the zero faults)
func (s *Switch[F]) Routes(mux *http.ServeMux, a Admin[F]) {
	mux.HandleFunc("GET /sim/admin/faults", func(w http.ResponseWriter, _ *http.Request) {
		a.Write(w, http.StatusOK, s.Get())
	})
	mux.HandleFunc("PUT /sim/admin/faults", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
		if err != nil {
			a.Refuse(w, "cannot read body")
			return
		}
		f, err := a.Decode(body)
		if err == nil {
			err = f.Validate()
		}
		if err != nil {
			a.Refuse(w, err.Error())
			return
		}
		s.Set(f)
		a.Log.Info(a.Name+": faults set", "faults", f)
		a.Write(w, http.StatusOK, f)
	})
	mux.HandleFunc("DELETE /sim/admin/faults", func(w http.ResponseWriter, _ *http.Request) {
		var zero F
		s.Set(zero)
		a.Log.Info(a.Name + ": faults cleared")
		a.Write(w, http.StatusOK, zero)
	})
}

// Rand is a random source safe for concurrent use.
type Rand struct {
	mu sync.Mutex
	r  *rand.Rand
}

// NewRand draws from src, or from a randomly seeded source when src is nil.
func NewRand(src rand.Source) *Rand {
	if src == nil {
		src = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	return &Rand{r: rand.New(src)}
}

// Chance reports true with probability p; 0 and 1 draw no random number.
func (r *Rand) Chance(p float64) bool {
	switch {
	case p <= 0:
		return false
	case p >= 1:
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.r.Float64() < p
}

// Jitter returns a uniform duration in [0, limit); a zero limit draws no
// random number.
func (r *Rand) Jitter(limit time.Duration) time.Duration {
	if limit <= 0 {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Duration(r.r.Int64N(int64(limit)))
}

// Sleep waits for d or until ctx is done, whichever comes first, and returns
// ctx's error in the second case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Serve runs srv (whose Addr and Handler are set) until ctx ends, then shuts
// it down, giving requests in flight up to ten seconds. Requests see ctx
// through srv.BaseContext when the caller sets it. It returns once the server
// has stopped; an error when it could not listen or stop cleanly.
func Serve(ctx context.Context, log *slog.Logger, name string, srv *http.Server, attrs ...any) error {
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			log.Info(name+": listening (TLS)", append([]any{"addr", srv.Addr, "clientCertificates", srv.TLSConfig.ClientAuth == tls.RequireAndVerifyClientCert}, attrs...)...)
			errc <- srv.ListenAndServeTLS("", "") // the certificate is srv.TLSConfig's
			return
		}
		log.Info(name+": listening", append([]any{"addr", srv.Addr}, attrs...)...)
		errc <- srv.ListenAndServe()
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("listen: %w", err)
	case <-ctx.Done():
	}
	log.Info(name + ": shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	serr := srv.Shutdown(shutdownCtx)
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("shutdown: %w", serr)
	}
	log.Info(name + ": stopped")
	return nil
}

// Flags adds the flags every simulator command has (-seed) to fs and sets
// its usage text, which names what the command runs and the fault routes.
// The function it returns gives the seeded source after parsing (nil: a
// random one).
func Flags(fs *flag.FlagSet, what string) func() rand.Source {
	seed := fs.Uint64("seed", 0, "seed of the fault randomness, for repeatable runs (0: random)")
	fs.Usage = func() {
		out := fs.Output()
		_, _ = fmt.Fprintf(out, "Usage: %s [flags]\n\n", fs.Name())
		_, _ = fmt.Fprint(out, "Runs the "+what+". Faults can be changed at run time:\n"+
			"  GET /sim/admin/faults, PUT /sim/admin/faults (JSON), DELETE /sim/admin/faults (clear).\n\n")
		fs.PrintDefaults()
	}
	return func() rand.Source {
		if *seed == 0 {
			return nil
		}
		return rand.NewPCG(*seed, *seed)
	}
}

// LogLevel adds -log-level to fs. The function it returns gives, after
// parsing, the simulator's logger (JSON on standard error) at that level,
// and an error (with an info logger) for a level slog does not know.
func LogLevel(fs *flag.FlagSet) func() (*slog.Logger, error) {
	s := fs.String("log-level", "info", "debug, info, warn or error; info logs every document, refusal, injected fault and failed callback, warn only the simulator's own failures (dvc-bench runs the simulators so, as it runs the adapter)")
	return func() (*slog.Logger, error) {
		var l slog.Level
		if err := l.UnmarshalText([]byte(*s)); err != nil {
			return slog.New(slog.NewJSONHandler(os.Stderr, nil)), fmt.Errorf("-log-level %q: %w", *s, err)
		}
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
	}
}

// Check stops a simulator command whose flags are invalid: it logs the
// first error and exits 2.
func Check(log *slog.Logger, name string, errs ...error) {
	for _, err := range errs {
		if err != nil {
			log.Error(name+": bad flags", "error", err.Error())
			os.Exit(2)
		}
	}
}

// DecodeStrict decodes one JSON object from b into v: unknown fields and
// data after the object are errors.
func DecodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON object")
	}
	return nil
}

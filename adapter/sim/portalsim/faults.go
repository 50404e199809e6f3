package portalsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/kbnn/dvc/adapter/sim/simkit"
)

// Faults are the failures the simulator injects into the protocol's routes (/api, /api/…,
// /auth, /oauth/token). Routes under /sim/ are never affected. The zero value injects nothing.
//
// For each call the faults apply in this order: Down; Latency; authentication (where
// ExpireSessions acts); ErrorCode/ErrorRate (service calls only, not Login, /auth or
// /oauth/token).
type Faults struct {
	// Down answers every call HTTP 503 with "Retry-After: 1", handling nothing.
	Down bool
	// Latency delays every call before it is handled. If the client gives up meanwhile, the
	// call is dropped unhandled and unanswered. Zero: no delay.
	Latency time.Duration
	// ErrorCode is answered as error_code, without handling the call, to a share ErrorRate of
	// service calls; ErrorRate zero means all of them. Empty with ErrorRate set: "99". It must
	// not be a success code.
	ErrorCode string
	// ErrorRate is that share: a probability from 0 to 1, not money.
	ErrorRate float64
	// ExpireSessions makes every session (and bearer token) answer "expired" once it has served
	// one call: each call after the first needs a fresh login (or token), and succeeds with it.
	ExpireSessions bool
}

// Validate reports the first value that makes no sense, naming its JSON field.
func (f Faults) Validate() error {
	if f.Latency < 0 {
		return fmt.Errorf("faults: latency: %v is negative", f.Latency)
	}
	if math.IsNaN(f.ErrorRate) || f.ErrorRate < 0 || f.ErrorRate > 1 {
		return fmt.Errorf("faults: errorRate: %v is not a probability in [0, 1]", f.ErrorRate)
	}
	return checkCode("errorCode", f.ErrorCode)
}

// checkCode refuses an error code that is a success code, padded or too long.
func checkCode(name, code string) error {
	switch {
	case code == "0" || code == "00":
		return fmt.Errorf("portalsim: %s: %q is a success code", name, code)
	case code != strings.TrimSpace(code) || len(code) > 16:
		return fmt.Errorf("portalsim: %s: %q must be at most 16 characters without spaces around", name, code)
	}
	return nil
}

// faultsJSON is the wire form of Faults: the latency as a Go duration string ("200ms").
type faultsJSON struct {
	Down           bool    `json:"down"`
	Latency        string  `json:"latency"`
	ErrorCode      string  `json:"errorCode"`
	ErrorRate      float64 `json:"errorRate"`
	ExpireSessions bool    `json:"expireSessions"`
}

// MarshalJSON writes every field, the latency as a string such as "200ms".
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{Down: f.Down, Latency: f.Latency.String(), ErrorCode: f.ErrorCode,
		ErrorRate: f.ErrorRate, ExpireSessions: f.ExpireSessions})
}

// UnmarshalJSON reads the form MarshalJSON writes. Missing fields are zero; unknown fields,
// trailing data and a malformed latency are errors. It does not call Validate.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var w faultsJSON
	if err := simkit.DecodeStrict(b, &w); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	out := Faults{Down: w.Down, ErrorCode: w.ErrorCode, ErrorRate: w.ErrorRate, ExpireSessions: w.ExpireSessions}
	if w.Latency != "" {
		d, err := time.ParseDuration(w.Latency)
		if err != nil {
			return fmt.Errorf("faults: latency: %q is not a duration such as \"200ms\"", w.Latency)
		}
		out.Latency = d
	}
	*f = out
	return nil
}

// SetFaults replaces the injected faults; the zero Faults clears them. It panics if
// f.Validate reports an error: the admin route and the command validate first.
func (s *Sim) SetFaults(f Faults) {
	s.faults.Set(f)
}

// Faults returns the faults being injected.
func (s *Sim) Faults() Faults {
	return s.faults.Get()
}

// injectedError returns the error code to answer to this service call, or "".
func (s *Sim) injectedError() string {
	f := s.faults.Get()
	if f.ErrorCode == "" && f.ErrorRate == 0 {
		return ""
	}
	code := f.ErrorCode
	if code == "" {
		code = DefaultErrorCode
	}
	if f.ErrorRate == 0 || s.rng.Chance(f.ErrorRate) {
		return code
	}
	return ""
}

// withFaults applies Down and Latency to the protocol's routes.
func (s *Sim) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isProtocolPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		f := s.Faults()
		if f.Down {
			s.log.Info("portal-sim: fault injected", "fault", "down", "path", r.URL.Path)
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "portal unavailable (simulated)"})
			return
		}
		if f.Latency > 0 {
			// Read the body first: net/http notices a client that gives up only once the body
			// has been read.
			body, err := io.ReadAll(io.LimitReader(r.Body, s.opts.MaxBodyBytes+1))
			if err != nil {
				panic(http.ErrAbortHandler)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if s.sleep(r.Context(), f.Latency) != nil {
				panic(http.ErrAbortHandler) // the client gave up: not handled, not answered
			}
		}
		next.ServeHTTP(w, r)
	})
}

func isProtocolPath(p string) bool {
	return p == "/api" || strings.HasPrefix(p, "/api/") || p == "/oauth/token" || p == "/auth"
}

// adminRoutes adds the fault administration routes:
//
//	GET    /sim/admin/faults   the current faults (200, JSON as Faults.MarshalJSON writes)
//	PUT    /sim/admin/faults   replace them; missing fields are zero; unknown fields, a
//	                           malformed latency, invalid values: 400 {"error"} (200, the faults)
//	DELETE /sim/admin/faults   clear them (200, the zero faults)
//
// Dossiers, sessions, tokens and received calls are left alone.
func (s *Sim) adminRoutes(mux *http.ServeMux) {
	s.faults.Routes(mux, simkit.Admin[Faults]{Name: "portal-sim", Log: s.log, Write: writeJSON,
		Decode: func(b []byte) (f Faults, err error) { return f, f.UnmarshalJSON(b) },
		Refuse: func(w http.ResponseWriter, msg string) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": msg})
		}})
}

package treasurysim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kbnn/dvc/adapter/sim/simkit"
)

// Values of Faults.OutageMode and Faults.AfterAccept.
const (
	// OutageUnavailable (or "") answers every /api/ call 503 UNAVAILABLE during an outage.
	OutageUnavailable = "503"
	// OutageRefuse closes every /api/ connection during an outage without an answer (reset).
	OutageRefuse = "refuse"
	// AfterAcceptDrop stores a new document, then closes the connection without an answer.
	AfterAcceptDrop = "drop"
	// AfterAcceptHang stores a new document, then holds the answer like a hang (see
	// Faults.TimeoutRate): the client times out although the document exists.
	AfterAcceptHang = "hang"
)

// DefaultHangMax bounds a hang when Faults.HangMax is zero.
const DefaultHangMax = 30 * time.Second

// Reason codes of injected failures. They are not treasury business codes: the adapter treats
// them like any 503 or 504.
const (
	ReasonUnavailable    = "UNAVAILABLE"
	ReasonGatewayTimeout = "GATEWAY_TIMEOUT"
)

// Faults are the failures the simulator injects into the treasury API (every path under
// /api/). Routes under /sim/ are never affected. The zero value injects nothing.
//
// For each /api/ call the faults are applied in this order: Outage; Latency plus Jitter;
// TimeoutRate; ErrorRate (document calls only); the route itself; AfterAccept (new documents
// only). A call that meets a fault goes no further, so a call that hangs, or is answered 503,
// stores nothing.
type Faults struct {
	// Latency delays every /api/ call before it is handled. The delay ends early, and the call
	// is closed unhandled and unanswered, when the client gives up. Zero: no delay.
	Latency time.Duration
	// Jitter adds a uniformly random extra delay in [0, Jitter) to Latency. Zero: none.
	Jitter time.Duration
	// ErrorRate is the share of document calls (/api/v1/documents and below) answered
	// 503 UNAVAILABLE without being handled: a probability from 0 (never) to 1 (always), not
	// money. Login is not affected.
	ErrorRate float64
	// TimeoutRate is the share of /api/ calls (login included) that hang before being handled:
	// no answer until the client gives up (the request context is done), or at most HangMax,
	// after which the call is answered 504 GATEWAY_TIMEOUT. From 0 (never) to 1 (always).
	TimeoutRate float64
	// HangMax bounds every hang. Zero: DefaultHangMax (30 s).
	HangMax time.Duration
	// Outage fails every /api/ call at once, as OutageMode says.
	Outage bool
	// OutageMode is "" or "503" (answer 503 UNAVAILABLE) or "refuse" (close the connection
	// without an answer; the client sees a transport error).
	OutageMode string
	// AfterAccept acts after a POST /api/v1/documents has stored a new document (201), the
	// unknown-outcome case of crash and timeout recovery: "" answers normally; "drop" closes
	// the connection without an answer; "hang" holds the answer like a hang, then closes or
	// answers 504. Replays of a stored document (200) and refusals are answered normally, so
	// a retry under the same Idempotency-Key recovers the receipt.
	AfterAccept string
}

// Validate reports the first value that makes no sense, naming its JSON field.
func (f Faults) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"latency", f.Latency}, {"jitter", f.Jitter}, {"hangMax", f.HangMax}} {
		if d.v < 0 {
			return fmt.Errorf("faults: %s: %v is negative", d.name, d.v)
		}
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"errorRate", f.ErrorRate}, {"timeoutRate", f.TimeoutRate}} {
		if math.IsNaN(r.v) || r.v < 0 || r.v > 1 {
			return fmt.Errorf("faults: %s: %v is not a probability in [0, 1]", r.name, r.v)
		}
	}
	switch f.OutageMode {
	case "", OutageUnavailable, OutageRefuse:
	default:
		return fmt.Errorf("faults: outageMode: %q is not \"503\" or \"refuse\"", f.OutageMode)
	}
	switch f.AfterAccept {
	case "", AfterAcceptDrop, AfterAcceptHang:
	default:
		return fmt.Errorf("faults: afterAccept: %q is not \"drop\" or \"hang\"", f.AfterAccept)
	}
	return nil
}

// faultsJSON is the wire form of Faults: durations as Go duration strings ("250ms").
type faultsJSON struct {
	Latency     string  `json:"latency"`
	Jitter      string  `json:"jitter"`
	ErrorRate   float64 `json:"errorRate"`
	TimeoutRate float64 `json:"timeoutRate"`
	HangMax     string  `json:"hangMax"`
	Outage      bool    `json:"outage"`
	OutageMode  string  `json:"outageMode"`
	AfterAccept string  `json:"afterAccept"`
}

// MarshalJSON writes every field, durations as strings such as "250ms".
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{
		Latency: f.Latency.String(), Jitter: f.Jitter.String(), HangMax: f.HangMax.String(),
		ErrorRate: f.ErrorRate, TimeoutRate: f.TimeoutRate,
		Outage: f.Outage, OutageMode: f.OutageMode, AfterAccept: f.AfterAccept,
	})
}

// UnmarshalJSON reads the form MarshalJSON writes. Missing fields are zero; unknown fields,
// trailing data and malformed durations are errors. It does not call Validate.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var w faultsJSON
	if err := simkit.DecodeStrict(b, &w); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	var out Faults
	for _, d := range []struct {
		name string
		s    string
		dst  *time.Duration
	}{{"latency", w.Latency, &out.Latency}, {"jitter", w.Jitter, &out.Jitter}, {"hangMax", w.HangMax, &out.HangMax}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil {
			return fmt.Errorf("faults: %s: %q is not a duration such as \"250ms\"", d.name, d.s)
		}
		*d.dst = v
	}
	out.ErrorRate, out.TimeoutRate = w.ErrorRate, w.TimeoutRate
	out.Outage, out.OutageMode, out.AfterAccept = w.Outage, w.OutageMode, w.AfterAccept
	*f = out
	return nil
}

// SetFaults replaces the injected faults; the zero Faults clears them. Calls already past a
// fault's point are not affected. It panics if f.Validate reports an error: the admin route
// and the command validate first.
func (s *Sim) SetFaults(f Faults) {
	s.faults.Set(f)
}

// Faults returns the faults being injected.
func (s *Sim) Faults() Faults {
	return s.faults.Get()
}

// withFaults injects the current faults into every call under /api/.
func (s *Sim) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			next.ServeHTTP(w, r)
			return
		}
		f := s.Faults()
		if f == (Faults{}) {
			next.ServeHTTP(w, r)
			return
		}
		if f.Outage {
			s.logFault(r, "outage")
			if f.OutageMode == OutageRefuse {
				abort(w, true)
				return
			}
			unavailable(w, "treasury outage (simulated)")
			return
		}
		if f.Latency > 0 || f.Jitter > 0 || f.TimeoutRate > 0 {
			s.bufferBody(r)
		}
		if d := f.Latency + s.rng.Jitter(f.Jitter); d > 0 {
			if s.sleep(r.Context(), d) != nil {
				abort(w, false) // the client gave up (or the server stops): not handled, not answered
				return
			}
		}
		if s.rng.Chance(f.TimeoutRate) {
			s.logFault(r, "hang")
			s.hang(w, r, f.HangMax)
			return
		}
		if isDocumentCall(r.URL.Path) && s.rng.Chance(f.ErrorRate) {
			s.logFault(r, "error")
			unavailable(w, "treasury temporarily unavailable (simulated)")
			return
		}
		if f.AfterAccept == "" || r.Method != http.MethodPost || r.URL.Path != "/api/v1/documents" {
			next.ServeHTTP(w, r)
			return
		}
		hw := &holdCreated{ResponseWriter: w}
		next.ServeHTTP(hw, r)
		if !hw.held {
			return
		}
		s.logFault(r, "after-accept "+f.AfterAccept)
		if f.AfterAccept == AfterAcceptDrop {
			abort(w, false)
			return
		}
		clear(w.Header())
		s.hang(w, r, f.HangMax)
	})
}

// hang answers nothing until the request context is done (the client gave up, or the server
// stops), then closes the connection; or it answers 504 after hangMax (zero: DefaultHangMax).
func (s *Sim) hang(w http.ResponseWriter, r *http.Request, hangMax time.Duration) {
	if hangMax <= 0 {
		hangMax = DefaultHangMax
	}
	if s.sleep(r.Context(), hangMax) != nil {
		// Returning would let net/http answer an empty 200 to a client that is still there
		// (server shutdown); close instead.
		abort(w, false)
		return
	}
	writeRefusal(w, &refusal{status: http.StatusGatewayTimeout, ReasonCode: ReasonGatewayTimeout,
		Message: fmt.Sprintf("no answer within %v (simulated)", hangMax)})
}

// bufferBody reads the request body (within MaxBodyBytes) before a delay, so that an HTTP/1
// server notices a client that gives up: net/http watches the connection, and cancels the
// request context, only once the body has been read to its end.
func (s *Sim) bufferBody(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, s.opts.MaxBodyBytes+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), errReader{err}, r.Body), r.Body}
}

// errReader replays a read error after the buffered bytes; nil reads as EOF.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

func isDocumentCall(path string) bool {
	return path == "/api/v1/documents" || strings.HasPrefix(path, "/api/v1/documents/")
}

func unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	writeRefusal(w, &refusal{status: http.StatusServiceUnavailable, ReasonCode: ReasonUnavailable, Message: msg})
}

func (s *Sim) logFault(r *http.Request, fault string) {
	s.log.Info("treasury-sim: fault injected", "fault", fault, "method", r.Method, "path", r.URL.Path)
}

// abort ends the exchange without an answer: it hijacks and closes the connection (with a
// reset when reset is true), or, where hijacking is not supported (HTTP/2, recorders), panics
// with http.ErrAbortHandler, which the server turns into a closed connection or stream.
func abort(w http.ResponseWriter, reset bool) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// holdCreated passes an answer through unless it is 201 Created, which it holds back (held).
type holdCreated struct {
	http.ResponseWriter
	wrote, held bool
}

func (h *holdCreated) WriteHeader(code int) {
	if h.wrote {
		return
	}
	h.wrote = true
	if code == http.StatusCreated {
		h.held = true
		return
	}
	h.ResponseWriter.WriteHeader(code)
}

func (h *holdCreated) Write(b []byte) (int, error) {
	if !h.wrote {
		h.WriteHeader(http.StatusOK)
	}
	if h.held {
		return len(b), nil
	}
	return h.ResponseWriter.Write(b)
}

func (h *holdCreated) Unwrap() http.ResponseWriter { return h.ResponseWriter }

package portal

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kbnn/dvc/adapter/upstream"
)

// Failure kinds. Test with errors.Is; an error_code answer is a *PortalError instead
// (errors.As).
var (
	// ErrUnavailable: the portal could not be reached, or answered HTTP 429 or 5xx (504
	// excepted). RetryAfter reports the Retry-After it sent. A write may or may not have taken
	// effect.
	ErrUnavailable = errors.New("portal unavailable")
	// ErrTimeout: the call's deadline passed (the transport's Timeout, the caller's context, or
	// a 504 from a gateway). A write may or may not have taken effect.
	ErrTimeout = errors.New("portal timed out")
	// ErrUnauthorized: the portal refused the credentials (login or token request), or still
	// refused the session or token (HTTP 401 or a session-expired code) right after a fresh
	// one was obtained, or answered 403.
	ErrUnauthorized = errors.New("portal refused the credentials")
	// ErrProtocol: the answer did not follow the protocol (not a JSON object, no error_code,
	// no session in a login answer, an unexpected HTTP status, an oversized body).
	ErrProtocol = errors.New("unexpected portal answer")
	// ErrInvalidRequest: the call was refused before sending (no dossier code, a status outside
	// 1–10, a malformed date, an unencodable payload). A defect on this side.
	ErrInvalidRequest = errors.New("invalid portal request")
)

// PortalError is an answer whose error_code is not a success code: the portal understood the
// call and said no (or, for a transient code, "not now"; for a session-expired code, "log in
// again").
type PortalError struct {
	Service    string     // the service called, or "Login"
	Code       string     // error_code as the portal sent it, as text ("99", "-1")
	Message    string     // the answer's message, if any
	Class      ErrorClass // what Code means, by the transport's ErrorCodes
	HTTPStatus int        // the HTTP status of the answer (normally 200)
}

func (e *PortalError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "portal: %s: error_code %s", e.Service, e.Code)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// callError is a failure of one exchange, of one of the kinds above.
type callError struct {
	op            string // service name, "Login" or "token"
	kind          error
	status        int // HTTP status, 0 when no answer
	retryAfter    time.Duration
	hasRetryAfter bool
	detail        string
	cause         error
}

func (e *callError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "portal: %s: %v", e.op, e.kind)
	if e.status != 0 {
		fmt.Fprintf(&b, ": http %d", e.status)
	}
	if e.detail != "" {
		b.WriteString(": " + e.detail)
	}
	if e.cause != nil {
		fmt.Fprintf(&b, ": %v", e.cause)
	}
	return b.String()
}

func (e *callError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// MayHaveApplied reports whether a failed write may still have taken effect
// at the portal: it timed out (a 504 too), or the portal or a gateway
// answered 429 or 5xx, or the connection failed once the request could have
// gone. A call that never reached the write (the login or token request
// failed, the connection could not be made: a dial refused or timed out,
// DNS, a refused TLS certificate), or that the breaker or bulkhead
// refused, did not. A TLS handshake that timed out is held as a timeout
// (net/http does not type it).
func MayHaveApplied(err error) bool {
	var ce *callError
	if !errors.As(err, &ce) {
		// Not an exchange's failure as this package writes it: of the two
		// kinds, it may have.
		return errors.Is(err, ErrTimeout) || errors.Is(err, ErrUnavailable)
	}
	var oe *net.OpError
	var dnsErr *net.DNSError
	var verr *tls.CertificateVerificationError
	switch {
	case ce.op == ServiceLogin || ce.op == opToken:
		return false
	case ce.status != 0:
		return errors.Is(ce.kind, ErrTimeout) || errors.Is(ce.kind, ErrUnavailable)
	case errors.As(ce.cause, &dnsErr) || (errors.As(ce.cause, &oe) && oe.Op == "dial"):
		// No connection was made, whether it was refused or timed out.
		return false
	case errors.As(ce.cause, &verr):
		return false
	}
	return errors.Is(ce.kind, ErrTimeout) || errors.Is(ce.kind, ErrUnavailable)
}

// RetryAfter reports how long the portal asked to wait (Retry-After on a 429 or 5xx), or how
// long a refusing circuit breaker or bulkhead suggests (upstream.Rejected).
func RetryAfter(err error) (time.Duration, bool) {
	var ce *callError
	if errors.As(err, &ce) && ce.hasRetryAfter {
		return ce.retryAfter, true
	}
	var rj *upstream.Rejected
	if errors.As(err, &rj) {
		return rj.RetryAfter, true
	}
	return 0, false
}

// Permanent reports whether repeating the call cannot help: a *PortalError of ClassPermanent,
// or ErrInvalidRequest. Every other failure (a transient code, unavailable, timed out,
// unexpected answer, refused credentials or a session still expired after a fresh login,
// breaker open, caller gone) is worth retrying later; an outbox parks a message at once only
// when Permanent is true.
func Permanent(err error) bool {
	if err == nil || errors.Is(err, ErrUnauthorized) {
		return false
	}
	if errors.Is(err, ErrInvalidRequest) {
		return true
	}
	var pe *PortalError
	return errors.As(err, &pe) && pe.Class == ClassPermanent
}

// Classify tells the circuit breaker what an attempt's error says about the portal's health: a
// *PortalError that is not transient, or refused credentials, is a healthy portal saying no
// (Success); a request refused before sending is Excluded; anything else, a transient code
// included, falls back to upstream.DefaultClassify (caller gone: Excluded; else Failure,
// retried if idempotent).
func Classify(err error) upstream.Outcome {
	var pe *PortalError
	switch {
	case errors.Is(err, ErrInvalidRequest):
		return upstream.Excluded
	case errors.Is(err, ErrUnauthorized):
		return upstream.Success
	case errors.As(err, &pe) && pe.Class != ClassTransient:
		return upstream.Success
	}
	return upstream.DefaultClassify(err)
}

// transportError classifies a failure to exchange a request and its answer.
func transportError(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("portal: %s: %w", op, err)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &callError{op: op, kind: ErrTimeout, cause: err}
	}
	return &callError{op: op, kind: ErrUnavailable, cause: err}
}

// serverFailure classifies answers that mean the portal side failed (429, 5xx), or returns nil.
func serverFailure(op string, ex exchange, now time.Time) error {
	switch {
	case ex.status == http.StatusGatewayTimeout:
		return &callError{op: op, kind: ErrTimeout, status: ex.status}
	case ex.status >= 500 || ex.status == http.StatusTooManyRequests:
		e := &callError{op: op, kind: ErrUnavailable, status: ex.status}
		e.retryAfter, e.hasRetryAfter = parseRetryAfter(ex.header.Get("Retry-After"), now)
		return e
	}
	return nil
}

// maxRetryAfter caps what a Retry-After may ask for.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads a Retry-After value: delta-seconds or an HTTP date (relative to now).
// A date in the past is zero; values above a day are capped at a day.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), maxRetryAfter), true
}

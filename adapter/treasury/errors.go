package treasury

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/kbnn/dvc/adapter/upstream"
)

// Failure kinds. Test with errors.Is; a business refusal is a *Refusal instead (errors.As).
var (
	// ErrUnavailable: the treasury could not be reached or answered 5xx or 429. For
	// SendDocument the document may or may not have been created; sending again with the same
	// idempotency key is safe, or FindByKey tells.
	ErrUnavailable = errors.New("treasury unavailable")
	// ErrTimeout: the call's deadline passed (Config.Timeout, the caller's context, or a 504
	// from a gateway). Like ErrUnavailable, the outcome of SendDocument is unknown.
	ErrTimeout = errors.New("treasury timed out")
	// ErrNotFound: DocumentStatus or FindByKey found no such document.
	ErrNotFound = errors.New("treasury document not found")
	// ErrUnauthorized: the treasury refused the client credentials, or still refused the token
	// right after a fresh login. A configuration problem; retrying does not help.
	ErrUnauthorized = errors.New("treasury refused the credentials")
	// ErrInvalidRequest: the request breaks the contract (refused before sending, or 400 from
	// the treasury). A defect on this side; retrying does not help.
	ErrInvalidRequest = errors.New("invalid treasury request")
	// ErrProtocol: the treasury's answer did not follow the contract (unexpected status,
	// undecodable or oversized body).
	ErrProtocol = errors.New("unexpected treasury answer")
)

// Refusal is a business refusal (HTTP 422): the treasury understood the document and will not
// book it. Nothing was created; sending the same document again gets the same refusal unless
// the treasury's data changed.
type Refusal struct {
	ReasonCode string `json:"reasonCode"` // e.g. KHONG_CO_DU_TOAN, VUOT_DU_TOAN
	Message    string `json:"message"`
}

func (r *Refusal) Error() string {
	if r.Message == "" {
		return "treasury refused the document: " + r.ReasonCode
	}
	return "treasury refused the document: " + r.ReasonCode + ": " + r.Message
}

// Classify tells the circuit breaker what an attempt's error says about the treasury's health:
// a business refusal (*Refusal) or "no such document" (ErrNotFound) is a healthy treasury
// answering (Success); a request this side got wrong (ErrInvalidRequest) or credentials the
// treasury refused (ErrUnauthorized) say nothing about its health (Excluded), nor does any
// other 4xx answer but 408 and 429 (the same request would get it again); anything else
// falls back to upstream.DefaultClassify (caller gone: Excluded; else Failure, retried if
// idempotent).
func Classify(err error) upstream.Outcome {
	var ref *Refusal
	switch {
	case errors.As(err, &ref), errors.Is(err, ErrNotFound):
		return upstream.Success
	case errors.Is(err, ErrInvalidRequest), errors.Is(err, ErrUnauthorized):
		return upstream.Excluded
	}
	var ae *answerError
	if errors.As(err, &ae) && ae.statusCode >= 400 && ae.statusCode < 500 && ae.statusCode != http.StatusRequestTimeout &&
		!errors.Is(ae.kind, ErrUnavailable) {
		// Any other 4xx (403, 405, 409, 413, 415, a 422 without its
		// reasonCode) is an answer about this request, not the treasury's
		// health: the same request would get it again, and counting it
		// would open the breaker for every unit's documents.
		return upstream.Excluded
	}
	return upstream.DefaultClassify(err)
}

// answerError is a non-success answer, classified by kind (one of the sentinels above).
type answerError struct {
	op         string
	kind       error
	statusCode int
	reasonCode string
	message    string
}

func (e *answerError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "treasury: %s: %v: http %d", e.op, e.kind, e.statusCode)
	if e.reasonCode != "" {
		b.WriteString(" " + e.reasonCode)
	}
	if e.message != "" {
		b.WriteString(": " + e.message)
	}
	return b.String()
}

func (e *answerError) Unwrap() error { return e.kind }

// transportError classifies a failure to exchange a request and its answer.
func transportError(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("treasury: %s: %w", op, err)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("treasury: %s: %w: %w", op, ErrTimeout, err)
	}
	return fmt.Errorf("treasury: %s: %w: %w", op, ErrUnavailable, err)
}

// serverFailure classifies answers that mean the treasury side failed, or returns nil.
func serverFailure(op string, a answer) error {
	switch {
	case a.status == http.StatusGatewayTimeout:
		return a.errorOf(op, ErrTimeout)
	case a.status >= 500 || a.status == http.StatusTooManyRequests:
		return a.errorOf(op, ErrUnavailable)
	}
	return nil
}

// failure classifies any other non-success answer. lookup says whether a 404 with reasonCode
// NOT_FOUND means "no such document" (status calls) rather than a wrong route; a look-up's 404
// without it is the treasury unavailable.
func failure(op string, a answer, lookup bool) error {
	switch {
	case a.status == http.StatusUnprocessableEntity:
		r := a.refusal()
		if r.ReasonCode == "" {
			return a.errorOf(op, ErrProtocol)
		}
		return &Refusal{ReasonCode: r.ReasonCode, Message: r.Message}
	case a.status == http.StatusBadRequest:
		return a.errorOf(op, ErrInvalidRequest)
	case a.status == http.StatusUnauthorized:
		return a.errorOf(op, ErrUnauthorized)
	case a.status == http.StatusNotFound && lookup && a.refusal().ReasonCode == ReasonNotFound:
		// The treasury's own answer, not a proxy's or a gateway's 404
		// while it is redeployed: taken for "no such document", it could
		// let a dossier go that the treasury holds.
		return a.errorOf(op, ErrNotFound)
	case a.status == http.StatusNotFound && lookup:
		return a.errorOf(op, ErrUnavailable)
	}
	return a.errorOf(op, ErrProtocol)
}

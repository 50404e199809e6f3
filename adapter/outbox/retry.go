package outbox

import (
	"errors"
	"time"
	"unicode/utf8"
)

// StandardSchedule returns the Standard Webhooks reference schedule: the
// delay before each attempt, the first immediate. Its delays add up to
// about 75.6 hours.
func StandardSchedule() []time.Duration {
	return []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
		5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour}
}

// Permanent marks err as one no retry can fix (the portal refused the
// event's content): the worker dead-letters the event at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// RetryAfter attaches a server's hint (an HTTP Retry-After) to err.
func RetryAfter(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: after}
}

// RetryAfterOf returns the hint attached with RetryAfter.
func RetryAfterOf(err error) (time.Duration, bool) {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}

type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// maxReason bounds the reasons the worker records.
const maxReason = 1024

// reason is err's text cut to maxReason bytes on a rune boundary.
func reason(prefix string, err error) string {
	s := prefix + err.Error()
	if len(s) <= maxReason {
		return s
	}
	n := maxReason
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// nextAttempt decides when attempt d.Attempt+1 runs after d failed with
// err at now, or that there is none (dead letter).
//
// The delay is Schedule[d.Attempt] spread by ±jitter (r in [0, 1)), or the
// server's hint when that is longer (capped at maxHint), rounded to the
// millisecond (the stores' resolution). Past the schedule
// the event gets one more attempt at FirstAttempt+minSpan if that is still
// ahead, so that jitter never shortens the retry span below minSpan, and
// never sooner than the hint.
func nextAttempt(schedule []time.Duration, jitter float64, minSpan, maxHint time.Duration,
	d Delivery, hint time.Duration, hinted bool, r float64, now time.Time) (time.Time, bool) {
	if d.Attempt < len(schedule) {
		delay := schedule[d.Attempt]
		if jitter > 0 {
			delay = time.Duration(float64(delay) * (1 + jitter*(2*r-1)))
		}
		if hinted {
			delay = max(delay, min(hint, maxHint))
		}
		return now.Add(delay.Round(time.Millisecond)), true
	}
	if minSpan > 0 {
		first := d.FirstAttempt
		if first.IsZero() {
			first = now
		}
		if end := first.Add(minSpan); now.Before(end) {
			if hinted {
				end = maxTime(end, now.Add(min(hint, maxHint)).Round(time.Millisecond))
			}
			return end, true
		}
	}
	return time.Time{}, false
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

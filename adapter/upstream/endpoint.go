package upstream

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Refusal reasons, wrapped in a *Rejected. Test with errors.Is.
var (
	// ErrOpen: the endpoint's breaker is open, or half-open with all its probes in flight.
	ErrOpen = errors.New("circuit breaker open")
	// ErrBulkheadFull: the endpoint already runs Settings.MaxConcurrent attempts.
	ErrBulkheadFull = errors.New("too many concurrent calls")
)

// probeRetryAfter is the RetryAfter of a bulkhead refusal, and of a half-open breaker whose
// probes are all in flight: the next free slot cannot be predicted, and a second is the
// smallest Retry-After HTTP can say.
const probeRetryAfter = time.Second

// errPanicked is reported to the breaker when fn panics: always a Failure.
var errPanicked = errors.New("upstream: call panicked")

// Rejected is returned when Do refused an attempt without running it. The upstream was not
// called by that attempt (earlier attempts of the same call may have been).
type Rejected struct {
	Endpoint   string        // e.g. "treasury/send-document"
	Err        error         // ErrOpen or ErrBulkheadFull
	RetryAfter time.Duration // for ErrOpen: time until the breaker lets probes through; else 1s
}

func (r *Rejected) Error() string {
	return fmt.Sprintf("upstream %s: %v (retry after %s)", r.Endpoint, r.Err, r.RetryAfter)
}

func (r *Rejected) Unwrap() error { return r.Err }

// Endpoint is one upstream route with its own breaker and bulkhead. It is safe for concurrent
// use.
type Endpoint struct {
	g         *Group
	name      string
	cb        *gobreaker.TwoStepCircuitBreaker[struct{}]
	slots     chan struct{} // bulkhead: one token per running attempt
	openUntil atomic.Pointer[time.Time]
}

// Endpoint returns the endpoint named name ("send-document") of the group's service, creating
// it on first use; the same name always gives the same Endpoint. Keep the result rather than
// looking it up on every call.
func (g *Group) Endpoint(name string) *Endpoint {
	g.mu.Lock()
	if e, ok := g.endpoints[name]; ok {
		g.mu.Unlock()
		return e
	}
	e := &Endpoint{g: g, name: g.service + "/" + name, slots: make(chan struct{}, g.s.MaxConcurrent)}
	e.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](g.breakerSettings(e.name, e.stateChanged))
	g.endpoints[name] = e
	g.mu.Unlock()
	if g.hook != nil {
		g.hook(e.name, StateClosed)
	}
	return e
}

// breakerSettings maps Settings onto gobreaker's.
func (g *Group) breakerSettings(name string, onChange func(string, gobreaker.State, gobreaker.State)) gobreaker.Settings {
	s := g.s
	period := s.Window / windowBuckets
	if period <= 0 {
		period = s.Window
	}
	return gobreaker.Settings{
		Name:         name,
		MaxRequests:  s.HalfOpenMax,
		Interval:     s.Window,
		BucketPeriod: period,
		Timeout:      s.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			finished := c.TotalSuccesses + c.TotalFailures
			return finished >= s.MinRequests && float64(c.TotalFailures) >= s.FailureRatio*float64(finished)
		},
		OnStateChange: onChange,
		IsSuccessful:  func(err error) bool { return g.outcome(err) == Success },
		IsExcluded:    func(err error) bool { return g.outcome(err) == Excluded },
	}
}

// Name returns the endpoint's full name, "<service>/<endpoint>".
func (e *Endpoint) Name() string { return e.name }

// State returns the breaker's state. Calling it may move an open breaker whose OpenTimeout has
// passed to half-open (and report that change).
func (e *Endpoint) State() State { return stateOf(e.cb.State()) }

// Do calls fn through the endpoint's bulkhead and breaker and returns fn's error unchanged, or
// a *Rejected when an attempt was refused. ctx is passed to fn and is the whole call's
// deadline: Do adds none of its own. If ctx is done before the first attempt, fn is not called
// and Do returns ctx.Err() wrapped.
//
// A call marked idempotent (repeating it cannot act twice, e.g. it carries an idempotency
// key) is retried up to Settings.Retries times while attempts end in Failure and ctx is not
// done, after a full-jitter backoff; a refusal by the bulkhead or breaker ends it with that
// *Rejected. If ctx ends during a backoff, Do returns the last attempt's error wrapped
// together with ctx's. Any other call gets exactly one attempt.
func (e *Endpoint) Do(ctx context.Context, idempotent bool, fn func(ctx context.Context) error) error {
	retries := 0
	if idempotent {
		retries = max(e.g.s.Retries, 0)
	}
	var last error
	for n := 0; ; n++ {
		if cerr := ctx.Err(); cerr != nil {
			if last == nil {
				return fmt.Errorf("upstream %s: %w", e.name, cerr)
			}
			return abandoned(last, cerr)
		}
		ran, err := e.attempt(ctx, fn)
		if !ran || n >= retries || ctx.Err() != nil || e.g.outcome(err) != Failure {
			return err
		}
		last = err
		d := e.g.backoff(n)
		e.g.log.Debug("upstream call failed, retrying", "endpoint", e.name, "retry", n+1, "delay", d, "err", err)
		if serr := e.g.sleep(ctx, d); serr != nil {
			return abandoned(last, serr)
		}
	}
}

// abandoned is the error of a call given up during its backoff.
func abandoned(last, cause error) error {
	return fmt.Errorf("%w (retry abandoned: %w)", last, cause)
}

// attempt runs fn once if the bulkhead and the breaker let it; ran is false when one refused.
func (e *Endpoint) attempt(ctx context.Context, fn func(context.Context) error) (ran bool, err error) {
	select {
	case e.slots <- struct{}{}:
	default:
		return false, &Rejected{Endpoint: e.name, Err: ErrBulkheadFull, RetryAfter: probeRetryAfter}
	}
	defer func() { <-e.slots }()

	done, berr := e.cb.Allow()
	if berr != nil {
		return false, e.refused(berr)
	}
	reported := false
	defer func() {
		if !reported { // fn panicked or called runtime.Goexit: a failure, and free the probe slot
			done(errPanicked)
		}
	}()
	err = fn(ctx)
	reported = true
	done(err)
	return true, err
}

// refused turns a gobreaker refusal into a *Rejected.
func (e *Endpoint) refused(err error) *Rejected {
	r := &Rejected{Endpoint: e.name, Err: ErrOpen, RetryAfter: probeRetryAfter}
	if errors.Is(err, gobreaker.ErrOpenState) {
		if until := e.openUntil.Load(); until != nil {
			if d := until.Sub(e.g.now()); d > 0 {
				r.RetryAfter = d
			}
		}
	}
	return r
}

// stateChanged is gobreaker's OnStateChange; it runs under the breaker's lock.
func (e *Endpoint) stateChanged(name string, from, to gobreaker.State) {
	if to == gobreaker.StateOpen {
		until := e.g.now().Add(e.g.s.OpenTimeout)
		e.openUntil.Store(&until)
	}
	e.g.log.Warn("upstream circuit breaker state changed", "endpoint", name, "from", from.String(), "to", to.String())
	if e.g.hook != nil {
		e.g.hook(name, stateOf(to))
	}
}

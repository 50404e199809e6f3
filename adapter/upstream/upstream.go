// Package upstream owns how the adapter calls an upstream service: one circuit breaker and one
// bulkhead per endpoint, per-call deadlines, and retries with exponential backoff and full
// jitter only for calls marked idempotent.
//
// A Group holds the settings of one upstream service ("treasury", "portal"); Group.Endpoint
// returns the Endpoint of one of its routes, named "<service>/<endpoint>" (for example
// "treasury/send-document") in errors, logs and state hooks. Endpoint.Do runs one logical call:
//
//   - Bulkhead: at most Settings.MaxConcurrent attempts run at once per endpoint. A further
//     attempt is refused at once with a *Rejected wrapping ErrBulkheadFull; it never queues and
//     the breaker never hears of it.
//   - Breaker (sony/gobreaker v2): trips on the failure ratio over a rolling window, refuses at
//     once while open (a *Rejected wrapping ErrOpen), lets Settings.HalfOpenMax probes through
//     when half-open, and closes after that many successes in a row.
//   - Retries: only for calls the caller marks idempotent, only after an attempt classified
//     Failure, never once ctx is done; each retry goes through the bulkhead and the breaker
//     again, and a refusal by either ends the call.
//   - Deadlines belong to the caller: ctx is the per-call deadline (the adapter sets one per
//     procedure). Do adds none; ctx bounds every attempt and every backoff.
//
// Which errors mean "the upstream is unhealthy" is decided by a classifier (WithClassifier), so
// this package imports no upstream client: a business answer such as a treasury refusal is a
// healthy upstream saying no, and its client's package knows how to recognise it.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Defaults for zero Settings fields.
const (
	DefaultWindow        = 30 * time.Second
	DefaultMinRequests   = 20
	DefaultFailureRatio  = 0.5
	DefaultOpenTimeout   = 15 * time.Second
	DefaultHalfOpenMax   = 3
	DefaultMaxConcurrent = 64
	DefaultRetries       = 2
	DefaultBaseDelay     = 100 * time.Millisecond
	DefaultMaxDelay      = 2 * time.Second
)

// windowBuckets is how many buckets the rolling window is cut into: outcomes leave the window
// one bucket (Window/10) at a time.
const windowBuckets = 10

// Settings configures every endpoint of a Group. Each zero field takes the default its comment
// names; any other value must be in the range its comment gives, or NewGroup refuses the
// settings (see Validate).
type Settings struct {
	// Window is the rolling window over which the failure ratio is measured, cut into 10
	// buckets (gobreaker BucketPeriod = Window/10, rounded up to whole buckets). Positive.
	// Zero: 30s.
	Window time.Duration
	// MinRequests is how many calls must have finished (succeeded or failed; excluded and
	// in-flight calls do not count) within the window before the breaker may trip. Zero: 20.
	MinRequests uint32
	// FailureRatio trips the breaker when failures/finished calls >= FailureRatio, in (0, 1].
	// A ratio, not an amount. Zero: 0.5.
	FailureRatio float64
	// OpenTimeout is how long the breaker stays open before it lets probes through
	// (half-open). Positive. Zero: 15s.
	OpenTimeout time.Duration
	// HalfOpenMax is how many probe calls may run when half-open; that many successes in a
	// row close the breaker, and one failure opens it again. Zero: 3.
	HalfOpenMax uint32
	// MaxConcurrent is the bulkhead: how many attempts may run at once per endpoint.
	// Positive. Zero: 64.
	MaxConcurrent int
	// Retries is how many extra attempts an idempotent call may make after failures.
	// Zero: 2. -1: none. Below -1 is refused.
	Retries int
	// BaseDelay is the backoff ceiling before the first retry; it doubles for each further
	// retry, up to MaxDelay. The actual delay is uniformly random below the ceiling (full
	// jitter). Positive. Zero: 100ms.
	BaseDelay time.Duration
	// MaxDelay caps the backoff ceiling. Positive, and at least BaseDelay once both have
	// their defaults. Zero: 2s.
	MaxDelay time.Duration
}

// FieldError is one Settings field that Validate rejects.
type FieldError struct {
	Field  string // the field's Go name, e.g. "FailureRatio"
	Reason string // what a valid value is, e.g. "must be in (0, 1]"
}

func (e *FieldError) Error() string { return "upstream: settings: " + e.Field + ": " + e.Reason }

// Validate reports every out-of-range field of s, in field order: nil, one *FieldError, or
// several joined with errors.Join (each reachable through Unwrap() []error). A zero field
// means its default and is never out of range. NewGroup refuses settings that Validate
// rejects; a config loader should call it too, so that a bad value stops start-up naming its
// key.
func (s Settings) Validate() error {
	var errs []error
	bad := func(field, reason string) { errs = append(errs, &FieldError{Field: field, Reason: reason}) }
	const positive = "must be a positive duration (zero means the default)"
	if s.Window < 0 {
		bad("Window", positive)
	}
	if s.FailureRatio != 0 && !(s.FailureRatio > 0 && s.FailureRatio <= 1) { // NaN included
		bad("FailureRatio", "must be in (0, 1]")
	}
	if s.OpenTimeout < 0 {
		bad("OpenTimeout", positive)
	}
	if s.MaxConcurrent < 0 {
		bad("MaxConcurrent", "must not be negative (zero means the default)")
	}
	if s.Retries < -1 {
		bad("Retries", "must be -1 (no retries) or more (zero means the default)")
	}
	if s.BaseDelay < 0 {
		bad("BaseDelay", positive)
	}
	if s.MaxDelay < 0 {
		bad("MaxDelay", positive)
	}
	if s.BaseDelay >= 0 && s.MaxDelay >= 0 {
		if d := s.WithDefaults(); d.MaxDelay < d.BaseDelay {
			bad("MaxDelay", fmt.Sprintf("%s is below the base delay %s (both after defaults)", d.MaxDelay, d.BaseDelay))
		}
	}
	return errors.Join(errs...)
}

// WithDefaults returns s with every zero field set to its default. It is meant for settings
// that Validate accepts.
func (s Settings) WithDefaults() Settings {
	if s.Window == 0 {
		s.Window = DefaultWindow
	}
	if s.MinRequests == 0 {
		s.MinRequests = DefaultMinRequests
	}
	if s.FailureRatio == 0 {
		s.FailureRatio = DefaultFailureRatio
	}
	if s.OpenTimeout == 0 {
		s.OpenTimeout = DefaultOpenTimeout
	}
	if s.HalfOpenMax == 0 {
		s.HalfOpenMax = DefaultHalfOpenMax
	}
	if s.MaxConcurrent == 0 {
		s.MaxConcurrent = DefaultMaxConcurrent
	}
	if s.Retries == 0 {
		s.Retries = DefaultRetries
	}
	if s.BaseDelay == 0 {
		s.BaseDelay = DefaultBaseDelay
	}
	if s.MaxDelay == 0 {
		s.MaxDelay = DefaultMaxDelay
	}
	return s
}

// Outcome is what an attempt's error says about the upstream's health.
type Outcome int

const (
	// Failure: the upstream is unhealthy (unreachable, 5xx, timed out, garbled). Counts against
	// the breaker; an idempotent call is retried. The zero value, so that an unknown outcome is
	// never mistaken for health.
	Failure Outcome = iota
	// Success: the upstream answered, even if the answer is "no" (a business refusal, not
	// found). Counts for the breaker; never retried.
	Success
	// Excluded: says nothing about the upstream (the caller went away). Not counted, not
	// retried.
	Excluded
)

func (o Outcome) String() string {
	switch o {
	case Failure:
		return "failure"
	case Success:
		return "success"
	case Excluded:
		return "excluded"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// DefaultClassify is the classifier used unless WithClassifier replaces it: nil is Success, an
// error wrapping context.Canceled is Excluded, anything else (context.DeadlineExceeded
// included: a slow upstream is an unhealthy one) is Failure. Upstream-specific classifiers
// should recognise their business answers and fall back to it.
func DefaultClassify(err error) Outcome {
	switch {
	case err == nil:
		return Success
	case errors.Is(err, context.Canceled):
		return Excluded
	}
	return Failure
}

// Option customises a Group.
type Option func(*Group)

// WithClassifier sets how attempt errors are classified (default DefaultClassify). It is
// called only with non-nil errors (nil is always Success) and must be safe for concurrent use.
func WithClassifier(classify func(error) Outcome) Option {
	return func(g *Group) {
		if classify != nil {
			g.classify = classify
		}
	}
}

// WithClock sets the clock (default time.Now). gobreaker v2.4.0 reads time.Now itself and
// cannot be given a clock, so this clock only computes Rejected.RetryAfter for an open breaker.
func WithClock(now func() time.Time) Option {
	return func(g *Group) {
		if now != nil {
			g.now = now
		}
	}
}

// WithRand sets the jitter source: randN(n) must return a value in [0, n) for n > 0 and be safe
// for concurrent use (default math/rand/v2 Int64N). Values outside [0, n) are clamped.
func WithRand(randN func(n int64) int64) Option {
	return func(g *Group) {
		if randN != nil {
			g.randN = randN
		}
	}
}

// WithSleep sets how a backoff waits (default: a timer that gives up when ctx is done, returning
// ctx.Err()). A non-nil error ends the call. Tests pass a function that records and returns.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(g *Group) {
		if sleep != nil {
			g.sleep = sleep
		}
	}
}

// WithLogger sets the logger (default slog.Default()). Breaker state changes are logged at
// warn with endpoint, from and to; retries at debug.
func WithLogger(l *slog.Logger) Option {
	return func(g *Group) {
		if l != nil {
			g.log = l
		}
	}
}

// WithStateHook sets a function told each endpoint's breaker state, for metrics: once with
// StateClosed when the endpoint is created, then on every change. Changes are reported while
// the breaker holds its lock (a gobreaker property): the hook must be quick and must not call
// back into the Endpoint. Open → half-open is noticed lazily, on the next Do or State.
// StateGauge.Observe is such a hook.
func WithStateHook(hook func(endpoint string, state State)) Option {
	return func(g *Group) { g.hook = hook }
}

// Group is the set of endpoints of one upstream service, sharing one Settings. It is safe for
// concurrent use.
type Group struct {
	service  string
	s        Settings // defaults applied
	classify func(error) Outcome
	now      func() time.Time
	randN    func(int64) int64
	sleep    func(context.Context, time.Duration) error
	log      *slog.Logger
	hook     func(string, State)

	mu        sync.Mutex
	endpoints map[string]*Endpoint
}

// NewGroup returns the Group of the upstream service named service ("treasury"), with s's
// defaults applied. It returns Validate's error, prefixed with the service, when s holds a
// value out of range: a bad value is never replaced silently.
func NewGroup(service string, s Settings, opts ...Option) (*Group, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", service, err)
	}
	g := &Group{
		service:   service,
		s:         s.WithDefaults(),
		classify:  DefaultClassify,
		now:       time.Now,
		randN:     rand.Int64N,
		sleep:     sleepCtx,
		log:       slog.Default(),
		endpoints: make(map[string]*Endpoint),
	}
	for _, o := range opts {
		o(g)
	}
	return g, nil
}

// Settings returns the group's settings with defaults applied.
func (g *Group) Settings() Settings { return g.s }

// outcome classifies an attempt's error.
func (g *Group) outcome(err error) Outcome {
	switch {
	case err == nil:
		return Success
	case errors.Is(err, errPanicked):
		return Failure
	}
	return g.classify(err)
}

// backoff returns the delay before retry number retry+1: full jitter, uniformly random in
// [0, min(MaxDelay, BaseDelay·2^retry)).
func (g *Group) backoff(retry int) time.Duration {
	ceiling := g.s.BaseDelay
	for i := 0; i < retry && ceiling < g.s.MaxDelay; i++ {
		if ceiling > g.s.MaxDelay/2 {
			ceiling = g.s.MaxDelay
			break
		}
		ceiling *= 2
	}
	ceiling = min(ceiling, g.s.MaxDelay)
	if ceiling <= 0 {
		return 0
	}
	d := g.randN(int64(ceiling))
	return time.Duration(min(max(d, 0), int64(ceiling)-1))
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package upstream

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
)

func TestRetries(t *testing.T) {
	refused := &refusal{code: "KHONG_CO_DU_TOAN"}
	canceled := errors.Join(errors.New("treasury: send-document"), context.Canceled)

	tests := []struct {
		name       string
		retries    int // Settings.Retries
		idempotent bool
		errs       []error // fn's result on each call, the last one repeating
		wantCalls  int
		wantErr    error // nil: success
	}{
		{"non-idempotent failure: one attempt", 2, false, []error{errDown}, 1, errDown},
		{"idempotent failure: 1 + Retries attempts", 2, true, []error{errDown}, 3, errDown},
		{"zero Retries means the default 2", 0, true, []error{errDown}, 3, errDown},
		{"negative Retries: none", -1, true, []error{errDown}, 1, errDown},
		{"five retries", 5, true, []error{errDown}, 6, errDown},
		{"idempotent recovers on second attempt", 2, true, []error{errDown, nil}, 2, nil},
		{"idempotent success: one attempt", 2, true, []error{nil}, 1, nil},
		{"business answer is not retried", 2, true, []error{refused}, 1, refused},
		{"excluded error is not retried", 2, true, []error{canceled}, 1, context.Canceled},
		{"failure then business answer", 2, true, []error{errDown, refused}, 2, refused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := testSettings()
			s.Retries = tc.retries
			s.MinRequests = 100 // the breaker stays out of the way
			h := newHarness(t, s, WithClassifier(businessClassify))
			e := h.g.Endpoint("send-document")
			c := &counter{errs: tc.errs}

			err := e.Do(context.Background(), tc.idempotent, c.fn)
			if !errors.Is(err, tc.wantErr) { // errors.Is(err, nil) is err == nil
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if c.Calls() != tc.wantCalls {
				t.Errorf("calls = %d, want %d", c.Calls(), tc.wantCalls)
			}
			if got := len(h.sleeps.Delays()); got != tc.wantCalls-1 {
				t.Errorf("backoffs = %d, want %d (one before each retry)", got, tc.wantCalls-1)
			}
		})
	}
}

func TestRetryStopsOnOpenBreaker(t *testing.T) {
	s := testSettings()
	s.MinRequests = 2
	s.Retries = 5
	h := newHarness(t, s)
	e := h.g.Endpoint("send-document")
	c := &counter{errs: []error{errDown}}

	r := asRejected(t, e.Do(context.Background(), true, c.fn), ErrOpen)
	if c.Calls() != 2 {
		t.Errorf("calls = %d, want 2: the second failure trips, the third attempt is refused", c.Calls())
	}
	if r.RetryAfter != s.OpenTimeout {
		t.Errorf("RetryAfter = %s, want %s", r.RetryAfter, s.OpenTimeout)
	}
	if e.State() != StateOpen {
		t.Errorf("state = %s, want open", e.State())
	}
}

func TestRetryStopsWhenContextDone(t *testing.T) {
	tests := []struct {
		name      string
		fn        func(cancel context.CancelFunc) func(context.Context) error
		sleep     func(cancel context.CancelFunc) func(context.Context, time.Duration) error
		preCancel bool
		wantCalls int
		wantIs    []error
	}{
		{
			name: "cancelled during the attempt",
			fn: func(cancel context.CancelFunc) func(context.Context) error {
				return func(context.Context) error { cancel(); return errDown }
			},
			wantCalls: 1, wantIs: []error{errDown},
		},
		{
			name: "cancelled during the backoff",
			sleep: func(cancel context.CancelFunc) func(context.Context, time.Duration) error {
				return func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }
			},
			wantCalls: 1, wantIs: []error{errDown, context.Canceled},
		},
		{
			name: "cancelled while the backoff returns",
			sleep: func(cancel context.CancelFunc) func(context.Context, time.Duration) error {
				return func(context.Context, time.Duration) error { cancel(); return nil }
			},
			wantCalls: 1, wantIs: []error{errDown, context.Canceled},
		},
		{name: "done before the call", preCancel: true, wantCalls: 0, wantIs: []error{context.Canceled}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := testSettings()
			s.MinRequests = 100 // the breaker stays out of the way
			if tc.preCancel {
				s.MinRequests = 1 // one counted failure would trip
			}
			var opts []Option
			if tc.sleep != nil {
				opts = append(opts, WithSleep(tc.sleep(cancel)))
			}
			h := newHarness(t, s, opts...)
			e := h.g.Endpoint("send-document")
			c := &counter{errs: []error{errDown}}
			fn := c.fn
			if tc.fn != nil {
				inner := tc.fn(cancel)
				fn = func(ctx context.Context) error { _ = c.fn(ctx); return inner(ctx) }
			}
			if tc.preCancel {
				cancel()
			}

			err := e.Do(ctx, true, fn)
			for _, want := range tc.wantIs {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want it to wrap %v", err, want)
				}
			}
			if c.Calls() != tc.wantCalls {
				t.Errorf("calls = %d, want %d", c.Calls(), tc.wantCalls)
			}
			if tc.sleep == nil && len(h.sleeps.Delays()) != 0 {
				t.Errorf("backoff delays %v, want none once ctx is done", h.sleeps.Delays())
			}
			if tc.preCancel && e.State() != StateClosed {
				t.Errorf("state = %s, want closed: a call never made must not count", e.State())
			}
		})
	}
}

func TestBackoffFullJitter(t *testing.T) {
	ceilings := []time.Duration{ // BaseDelay 100ms doubling, MaxDelay 2s
		100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 2 * time.Second, 2 * time.Second, 2 * time.Second,
	}
	tests := []struct {
		name  string
		randN func(int64) int64
		want  func(ceiling time.Duration) time.Duration
	}{
		{"top of range", func(n int64) int64 { return n - 1 }, func(c time.Duration) time.Duration { return c - 1 }},
		{"bottom of range", func(int64) int64 { return 0 }, func(time.Duration) time.Duration { return 0 }},
		{"too high is clamped", func(n int64) int64 { return n + 5 }, func(c time.Duration) time.Duration { return c - 1 }},
		{"negative is clamped", func(int64) int64 { return -7 }, func(time.Duration) time.Duration { return 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := mustGroup(t, "treasury", Settings{}, WithRand(tc.randN))
			for retry, c := range ceilings {
				if got, want := g.backoff(retry), tc.want(c); got != want {
					t.Errorf("backoff(%d) = %s, want %s", retry, got, want)
				}
			}
		})
	}

	t.Run("seeded source stays in [0, ceiling)", func(t *testing.T) {
		var mu sync.Mutex
		r := rand.New(rand.NewPCG(1, 2))
		g := mustGroup(t, "treasury", Settings{}, WithRand(func(n int64) int64 {
			mu.Lock()
			defer mu.Unlock()
			return r.Int64N(n)
		}))
		for retry, c := range ceilings {
			var lo, hi time.Duration = c, 0
			for range 1000 {
				d := g.backoff(retry)
				if d < 0 || d >= c {
					t.Fatalf("backoff(%d) = %s, outside [0, %s)", retry, d, c)
				}
				lo, hi = min(lo, d), max(hi, d)
			}
			if lo > c/10 || hi < c*9/10 {
				t.Errorf("backoff(%d) spans [%s, %s] of [0, %s): not spread over the range", retry, lo, hi, c)
			}
		}
	})

	t.Run("MaxDelay equal to BaseDelay keeps every ceiling there", func(t *testing.T) {
		g := mustGroup(t, "treasury", Settings{BaseDelay: time.Second, MaxDelay: time.Second},
			WithRand(func(n int64) int64 { return n - 1 }))
		for retry := range 4 {
			if d := g.backoff(retry); d != time.Second-1 {
				t.Errorf("backoff(%d) = %s, want just under 1s", retry, d)
			}
		}
	})

	t.Run("huge retry count does not overflow", func(t *testing.T) {
		g := mustGroup(t, "treasury", Settings{BaseDelay: time.Second, MaxDelay: time.Duration(1<<63 - 1)},
			WithRand(func(n int64) int64 { return n - 1 }))
		for _, retry := range []int{62, 63, 64, 200} {
			if d := g.backoff(retry); d <= 0 {
				t.Errorf("backoff(%d) = %s, want positive", retry, d)
			}
		}
	})
}

func TestDoUsesBackoffDelays(t *testing.T) {
	s := testSettings()
	s.MinRequests = 100
	s.Retries = 3
	s.BaseDelay, s.MaxDelay = 10*time.Millisecond, 30*time.Millisecond
	h := newHarness(t, s, WithRand(func(n int64) int64 { return n - 1 }))
	_ = h.g.Endpoint("send-document").Do(context.Background(), true, func(context.Context) error { return errDown })
	want := []time.Duration{10*time.Millisecond - 1, 20*time.Millisecond - 1, 30*time.Millisecond - 1}
	if got := h.sleeps.Delays(); !slices.Equal(got, want) {
		t.Errorf("delays = %v, want %v", got, want)
	}
}

func TestSleepCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleepCtx(cancelled, 1h) = %v, want context.Canceled at once", err)
	}
	for _, d := range []time.Duration{0, time.Nanosecond} {
		if err := sleepCtx(context.Background(), d); err != nil {
			t.Errorf("sleepCtx(background, %s) = %v, want nil", d, err)
		}
	}
}

func TestSettings(t *testing.T) {
	d := Settings{}.WithDefaults()
	want := Settings{Window: 30 * time.Second, MinRequests: 20, FailureRatio: 0.5, OpenTimeout: 15 * time.Second,
		HalfOpenMax: 3, MaxConcurrent: 64, Retries: 2, BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}
	if d != want {
		t.Errorf("defaults = %+v, want %+v", d, want)
	}
	set := Settings{Window: time.Minute, MinRequests: 1, FailureRatio: 0.1, OpenTimeout: time.Second,
		HalfOpenMax: 1, MaxConcurrent: 1, Retries: -1, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
	if got := set.WithDefaults(); got != set {
		t.Errorf("withDefaults changed set values: %+v, want %+v", got, set)
	}
	g := mustGroup(t, "treasury", Settings{Window: time.Minute})
	bs := g.breakerSettings("treasury/login", nil)
	if bs.BucketPeriod*windowBuckets != time.Minute || bs.Interval != time.Minute || bs.MaxRequests != 3 || bs.Timeout != 15*time.Second {
		t.Errorf("gobreaker settings = %+v, want a 1m rolling window of %d buckets", bs, windowBuckets)
	}
	trips := []struct {
		c    gobreaker.Counts
		want bool
	}{
		{gobreaker.Counts{TotalFailures: 19}, false},
		{gobreaker.Counts{TotalFailures: 10, TotalSuccesses: 10}, true},
		{gobreaker.Counts{TotalFailures: 9, TotalSuccesses: 11}, false},
		{gobreaker.Counts{Requests: 40, TotalExclusions: 20, TotalFailures: 10, TotalSuccesses: 9}, false},
	}
	for _, tc := range trips {
		if got := bs.ReadyToTrip(tc.c); got != tc.want {
			t.Errorf("ReadyToTrip(%+v) = %v, want %v", tc.c, got, tc.want)
		}
	}
}

// fieldErrors returns the *FieldError values in a Validate or NewGroup error, in order.
func fieldErrors(t *testing.T, err error) []*FieldError {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else if err != nil {
		errs = []error{err}
	}
	var out []*FieldError
	for _, e := range errs {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %v is not a *FieldError", e)
		}
		out = append(out, fe)
	}
	return out
}

// Each out-of-range value is refused by Validate and by NewGroup, naming its field; nothing is
// replaced by a default behind the caller's back.
func TestSettingsInvalid(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name  string
		s     Settings
		field string
	}{
		{"negative window", Settings{Window: -time.Second}, "Window"},
		{"ratio above 1", Settings{FailureRatio: 1.5}, "FailureRatio"},
		{"negative ratio", Settings{FailureRatio: -0.1}, "FailureRatio"},
		{"NaN ratio", Settings{FailureRatio: nan}, "FailureRatio"},
		{"infinite ratio", Settings{FailureRatio: math.Inf(1)}, "FailureRatio"},
		{"negative open timeout", Settings{OpenTimeout: -1}, "OpenTimeout"},
		{"negative bulkhead", Settings{MaxConcurrent: -1}, "MaxConcurrent"},
		{"retries below -1", Settings{Retries: -2}, "Retries"},
		{"negative base delay", Settings{BaseDelay: -1}, "BaseDelay"},
		{"negative max delay", Settings{MaxDelay: -1}, "MaxDelay"},
		{"max below base", Settings{BaseDelay: 2 * time.Second, MaxDelay: time.Second}, "MaxDelay"},
		{"default max below base", Settings{BaseDelay: 5 * time.Second}, "MaxDelay"},
		{"max below default base", Settings{MaxDelay: 50 * time.Millisecond}, "MaxDelay"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := fieldErrors(t, tc.s.Validate())
			if len(got) != 1 || got[0].Field != tc.field {
				t.Fatalf("Validate(%+v) = %v, want one error about %s", tc.s, got, tc.field)
			}
			g, err := NewGroup("treasury", tc.s)
			if g != nil || err == nil {
				t.Fatalf("NewGroup(%+v) = %v, %v; want no group and an error", tc.s, g, err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.HasPrefix(err.Error(), "treasury: upstream: settings: "+tc.field+": ") {
				t.Fatalf("NewGroup error %q, want one naming the service and %s", err, tc.field)
			}
		})
	}

	t.Run("every bad field is reported, in field order", func(t *testing.T) {
		s := Settings{Window: -1, FailureRatio: 2, Retries: -3, MaxDelay: -1}
		var fields []string
		for _, fe := range fieldErrors(t, s.Validate()) {
			fields = append(fields, fe.Field)
		}
		if want := []string{"Window", "FailureRatio", "Retries", "MaxDelay"}; !slices.Equal(fields, want) {
			t.Fatalf("fields %v, want %v", fields, want)
		}
	})
}

// Zero fields mean their defaults, and the documented sentinels are accepted.
func TestSettingsValid(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		want func(Settings) bool
	}{
		{"zero is every default", Settings{}, func(g Settings) bool { return g == Settings{}.WithDefaults() }},
		{"no retries", Settings{Retries: -1}, func(g Settings) bool { return g.Retries == -1 }},
		{"ratio 1", Settings{FailureRatio: 1}, func(g Settings) bool { return g.FailureRatio == 1 }},
		{"max equal to base", Settings{BaseDelay: time.Second, MaxDelay: time.Second},
			func(g Settings) bool { return g.BaseDelay == time.Second && g.MaxDelay == time.Second }},
		{"base below the default max", Settings{BaseDelay: time.Second},
			func(g Settings) bool { return g.MaxDelay == DefaultMaxDelay }},
		{"test settings", testSettings(), func(g Settings) bool { return g.Window == time.Hour && g.MinRequests == 4 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.s.Validate(); err != nil {
				t.Fatalf("Validate(%+v) = %v, want nil", tc.s, err)
			}
			g, err := NewGroup("treasury", tc.s)
			if err != nil {
				t.Fatalf("NewGroup(%+v) = %v", tc.s, err)
			}
			if got := g.Settings(); !tc.want(got) {
				t.Fatalf("group settings %+v", got)
			}
		})
	}
}

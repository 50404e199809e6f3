package upstream

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBreakerTrips(t *testing.T) {
	canceled := fmt.Errorf("treasury: send-document: %w", context.Canceled)
	timedOut := fmt.Errorf("treasury: send-document: timed out: %w", context.DeadlineExceeded)
	refused := &refusal{code: "VUOT_DU_TOAN"}
	rep := func(err error, n int) []error { return slices.Repeat([]error{err}, n) }

	tests := []struct {
		name     string
		classify func(error) Outcome
		steps    []error // each is one call's result
		openAt   int     // index of the step after which the breaker is open; -1: never
	}{
		{"trips at MinRequests when all fail", nil, rep(errDown, 4), 3},
		{"does not trip below MinRequests", nil, rep(errDown, 3), -1},
		{"ratio below threshold stays closed", nil, []error{nil, nil, nil, errDown, errDown}, -1},
		{"trips when ratio reaches threshold", nil, []error{nil, nil, nil, errDown, errDown, errDown}, 5},
		{"deadline exceeded is a failure", nil, rep(timedOut, 4), 3},
		{"excluded errors do not count", nil, append(rep(canceled, 10), rep(errDown, 3)...), -1},
		{"excluded then enough failures", nil, append(rep(canceled, 10), rep(errDown, 4)...), 13},
		{"business answer is a success", businessClassify, append(rep(refused, 6), rep(errDown, 5)...), -1},
		{"business answer under default classifier is a failure", nil, rep(refused, 4), 3},
		{"custom classifier excluding everything", func(error) Outcome { return Excluded }, rep(errDown, 20), -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testSettings(), WithClassifier(tc.classify))
			e := h.g.Endpoint("send-document")
			for i, want := range tc.steps {
				err := e.Do(context.Background(), false, func(context.Context) error { return want })
				if err != want {
					t.Fatalf("step %d: err = %v, want fn's error %v unchanged", i, err, want)
				}
				wantState := StateClosed
				if tc.openAt >= 0 && i >= tc.openAt {
					wantState = StateOpen
				}
				if got := e.State(); got != wantState {
					t.Fatalf("after step %d: state = %s, want %s", i, got, wantState)
				}
			}
		})
	}
}

func TestOpenRejectsWithoutCalling(t *testing.T) {
	for _, idempotent := range []bool{false, true} {
		t.Run(fmt.Sprintf("idempotent=%v", idempotent), func(t *testing.T) {
			h := newHarness(t, testSettings())
			e := h.g.Endpoint("send-document")
			trip(t, e)
			h.clock.Advance(20 * time.Minute)

			r := asRejected(t, e.Do(context.Background(), idempotent, mustNotRun(t)), ErrOpen)
			if r.Endpoint != "treasury/send-document" {
				t.Errorf("Endpoint = %q, want treasury/send-document", r.Endpoint)
			}
			if want := 40 * time.Minute; r.RetryAfter != want {
				t.Errorf("RetryAfter = %s, want %s (OpenTimeout minus time open)", r.RetryAfter, want)
			}
			if got := h.sleeps.Delays(); len(got) != 0 {
				t.Errorf("backoff delays %v, want none: a refusal is not retried", got)
			}
		})
	}
}

func TestHalfOpen(t *testing.T) {
	tests := []struct {
		name   string
		probes []error
		// wantStates is what the hook saw once the probes ran; nobody calls State afterwards,
		// so the lazy open → half-open transition cannot sneak in.
		wantStates []string
	}{
		{"closes after HalfOpenMax successes", []error{nil, nil},
			[]string{"closed", "open", "half-open", "closed"}},
		{"reopens on a failed probe", []error{errDown},
			[]string{"closed", "open", "half-open", "open"}},
		{"reopens on a failure after a success", []error{nil, errDown},
			[]string{"closed", "open", "half-open", "open"}},
		{"excluded probe decides nothing", []error{context.Canceled, nil, nil},
			[]string{"closed", "open", "half-open", "closed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := testSettings()
			s.OpenTimeout = time.Millisecond // gobreaker reads the real clock: keep the wait tiny
			h := newHarness(t, s)
			e := h.g.Endpoint("send-document")
			fail(t, e, s.MinRequests) // no open check: with a 1ms OpenTimeout it may be half-open already
			waitForState(t, e, StateHalfOpen)

			for i, probe := range tc.probes {
				if err := e.Do(context.Background(), false, func(context.Context) error { return probe }); err != probe {
					t.Fatalf("probe %d: err = %v, want %v", i, err, probe)
				}
			}
			var want []string
			for _, s := range tc.wantStates {
				want = append(want, "treasury/send-document:"+s)
			}
			if got := h.states.Got(); !slices.Equal(got, want) {
				t.Errorf("states = %v, want %v", got, want)
			}
		})
	}
}

func TestHalfOpenProbeLimit(t *testing.T) {
	s := testSettings()
	s.OpenTimeout = time.Millisecond
	h := newHarness(t, s)
	e := h.g.Endpoint("send-document")
	fail(t, e, s.MinRequests)
	waitForState(t, e, StateHalfOpen)

	b := startBlockers(t, e, int(s.HalfOpenMax), nil)
	r := asRejected(t, e.Do(context.Background(), true, mustNotRun(t)), ErrOpen)
	if r.RetryAfter != probeRetryAfter {
		t.Errorf("RetryAfter = %s, want %s while probes are in flight", r.RetryAfter, probeRetryAfter)
	}
	for i, err := range b.release(t) {
		if err != nil {
			t.Errorf("probe %d: %v", i, err)
		}
	}
	if st := e.State(); st != StateClosed {
		t.Errorf("after %d successful probes: state = %s, want closed", s.HalfOpenMax, st)
	}
}

func TestBulkheadFull(t *testing.T) {
	s := testSettings()
	s.MaxConcurrent = 2
	s.MinRequests = 1 // one counted failure would trip
	h := newHarness(t, s)
	e := h.g.Endpoint("send-document")

	b := startBlockers(t, e, s.MaxConcurrent, nil)
	for _, idempotent := range []bool{false, true, true} {
		r := asRejected(t, e.Do(context.Background(), idempotent, mustNotRun(t)), ErrBulkheadFull)
		if r.RetryAfter != probeRetryAfter || r.Endpoint != "treasury/send-document" {
			t.Errorf("Rejected = %+v, want endpoint treasury/send-document, RetryAfter %s", r, probeRetryAfter)
		}
	}
	b.release(t)

	if st := e.State(); st != StateClosed {
		t.Errorf("state = %s, want closed: bulkhead refusals must not count", st)
	}
	if got := h.sleeps.Delays(); len(got) != 0 {
		t.Errorf("backoff delays %v, want none", got)
	}
	c := &counter{}
	if err := e.Do(context.Background(), false, c.fn); err != nil || c.Calls() != 1 {
		t.Errorf("after release: err = %v, calls = %d, want a normal call", err, c.Calls())
	}
}

func TestBulkheadBoundsConcurrency(t *testing.T) {
	s := testSettings()
	s.MaxConcurrent = 3
	h := newHarness(t, s)
	e := h.g.Endpoint("document-status")

	var running, peak atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = e.Do(context.Background(), true, func(context.Context) error {
				n := running.Add(1)
				defer running.Add(-1)
				for {
					if p := peak.Load(); n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				runtime.Gosched()
				return nil
			})
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > int32(s.MaxConcurrent) {
		t.Errorf("peak concurrency %d, want at most %d", p, s.MaxConcurrent)
	}
}

func TestPanicCountsAsFailure(t *testing.T) {
	s := testSettings()
	s.MinRequests = 1
	// Even a classifier that excludes every error cannot excuse a panic.
	h := newHarness(t, s, WithClassifier(func(error) Outcome { return Excluded }))
	e := h.g.Endpoint("send-document")
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic was swallowed, want it passed on")
			}
		}()
		_ = e.Do(context.Background(), true, func(context.Context) error { panic("boom") })
	}()
	if st := e.State(); st != StateOpen {
		t.Errorf("state = %s, want open after a panicking call", st)
	}
	if len(e.slots) != 0 {
		t.Errorf("bulkhead holds %d slots after the panic, want 0", len(e.slots))
	}
}

func TestStateChangeLoggedAndHooked(t *testing.T) {
	h := newHarness(t, testSettings())
	e := h.g.Endpoint("send-document")
	if got, want := h.states.Got(), []string{"treasury/send-document:closed"}; !slices.Equal(got, want) {
		t.Fatalf("states at creation = %v, want %v", got, want)
	}
	trip(t, e)
	want := []string{"treasury/send-document:closed", "treasury/send-document:open"}
	if got := h.states.Got(); !slices.Equal(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
	var line string
	for l := range strings.SplitSeq(h.log.String(), "\n") {
		if strings.Contains(l, "state changed") {
			line = l
		}
	}
	for _, part := range []string{`"level":"WARN"`, `"endpoint":"treasury/send-document"`, `"from":"closed"`, `"to":"open"`} {
		if !strings.Contains(line, part) {
			t.Errorf("state change log %q lacks %s", line, part)
		}
	}
}

func TestEndpointIdentity(t *testing.T) {
	g := mustGroup(t, "treasury", Settings{})
	a, b := g.Endpoint("send-document"), g.Endpoint("send-document")
	if a != b {
		t.Error("same name gave two endpoints")
	}
	if c := g.Endpoint("login"); c == a || c.Name() != "treasury/login" {
		t.Errorf("login endpoint = %p %q, want its own, named treasury/login", c, c.Name())
	}
	if st := a.State(); st != StateClosed {
		t.Errorf("new endpoint state = %s, want closed", st)
	}
}

func TestRejectedError(t *testing.T) {
	r := &Rejected{Endpoint: "treasury/login", Err: ErrOpen, RetryAfter: 3 * time.Second}
	var err error = r
	if !errors.Is(err, ErrOpen) || errors.Is(err, ErrBulkheadFull) {
		t.Errorf("errors.Is: ErrOpen %v, ErrBulkheadFull %v; want true, false",
			errors.Is(err, ErrOpen), errors.Is(err, ErrBulkheadFull))
	}
	if want := "upstream treasury/login: circuit breaker open (retry after 3s)"; r.Error() != want {
		t.Errorf("Error() = %q, want %q", r.Error(), want)
	}
}

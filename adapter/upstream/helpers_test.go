package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/clock"
)

// errDown stands for an unhealthy upstream (Failure under DefaultClassify).
var errDown = errors.New("upstream unavailable")

// refusal stands for a business answer, like the treasury's *Refusal.
type refusal struct{ code string }

func (r *refusal) Error() string { return "refused: " + r.code }

// businessClassify treats a *refusal as Success, like the adapter's treasury classifier.
func businessClassify(err error) Outcome {
	var r *refusal
	if errors.As(err, &r) {
		return Success
	}
	return DefaultClassify(err)
}

func newFakeClock() *clock.Clock {
	return clock.New(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC))
}

// sleeps records backoff delays instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) Delays() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// states records what the state hook was told.
type states struct {
	mu  sync.Mutex
	got []string
}

func (s *states) Hook(endpoint string, st State) {
	s.mu.Lock()
	s.got = append(s.got, endpoint+":"+st.String())
	s.mu.Unlock()
}

func (s *states) Got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is a group under test with its injected clock, sleep, hook and log.
type harness struct {
	clock  *clock.Clock
	sleeps *sleeps
	states *states
	log    *syncBuffer
	g      *Group
}

// testSettings never changes state by time alone: tests move it explicitly.
func testSettings() Settings {
	return Settings{Window: time.Hour, MinRequests: 4, FailureRatio: 0.5, OpenTimeout: time.Hour, HalfOpenMax: 2}
}

func newHarness(t *testing.T, s Settings, opts ...Option) *harness {
	t.Helper()
	h := &harness{clock: newFakeClock(), sleeps: &sleeps{}, states: &states{}, log: &syncBuffer{}}
	base := []Option{
		WithClock(h.clock.Now),
		WithSleep(h.sleeps.Sleep),
		WithStateHook(h.states.Hook),
		WithLogger(slog.New(slog.NewJSONHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		WithRand(func(n int64) int64 { return n / 2 }),
	}
	h.g = mustGroup(t, "treasury", s, append(base, opts...)...)
	return h
}

// mustGroup is NewGroup for settings the test knows to be valid.
func mustGroup(tb testing.TB, service string, s Settings, opts ...Option) *Group {
	tb.Helper()
	g, err := NewGroup(service, s, opts...)
	if err != nil {
		tb.Fatalf("NewGroup(%+v) = %v", s, err)
	}
	return g
}

// counter is an fn that counts its calls and returns errs[i] on call i (the last one after).
type counter struct {
	mu    sync.Mutex
	calls int
	errs  []error
}

func (c *counter) fn(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs[min(c.calls, len(c.errs))-1]
}

func (c *counter) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// mustNotRun is an fn for calls that must be refused.
func mustNotRun(t *testing.T) func(context.Context) error {
	return func(context.Context) error {
		t.Error("fn called, want the call refused")
		return nil
	}
}

// fail makes n calls to e that fail.
func fail(t *testing.T, e *Endpoint, n uint32) {
	t.Helper()
	for i := range n {
		if err := e.Do(context.Background(), false, func(context.Context) error { return errDown }); !errors.Is(err, errDown) {
			t.Fatalf("failing call %d: err = %v, want errDown", i, err)
		}
	}
}

// trip opens e's breaker with MinRequests failures and checks that it is open: only for
// settings whose OpenTimeout is long.
func trip(t *testing.T, e *Endpoint) {
	t.Helper()
	fail(t, e, e.g.s.MinRequests)
	if st := e.State(); st != StateOpen {
		t.Fatalf("after %d failures: state = %s, want open", e.g.s.MinRequests, st)
	}
}

// waitForState polls State until it is want, for at most 10 seconds. Only the open → half-open
// transition needs it: gobreaker v2.4.0 takes no clock.
func waitForState(t *testing.T, e *Endpoint, want State) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("state still %s after 10s, want %s", e.State(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// asRejected returns err as a *Rejected wrapping want, or fails the test.
func asRejected(t *testing.T, err, want error) *Rejected {
	t.Helper()
	var r *Rejected
	if !errors.As(err, &r) || !errors.Is(err, want) {
		t.Fatalf("err = %v, want a *Rejected wrapping %v", err, want)
	}
	return r
}

// blockers runs n calls that stay inside fn until release is called.
type blockers struct {
	entered chan struct{}
	gate    chan struct{}
	wg      sync.WaitGroup
	errs    chan error
}

func startBlockers(t *testing.T, e *Endpoint, n int, result error) *blockers {
	t.Helper()
	b := &blockers{entered: make(chan struct{}, n), gate: make(chan struct{}), errs: make(chan error, n)}
	for range n {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.errs <- e.Do(context.Background(), false, func(context.Context) error {
				b.entered <- struct{}{}
				<-b.gate
				return result
			})
		}()
	}
	for i := range n {
		select {
		case <-b.entered:
		case err := <-b.errs:
			t.Fatalf("blocker %d returned before entering fn: %v", i, err)
		}
	}
	return b
}

func (b *blockers) release(t *testing.T) []error {
	t.Helper()
	close(b.gate)
	b.wg.Wait()
	close(b.errs)
	var out []error
	for err := range b.errs {
		out = append(out, err)
	}
	return out
}

func (s *states) String() string { return fmt.Sprint(s.Got()) }

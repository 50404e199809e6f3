package outboxtest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/testkit/clock"
)

// newWorker returns a worker on s whose jitter draws are always r.
func newWorker(t *testing.T, s outbox.Store, c *clock.Clock, r float64, deliver func(context.Context, outbox.Delivery) error) (*outbox.Worker, *results) {
	t.Helper()
	res := &results{}
	w, err := outbox.NewWorker(s, outbox.WorkerConfig{
		Name: "w", Deliver: deliver, Lease: lease, Now: c.Now,
		Rand:      func() float64 { return r },
		Sleep:     func(context.Context, time.Duration) error { t.Error("Poll slept"); return nil },
		OnAttempt: res.add,
		OnError:   func(op string, err error) { t.Errorf("store failed in %s: %v", op, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return w, res
}

type results struct {
	mu  sync.Mutex
	got []outbox.Result
}

func (r *results) add(_ context.Context, _ outbox.Delivery, res outbox.Result, _ error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, res)
}

func (r *results) last() outbox.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		return 0
	}
	return r.got[len(r.got)-1]
}

func poll(t *testing.T, w *outbox.Worker, want int) {
	t.Helper()
	n, err := w.Poll(ctx)
	if err != nil || n != want {
		t.Fatalf("Poll = %d, %v; want %d", n, err, want)
	}
}

// jittered is the delay the worker picks for d with draw r and jitter 0.2.
func jittered(d time.Duration, r float64) time.Duration {
	return time.Duration(float64(d) * (1 + 0.2*(2*r-1))).Round(time.Millisecond)
}

// failUntilDead polls w along the standard schedule with draw r until the
// event is dead-lettered, and returns the attempt times.
func failUntilDead(t *testing.T, s outbox.Store, w *outbox.Worker, c *clock.Clock, r float64) []time.Time {
	t.Helper()
	var at []time.Time
	t0 := c.Now()
	poll(t, w, 1)
	at = append(at, c.Now())
	for _, d := range outbox.StandardSchedule()[1:] {
		delay := jittered(d, r)
		c.Advance(delay - time.Millisecond)
		poll(t, w, 0)
		c.Advance(time.Millisecond)
		poll(t, w, 1)
		at = append(at, c.Now())
	}
	if c.Now().Sub(t0) < 72*time.Hour {
		if _, err := s.Inspect(ctx, "D", "e1"); !errors.Is(err, outbox.ErrNotFound) {
			t.Fatalf("dead-lettered %v after the first attempt: %v", c.Now().Sub(t0), err)
		}
		c.Advance(t0.Add(72*time.Hour).Sub(c.Now()) - time.Millisecond)
		poll(t, w, 0)
		c.Advance(time.Millisecond)
		poll(t, w, 1)
		at = append(at, c.Now())
	}
	return at
}

func runWorker(t *testing.T, newStore Factory) {
	fail := errors.New("portal: 503")
	t.Run("retries on the schedule for at least 72 hours, then dead-letters", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			r        float64
			attempts int
		}{
			{"delays as scheduled", 0.5, 10},
			{"longest jitter", 0.999, 10},
			{"shortest jitter: one more attempt at 72 hours", 0, 11},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := NewClock()
				s := newStore(t, c.Now)
				var seen []int
				w, res := newWorker(t, s, c, tc.r, func(_ context.Context, d outbox.Delivery) error {
					seen = append(seen, d.Attempt)
					return fail
				})
				mustAppend(t, s, "D", "e1", true)
				at := failUntilDead(t, s, w, c, tc.r)
				if len(at) != tc.attempts || len(seen) != tc.attempts || seen[len(seen)-1] != tc.attempts {
					t.Fatalf("%d attempts (%v), want %d", len(at), seen, tc.attempts)
				}
				if res.last() != outbox.DeadLettered {
					t.Fatalf("last result %v", res.last())
				}
				l := inspect(t, s, "D", "e1")
				if l.Attempts != tc.attempts || l.Reason != "retries exhausted: portal: 503" || len(l.History) != tc.attempts {
					t.Fatalf("dead letter %+v", l)
				}
				for i, a := range l.History {
					want := outbox.OutcomeRetry
					if i == tc.attempts-1 {
						want = outbox.OutcomeDeadLetter
					}
					if a.Outcome != want || !a.At.Equal(at[i]) || a.Worker != "w" {
						t.Fatalf("history[%d] = %+v, want %s at %v", i, a, want, at[i])
					}
				}
				c.Advance(1000 * time.Hour)
				poll(t, w, 0)
			})
		}
	})
	t.Run("permanent errors are dead-lettered at once", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		w, res := newWorker(t, s, c, 0.5, func(context.Context, outbox.Delivery) error {
			return outbox.Permanent(errors.New("portal: 422 schema"))
		})
		mustAppend(t, s, "D", "e1", true)
		mustAppend(t, s, "D", "e2", true)
		poll(t, w, 1)
		if l := inspect(t, s, "D", "e1"); l.Attempts != 1 || l.Reason != "permanent: portal: 422 schema" || l.Held != 1 {
			t.Fatalf("dead letter %+v", l)
		}
		if res.last() != outbox.DeadLettered {
			t.Fatalf("result %v", res.last())
		}
		poll(t, w, 0) // e2 is held
	})
	t.Run("a longer RetryAfter hint wins, up to its cap", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		hints := []time.Duration{time.Hour, time.Second, 100 * time.Hour}
		waits := []time.Duration{time.Hour, 5 * time.Minute, 24 * time.Hour}
		w, _ := newWorker(t, s, c, 0.5, func(_ context.Context, d outbox.Delivery) error {
			if d.Attempt > len(hints) {
				return nil
			}
			return outbox.RetryAfter(fail, hints[d.Attempt-1])
		})
		mustAppend(t, s, "D", "e1", true)
		poll(t, w, 1)
		for _, wait := range waits {
			c.Advance(wait - time.Millisecond)
			poll(t, w, 0)
			c.Advance(time.Millisecond)
			poll(t, w, 1)
		}
		wantStats(t, s, outbox.Stats{})
	})
	t.Run("a crashed worker's event reaches the next one flagged", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		var got []outbox.Delivery
		w, res := newWorker(t, s, c, 0.5, func(_ context.Context, d outbox.Delivery) error {
			got = append(got, d)
			return nil
		})
		mustAppend(t, s, "D", "e1", true)
		claimOne(t, s, "crashed", "D", "e1")
		poll(t, w, 0)
		c.Advance(lease)
		poll(t, w, 1)
		if len(got) != 1 || !got[0].Redelivered || got[0].Attempt != 2 || res.last() != outbox.Delivered {
			t.Fatalf("delivered %s, result %v", describe(got), res.last())
		}
		if l, err := s.Inspect(ctx, "D", "e1"); !errors.Is(err, outbox.ErrNotFound) {
			t.Fatalf("inspect after delivery: %+v %v", l, err)
		}
	})
	t.Run("an event whose every lease expires is dead-lettered after the schedule and 72 hours", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		delivered := 0
		w, res := newWorker(t, s, c, 0.5, func(context.Context, outbox.Delivery) error {
			delivered++
			return nil
		})
		mustAppend(t, s, "D", "e1", true)
		mustAppend(t, s, "D", "e2", true)
		t0 := c.Now()
		// A worker that dies with the event each time: claimed, never settled.
		var d outbox.Delivery
		for i := 0; c.Now().Before(t0.Add(72 * time.Hour)); i++ {
			d = claimOne(t, s, "crashing", "D", "e1")
			if d.Expired != i || (i > 0 && !d.Redelivered) {
				t.Fatalf("claim %d: Expired %d, Redelivered %v", i+1, d.Expired, d.Redelivered)
			}
			c.Advance(lease)
			if i < len(outbox.StandardSchedule()) {
				continue
			}
			// Past the schedule, not yet 72 hours on: the crashing worker
			// takes it again (an hour apart, to get there sooner).
			c.Advance(time.Hour)
		}
		// 72 hours on, the next taking is dead-lettered, not delivered.
		poll(t, w, 1)
		if delivered != 0 || res.last() != outbox.DeadLettered {
			t.Fatalf("delivered %d times, result %v", delivered, res.last())
		}
		l := inspect(t, s, "D", "e1")
		if !strings.Contains(l.Reason, "lease expiring") || l.Held != 1 {
			t.Fatalf("dead letter %+v", l)
		}
		poll(t, w, 0) // e2 waits behind the dead letter, which an operator sees
		// Replayed, it starts a new round: delivered.
		if err := s.Replay(ctx, "D", "e1"); err != nil {
			t.Fatal(err)
		}
		if d := claimOne(t, s, "w", "D", "e1"); d.Expired != 0 {
			t.Fatalf("replayed event keeps Expired %d", d.Expired)
		}
	})
	t.Run("an event past its schedule whose leases did not all expire is still delivered", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		var seen []outbox.Delivery
		w, res := newWorker(t, s, c, 0.5, func(_ context.Context, d outbox.Delivery) error {
			seen = append(seen, d)
			return nil
		})
		mustAppend(t, s, "D", "e1", true)
		claimOne(t, s, "crashing", "D", "e1")
		c.Advance(100 * time.Hour)
		poll(t, w, 1)
		if len(seen) != 1 || seen[0].Expired != 1 || res.last() != outbox.Delivered {
			t.Fatalf("delivered %s, result %v", describe(seen), res.last())
		}
	})
	t.Run("a panicking Deliver is retried", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		var errs []error
		w, err := outbox.NewWorker(s, outbox.WorkerConfig{Name: "w", Now: c.Now, Rand: func() float64 { return 0.5 },
			Deliver: func(context.Context, outbox.Delivery) error { panic("portal client bug") },
			OnAttempt: func(_ context.Context, _ outbox.Delivery, _ outbox.Result, err error) {
				errs = append(errs, err)
			}})
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, s, "D", "e1", true)
		poll(t, w, 1)
		if len(errs) != 1 || errs[0] == nil || !strings.Contains(errs[0].Error(), "portal client bug") {
			t.Fatalf("errors %v", errs)
		}
		c.Advance(5 * time.Second)
		poll(t, w, 1)
	})
}

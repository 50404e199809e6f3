// Package slots owns the caps on costly work: a fixed number of slots, each
// taken for one piece of work, with a bounded wait for one to come free.
// Who finds none in time is answered busy (503 server-busy with
// Retry-After) rather than queued without bound.
package slots

import (
	"context"
	"time"
)

// Slots is a fixed number of slots. It is safe for concurrent use.
type Slots struct {
	c    chan struct{}
	wait time.Duration
}

// New returns n slots (n > 0), which Take waits up to wait for.
func New(n int, wait time.Duration) *Slots {
	return &Slots{c: make(chan struct{}, n), wait: wait}
}

// Take takes a slot, waiting up to the wait New was given (not at all when
// it is not positive), or until ctx ends; it reports whether it got one.
// Give gives a slot taken back.
func (s *Slots) Take(ctx context.Context) bool {
	select {
	case s.c <- struct{}{}:
		return true
	default:
	}
	if s.wait <= 0 {
		return false
	}
	t := time.NewTimer(s.wait)
	defer t.Stop()
	select {
	case s.c <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// Give gives back a slot Take took.
func (s *Slots) Give() { <-s.c }

// Taken is how many slots are taken now.
func (s *Slots) Taken() int { return len(s.c) }

// Package clock owns the settable clock that tests and simulators use in
// place of the wall clock, so that a test moves time forward instead of
// sleeping and never depends on the date it runs.
package clock

import (
	"sync"
	"time"
)

// Clock is a settable clock safe for concurrent use. Its Now method fits
// every func() time.Time option in the adapter.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock standing at t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

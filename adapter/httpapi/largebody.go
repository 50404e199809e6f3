package httpapi

import (
	"context"
	"errors"
	"io"
	"math"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/slots"
)

// LargeBodyLimits cap how many submissions and validations with a large
// body are handled at once: verifying a signed dossier costs memory in
// proportion to its size (a 5,000-line payroll dossier of 1.7 MB takes
// hundreds of MB while it is verified), so only Concurrency of them run
// together and the others wait up to Wait for a slot, then are answered 503
// server-busy. A zero Bytes or Concurrency means no cap.
type LargeBodyLimits struct {
	// Bytes is the size above which a body is large: its Content-Length,
	// or, for a body of unknown length, the bytes read so far.
	Bytes       int64
	Concurrency int
	Wait        time.Duration
	// Uploads is how many attachment uploads (PUT /v1/attachments/…) over
	// Bytes are read at once, in slots of their own: an upload is held
	// whole in memory (up to attachments.maxFileBytes) until it is stored,
	// but is not verified, so it neither waits for nor holds a slot of
	// the signed bodies. Zero: uploads are not capped.
	Uploads int
}

// busyRetryAfter is the Retry-After of a server-busy answer, in seconds.
const busyRetryAfter = 1

// errBusy is what a large body's reader returns when no slot came free in
// time; readBody and readRelated turn it into the server-busy problem.
var errBusy = errors.New("httpapi: no slot for a large body")

// largeGate holds the slots of LargeBodyLimits.
type largeGate struct {
	*slots.Slots
	bytes int64
}

// newLargeGate returns the gate of n slots for bodies over l.Bytes, or nil
// (no cap) when either is not positive.
func newLargeGate(l LargeBodyLimits, n int) *largeGate {
	if l.Bytes <= 0 || n <= 0 {
		return nil
	}
	return &largeGate{Slots: slots.New(n, l.Wait), bytes: l.Bytes}
}

// busyProblem is the answer when no slot came free.
func busyProblem() error {
	return &problem.Error{Kind: problem.ServerBusy, RetryAfter: busyRetryAfter}
}

// fileSlot is a submission's intake.Submission.FileSlot: a request that
// sends on files uploaded earlier, the largest over the threshold, holds a
// slot of the upload gate while it does (each such file, like an upload, is
// held whole in memory, up to attachments.maxFileBytes). A submission never
// holds an upload slot otherwise, so it takes at most one. A request that
// holds a slot of the large bodies already takes none: it is one of the
// few the large-body gate lets in, so its file is bounded by that gate, and
// it neither waits for uploads nor keeps other large bodies waiting while
// it does.
func (s *server) fileSlot(ctx context.Context, largest int64) (func(), error) {
	g := s.uploadGate
	if g == nil || largest <= g.bytes || (s.largeGate != nil && holdsSlot(ctx, s.largeGate)) {
		return func() {}, nil
	}
	if !g.Take(ctx) {
		return nil, busyProblem()
	}
	return g.Give, nil
}

// capLargeBodies is the middleware of the submission, validation and
// withdrawal routes, capUploads the attachment upload's (see capBodies).
func (s *server) capLargeBodies(next echo.HandlerFunc) echo.HandlerFunc {
	return capBodies(s.largeGate, next)
}

func (s *server) capUploads(next echo.HandlerFunc) echo.HandlerFunc {
	return capBodies(s.uploadGate, next)
}

// capBodies wraps next so that a request whose Content-Length is over g's
// threshold takes a slot of g before anything is read, and one of unknown
// length takes it when its body crosses the threshold while it is read
// (its reader then fails with errBusy if none comes free); the slot is held
// until the handler returns (the body, and a signed body's verification,
// live that long). A nil g caps nothing.
func capBodies(g *largeGate, next echo.HandlerFunc) echo.HandlerFunc {
	if g == nil {
		return next
	}
	return func(c echo.Context) error {
		req := c.Request()
		if req.ContentLength > g.bytes {
			if !g.Take(req.Context()) {
				return busyProblem()
			}
			defer g.Give()
			c.SetRequest(req.WithContext(context.WithValue(req.Context(), slotKey{}, slotHeld{g, func() bool { return true }})))
			return next(c)
		}
		if req.ContentLength >= 0 {
			return next(c) // net/http never reads past a declared length
		}
		r := &gatedReader{r: req.Body, gate: g, ctx: req.Context(), left: g.bytes}
		req.Body = r
		defer r.done()
		c.SetRequest(req.WithContext(context.WithValue(req.Context(), slotKey{}, slotHeld{g, func() bool { return r.held }})))
		return next(c)
	}
}

// slotKey marks, in a request's context, the gate whose slot it may hold
// (slotHeld).
type slotKey struct{}

// slotHeld says whether a request holds a slot of gate (a func: a body of
// unknown length takes one while it is read).
type slotHeld struct {
	gate *largeGate
	held func() bool
}

// holdsSlot reports whether the request of ctx holds a slot of g.
func holdsSlot(ctx context.Context, g *largeGate) bool {
	h, ok := ctx.Value(slotKey{}).(slotHeld)
	return ok && h.gate == g && h.held()
}

// gatedReader counts a body of unknown length and takes a slot of its gate
// when the count passes the threshold.
type gatedReader struct {
	r    io.ReadCloser
	gate *largeGate
	ctx  context.Context
	left int64 // bytes still allowed before a slot is needed
	held bool
}

// Read reads at most one byte past the threshold before it holds a slot,
// and takes the slot in the read that passes it: a body's last read may
// come with io.EOF, after which nobody reads again.
func (r *gatedReader) Read(p []byte) (int, error) {
	if !r.held && int64(len(p)) > r.left+1 {
		p = p[:r.left+1]
	}
	n, err := r.r.Read(p)
	if !r.held {
		r.left -= int64(n)
		if r.left < 0 {
			if !r.gate.Take(r.ctx) {
				return 0, errBusy
			}
			r.held, r.left = true, math.MaxInt64
		}
	}
	return n, err
}

func (r *gatedReader) Close() error { return r.r.Close() }

// done gives the slot back, if one was taken.
func (r *gatedReader) done() {
	if r.held {
		r.held = false
		r.gate.Give()
	}
}

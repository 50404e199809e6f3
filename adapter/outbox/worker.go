package outbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"
)

// WorkerConfig configures a Worker. Zero fields take the defaults stated.
type WorkerConfig struct {
	// Deliver sends one event to the portal; nil means the portal has it.
	// When d.Redelivered (or d.Attempt > 1 after an ambiguous failure such
	// as a timeout), it should ask the portal what it has before sending.
	// Required.
	Deliver func(ctx context.Context, d Delivery) error
	// Name identifies the worker in leases and histories (and is its Redis
	// consumer name). Default: host name, process id and a random suffix.
	Name string
	// Concurrency is the number of delivery goroutines. Default 4.
	Concurrency int
	// Batch is the most events one goroutine claims at a time. Default 1.
	Batch int
	// Lease is how long a claimed event is held. Default 2 minutes.
	Lease time.Duration
	// Timeout bounds one Deliver call; it must be below Lease so that a
	// lease never ends while its delivery runs. Default Lease/2.
	Timeout time.Duration
	// Schedule[i] is the delay before attempt i+1 (Schedule[0], before the
	// first, is not used: new events are due at once). An event that fails
	// attempt len(Schedule) is dead-lettered (but see MinSpan). Default
	// StandardSchedule().
	Schedule []time.Duration
	// Jitter spreads each delay uniformly by ±Jitter of itself. Default
	// 0.2; negative for none.
	Jitter float64
	// MinSpan is the shortest time from an event's first attempt to its
	// dead letter for exhausting the schedule (jitter may shorten the
	// schedule's own span). Default 72 hours; negative for none.
	MinSpan time.Duration
	// MaxRetryAfter caps a server's RetryAfter hint. Default 24 hours.
	MaxRetryAfter time.Duration
	// Idle is the pause after a Claim that found nothing or failed.
	// Default 1 second.
	Idle time.Duration
	// Permanent reports errors that no retry can fix; those events are
	// dead-lettered at once. Default IsPermanent.
	Permanent func(error) bool
	// RetryAfter extracts a server's hint from an error; a hint longer than
	// the scheduled delay wins. Default RetryAfterOf.
	RetryAfter func(error) (time.Duration, bool)
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Sleep pauses for d or until ctx ends. Default a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) for jitter; it must be safe for
	// concurrent use. Default math/rand/v2.
	Rand func() float64
	// NotSent reports errors that say the call never left this process
	// (an open circuit breaker, a full bulkhead). Such an attempt never
	// turns an event into a dead letter: past the schedule it is retried
	// after the hint (at least a second). Default: none.
	NotSent func(error) bool
	// OnAttempt, if set, is called after every attempt (metrics: attempts
	// by result, the status view of a dead letter). ctx is the worker's
	// context (the one Start or Poll was given, without Deliver's
	// timeout); it ends when the worker is aborted. err is Deliver's error.
	OnAttempt func(ctx context.Context, d Delivery, r Result, err error)
	// OnError, if set, is called when the store fails; op names the call.
	OnError func(op string, err error)
	// Hold, when set, is asked before every claim: an error claims nothing
	// and the worker idles (what it holds already it finishes). The app
	// holds claims while this instance's clock is off the store's: the
	// store judges leases by the claimer's clock, so a clock running ahead
	// would take events other instances are delivering.
	Hold func() error
}

// Result is how the worker settled one attempt.
type Result int

// The results passed to OnAttempt.
const (
	Delivered    Result = iota + 1 // acknowledged
	Retried                        // scheduled again
	DeadLettered                   // parked: permanent error or retries exhausted
	LeaseLost                      // the lease was taken over; the outcome was dropped
	StoreFailed                    // the outcome could not be recorded; the lease will expire
)

func (r Result) String() string {
	switch r {
	case Delivered:
		return "delivered"
	case Retried:
		return "retried"
	case DeadLettered:
		return "dead-lettered"
	case LeaseLost:
		return "lease-lost"
	case StoreFailed:
		return "store-failed"
	}
	return "unknown"
}

// Worker claims events from a Store and delivers them.
type Worker struct {
	store Store
	cfg   WorkerConfig

	mu    sync.Mutex
	stop  context.CancelFunc // ends claiming
	abort context.CancelFunc // ends deliveries
	done  chan struct{}
}

// NewWorker checks cfg, fills its defaults and returns a worker on store.
func NewWorker(store Store, cfg WorkerConfig) (*Worker, error) {
	if store == nil || cfg.Deliver == nil {
		return nil, errors.New("outbox: worker needs a store and a Deliver func")
	}
	if cfg.Name == "" {
		host, _ := os.Hostname()
		cfg.Name = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), newToken()[:8])
	}
	setDefault(&cfg.Concurrency, 4)
	setDefault(&cfg.Batch, 1)
	setDefault(&cfg.Lease, 2*time.Minute)
	setDefault(&cfg.Timeout, cfg.Lease/2)
	setDefault(&cfg.MinSpan, 72*time.Hour)
	setDefault(&cfg.MaxRetryAfter, 24*time.Hour)
	setDefault(&cfg.Idle, time.Second)
	setDefault(&cfg.Jitter, 0.2)
	if cfg.Schedule == nil {
		cfg.Schedule = StandardSchedule()
	}
	switch {
	case cfg.Concurrency < 0, cfg.Batch < 0, cfg.Lease < 0, cfg.Idle < 0, cfg.MaxRetryAfter < 0:
		return nil, errors.New("outbox: worker: negative Concurrency, Batch, Lease, Idle or MaxRetryAfter")
	case cfg.Timeout <= 0 || cfg.Timeout >= cfg.Lease:
		return nil, fmt.Errorf("outbox: worker: Timeout %v must be in (0, Lease %v)", cfg.Timeout, cfg.Lease)
	case cfg.Jitter >= 1:
		return nil, fmt.Errorf("outbox: worker: Jitter %v must be below 1", cfg.Jitter)
	}
	for i, d := range cfg.Schedule {
		if d < 0 {
			return nil, fmt.Errorf("outbox: worker: Schedule[%d] is negative", i)
		}
	}
	if cfg.Permanent == nil {
		cfg.Permanent = IsPermanent
	}
	if cfg.RetryAfter == nil {
		cfg.RetryAfter = RetryAfterOf
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	return &Worker{store: store, cfg: cfg}, nil
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Name returns the worker's name.
func (w *Worker) Name() string { return w.cfg.Name }

// Start runs Concurrency goroutines until Stop. Cancelling ctx aborts
// deliveries in flight (their leases expire and they are redelivered).
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done != nil {
		return errors.New("outbox: worker already started")
	}
	run, abort := context.WithCancel(ctx)
	claim, stop := context.WithCancel(run)
	w.stop, w.abort, w.done = stop, abort, make(chan struct{})
	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Go(func() { w.loop(claim, run) })
	}
	go func() {
		wg.Wait()
		abort()
		close(w.done)
	}()
	return nil
}

// Stop stops claiming and waits for the deliveries in flight (with the
// rest of their claimed batch) to finish and be settled. If ctx ends first, it aborts them, waits for the goroutines
// to return and returns ctx's error.
func (w *Worker) Stop(ctx context.Context) error {
	w.mu.Lock()
	stop, abort, done := w.stop, w.abort, w.done
	w.mu.Unlock()
	if done == nil {
		return nil
	}
	stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		abort()
		<-done
		return ctx.Err()
	}
}

func (w *Worker) loop(claim, run context.Context) {
	for claim.Err() == nil {
		// A claim that failed part way but leased some work goes on at
		// once: one failing shard does not slow down the others.
		if n, _ := w.poll(claim, run); n == 0 {
			_ = w.cfg.Sleep(claim, w.cfg.Idle)
		}
	}
}

// Poll claims one batch and delivers and settles it on the calling
// goroutine; it returns how many events it handled. Tests and tools drive
// a worker with it instead of Start.
func (w *Worker) Poll(ctx context.Context) (int, error) { return w.poll(ctx, ctx) }

func (w *Worker) poll(claim, run context.Context) (int, error) {
	if err := claim.Err(); err != nil {
		return 0, err
	}
	claimed := time.Now() // by the wall clock, whatever cfg.Now says: LeaseEnd bounds deadlines
	if w.cfg.Hold != nil {
		if err := w.cfg.Hold(); err != nil {
			return 0, err // claims nothing; the loop idles
		}
	}
	ds, err := w.store.Claim(run, w.cfg.Name, w.cfg.Lease, w.cfg.Batch)
	if err != nil {
		w.failed("claim", err)
	}
	// What was leased before an error is delivered now, not left to its
	// lease.
	run = context.WithValue(run, leaseEndKey{}, claimed.Add(w.cfg.Lease))
	for _, d := range ds {
		w.handle(run, d)
	}
	return len(ds), err
}

type leaseEndKey struct{}

// LeaseEnd reports, to a Deliver called by a Worker, when the lease of
// its event ends by the wall clock (taken before the claim, so never
// later than the store's): work that must end while the event is held
// (another worker may take it over after) bounds itself by it, since a
// Batch claim's later events start after the first's deliveries and
// Timeout is only bounded by Lease.
func LeaseEnd(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(leaseEndKey{}).(time.Time)
	return t, ok
}

// crashing reports an event whose attempts keep ending with their lease
// expiring, no outcome recorded: as many as the schedule has attempts, and
// MinSpan past its first attempt, as a failing event is dead-lettered.
// Without it an event that crashes every worker that takes it would be
// leased again for ever, and its dossier's later events wait behind it.
func (w *Worker) crashing(d Delivery) bool {
	if d.Expired == 0 || d.Expired < len(w.cfg.Schedule) {
		return false
	}
	return w.cfg.MinSpan <= 0 || !w.cfg.Now().Before(d.FirstAttempt.Add(w.cfg.MinSpan))
}

// handle delivers d and records the outcome.
func (w *Worker) handle(ctx context.Context, d Delivery) {
	crashing := w.crashing(d)
	var derr error
	if crashing {
		derr = fmt.Errorf("%d attempts since %s ended with their lease expiring and no outcome (a worker crashes or stalls on this event): not delivered again",
			d.Expired, d.FirstAttempt.UTC().Format(time.RFC3339))
	} else {
		derr = w.deliver(ctx, d)
	}
	var res Result
	var op string
	var err error
	switch {
	case crashing:
		res, op, err = DeadLettered, "dead-letter", w.settle(ctx, func() error { return w.store.DeadLetter(ctx, d, reason("", derr)) })
	case derr == nil:
		res, op, err = Delivered, "ack", w.settle(ctx, func() error { return w.store.Ack(ctx, d) })
	case w.cfg.Permanent(derr):
		res, op, err = DeadLettered, "dead-letter", w.settle(ctx, func() error { return w.store.DeadLetter(ctx, d, reason("permanent: ", derr)) })
	default:
		hint, hinted := w.cfg.RetryAfter(derr)
		now := w.cfg.Now()
		at, ok := nextAttempt(w.cfg.Schedule, w.cfg.Jitter, w.cfg.MinSpan, w.cfg.MaxRetryAfter, d, hint, hinted, w.cfg.Rand(), now)
		if !ok && w.cfg.NotSent != nil && w.cfg.NotSent(derr) {
			at, ok = now.Add(max(hint, time.Second)), true
		}
		if ok {
			res, op, err = Retried, "retry", w.settle(ctx, func() error { return w.store.Retry(ctx, d, at, reason("", derr)) })
		} else {
			res, op, err = DeadLettered, "dead-letter", w.settle(ctx, func() error { return w.store.DeadLetter(ctx, d, reason("retries exhausted: ", derr)) })
		}
	}
	switch {
	case errors.Is(err, ErrLeaseLost):
		res = LeaseLost
	case err != nil:
		res = StoreFailed
		w.failed(op, err)
	}
	if w.cfg.OnAttempt != nil {
		w.cfg.OnAttempt(ctx, d, res, derr)
	}
}

// settleTries and settleBackoff bound the retries of an outcome's store
// call after a store error.
const (
	settleTries   = 3
	settleBackoff = 100 * time.Millisecond
)

// settle records an outcome with call, trying again (settleTries in all,
// after settleBackoff, doubling) after a store error while the lease has
// time for it: an outcome not recorded leaves the event to its lease's end,
// and a retry's wait (an uncertain portal write's, above all) would then
// be cut to what was left of the lease. A settlement repeated for the same
// lease is answered as the first (Store), so trying again after a lost
// reply is safe.
func (w *Worker) settle(ctx context.Context, call func() error) error {
	err := call()
	for i, wait := 1, settleBackoff; i < settleTries && err != nil && !errors.Is(err, ErrLeaseLost); i, wait = i+1, 2*wait {
		if end, ok := LeaseEnd(ctx); ok && time.Until(end) < 2*wait {
			break
		}
		if w.cfg.Sleep(ctx, wait) != nil {
			break
		}
		err = call()
	}
	return err
}

// deliver calls Deliver with the timeout, turning a panic into an error.
func (w *Worker) deliver(ctx context.Context, d Delivery) (err error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("outbox: deliver panicked: %v", r)
		}
	}()
	return w.cfg.Deliver(ctx, d)
}

func (w *Worker) failed(op string, err error) {
	if w.cfg.OnError != nil {
		w.cfg.OnError(op, err)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package outbox_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/testkit/outboxtest"
)

var ctx = context.Background()

func TestNewWorkerChecksItsConfig(t *testing.T) {
	deliver := func(context.Context, outbox.Delivery) error { return nil }
	s := outbox.NewMemory(nil)
	bad := map[string]outbox.WorkerConfig{
		"no Deliver":             {},
		"timeout beyond lease":   {Deliver: deliver, Lease: time.Minute, Timeout: time.Minute},
		"negative concurrency":   {Deliver: deliver, Concurrency: -1},
		"jitter of 100%":         {Deliver: deliver, Jitter: 1},
		"negative schedule step": {Deliver: deliver, Schedule: []time.Duration{0, -time.Second}},
	}
	for name, cfg := range bad {
		if _, err := outbox.NewWorker(s, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := outbox.NewWorker(nil, outbox.WorkerConfig{Deliver: deliver}); err == nil {
		t.Error("no store: accepted")
	}
	w, err := outbox.NewWorker(s, outbox.WorkerConfig{Deliver: deliver})
	if err != nil || w.Name() == "" {
		t.Fatalf("defaults: %v %q", err, w.Name())
	}
}

// blocking returns a Deliver that reports each call on started and returns
// when release is closed, recording whether its context was cancelled.
type blocking struct {
	started  chan outbox.Delivery
	release  chan struct{}
	mu       sync.Mutex
	canceled bool
}

func newBlocking() *blocking {
	return &blocking{started: make(chan outbox.Delivery, 10), release: make(chan struct{})}
}

func (b *blocking) deliver(ctx context.Context, d outbox.Delivery) error {
	b.started <- d
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.canceled = ctx.Err() != nil
	return ctx.Err()
}

func TestStopDrainsDeliveriesInFlight(t *testing.T) {
	s := outbox.NewMemory(nil)
	b := newBlocking()
	sleeping, woke := make(chan struct{}, 10), make(chan struct{}, 10)
	var mu sync.Mutex
	var results []outbox.Result
	w, err := outbox.NewWorker(s, outbox.WorkerConfig{Deliver: b.deliver, Concurrency: 2, Idle: time.Hour,
		Sleep: func(ctx context.Context, _ time.Duration) error {
			sleeping <- struct{}{}
			<-ctx.Done() // only Stop ends an idle pause here
			woke <- struct{}{}
			return ctx.Err()
		},
		OnAttempt: func(_ context.Context, _ outbox.Delivery, r outbox.Result, _ error) {
			mu.Lock()
			defer mu.Unlock()
			results = append(results, r)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "D", "e1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err == nil {
		t.Fatal("started twice")
	}
	<-b.started // one goroutine delivers,
	<-sleeping  // the other found nothing and pauses
	stopped := make(chan error, 1)
	go func() { stopped <- w.Stop(ctx) }()
	<-woke // Stop has ended the pause
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a delivery was in flight", err)
	default:
	}
	close(b.release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if b.canceled || len(results) != 1 || results[0] != outbox.Delivered {
		t.Fatalf("canceled %v, results %v", b.canceled, results)
	}
	if st, _ := s.Stats(ctx); st != (outbox.Stats{}) {
		t.Fatalf("stats after drain %+v", st)
	}
}

func TestStopAbortsWhenItsContextEnds(t *testing.T) {
	s := outbox.NewMemory(nil)
	b := newBlocking()
	w, err := outbox.NewWorker(s, outbox.WorkerConfig{Deliver: b.deliver, Concurrency: 1, Idle: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = s.Append(ctx, "D", "e1", nil)
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	<-b.started
	expired, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.Stop(expired); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.canceled {
		t.Fatal("the delivery was not cancelled")
	}
}

// failing wraps a store and fails the named calls.
type failing struct {
	outbox.Store
	claim, ack error
	// claimAfter makes Claim fail after it leased what it could, as a
	// store of several shards does when a later shard fails.
	claimAfter error
}

func (f *failing) Claim(ctx context.Context, w string, l time.Duration, n int) ([]outbox.Delivery, error) {
	if f.claim != nil {
		return nil, f.claim
	}
	ds, err := f.Store.Claim(ctx, w, l, n)
	if err == nil {
		err = f.claimAfter
	}
	return ds, err
}

func (f *failing) Ack(ctx context.Context, d outbox.Delivery) error {
	if f.ack != nil {
		return f.ack
	}
	return f.Store.Ack(ctx, d)
}

func TestStoreFailuresAreReported(t *testing.T) {
	c := outboxtest.NewClock()
	mem := outbox.NewMemory(c.Now)
	down := errors.New("redis down")
	f := &failing{Store: mem, claim: down}
	var ops []string
	var results []outbox.Result
	w, err := outbox.NewWorker(f, outbox.WorkerConfig{Now: c.Now,
		Deliver:   func(context.Context, outbox.Delivery) error { return nil },
		OnError:   func(op string, err error) { ops = append(ops, op) },
		OnAttempt: func(_ context.Context, _ outbox.Delivery, r outbox.Result, _ error) { results = append(results, r) }})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = mem.Append(ctx, "D", "e1", nil)
	if n, err := w.Poll(ctx); n != 0 || !errors.Is(err, down) {
		t.Fatalf("poll on a failing claim: %d %v", n, err)
	}
	f.claim, f.ack = nil, down
	if n, err := w.Poll(ctx); n != 1 || err != nil {
		t.Fatalf("poll: %d %v", n, err)
	}
	if len(ops) != 2 || ops[0] != "claim" || ops[1] != "ack" || len(results) != 1 || results[0] != outbox.StoreFailed {
		t.Fatalf("errors in %v, results %v", ops, results)
	}
	// the unrecorded outcome's lease ends and the event comes back flagged
	f.ack = nil
	c.Advance(2 * time.Minute)
	ds, _ := mem.Claim(ctx, "other", time.Minute, 1)
	if len(ds) != 1 || !ds[0].Redelivered {
		t.Fatalf("after the lease: %+v", ds)
	}
}

// What a claim leased before it failed is delivered at once, not left to
// wait for its lease to end.
func TestClaimFailingPartWay(t *testing.T) {
	c := outboxtest.NewClock()
	mem := outbox.NewMemory(c.Now)
	migrating := errors.New("TRYAGAIN shard being migrated")
	var delivered []string
	w, err := outbox.NewWorker(&failing{Store: mem, claimAfter: migrating}, outbox.WorkerConfig{Now: c.Now, Batch: 2,
		Deliver: func(_ context.Context, d outbox.Delivery) error {
			delivered = append(delivered, d.Dossier+"/"+d.ID)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = mem.Append(ctx, "D1", "e1", nil)
	_, _ = mem.Append(ctx, "D2", "e1", nil)
	if n, err := w.Poll(ctx); n != 2 || !errors.Is(err, migrating) {
		t.Fatalf("poll: %d %v, want 2 handled and the claim's error", n, err)
	}
	if len(delivered) != 2 {
		t.Fatalf("delivered %v, want both events", delivered)
	}
	if st, _ := mem.Stats(ctx); st.Pending != 0 || st.InFlight != 0 {
		t.Fatalf("after the poll: %+v, want nothing pending", st)
	}
}

// A running worker whose claims fail part way (one shard of several
// refusing) but lease work does not pause between them: it pauses only
// when a claim leases nothing.
func TestNoPauseAfterAPartialClaim(t *testing.T) {
	mem := outbox.NewMemory(nil)
	for _, d := range []string{"D1", "D2", "D3"} {
		if _, err := mem.Append(ctx, d, "e1", nil); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	delivered, pausedEarly := 0, 0
	idle := make(chan struct{}, 1)
	w, err := outbox.NewWorker(&failing{Store: mem, claimAfter: errors.New("TRYAGAIN")}, outbox.WorkerConfig{Idle: time.Hour, Concurrency: 1,
		Deliver: func(context.Context, outbox.Delivery) error {
			mu.Lock()
			defer mu.Unlock()
			delivered++
			return nil
		},
		Sleep: func(ctx context.Context, _ time.Duration) error {
			mu.Lock()
			if delivered < 3 {
				pausedEarly++
			}
			mu.Unlock()
			select {
			case idle <- struct{}{}:
			default:
			}
			<-ctx.Done()
			return ctx.Err()
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	<-idle
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if delivered != 3 || pausedEarly != 0 {
		t.Fatalf("%d delivered, %d pauses before the last, want 3 and none", delivered, pausedEarly)
	}
}

func TestLeaseLostDuringDelivery(t *testing.T) {
	c := outboxtest.NewClock()
	s := outbox.NewMemory(c.Now)
	var results []outbox.Result
	w, err := outbox.NewWorker(s, outbox.WorkerConfig{Now: c.Now, Lease: time.Minute,
		Deliver: func(context.Context, outbox.Delivery) error {
			c.Advance(time.Minute) // a stall past the lease; another worker takes over
			if ds, _ := s.Claim(ctx, "other", time.Minute, 1); len(ds) != 1 {
				t.Error("no takeover")
			}
			return nil
		},
		OnAttempt: func(_ context.Context, _ outbox.Delivery, r outbox.Result, _ error) { results = append(results, r) }})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = s.Append(ctx, "D", "e1", nil)
	if _, err := w.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0] != outbox.LeaseLost {
		t.Fatalf("results %v", results)
	}
}

func TestResultNames(t *testing.T) {
	for r, want := range map[outbox.Result]string{outbox.Delivered: "delivered", outbox.Retried: "retried",
		outbox.DeadLettered: "dead-lettered", outbox.LeaseLost: "lease-lost", outbox.StoreFailed: "store-failed", 0: "unknown"} {
		if r.String() != want {
			t.Errorf("%d: %q", r, r.String())
		}
	}
}

// An attempt refused locally (nothing sent) never makes the last attempt a
// dead letter: it is retried after the hint.
func TestNotSentNeverDeadLetters(t *testing.T) {
	now := time.Date(2026, 6, 9, 9, 0, 0, 0, time.UTC)
	notSent := errors.New("breaker open")
	store := outbox.NewMemory(func() time.Time { return now })
	if _, err := store.Append(context.Background(), "p|d", "e1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	var results []outbox.Result
	w, err := outbox.NewWorker(store, outbox.WorkerConfig{
		Deliver:  func(context.Context, outbox.Delivery) error { return notSent },
		Schedule: []time.Duration{0}, MinSpan: -1, Jitter: -1,
		Now:       func() time.Time { return now },
		NotSent:   func(err error) bool { return errors.Is(err, notSent) },
		OnAttempt: func(_ context.Context, _ outbox.Delivery, r outbox.Result, _ error) { results = append(results, r) },
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := w.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
		now = now.Add(2 * time.Second)
	}
	for _, r := range results {
		if r != outbox.Retried {
			t.Fatalf("results %v: a local refusal became %v", results, r)
		}
	}
	if len(results) != 3 {
		t.Fatalf("%d attempts", len(results))
	}
}

type ctxKey struct{}

// OnAttempt gets the worker's context: the values of the context Poll (or
// Start) was given, without the deadline Deliver runs under.
func TestOnAttemptGetsTheWorkersContext(t *testing.T) {
	c := outboxtest.NewClock()
	s := outbox.NewMemory(c.Now)
	var deliverHadDeadline bool
	var got []context.Context
	w, err := outbox.NewWorker(s, outbox.WorkerConfig{Now: c.Now, Lease: time.Minute,
		Deliver: func(ctx context.Context, _ outbox.Delivery) error {
			_, deliverHadDeadline = ctx.Deadline()
			return outbox.Permanent(errors.New("refused"))
		},
		OnAttempt: func(ctx context.Context, _ outbox.Delivery, _ outbox.Result, _ error) { got = append(got, ctx) }})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = s.Append(ctx, "D", "e1", nil)
	wctx := context.WithValue(context.Background(), ctxKey{}, "worker")
	if _, err := w.Poll(wctx); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("OnAttempt called %d times", len(got))
	}
	if v, _ := got[0].Value(ctxKey{}).(string); v != "worker" {
		t.Fatal("OnAttempt's context is not the worker's")
	}
	if _, ok := got[0].Deadline(); ok || !deliverHadDeadline {
		t.Fatalf("OnAttempt's context has a deadline (Deliver's had one: %v)", deliverHadDeadline)
	}
}

// While Hold answers an error the worker claims nothing (the events stay
// with whoever leased them, or wait); once it answers nil, it claims again.
func TestHoldStopsClaims(t *testing.T) {
	c := outboxtest.NewClock()
	s := outbox.NewMemory(c.Now)
	held := errors.New("clock off the store's")
	hold := held
	delivered := 0
	w, err := outbox.NewWorker(s, outbox.WorkerConfig{Now: c.Now,
		Hold:    func() error { return hold },
		Deliver: func(context.Context, outbox.Delivery) error { delivered++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = s.Append(ctx, "D", "e1", nil)
	if n, err := w.Poll(ctx); n != 0 || !errors.Is(err, held) || delivered != 0 {
		t.Fatalf("held: claimed %d, err %v, delivered %d", n, err, delivered)
	}
	if ds, _ := s.Claim(ctx, "other", time.Minute, 1); len(ds) != 1 {
		t.Fatal("the held worker leased the event")
	}
	c.Advance(2 * time.Minute) // the other's lease ends
	hold = nil
	if n, err := w.Poll(ctx); n != 1 || err != nil || delivered != 1 {
		t.Fatalf("released: claimed %d, err %v, delivered %d", n, err, delivered)
	}
}

// flakyStore fails the first fails outcome calls (Ack, Retry, DeadLetter)
// with a store error.
type flakyStore struct {
	outbox.Store
	mu    sync.Mutex
	fails int
	calls int
}

func (f *flakyStore) fail() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fails > 0 {
		f.fails--
		return errors.New("store blip")
	}
	return nil
}

func (f *flakyStore) Retry(ctx context.Context, d outbox.Delivery, at time.Time, reason string) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Store.Retry(ctx, d, at, reason)
}

func (f *flakyStore) Ack(ctx context.Context, d outbox.Delivery) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Store.Ack(ctx, d)
}

// An outcome whose store call fails is recorded by trying again within
// the lease: a retry keeps its time (an uncertain portal write's wait
// above all) instead of being left to the lease's end. A store that stays
// down is still StoreFailed, after settleTries calls.
func TestOutcomeRecordedAfterAStoreBlip(t *testing.T) {
	for _, tc := range []struct {
		fails int
		want  outbox.Result
		calls int
	}{{1, outbox.Retried, 2}, {2, outbox.Retried, 3}, {5, outbox.StoreFailed, 3}} {
		c := outboxtest.NewClock()
		s := &flakyStore{Store: outbox.NewMemory(c.Now), fails: tc.fails}
		var results []outbox.Result
		w, err := outbox.NewWorker(s, outbox.WorkerConfig{Now: c.Now,
			Sleep:     func(context.Context, time.Duration) error { return nil },
			Deliver:   func(context.Context, outbox.Delivery) error { return errors.New("portal timeout") },
			OnAttempt: func(_ context.Context, _ outbox.Delivery, r outbox.Result, _ error) { results = append(results, r) }})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = s.Append(ctx, "D", "e1", nil)
		if _, err := w.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		if len(results) != 1 || results[0] != tc.want || s.calls != tc.calls {
			t.Errorf("%d failures: results %v after %d calls, want %v after %d", tc.fails, results, s.calls, tc.want, tc.calls)
		}
	}
}

package outboxtest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/testkit/clock"
)

// Sizes of the concurrent run.
const (
	stressDossiers = 200
	stressEvents   = 20
	stressWorkers  = 8
	maxIdleTicks   = 5000 // of a second each, all workers together: a stuck store fails instead of hanging
)

// portalView is what the simulated portal and the checker know of a dossier.
type portalView struct {
	mu       sync.Mutex
	index    int
	acked    int64         // events acknowledged: the next delivery must be acked+1
	received map[int64]int // deliveries the portal got, by seq
	live     bool          // a running (not crashed) worker holds the dossier
	deadTill time.Time     // a crashed worker's lease ends then
}

type stress struct {
	t       *testing.T
	s       outbox.Store
	c       *clock.Clock
	tick    sync.RWMutex // held for reading while a worker runs; the clock moves only under the write lock
	views   []portalView
	done    atomic.Int64
	idle    atomic.Int64 // clock ticks
	added   atomic.Int64 // events appended so far
	crashes atomic.Int64 // deliveries abandoned after the portal got them
	redeliv atomic.Int64 // flagged deliveries seen
}

func stressDossier(i int) string { return fmt.Sprintf("chi-thuong-xuyen|G09.20-%04d", i) }
func stressID(i, j int) string   { return fmt.Sprintf("evt-%04d-%02d", i, j) }

// runStress runs 8 workers over 200 dossiers × 20 events while appenders
// are still adding them. Workers fail transiently (retry), crash before
// delivering, and crash after the portal got the event; a crash abandons
// the worker's whole batch, whose leases then expire. The checker verifies
// at each claim that the dossier's head is handed out, by one live worker
// at a time, never before a crashed lease ends, and that an event the
// portal already got comes back flagged Redelivered.
func runStress(t *testing.T, newStore Factory) {
	c := NewClock()
	st := &stress{t: t, s: newStore(t, c.Now), c: c, views: make([]portalView, stressDossiers)}
	for i := range st.views {
		st.views[i].index, st.views[i].received = i, map[int64]int{}
	}
	var wg sync.WaitGroup
	for a := range stressWorkers {
		wg.Go(func() { st.appender(a) })
	}
	for w := range stressWorkers {
		wg.Go(func() { st.worker(w) })
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i := range st.views {
		if v := &st.views[i]; v.acked != stressEvents {
			t.Fatalf("%s: %d events acknowledged, want %d", stressDossier(i), v.acked, stressEvents)
		}
	}
	claimNone(t, st.s, "after")
	wantStats(t, st.s, outbox.Stats{})
	if st.crashes.Load() == 0 || st.redeliv.Load() == 0 {
		t.Fatalf("the run exercised %d crashes after delivery and %d redeliveries", st.crashes.Load(), st.redeliv.Load())
	}
	t.Logf("%d crashes after delivery, %d redeliveries, clock moved %v", st.crashes.Load(), st.redeliv.Load(), c.Now().Sub(NewClock().Now()))
}

// appender a appends event j of each of its dossiers, j = 1..20.
func (st *stress) appender(a int) {
	for j := 1; j <= stressEvents; j++ {
		for i := a; i < stressDossiers; i += stressWorkers {
			ok, err := st.s.Append(ctx, stressDossier(i), stressID(i, j), payload(stressDossier(i), stressID(i, j)))
			if err != nil || !ok {
				st.t.Errorf("append %s: %v %v", stressID(i, j), ok, err)
				return
			}
			st.added.Add(1)
		}
	}
}

func (st *stress) worker(w int) {
	rng := rand.New(rand.NewPCG(uint64(w), 0x5eed))
	incarnation := 0
	for st.done.Load() < stressDossiers*stressEvents && !st.t.Failed() {
		name := fmt.Sprintf("w%d.%d", w, incarnation)
		st.tick.RLock()
		ds, err := st.s.Claim(ctx, name, lease, 1+rng.IntN(4))
		if err != nil {
			st.tick.RUnlock()
			st.t.Errorf("claim: %v", err)
			return
		}
		views := st.hold(ds)
		crashed := false
		for k, d := range ds {
			if views[k] != nil && !st.handle(views[k], d, rng, crashed) {
				crashed = true
			}
		}
		st.tick.RUnlock()
		if crashed {
			incarnation++
		}
		if len(ds) == 0 {
			if st.added.Load() < stressDossiers*stressEvents {
				// the appenders are behind (a loaded machine): nothing to
				// claim yet is not a lack of progress
				runtime.Gosched()
				continue
			}
			if idle := st.idle.Add(1); idle > maxIdleTicks {
				st.t.Errorf("no progress after %d idle ticks: %d of %d delivered", idle, st.done.Load(), stressDossiers*stressEvents)
				return
			}
			st.tick.Lock()
			st.c.Advance(time.Second)
			st.tick.Unlock()
		}
	}
}

// hold marks the dossiers of a claimed batch as held by a live worker, and
// reports a dossier some other live worker already holds.
func (st *stress) hold(ds []outbox.Delivery) []*portalView {
	views := make([]*portalView, len(ds))
	for k, d := range ds {
		var i int
		if _, err := fmt.Sscanf(d.Dossier, "chi-thuong-xuyen|G09.20-%04d", &i); err != nil || i < 0 || i >= stressDossiers {
			st.t.Errorf("claimed unknown dossier %q", d.Dossier)
			continue
		}
		v := &st.views[i]
		v.mu.Lock()
		if v.live {
			st.t.Errorf("%s leased to %s while a live worker holds it", d.Dossier, d.Worker)
		}
		v.live = true
		v.mu.Unlock()
		views[k] = v
	}
	return views
}

// handle checks one claimed delivery and plays the worker's part; it
// returns false when the worker crashed (abandoning d and the rest of its
// batch: dead reports that the crash already happened).
func (st *stress) handle(v *portalView, d outbox.Delivery, rng *rand.Rand, dead bool) bool {
	t := st.t
	v.mu.Lock()
	defer v.mu.Unlock()
	v.live = false
	i := v.index
	switch now := st.c.Now(); {
	case now.Before(v.deadTill):
		t.Errorf("%s leased at %v, before the crashed lease ends at %v", d.Dossier, now, v.deadTill)
	case d.Seq != v.acked+1 || d.ID != stressID(i, int(d.Seq)):
		t.Errorf("%s: claimed %s (seq %d), want seq %d: out of order", d.Dossier, d.ID, d.Seq, v.acked+1)
	case !bytes.Equal(d.Payload, payload(d.Dossier, d.ID)):
		t.Errorf("%s: payload %q", d.ID, d.Payload)
	case v.received[d.Seq] > 0 && !d.Redelivered:
		t.Errorf("%s delivered again without the Redelivered flag", d.ID)
	}
	if d.Redelivered {
		st.redeliv.Add(1)
	}
	if dead {
		v.deadTill = d.LeaseUntil
		return false
	}
	switch roll := rng.IntN(100); {
	case roll < 12: // the portal answered 503
		at := st.c.Now().Add(time.Duration(rng.IntN(4)) * time.Second)
		if err := st.s.Retry(ctx, d, at, "portal: 503"); err != nil {
			t.Errorf("retry %s: %v", d.ID, err)
		}
		return true
	case roll < 15: // crash before sending
		v.deadTill = d.LeaseUntil
		return false
	case roll < 18: // crash after the portal got it
		v.received[d.Seq]++
		v.deadTill = d.LeaseUntil
		st.crashes.Add(1)
		return false
	}
	v.received[d.Seq]++
	if err := st.s.Ack(ctx, d); err != nil {
		t.Errorf("ack %s: %v", d.ID, err)
		return true
	}
	v.acked++
	st.done.Add(1)
	return true
}

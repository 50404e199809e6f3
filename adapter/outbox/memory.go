package outbox

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"time"
)

// Memory is the in-process Store of the embedded default: one adapter
// process, nothing survives a restart.
type Memory struct {
	now       func() time.Time
	retention time.Duration

	mu       sync.Mutex
	dossiers map[string]*mDossier
	ready    []*mDossier // due now and not leased, in the order they became due
	waiting  timedHeap   // retry times
	leases   timedHeap   // lease ends
	dead     map[string]*mDossier
	pending  int64
	ops      int
}

type mState uint8

const (
	mIdle    mState = iota // nothing to deliver
	mReady                 // in ready
	mWaiting               // in waiting until its retry time
	mLeased                // leased (in leases)
	mBlocked               // its head is a dead letter
)

type mDossier struct {
	name    string
	seq     int64
	ids     map[string]struct{}
	queue   []*mEvent // undelivered, by Seq; a dead letter stays at queue[0]
	state   mState
	gen     uint64 // bumped on every state change; heap entries carry it
	token   string
	worker  string
	until   time.Time
	deadKey string
	expires time.Time // idle: when its ids are forgotten
	settled string    // the last lease settled, and how: "<token> <outcome>"
}

type mEvent struct {
	Event
	round   int       // attempts in this round
	expired int       // attempts in this round that ended with their lease expiring
	total   int       // attempts in all rounds
	first   time.Time // when attempt 1 of this round was claimed
	leased  bool      // leased and no outcome recorded yet
	unsure  bool      // a lease ended without outcome: the portal may have it
	history []Attempt
	reason  string
	deadAt  time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store on clock now (nil means time.Now) that
// remembers event ids for DefaultRetention.
func NewMemory(now func() time.Time) *Memory {
	return NewMemoryRetention(now, DefaultRetention)
}

// NewMemoryRetention is NewMemory with another deduplication retention.
func NewMemoryRetention(now func() time.Time, retention time.Duration) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, retention: retention, dossiers: map[string]*mDossier{}, dead: map[string]*mDossier{}}
}

// Append implements Store.
func (m *Memory) Append(_ context.Context, dossier, eventID string, payload []byte) (bool, error) {
	if err := Check(dossier, eventID); err != nil {
		return false, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	d := m.dossiers[dossier]
	if d != nil && d.state == mIdle && !now.Before(d.expires) {
		d = nil
	}
	if d == nil {
		d = &mDossier{name: dossier, ids: map[string]struct{}{}}
		m.dossiers[dossier] = d
	}
	if _, dup := d.ids[eventID]; dup {
		return false, nil
	}
	d.seq++
	d.ids[eventID] = struct{}{}
	d.queue = append(d.queue, &mEvent{Event: Event{ID: eventID, Dossier: dossier, Seq: d.seq,
		Payload: append([]byte(nil), payload...), AppendedAt: now}})
	m.pending++
	if d.state == mIdle {
		m.makeReady(d)
	}
	return true, nil
}

// Claim implements Store.
func (m *Memory) Claim(_ context.Context, worker string, lease time.Duration, max int) ([]Delivery, error) {
	max = clampMax(max)
	now := m.now()
	tok := newToken()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Delivery
	for len(out) < max {
		d, ok := m.leases.popDue(now)
		if !ok {
			break
		}
		if d.state != mLeased {
			continue
		}
		e := d.queue[0]
		e.round++
		e.total++
		e.expired++
		e.addHistory(Attempt{At: d.until, Worker: d.worker, Outcome: OutcomeLeaseExpired, Reason: "lease expired"})
		out = append(out, m.lease(d, worker, tok, len(out), now, lease))
	}
	for {
		d, ok := m.waiting.popDue(now)
		if !ok {
			break
		}
		if d.state == mWaiting {
			m.makeReady(d)
		}
	}
	for len(out) < max && len(m.ready) > 0 {
		d := m.ready[0]
		m.ready[0] = nil
		m.ready = m.ready[1:]
		if d.state == mReady {
			out = append(out, m.lease(d, worker, tok, len(out), now, lease))
		}
	}
	return out, nil
}

func (m *Memory) lease(d *mDossier, worker, tok string, i int, now time.Time, lease time.Duration) Delivery {
	e := d.queue[0]
	if e.round == 0 {
		e.first = now
	}
	e.unsure = e.unsure || e.leased
	e.leased = true
	d.state, d.token, d.worker, d.until = mLeased, tok+"."+strconv.Itoa(i), worker, now.Add(lease)
	d.gen++
	heap.Push(&m.leases, timed{at: d.until, d: d, gen: d.gen})
	ev := e.Event
	ev.Payload = append([]byte(nil), e.Payload...)
	return Delivery{Event: ev, Attempt: e.round + 1, FirstAttempt: e.first, Redelivered: e.unsure, Expired: e.expired,
		Worker: worker, Token: d.token, LeaseUntil: d.until}
}

// held returns the dossier and head event d leases, or ErrLeaseLost.
func (m *Memory) held(d Delivery) (*mDossier, *mEvent, error) {
	x := m.dossiers[d.Dossier]
	if x == nil || x.state != mLeased || x.token != d.Token || d.Token == "" || x.queue[0].ID != d.ID {
		return nil, nil, ErrLeaseLost
	}
	return x, x.queue[0], nil
}

// Ack implements Store.
func (m *Memory) Ack(_ context.Context, d Delivery) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	x, _, err := m.held(d)
	if err != nil {
		return m.again(d, "ack", err)
	}
	m.pop(x, now)
	x.settled = d.Token + " ack"
	return nil
}

// again answers the settlement of a lease that is no longer held: nil when
// that very lease was settled so already (the caller's retry of a call
// whose answer it lost), else err.
func (m *Memory) again(d Delivery, how string, err error) error {
	if x := m.dossiers[d.Dossier]; x != nil && d.Token != "" && x.settled == d.Token+" "+how {
		return nil
	}
	return err
}

// pop removes x's head and moves on to the next event, or makes x idle.
func (m *Memory) pop(x *mDossier, now time.Time) {
	x.queue[0] = nil
	x.queue = x.queue[1:]
	m.pending--
	if len(x.queue) > 0 {
		m.makeReady(x)
		return
	}
	x.queue, x.state, x.expires = nil, mIdle, now.Add(m.retention)
	x.gen++
}

// Retry implements Store.
func (m *Memory) Retry(_ context.Context, d Delivery, at time.Time, reason string) error {
	return m.endTurn(d, OutcomeRetry, reason, func(x *mDossier, _ *mEvent, _ time.Time) {
		x.state = mWaiting
		x.gen++
		heap.Push(&m.waiting, timed{at: at, d: x, gen: x.gen})
	})
}

// DeadLetter implements Store.
func (m *Memory) DeadLetter(_ context.Context, d Delivery, reason string) error {
	return m.endTurn(d, OutcomeDeadLetter, reason, func(x *mDossier, e *mEvent, now time.Time) {
		e.reason, e.deadAt = reason, now
		x.state, x.deadKey = mBlocked, DeadKey(now, x.name, e.ID)
		x.gen++
		m.dead[x.deadKey] = x
	})
}

// endTurn records the end of the held delivery d's attempt with outcome and
// reason, then lets then move its dossier on, all under the lock.
func (m *Memory) endTurn(d Delivery, outcome Outcome, reason string, then func(x *mDossier, e *mEvent, now time.Time)) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	x, e, err := m.held(d)
	if err != nil {
		return m.again(d, string(outcome), err)
	}
	e.endAttempt(Attempt{At: now, Worker: x.worker, Outcome: outcome, Reason: reason})
	then(x, e, now)
	x.settled = d.Token + " " + string(outcome)
	return nil
}

func (m *Memory) makeReady(d *mDossier) {
	d.state = mReady
	d.gen++
	m.ready = append(m.ready, d)
}

func (e *mEvent) endAttempt(a Attempt) {
	e.round++
	e.total++
	e.leased = false
	e.addHistory(a)
}

func (e *mEvent) addHistory(a Attempt) {
	e.history = append(e.history, a)
	if n := len(e.history); n > MaxHistory {
		e.history = append(e.history[:0:0], e.history[n-MaxHistory:]...)
	}
}

// clampMax bounds the batch size of one Claim.
func clampMax(n int) int { return min(max(n, 1), 1000) }

// newToken returns a random lease token prefix.
func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// timed is a heap entry; it is stale once its dossier's gen moved on.
type timed struct {
	at  time.Time
	d   *mDossier
	gen uint64
}

type timedHeap []timed

func (h timedHeap) Len() int           { return len(h) }
func (h timedHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timedHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timedHeap) Push(x any)        { *h = append(*h, x.(timed)) }
func (h *timedHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = timed{}
	*h = old[:len(old)-1]
	return x
}

// popDue pops the earliest live entry due at now, skipping stale ones.
func (h *timedHeap) popDue(now time.Time) (*mDossier, bool) {
	for h.Len() > 0 && !(*h)[0].at.After(now) {
		t := heap.Pop(h).(timed)
		if t.gen == t.d.gen {
			return t.d, true
		}
	}
	return nil, false
}

// Package outbox owns the durable queue of status events between the
// treasury callback endpoint and the portal, and the workers that deliver
// them: at least once, in order per dossier, with retries on a backoff
// schedule for at least 72 hours, then dead letters that an operator lists,
// inspects, replays or discards.
//
// # Model
//
// Append stores an event under its dossier ("procedure|maHoSo") and gives it
// the dossier's next sequence number; it returns only once the event is
// stored. An event id already stored for the dossier is acknowledged
// (appended=false) and never queued again, for DefaultRetention after the
// dossier last became idle (nothing left to deliver).
//
// Each dossier is a queue, and only its head is ever delivered. Claim leases
// the heads of due dossiers to a worker, at most one lease per dossier, so
// several workers and several adapter instances share the work while the
// portal sees each dossier's events in order. A lease ends with Ack (the
// portal has it: the next event becomes due), Retry (keep it, try again at
// a given time) or DeadLetter. A lease that ends with none of these (the
// worker crashed) expires, and the next Claim hands the event out again with
// Redelivered set, so the worker asks the portal what it already has before
// sending. A worker that lost its lease gets ErrLeaseLost from Ack, Retry
// and DeadLetter, and its outcome is ignored.
//
// A dossier waiting for its retry time delays only itself: other dossiers
// are claimed meanwhile (no head-of-line blocking across dossiers).
//
// # Dead letters hold their dossier
//
// A dead-lettered event stays at the head of its dossier, and the dossier's
// later events wait behind it (DeadLetter.Held counts them). Letting them
// pass would let the portal show, say, "paid" and then, after a replay,
// "processing": a status moving backwards, which the contract forbids, and a
// history out of order. Holding is also what an operator expects of a
// queue: Replay puts the event back at its own position, due now, and the
// held events follow it in order; Discard drops it (never delivered) and
// lets the held events proceed. Either way the decision is the operator's.
//
// # Delivery
//
// Worker runs goroutines that Claim, call the caller's Deliver, and settle
// the outcome: Ack on success; DeadLetter at once for errors marked
// Permanent; otherwise Retry after the schedule's next delay (by default
// the Standard Webhooks one: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h,
// 20 h, 24 h, each ±20% jitter), or after a longer RetryAfter hint from
// the portal, and DeadLetter once the schedule is spent, but never before
// MinSpan (72 h) since the first attempt. Stop stops
// claiming and waits for the deliveries in flight (and the rest of a claimed
// batch) to be settled.
//
// # Metrics
//
// DepthCollector exports the queue depths (Store.Stats, read once per
// scrape) and AttemptCounter the attempts by Result (fed from OnAttempt).
//
// # Implementations
//
// Memory (here) is the embedded default: one process, nothing survives a
// restart. adapter/redisoutbox keeps the same model in Redis for
// production. Both pass the conformance suite in adapter/testkit/outboxtest.
package outbox

import (
	"context"
	"errors"
	"time"
)

// DefaultRetention is how long a dossier's event ids are remembered for
// deduplication after the dossier last became idle. It is far beyond the
// Standard Webhooks sender's retry span (about 75 hours).
const DefaultRetention = 30 * 24 * time.Hour

// MaxHistory is how many of an event's most recent attempts are kept.
const MaxHistory = 50

// Event is one status event of a dossier.
type Event struct {
	ID         string // the sender's event id, unique within the dossier
	Dossier    string // "procedure|maHoSo"
	Seq        int64  // position in the dossier from 1, assigned by Append (from 1 again once an idle dossier is forgotten)
	Payload    []byte
	AppendedAt time.Time
}

// Delivery is an event leased to a worker.
type Delivery struct {
	Event
	// Attempt is 1 for the first attempt, and counts from 1 again after a
	// Replay. Retries, dead letters and expired leases each end an attempt.
	Attempt int
	// FirstAttempt is when attempt 1 of this round was claimed.
	FirstAttempt time.Time
	// Redelivered: an earlier lease on this event ended with no outcome
	// (its worker crashed or stalled), so the portal may already have it.
	// Once set it stays set for the event (a later failed attempt does not
	// tell whether the portal got the earlier one).
	Redelivered bool
	// Expired counts the attempts of this round that ended with their
	// lease expiring, no outcome recorded (a worker that crashed or
	// stalled on the event): the worker dead-letters an event whose
	// attempts keep ending so (WorkerConfig.Schedule).
	Expired    int
	Worker     string
	Token      string // the lease: Ack, Retry and DeadLetter present it
	LeaseUntil time.Time
}

// Outcome is how an attempt ended, as recorded in the history.
type Outcome string

// The outcomes recorded in an event's history. A delivered event leaves
// the store, so "delivered" is never recorded.
const (
	OutcomeRetry        Outcome = "retry"
	OutcomeDeadLetter   Outcome = "dead-letter"
	OutcomeLeaseExpired Outcome = "lease-expired"
)

// Attempt is one failed attempt in an event's history.
type Attempt struct {
	At      time.Time
	Worker  string
	Outcome Outcome
	Reason  string
}

// DeadLetter is a dead-lettered event as an operator sees it.
type DeadLetter struct {
	Event
	Reason   string
	DeadAt   time.Time
	Attempts int       // attempts over all rounds
	History  []Attempt // the most recent MaxHistory attempts, oldest first
	Held     int       // later events of the dossier waiting behind it
	// Deferred are the ids of later events of the dossier that arrived
	// before their predecessor and wait outside the outbox, in the
	// dossier's status record (filled in by statusflow.DeadLetters).
	Deferred []string
}

// Stats is a snapshot of the store for metrics.
type Stats struct {
	Pending  int64 // undelivered events, dead letters and held events included
	InFlight int64 // leased dossiers (expired leases not yet reclaimed included)
	Waiting  int64 // dossiers waiting for their retry time
	Dead     int64 // dead letters
}

// Errors of the stores.
var (
	// ErrLeaseLost: the delivery's lease was taken over (or its event is
	// gone); the caller's outcome was not recorded.
	ErrLeaseLost = errors.New("outbox: lease lost")
	// ErrNotFound: no such dead letter.
	ErrNotFound = errors.New("outbox: dead letter not found")
	// ErrInvalid: an empty dossier or event id, or a malformed cursor.
	ErrInvalid = errors.New("outbox: invalid argument")
)

// DeadLetterAdmin is what operators may do with dead letters (a part of
// Store).
type DeadLetterAdmin interface {
	// DeadLetters lists dead letters oldest first, n from after cursor
	// ("" for the start); next is "" after the last page.
	DeadLetters(ctx context.Context, cursor string, n int) (letters []DeadLetter, next string, err error)
	// Inspect returns one dead letter with its attempt history.
	Inspect(ctx context.Context, dossier, eventID string) (DeadLetter, error)
	// Replay makes a dead letter due now at its own position, attempts
	// counted from 1 again (the history is kept).
	Replay(ctx context.Context, dossier, eventID string) error
	// ReplayAll replays every dead letter and returns how many.
	ReplayAll(ctx context.Context) (int, error)
	// Discard drops a dead letter undelivered; the events it held proceed.
	Discard(ctx context.Context, dossier, eventID string) error
}

// Store keeps the events. Implementations are safe for concurrent use by
// several goroutines (Memory) or processes (Redis). Times come from the
// store's injected clock.
type Store interface {
	// Append stores an event at the end of its dossier's queue. It returns
	// false, and stores nothing, when eventID is already known for the
	// dossier.
	Append(ctx context.Context, dossier, eventID string, payload []byte) (appended bool, err error)
	// Claim leases to worker, for lease, the head events of at most max due
	// dossiers that nobody else holds: dossiers whose lease expired first,
	// then those whose retry time has come, then new work in the order it
	// became due. With an error it also returns what it leased before the
	// error, which the caller delivers like any other.
	Claim(ctx context.Context, worker string, lease time.Duration, max int) ([]Delivery, error)
	// Ack records that the portal has the event; the dossier's next event
	// becomes due.
	//
	// Ack, Retry and DeadLetter settle d's lease: ErrLeaseLost when the
	// lease is not held, except that settling it again the same way (a
	// caller's retry of a call whose answer it lost: go-redis re-sends a
	// script after a read timeout) is answered as the first time, nil.
	Ack(ctx context.Context, d Delivery) error
	// Retry keeps the event at the head and makes the dossier due again at
	// at, recording the attempt and reason.
	Retry(ctx context.Context, d Delivery, at time.Time, reason string) error
	// DeadLetter parks the event; its dossier is held until Replay or
	// Discard.
	DeadLetter(ctx context.Context, d Delivery, reason string) error

	DeadLetterAdmin

	// Stats reports queue depths.
	Stats(ctx context.Context) (Stats, error)
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}

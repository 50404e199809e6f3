// Package idempotency owns the records that make a dossier reach the
// treasury exactly once: idempotency keys (IETF
// draft-ietf-httpapi-idempotency-key-header semantics: reserve, complete with
// the final response, replay it) and dossier claims (one dossier, one
// treasury document, whatever key it came under) and short dossier-wide
// locks (one treasury call at a time per dossier, a withdrawal or a
// submission of any supplement). The Store interface has an
// in-memory implementation here and a Redis one in adapter/redisstore; both
// pass the same conformance suite (adapter/testkit/storetest).
//
// Leases make crashes safe: a reservation or claim whose holder died expires
// and the next attempt takes it over, with Recovered set so that it first
// asks the treasury what the dead holder achieved. Every mutation after a
// reservation carries the holder's token, so a holder that lost its lease
// cannot overwrite its successor's result.
//
// A claim also names its sender: the owner whose content the treasury may
// hold under the dossier's key. It is the claim's first owner, and it
// changes only when an owner that took the claim over from another records
// (MarkSender) that it sends its own content, because the treasury held
// nothing. So a document found at the treasury is known to be the sender's:
// settled as sent, the claim is the sender's, and another key or content
// that took it over is told the dossier was sent, not given the sender's
// receipt. A claim left unsettled by an earlier release, which kept no
// sender, has none known: a document found for it is nobody's for sure.
package idempotency

import (
	"context"
	"errors"
	"time"
)

// Stored is a final response kept for replays, byte for byte.
type Stored struct {
	Status int               `json:"status"`
	Header map[string]string `json:"header,omitempty"`
	Body   []byte            `json:"body"`
	// Replaceable marks a final refusal stored under a derived key: a
	// corrected dossier (another fingerprint) may take the key over.
	Replaceable bool `json:"replaceable,omitempty"`
}

// State is the outcome of Begin.
type State int

// The states Begin returns.
const (
	// Reserved: the caller holds the key until Complete or Release, or
	// until its lease ends.
	Reserved State = iota + 1
	// InProgress: another holder's lease is live; retry after RetryAfter.
	InProgress
	// Completed: the stored response of the same request.
	Completed
	// Mismatch: the key was used for another payload.
	Mismatch
)

func (s State) String() string {
	switch s {
	case Reserved:
		return "reserved"
	case InProgress:
		return "in-progress"
	case Completed:
		return "completed"
	case Mismatch:
		return "mismatch"
	}
	return "unknown"
}

// Begun is what Begin found.
type Begun struct {
	State      State
	Token      string        // Reserved: the lease token
	Recovered  bool          // Reserved by taking over an expired lease
	Response   *Stored       // Completed: the stored response
	RetryAfter time.Duration // InProgress: time left on the holder's lease
}

// Claim is the outcome of ClaimDossier.
type Claim struct {
	Owned      bool          // the caller's key owns the dossier now
	Recovered  bool          // taken over from an earlier attempt (it may have sent the document)
	TakenOver  bool          // recovered, and the claim's sender is another owner or not known: what the treasury holds under the dossier's key may not be the caller's content
	Sender     string        // recovered: the owner whose content the treasury may hold, the caller or another; empty when not known (a claim an earlier release left unsettled)
	Owner      string        // not owned: the key that owns it
	Sent       bool          // the owner's document reached the treasury (owned: the caller's own earlier attempt)
	Reference  string        // sent: the treasury reference
	RetryAfter time.Duration // not owned and not sent: time left on the owner's lease
	Lease      string        // owned and not sent: this claim's lease, which ReleaseDossier takes
}

// Lock is the outcome of LockDossier.
type Lock struct {
	Held       bool          // the caller holds the lock now, until Unlock or its lease ends
	Token      string        // held: the lease token Unlock takes
	RetryAfter time.Duration // not held: time left on the holder's lease
}

// Started is the outcome of Start: Begin's and, with the key reserved,
// ClaimAndLock's.
type Started struct {
	Begun Begun
	// Claim and Lock are ClaimAndLock's, only when Begun.State is
	// Reserved; ClaimErr is its error (the key stays reserved, and
	// Claim.Owned reports a claim taken all the same).
	Claim    Claim
	Lock     Lock
	ClaimErr error
}

// StartInSteps is Start one step after the other, for a store that takes
// them so.
func StartInSteps(ctx context.Context, s Store, key, fingerprint string, lease time.Duration, dossier, owner, lockID string) (Started, error) {
	b, err := s.Begin(ctx, key, fingerprint, lease)
	if err != nil || b.State != Reserved {
		return Started{Begun: b}, err
	}
	c, l, err := s.ClaimAndLock(ctx, dossier, owner, lockID, lease)
	return Started{Begun: b, Claim: c, Lock: l, ClaimErr: err}, nil
}

// ClaimThenLock is ClaimAndLock in two steps, for a store that takes them
// one after the other: the lock is asked for only with an owned claim.
func ClaimThenLock(ctx context.Context, s Store, dossier, owner, lockID string, lease time.Duration) (Claim, Lock, error) {
	c, err := s.ClaimDossier(ctx, dossier, owner, lease)
	if err != nil || !c.Owned {
		return c, Lock{}, err
	}
	l, err := s.LockDossier(ctx, lockID, lease)
	return c, l, err
}

// Final is the last step of a submission whose answer is final: the
// answer stored under Key for replays, the dossier's lock given back when
// LockToken holds it, and the dossier's claim settled as sent when Sent
// says so.
type Final struct {
	Key, Token string
	Response   Stored
	Retention  time.Duration
	// LockID is the dossier's lock and LockToken its holder's token
	// (empty: no lock is held).
	LockID, LockToken string
	// Sent is the claim to settle as sent (nil: none).
	Sent *Settlement
}

// Settlement is a dossier's claim settled as sent: Owner's claim of
// Dossier, with the treasury's Reference, kept for Retention.
type Settlement struct {
	Dossier, Owner, Reference string
	Retention                 time.Duration
}

// Settle is SettleDossier of st: the claim settled as sent.
func Settle(ctx context.Context, s Store, st Settlement) error {
	return s.SettleDossier(ctx, st.Dossier, st.Owner, true, st.Reference, st.Retention)
}

// Finished is the outcome of Finish, each write's error apart: Err is the
// answer's (Complete's), SettleErr the settlement's, UnlockErr the lock's.
type Finished struct {
	Err, SettleErr, UnlockErr error
}

// FinishInSteps is Finish one write after the other, for a store that
// takes them so: the settlement, the answer, the unlock.
func FinishInSteps(ctx context.Context, s Store, f Final) Finished {
	var r Finished
	if f.Sent != nil {
		r.SettleErr = Settle(ctx, s, *f.Sent)
	}
	r.Err = s.Complete(ctx, f.Key, f.Token, f.Response, f.Retention)
	if f.LockToken != "" {
		r.UnlockErr = s.UnlockDossier(ctx, f.LockID, f.LockToken)
	}
	return r
}

// UnsettledClaimRetention is how long a claim whose attempt ended without
// settling it is kept: as long as a sent claim by default (30 days), for
// its document may be at the treasury, and every later attempt of the
// dossier, whatever its key, must ask there first and learn whose it is.
// Past it, a dossier sent again under another key is sent as new: the
// treasury's key check answers it with the first document.
const UnsettledClaimRetention = 30 * 24 * time.Hour

// ErrLeaseLost is returned by Complete, Release, SettleDossier and
// UnlockDossier when the caller no longer holds the record (its lease ended
// and another took it).
var ErrLeaseLost = errors.New("idempotency: lease lost")

// ErrNotReplicated is wrapped by the error of a write that the store made
// but that too few replicas acknowledged in time (store.redis.minReplicas):
// the record is on the primary, not known to survive its loss, so the
// answer it stands for must not be given yet. The caller's retry finds the
// record and waits again.
var ErrNotReplicated = errors.New("idempotency: write not acknowledged by enough replicas")

// Store keeps keys and dossier claims. Implementations are safe for
// concurrent use by several processes (Redis) or goroutines (memory).
type Store interface {
	// Begin reserves key for a request with this fingerprint, or reports
	// why it cannot.
	Begin(ctx context.Context, key, fingerprint string, lease time.Duration) (Begun, error)
	// Complete stores the final response and keeps it for retention.
	Complete(ctx context.Context, key, token string, resp Stored, retention time.Duration) error
	// Release drops a reservation whose outcome is not final (nothing stored).
	Release(ctx context.Context, key, token string) error

	// ClaimDossier makes owner (a scoped idempotency key) the dossier's
	// only sender, unless another key owns it. A claim owner already holds
	// comes back Recovered (an earlier attempt of the same key ended without
	// settling it), and Sent with its Reference when that attempt's document
	// reached the treasury.
	ClaimDossier(ctx context.Context, dossier, owner string, lease time.Duration) (Claim, error)
	// SettleDossier ends owner's claim: sent keeps it (with the treasury
	// reference) for retention so no other key can send the dossier again,
	// in the name of the claim's sender, whose content the treasury holds
	// (owner itself unless owner took the claim over and found the
	// sender's document; no owner at all when the sender is not known, so
	// that every key is told it was sent); not sent releases it (a refused
	// dossier may be corrected and resent), except a claim already settled
	// as sent, which is never released.
	SettleDossier(ctx context.Context, dossier, owner string, sent bool, reference string, retention time.Duration) error
	// ReleaseDossier releases owner's claim not settled as sent, only
	// while it is the claim of lease (Claim.Lease): an attempt that
	// outlived its lease, whose claim a later attempt of the same owner
	// took over (and may have sent under), releases nothing.
	// ErrLeaseLost otherwise.
	ReleaseDossier(ctx context.Context, dossier, owner, lease string) error
	// MarkSender makes owner the claim's sender: owner took the claim over
	// (Claim.TakenOver), the treasury holds nothing under the dossier's
	// key, and owner is about to send its own content. It must be written
	// before that send, and waits for replicas as a claim does.
	// ErrLeaseLost when owner no longer holds the claim, or its lease has
	// ended (another attempt may take it over and send).
	MarkSender(ctx context.Context, dossier, owner string) error

	// LockDossier takes the short, dossier-wide lock id (whatever the
	// supplement: "dossier|<procedure>|<maHoSo>") for lease, unless another
	// holder's lease is live. A submission and a withdrawal of one dossier
	// hold it while they call the treasury, so they never run together. It
	// is independent of the dossier claims, which are per supplement.
	LockDossier(ctx context.Context, id string, lease time.Duration) (Lock, error)
	// UnlockDossier gives the lock back; ErrLeaseLost when token no longer
	// holds it.
	UnlockDossier(ctx context.Context, id, token string) error
	// Finish is the last step of a submission with a final answer:
	// SettleDossier of f.Sent as sent, Complete and UnlockDossier, which a
	// store may take in one round trip, in any order (safety does not
	// depend on it: an unsettled claim is one whose holder may have sent).
	// It returns each write's error apart.
	Finish(ctx context.Context, f Final) Finished
	// ClaimAndLock is ClaimDossier and LockDossier of lockID: the step a
	// submission takes, once its key is reserved, before it calls the
	// treasury (Start's second step where Start takes steps), which a store
	// may take in one round trip. The lock is held on return only with an owned
	// claim: a store that takes both side by side gives back a lock taken
	// beside a claim that was not owned (a withdrawal may find it busy for
	// that moment), or leaves it to its lease when that fails. On an error
	// no lock is held, or one is left to its lease, and Claim.Owned reports
	// a claim taken all the same, which the caller settles.
	ClaimAndLock(ctx context.Context, dossier, owner, lockID string, lease time.Duration) (Claim, Lock, error)

	// Start is Begin of key and, only when that reserves it, ClaimAndLock
	// of dossier by owner with lockID, for the same lease: the first step
	// of a submission, which a store may take in one round trip. Its error
	// is Begin's (or one whose outcome is unknown, as a Begin's would be);
	// the claim's is Started.ClaimErr.
	Start(ctx context.Context, key, fingerprint string, lease time.Duration, dossier, owner, lockID string) (Started, error)

	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}

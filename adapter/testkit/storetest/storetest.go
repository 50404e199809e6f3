// Package storetest is the conformance suite every idempotency.Store must
// pass (Run) and the listing suite every dossier.Store must pass
// (RunDossiers): the in-memory stores and the Redis stores run the same
// tables.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/testkit/clock"
)

// NewClock starts at a fixed instant.
func NewClock() *clock.Clock { return clock.New(time.Date(2026, 6, 9, 2, 0, 0, 0, time.UTC)) }

// Factory returns a fresh, empty store on clock now. Each call must be
// isolated from the others (for Redis: its own key prefix).
type Factory func(t *testing.T, now func() time.Time) idempotency.Store

const (
	lease     = 30 * time.Second
	retention = 72 * time.Hour
)

var ctx = context.Background()

func resp(body string) idempotency.Stored {
	return idempotency.Stored{Status: 202, Header: map[string]string{"Content-Type": "application/json"}, Body: []byte(body)}
}

// Run runs the whole suite.
func Run(t *testing.T, newStore Factory) {
	t.Run("reserve, complete, replay byte-identical", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		b := begin(t, s, "k", "fp1", idempotency.Reserved)
		if b.Token == "" || b.Recovered {
			t.Fatalf("begun %+v", b)
		}
		body := "{\"maHoSo\":\"A\",\"x\":\"\u00e1\"}\n"
		if err := s.Complete(ctx, "k", b.Token, resp(body), retention); err != nil {
			t.Fatal(err)
		}
		again := begin(t, s, "k", "fp1", idempotency.Completed)
		if again.Response == nil || !bytes.Equal(again.Response.Body, []byte(body)) || again.Response.Status != 202 ||
			again.Response.Header["Content-Type"] != "application/json" {
			t.Fatalf("replay %+v", again.Response)
		}
		begin(t, s, "k", "fp2", idempotency.Mismatch)
		begin(t, s, "other", "fp1", idempotency.Reserved)
	})
	t.Run("in progress, then mismatch while in progress", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		begin(t, s, "k", "fp1", idempotency.Reserved)
		c.Advance(10 * time.Second)
		b := begin(t, s, "k", "fp1", idempotency.InProgress)
		if b.RetryAfter <= 0 || b.RetryAfter > lease {
			t.Fatalf("retry after %v", b.RetryAfter)
		}
		begin(t, s, "k", "fp2", idempotency.Mismatch)
	})
	t.Run("release lets the next attempt reserve", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		b := begin(t, s, "k", "fp1", idempotency.Reserved)
		if err := s.Release(ctx, "k", b.Token); err != nil {
			t.Fatal(err)
		}
		b2 := begin(t, s, "k", "fp1", idempotency.Reserved)
		if b2.Recovered || b2.Token == b.Token {
			t.Fatalf("after release %+v", b2)
		}
		if err := s.Release(ctx, "k", b.Token); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("stale release: %v", err)
		}
	})
	t.Run("expired lease is taken over and the old holder is fenced", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		old := begin(t, s, "k", "fp1", idempotency.Reserved)
		c.Advance(lease + time.Second)
		nw := begin(t, s, "k", "fp1", idempotency.Reserved)
		if !nw.Recovered {
			t.Fatal("takeover not reported as recovered")
		}
		if err := s.Complete(ctx, "k", old.Token, resp("old"), retention); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("old holder completed: %v", err)
		}
		if err := s.Complete(ctx, "k", nw.Token, resp("new"), retention); err != nil {
			t.Fatal(err)
		}
		if got := begin(t, s, "k", "fp1", idempotency.Completed); string(got.Response.Body) != "new" {
			t.Fatalf("stored %q", got.Response.Body)
		}
	})
	t.Run("retention ends a completed record", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		b := begin(t, s, "k", "fp1", idempotency.Reserved)
		_ = s.Complete(ctx, "k", b.Token, resp("x"), time.Hour)
		c.Advance(time.Hour + time.Second)
		if got := begin(t, s, "k", "fp2", idempotency.Reserved); got.Recovered {
			t.Fatal("an expired record is not a takeover")
		}
	})
	t.Run("replaceable refusal gives way to a corrected payload", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		b := begin(t, s, "k", "fp1", idempotency.Reserved)
		r := resp("refused")
		r.Status, r.Replaceable = 422, true
		_ = s.Complete(ctx, "k", b.Token, r, retention)
		if got := begin(t, s, "k", "fp1", idempotency.Completed); got.Response.Status != 422 || !got.Response.Replaceable {
			t.Fatalf("replay %+v", got.Response)
		}
		begin(t, s, "k", "fp2", idempotency.Reserved)
	})
	t.Run("one reservation among concurrent requests", func(t *testing.T) {
		s := newStore(t, NewClock().Now)
		var reserved, inProgress atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := s.Begin(ctx, "k", "fp1", lease)
				if err != nil {
					t.Error(err)
					return
				}
				switch b.State {
				case idempotency.Reserved:
					reserved.Add(1)
				case idempotency.InProgress:
					inProgress.Add(1)
				}
			}()
		}
		wg.Wait()
		if reserved.Load() != 1 || inProgress.Load() != 49 {
			t.Fatalf("%d reserved, %d in progress", reserved.Load(), inProgress.Load())
		}
	})
	t.Run("dossier claims", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		if cl := claim(t, s, "d1", "key-a", true); cl.Recovered || cl.TakenOver || cl.Sent || cl.Sender != "" {
			t.Fatalf("first claim %+v", cl)
		}
		// the owner again (a retry under its key): its earlier attempt may have sent
		if cl := claim(t, s, "d1", "key-a", true); !cl.Recovered || cl.TakenOver || cl.Sent {
			t.Fatalf("owner's second claim %+v, want recovered (its own) and not sent", cl)
		}
		cl := claim(t, s, "d1", "key-b", false)
		if cl.Owner != "key-a" || cl.Sent || cl.RetryAfter <= 0 {
			t.Fatalf("in-progress conflict %+v", cl)
		}
		if err := s.SettleDossier(ctx, "d1", "key-a", true, "KBNN-1", retention); err != nil {
			t.Fatal(err)
		}
		cl = claim(t, s, "d1", "key-b", false)
		if !cl.Sent || cl.Reference != "KBNN-1" || cl.Owner != "key-a" {
			t.Fatalf("sent conflict %+v", cl)
		}
		if err := s.SettleDossier(ctx, "d1", "key-b", false, "", 0); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("a non-owner settled: %v", err)
		}
		// the owner's retry of a sent dossier learns it was sent, and a
		// release never reopens it
		if cl := claim(t, s, "d1", "key-a", true); !cl.Sent || !cl.Recovered || cl.Reference != "KBNN-1" {
			t.Fatalf("owner's claim of its sent dossier %+v", cl)
		}
		if err := s.SettleDossier(ctx, "d1", "key-a", false, "", 0); err != nil {
			t.Fatal(err)
		}
		if cl := claim(t, s, "d1", "key-b", false); !cl.Sent || cl.Reference != "KBNN-1" {
			t.Fatalf("a release reopened a sent dossier: %+v", cl)
		}
		// a refused dossier is released and may be sent again under another key
		claim(t, s, "d2", "key-a", true)
		_ = s.SettleDossier(ctx, "d2", "key-a", false, "", 0)
		claim(t, s, "d2", "key-b", true)
		// a crashed owner's claim is taken over after its lease
		claim(t, s, "d3", "key-a", true)
		c.Advance(lease + time.Second)
		if cl := claim(t, s, "d3", "key-b", true); !cl.Recovered || !cl.TakenOver {
			t.Fatalf("takeover of an expired claim %+v, want recovered and taken over", cl)
		}
		if err := s.SettleDossier(ctx, "d3", "key-a", true, "KBNN-2", retention); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("fenced owner settled: %v", err)
		}
		// an abandoned claim is remembered for weeks: its document may be
		// at the treasury
		claim(t, s, "d4", "key-a", true)
		c.Advance(idempotency.UnsettledClaimRetention - time.Hour)
		if cl := claim(t, s, "d4", "key-b", true); !cl.Recovered || !cl.TakenOver {
			t.Fatalf("take-over of a claim abandoned for weeks %+v, want recovered and taken over", cl)
		}
	})
	t.Run("dossier claim released by its own taking only", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		first := claim(t, s, "d1", "key-a", true)
		if first.Lease == "" {
			t.Fatal("an owned claim without its lease")
		}
		// The attempt stalls past its lease; the same key's retry takes
		// the claim over (and may send under it).
		c.Advance(lease + time.Second)
		second := claim(t, s, "d1", "key-a", true)
		if !second.Recovered || second.Lease == "" || second.Lease == first.Lease {
			t.Fatalf("the retry's claim %+v, want recovered under a lease of its own (first %q)", second, first.Lease)
		}
		// The stalled attempt wakes and gives up: it releases nothing.
		if err := s.ReleaseDossier(ctx, "d1", "key-a", first.Lease); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("the stale attempt's release: %v, want ErrLeaseLost", err)
		}
		if cl := claim(t, s, "d1", "key-b", false); cl.Owner != "key-a" || cl.RetryAfter <= 0 {
			t.Fatalf("another key after the stale release %+v, want the retry's claim held", cl)
		}
		// Another owner's release, and a release of a sent claim, fail too.
		if err := s.ReleaseDossier(ctx, "d1", "key-b", second.Lease); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("a non-owner's release: %v", err)
		}
		if err := s.ReleaseDossier(ctx, "d1", "key-a", second.Lease); err != nil {
			t.Fatalf("the retry's own release: %v", err)
		}
		if cl := claim(t, s, "d1", "key-b", true); cl.Recovered {
			t.Fatalf("after the release %+v, want a new claim", cl)
		}
		if err := s.SettleDossier(ctx, "d1", "key-b", true, "KBNN-1", retention); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseDossier(ctx, "d1", "key-b", ""); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("a sent claim released: %v", err)
		}
	})
	t.Run("dossier claim's sender", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		// key-b takes over key-a's unsettled claim: what the treasury may
		// hold is key-a's, also on key-b's own retry
		claim(t, s, "d1", "key-a", true)
		c.Advance(lease + time.Second)
		claim(t, s, "d1", "key-b", true)
		c.Advance(lease + time.Second)
		if cl := claim(t, s, "d1", "key-b", true); !cl.Recovered || !cl.TakenOver || cl.Sender != "key-a" {
			t.Fatalf("the taker-over's retry %+v, want recovered and taken over (the sender is key-a)", cl)
		}
		// settled as sent (key-b found key-a's document), it is key-a's
		if err := s.SettleDossier(ctx, "d1", "key-b", true, "KBNN-1", retention); err != nil {
			t.Fatal(err)
		}
		if cl := claim(t, s, "d1", "key-a", true); !cl.Sent || cl.Reference != "KBNN-1" {
			t.Fatalf("the sender's retry %+v, want its own claim, sent", cl)
		}
		if cl := claim(t, s, "d1", "key-b", false); !cl.Sent || cl.Owner != "key-a" {
			t.Fatalf("the taker-over's retry %+v, want key-a's sent claim", cl)
		}

		// key-b takes over and sends its own content: it is the sender, and
		// key-a taking the claim back is the one taking over
		claim(t, s, "d2", "key-a", true)
		c.Advance(lease + time.Second)
		claim(t, s, "d2", "key-b", true)
		if err := s.MarkSender(ctx, "d2", "key-a"); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("a former owner marked itself the sender: %v", err)
		}
		if err := s.MarkSender(ctx, "d2", "key-b"); err != nil {
			t.Fatal(err)
		}
		c.Advance(lease + time.Second)
		if cl := claim(t, s, "d2", "key-b", true); !cl.Recovered || cl.TakenOver || cl.Sender != "key-b" {
			t.Fatalf("the new sender's retry %+v, want recovered, its own", cl)
		}
		c.Advance(lease + time.Second)
		if cl := claim(t, s, "d2", "key-a", true); !cl.Recovered || !cl.TakenOver || cl.Sender != "key-b" {
			t.Fatalf("the first owner's retry %+v, want taken over (the sender is key-b)", cl)
		}
		if err := s.SettleDossier(ctx, "d2", "key-a", true, "KBNN-2", retention); err != nil {
			t.Fatal(err)
		}
		if cl := claim(t, s, "d2", "key-b", true); !cl.Sent || cl.Reference != "KBNN-2" {
			t.Fatalf("the sender's retry %+v, want its own claim, sent", cl)
		}
		if err := s.MarkSender(ctx, "d2", "key-b"); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("marked the sender of a sent claim: %v", err)
		}

		// a take-over that did not send hands the claim back unchanged
		claim(t, s, "d3", "key-a", true)
		c.Advance(lease + time.Second)
		claim(t, s, "d3", "key-b", true)
		c.Advance(lease + time.Second)
		if cl := claim(t, s, "d3", "key-a", true); !cl.Recovered || cl.TakenOver || cl.Sender != "key-a" {
			t.Fatalf("the sender taking its claim back %+v, want recovered, its own", cl)
		}
		// an owner whose lease has ended may be taken over at any moment:
		// it cannot become the sender any more
		c.Advance(lease + time.Second)
		if err := s.MarkSender(ctx, "d3", "key-a"); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("an owner past its lease marked itself the sender: %v", err)
		}
		if cl := claim(t, s, "d3", "key-b", true); !cl.TakenOver || cl.Sender != "key-a" {
			t.Fatalf("take-over after a refused mark %+v, want the sender still key-a", cl)
		}
		if err := s.MarkSender(ctx, "d4", "key-a"); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("marked the sender of no claim: %v", err)
		}
	})
	t.Run("one dossier owner among concurrent keys", func(t *testing.T) {
		s := newStore(t, NewClock().Now)
		var owned atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl, err := s.ClaimDossier(ctx, "d", fmt.Sprintf("key-%d", i), lease)
				if err != nil {
					t.Error(err)
					return
				}
				if cl.Owned {
					owned.Add(1)
				}
			}()
		}
		wg.Wait()
		if owned.Load() != 1 {
			t.Fatalf("%d owners", owned.Load())
		}
	})
	t.Run("dossier lock", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		const id = "dossier|tai-khoan|G09.20-20260609-0000101"
		l := lock(t, s, id, true)
		if l.Token == "" {
			t.Fatalf("held without a token: %+v", l)
		}
		c.Advance(10 * time.Second)
		busy := lock(t, s, id, false)
		if busy.RetryAfter <= 0 || busy.RetryAfter > lease-10*time.Second || busy.Token != "" {
			t.Fatalf("busy lock %+v", busy)
		}
		// independent of the claims and of other dossiers
		claim(t, s, id, "key-a", true)
		lock(t, s, "dossier|tai-khoan|G09.20-20260609-0000102", true)
		if err := s.UnlockDossier(ctx, id, "not-the-token"); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("unlock with another token: %v", err)
		}
		if err := s.UnlockDossier(ctx, id, l.Token); err != nil {
			t.Fatal(err)
		}
		if err := s.UnlockDossier(ctx, id, l.Token); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("second unlock: %v", err)
		}
		again := lock(t, s, id, true)
		if again.Token == l.Token {
			t.Fatal("a new holder got the old token")
		}
		// a dead holder's lock is taken over after its lease, and it is fenced
		c.Advance(lease + time.Second)
		next := lock(t, s, id, true)
		if err := s.UnlockDossier(ctx, id, again.Token); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("fenced holder unlocked: %v", err)
		}
		lock(t, s, id, false)
		if err := s.UnlockDossier(ctx, id, next.Token); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("one lock holder among concurrent requests", func(t *testing.T) {
		s := newStore(t, NewClock().Now)
		var held atomic.Int32
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := s.LockDossier(ctx, "dossier|p|X", lease)
				if err != nil {
					t.Error(err)
					return
				}
				if l.Held {
					held.Add(1)
				}
			}()
		}
		wg.Wait()
		if held.Load() != 1 {
			t.Fatalf("%d holders", held.Load())
		}
	})
	t.Run("claim and lock", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		const id = "dossier|p|X"
		// owned: the claim and the lock, which the next request finds held
		cl, l, err := s.ClaimAndLock(ctx, "p|X|0", "k1", id, lease)
		if err != nil || !cl.Owned || cl.Recovered || !l.Held || l.Token == "" {
			t.Fatalf("first: claim %+v, lock %+v, err %v", cl, l, err)
		}
		lock(t, s, id, false)
		// another key: not owned, and no lock taken for it
		other, ol, err := s.ClaimAndLock(ctx, "p|X|0", "k2", id, lease)
		if err != nil || other.Owned || other.Owner != "k1" || ol.Held {
			t.Fatalf("other key: claim %+v, lock %+v, err %v", other, ol, err)
		}
		if err := s.UnlockDossier(ctx, id, l.Token); err != nil {
			t.Fatalf("the owner's lock was taken from it: %v", err)
		}
		if _, ol, _ := s.ClaimAndLock(ctx, "p|X|0", "k2", id, lease); ol.Held {
			t.Fatal("a lock held beside a claim another key owns")
		}
		lock(t, s, id, true) // the refused claim gave back what it took
		// the lock busy (a withdrawal at the treasury): the claim is owned,
		// the lock not held, with the holder's lease to wait
		c.Advance(time.Second)
		cl, l, err = s.ClaimAndLock(ctx, "p|Y|0", "k3", id, lease)
		if err != nil || !cl.Owned || l.Held || l.RetryAfter <= 0 || l.RetryAfter > lease {
			t.Fatalf("lock busy: claim %+v, lock %+v, err %v", cl, l, err)
		}
		// the same key again after an unsettled attempt: recovered
		c.Advance(lease + time.Second)
		cl, l, err = s.ClaimAndLock(ctx, "p|Y|0", "k3", id, lease)
		if err != nil || !cl.Owned || !cl.Recovered || !l.Held {
			t.Fatalf("retry: claim %+v, lock %+v, err %v", cl, l, err)
		}
		// a claim settled as sent is the owner's, with its reference
		if err := s.SettleDossier(ctx, "p|Y|0", "k3", true, "KBNN-1", retention); err != nil {
			t.Fatal(err)
		}
		if err := s.UnlockDossier(ctx, id, l.Token); err != nil {
			t.Fatal(err)
		}
		cl, l, err = s.ClaimAndLock(ctx, "p|Y|0", "k3", id, lease)
		if err != nil || !cl.Owned || !cl.Sent || cl.Reference != "KBNN-1" || !l.Held {
			t.Fatalf("sent: claim %+v, lock %+v, err %v", cl, l, err)
		}
	})
	t.Run("claim and lock: one owner among concurrent keys, who gets the lock", func(t *testing.T) {
		s := newStore(t, NewClock().Now)
		oneOwnerHoldsTheLock(t, func(key string) (idempotency.Claim, idempotency.Lock, error) {
			return s.ClaimAndLock(ctx, "p|Z|0", key, "dossier|p|Z", lease)
		})
	})
	t.Run("start: one owner among concurrent keys, who gets the lock", func(t *testing.T) {
		s := newStore(t, NewClock().Now)
		oneOwnerHoldsTheLock(t, func(key string) (idempotency.Claim, idempotency.Lock, error) {
			st, err := s.Start(ctx, key, "fp", lease, "p|W|0", key+"#fp", "dossier|p|W")
			if err == nil && st.Begun.State != idempotency.Reserved {
				err = fmt.Errorf("%v, want reserved", st.Begun.State)
			}
			if err == nil {
				err = st.ClaimErr
			}
			return st.Claim, st.Lock, err
		})
	})
	t.Run("finish", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		const id = "dossier|p|X"
		b := begin(t, s, "k", "fp", idempotency.Reserved)
		claim(t, s, "p|X|0", "k#fp", true)
		l := lock(t, s, id, true)
		sent := &idempotency.Settlement{Dossier: "p|X|0", Owner: "k#fp", Reference: "KBNN-1", Retention: retention}
		if r := s.Finish(ctx, idempotency.Final{Key: "k", Token: b.Token, Response: resp("done"), Retention: retention,
			LockID: id, LockToken: l.Token, Sent: sent}); r != (idempotency.Finished{}) {
			t.Fatalf("finish: %+v", r)
		}
		if got := begin(t, s, "k", "fp", idempotency.Completed); string(got.Response.Body) != "done" {
			t.Fatalf("replay %q", got.Response.Body)
		}
		if cl := claim(t, s, "p|X|0", "other", false); !cl.Sent || cl.Reference != "KBNN-1" || cl.Owner != "k#fp" {
			t.Fatalf("the claim after finish: %+v, want settled as sent", cl)
		}
		// after its retention, like any settlement
		c.Advance(retention - time.Second)
		if cl := claim(t, s, "p|X|0", "other", false); !cl.Sent {
			t.Fatalf("the settlement ended before its retention: %+v", cl)
		}
		c.Advance(2 * time.Second)
		claim(t, s, "p|X|0", "other", true)

		stale := lock(t, s, id, true) // given back, and taken again
		// a refusal: no settlement, the claim untouched
		bn := begin(t, s, "kn", "fp", idempotency.Reserved)
		claim(t, s, "p|N|0", "kn#fp", true)
		if r := s.Finish(ctx, idempotency.Final{Key: "kn", Token: bn.Token, Response: resp("refused"), Retention: retention}); r != (idempotency.Finished{}) {
			t.Fatalf("finish without lock or settlement: %+v", r)
		}
		if cl := claim(t, s, "p|N|0", "other", false); cl.Sent || cl.Owner != "kn#fp" {
			t.Fatalf("a finish without settlement changed the claim: %+v", cl)
		}
		// a holder whose leases all ended: each error on its own, and the
		// successors keep what they took
		b2 := begin(t, s, "k2", "fp", idempotency.Reserved)
		claim(t, s, "p|Y|0", "k2#fp", true)
		c.Advance(lease + time.Second)
		nb := begin(t, s, "k2", "fp", idempotency.Reserved) // taken over
		claim(t, s, "p|Y|0", "k3#fp", true)                 // so is the claim, by another key
		next := lock(t, s, id, true)                        // the lock's lease ended too
		r := s.Finish(ctx, idempotency.Final{Key: "k2", Token: b2.Token, Response: resp("late"), Retention: retention,
			LockID: id, LockToken: stale.Token,
			Sent: &idempotency.Settlement{Dossier: "p|Y|0", Owner: "k2#fp", Reference: "KBNN-2", Retention: retention}})
		if !errors.Is(r.Err, idempotency.ErrLeaseLost) || !errors.Is(r.UnlockErr, idempotency.ErrLeaseLost) || !errors.Is(r.SettleErr, idempotency.ErrLeaseLost) {
			t.Fatalf("fenced holder: %+v", r)
		}
		lock(t, s, id, false) // the successor still holds it
		if cl := claim(t, s, "p|Y|0", "other", false); cl.Sent || cl.Owner != "k3#fp" {
			t.Fatalf("a fenced settlement changed the successor's claim: %+v", cl)
		}
		if r := s.Finish(ctx, idempotency.Final{Key: "k2", Token: nb.Token, Response: resp("new"), Retention: retention,
			LockID: id, LockToken: next.Token}); r != (idempotency.Finished{}) {
			t.Fatalf("successor: %+v", r)
		}
		if got := begin(t, s, "k2", "fp", idempotency.Completed); string(got.Response.Body) != "new" {
			t.Fatalf("replay %q, want the successor's answer", got.Response.Body)
		}
	})
	t.Run("start", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		const id = "dossier|p|S"
		start := func(key, fp, dossier, owner string) idempotency.Started {
			t.Helper()
			st, err := s.Start(ctx, key, fp, lease, dossier, owner, id)
			if err != nil || st.ClaimErr != nil {
				t.Fatalf("Start(%s, %s): %v %v", key, fp, err, st.ClaimErr)
			}
			return st
		}
		st := start("k", "fp", "p|S|0", "k#fp")
		if st.Begun.State != idempotency.Reserved || st.Begun.Recovered || st.Begun.Token == "" ||
			!st.Claim.Owned || st.Claim.Recovered || !st.Lock.Held || st.Lock.Token == "" {
			t.Fatalf("first start: %+v", st)
		}
		claim(t, s, "p|S|0", "other", false) // the claim is k's
		lock(t, s, id, false)                // and so is the lock
		// what holds the key held for another key: reserved, the claim not
		// owned, the lock not taken
		other := start("k2", "fp", "p|S|0", "k2#fp")
		if other.Begun.State != idempotency.Reserved || other.Claim.Owned || other.Claim.Owner != "k#fp" ||
			other.Claim.RetryAfter <= 0 || other.Lock != (idempotency.Lock{}) {
			t.Fatalf("start of a claimed dossier under another key: %+v", other)
		}
		// a key not reserved claims nothing: in progress, reused, replayed
		if got := start("k", "fp", "p|S|1", "k#fp"); got.Begun.State != idempotency.InProgress || got.Claim != (idempotency.Claim{}) {
			t.Fatalf("start of a key in progress: %+v", got)
		}
		if got := start("k", "fp2", "p|S|1", "k#fp2"); got.Begun.State != idempotency.Mismatch || got.Claim != (idempotency.Claim{}) {
			t.Fatalf("start of a key reused: %+v", got)
		}
		if r := s.Finish(ctx, idempotency.Final{Key: "k", Token: st.Begun.Token, Response: resp("done"), Retention: retention,
			LockID: id, LockToken: st.Lock.Token}); r != (idempotency.Finished{}) {
			t.Fatalf("finish: %+v", r)
		}
		if got := start("k", "fp", "p|S|1", "k#fp"); got.Begun.State != idempotency.Completed || string(got.Begun.Response.Body) != "done" ||
			got.Claim != (idempotency.Claim{}) {
			t.Fatalf("start of a completed key: %+v", got)
		}
		claim(t, s, "p|S|1", "other", true) // none of the three claimed it
		lock(t, s, id, true)                // nor took the lock
		// an owned claim beside a busy lock: the lock's holder keeps it
		busy := start("k3", "fp", "p|S|2", "k3#fp")
		if busy.Begun.State != idempotency.Reserved || !busy.Claim.Owned || busy.Lock.Held || busy.Lock.RetryAfter <= 0 {
			t.Fatalf("start beside a busy lock: %+v", busy)
		}
		// a crashed holder's key and claim are taken over, recovered
		c.Advance(lease + time.Second)
		again := start("k3", "fp", "p|S|2", "k3#fp")
		if again.Begun.State != idempotency.Reserved || !again.Begun.Recovered || !again.Claim.Owned || !again.Claim.Recovered || !again.Lock.Held {
			t.Fatalf("start after a crash: %+v", again)
		}
		// the key's own claim, settled as sent: recovered, sent, locked
		if err := s.SettleDossier(ctx, "p|S|2", "k3#fp", true, "KBNN-3", retention); err != nil {
			t.Fatal(err)
		}
		if err := s.Release(ctx, "k3", again.Begun.Token); err != nil {
			t.Fatal(err)
		}
		if err := s.UnlockDossier(ctx, id, again.Lock.Token); err != nil {
			t.Fatal(err)
		}
		sent := start("k3", "fp", "p|S|2", "k3#fp")
		if sent.Begun.State != idempotency.Reserved || !sent.Claim.Owned || !sent.Claim.Sent || sent.Claim.Reference != "KBNN-3" || !sent.Lock.Held {
			t.Fatalf("start of the key's sent dossier: %+v", sent)
		}
	})
	t.Run("ping", func(t *testing.T) {
		if err := newStore(t, NewClock().Now).Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// oneOwnerHoldsTheLock runs try for 16 keys of one dossier at once and
// requires one of them to own the claim and hold the lock, and no other to
// hold the lock.
func oneOwnerHoldsTheLock(t *testing.T, try func(key string) (idempotency.Claim, idempotency.Lock, error)) {
	t.Helper()
	type outcome struct {
		c   idempotency.Claim
		l   idempotency.Lock
		err error
	}
	out := make([]outcome, 16)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			c, l, err := try(fmt.Sprintf("k%d", i))
			out[i] = outcome{c, l, err}
		})
	}
	wg.Wait()
	owners := 0
	for i, o := range out {
		switch {
		case o.err != nil:
			t.Fatalf("key %d: %v", i, o.err)
		case o.c.Owned:
			owners++
			if !o.l.Held {
				t.Errorf("key %d owns the claim but not the lock: %+v (a crossing key kept it)", i, o.l)
			}
		case o.l.Held:
			t.Errorf("key %d holds the lock without the claim", i)
		}
	}
	if owners != 1 {
		t.Fatalf("%d owners", owners)
	}
}

func begin(t *testing.T, s idempotency.Store, key, fp string, want idempotency.State) idempotency.Begun {
	t.Helper()
	b, err := s.Begin(ctx, key, fp, lease)
	if err != nil {
		t.Fatal(err)
	}
	if b.State != want {
		t.Fatalf("Begin(%s, %s) = %v, want %v", key, fp, b.State, want)
	}
	return b
}

func claim(t *testing.T, s idempotency.Store, dossier, owner string, owned bool) idempotency.Claim {
	t.Helper()
	c, err := s.ClaimDossier(ctx, dossier, owner, lease)
	if err != nil {
		t.Fatal(err)
	}
	if c.Owned != owned {
		t.Fatalf("ClaimDossier(%s, %s) = %+v, want owned=%v", dossier, owner, c, owned)
	}
	return c
}

func lock(t *testing.T, s idempotency.Store, id string, held bool) idempotency.Lock {
	t.Helper()
	l, err := s.LockDossier(ctx, id, lease)
	if err != nil {
		t.Fatal(err)
	}
	if l.Held != held {
		t.Fatalf("LockDossier(%s) = %+v, want held=%v", id, l, held)
	}
	return l
}

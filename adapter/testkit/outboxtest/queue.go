package outboxtest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/outbox"
)

func runQueue(t *testing.T, newStore Factory) {
	t.Run("claim hands out the head with its fields, then the next", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		p := payload("D", "e1")
		if ok, err := s.Append(ctx, "D", "e1", p); err != nil || !ok {
			t.Fatalf("append: %v %v", ok, err)
		}
		p[0] = 'X' // the store kept its own copy
		t0 := c.Now()
		c.Advance(time.Second)
		mustAppend(t, s, "D", "e2", true)
		wantStats(t, s, outbox.Stats{Pending: 2})
		d := claimOne(t, s, "w1", "D", "e1")
		if d.Seq != 1 || d.Attempt != 1 || d.Redelivered || d.Worker != "w1" || d.Token == "" {
			t.Fatalf("delivery %+v", d)
		}
		sameTime(t, "AppendedAt", d.AppendedAt, t0)
		sameTime(t, "FirstAttempt", d.FirstAttempt, c.Now())
		sameTime(t, "LeaseUntil", d.LeaseUntil, c.Now().Add(lease))
		wantStats(t, s, outbox.Stats{Pending: 2, InFlight: 1})
		claimNone(t, s, "w2") // one lease per dossier
		ack(t, s, d)
		d2 := claimOne(t, s, "w2", "D", "e2")
		if d2.Seq != 2 || d2.Attempt != 1 || d2.Redelivered || d2.Token == d.Token {
			t.Fatalf("second delivery %+v", d2)
		}
		ack(t, s, d2)
		claimNone(t, s, "w1")
		wantStats(t, s, outbox.Stats{})
	})
	t.Run("a repeated event id is acknowledged and never delivered twice", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		mustAppend(t, s, "D", "e1", true)
		mustAppend(t, s, "D", "e1", false) // still queued
		d := claimOne(t, s, "w", "D", "e1")
		mustAppend(t, s, "D", "e1", false) // in flight
		ack(t, s, d)
		mustAppend(t, s, "D", "e1", false) // delivered
		claimNone(t, s, "w")
		mustAppend(t, s, "other", "e1", true) // ids are per dossier
		claimOne(t, s, "w", "other", "e1")
		for _, bad := range [][2]string{{"", "e"}, {"D", ""}} {
			_, err := s.Append(ctx, bad[0], bad[1], nil)
			wantErr(t, "append with an empty name", err, outbox.ErrInvalid)
		}
	})
	t.Run("ids are remembered for the retention after the dossier went idle", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		mustAppend(t, s, "D", "e1", true)
		ack(t, s, claimOne(t, s, "w", "D", "e1"))
		mustAppend(t, s, "P", "p1", true)
		c.Advance(outbox.DefaultRetention - time.Millisecond)
		mustAppend(t, s, "D", "e1", false)
		mustAppend(t, s, "P", "p1", false) // pending: never forgotten
		c.Advance(time.Millisecond)
		mustAppend(t, s, "D", "e1", true) // the window has passed
		mustAppend(t, s, "P", "p1", false)
	})
	t.Run("concurrent appends of one event: one is appended", func(t *testing.T) {
		s := newStore(t, NewClock().Now)
		var appended atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				ok, err := s.Append(ctx, "D", "e1", payload("D", "e1"))
				if err != nil {
					t.Error(err)
				}
				if ok {
					appended.Add(1)
				}
			})
		}
		wg.Wait()
		if appended.Load() != 1 {
			t.Fatalf("%d appends succeeded", appended.Load())
		}
		ack(t, s, claimOne(t, s, "w", "D", "e1"))
		claimNone(t, s, "w")
	})
	t.Run("dossiers are claimed side by side, max respected", func(t *testing.T) {
		s := newStore(t, NewClock().Now)
		for _, d := range []string{"A", "B", "C", "D", "E"} {
			mustAppend(t, s, d, d+"1", true)
			mustAppend(t, s, d, d+"2", true)
		}
		first := claim(t, s, "w1", 2)
		rest := claim(t, s, "w2", 10)
		if len(first) != 2 || len(rest) != 3 {
			t.Fatalf("claimed %s then %s, want 2 then 3", describe(first), describe(rest))
		}
		seen := map[string]bool{}
		for _, d := range append(first, rest...) {
			if seen[d.Dossier] || d.Seq != 1 || d.ID != d.Dossier+"1" {
				t.Fatalf("claimed %s %s", describe(first), describe(rest))
			}
			seen[d.Dossier] = true
			ack(t, s, d)
		}
		if got := claim(t, s, "w3", 10); len(got) != 5 {
			t.Fatalf("after the acks: %s", describe(got))
		}
	})
	t.Run("retry waits for its time, other dossiers flow meanwhile", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		t0 := c.Now()
		mustAppend(t, s, "D", "e1", true)
		mustAppend(t, s, "D", "e2", true)
		mustAppend(t, s, "E", "f1", true)
		ds := claim(t, s, "w", 10)
		if len(ds) != 2 {
			t.Fatalf("claimed %s", describe(ds))
		}
		for _, d := range ds {
			if d.Dossier == "E" {
				ack(t, s, d)
				continue
			}
			d.Payload[0] = 'X' // the store handed out its own copy
			if err := s.Retry(ctx, d, c.Now().Add(5*time.Minute), "portal: 503"); err != nil {
				t.Fatal(err)
			}
			wantErr(t, "second outcome", s.Ack(ctx, d), outbox.ErrLeaseLost)
		}
		wantStats(t, s, outbox.Stats{Pending: 2, Waiting: 1})
		mustAppend(t, s, "E", "f2", true)
		ack(t, s, claimOne(t, s, "w", "E", "f2"))
		c.Advance(5*time.Minute - time.Millisecond)
		claimNone(t, s, "w")
		c.Advance(time.Millisecond)
		d := claimOne(t, s, "w", "D", "e1")
		if d.Attempt != 2 || d.Redelivered {
			t.Fatalf("retried delivery %+v", d)
		}
		sameTime(t, "FirstAttempt", d.FirstAttempt, t0)
		// a retry time already past is due at once
		if err := s.Retry(ctx, d, c.Now().Add(-time.Hour), "again"); err != nil {
			t.Fatal(err)
		}
		d = claimOne(t, s, "w", "D", "e1")
		if d.Attempt != 3 {
			t.Fatalf("attempt %d", d.Attempt)
		}
		ack(t, s, d)
		if d = claimOne(t, s, "w", "D", "e2"); d.Attempt != 1 {
			t.Fatalf("next event starts at attempt %d", d.Attempt)
		}
	})
	t.Run("ping", func(t *testing.T) {
		if err := newStore(t, NewClock().Now).Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func runLeases(t *testing.T, newStore Factory) {
	t.Run("only the holder settles a lease", func(t *testing.T) {
		s := newStore(t, NewClock().Now)
		mustAppend(t, s, "D", "e1", true)
		mustAppend(t, s, "E", "f1", true)
		ds := claim(t, s, "w", 10)
		if len(ds) != 2 {
			t.Fatalf("claimed %s", describe(ds))
		}
		forged := ds[0]
		forged.Token = ds[1].Token
		wantErr(t, "ack with another lease's token", s.Ack(ctx, forged), outbox.ErrLeaseLost)
		forged = ds[0]
		forged.ID = "other"
		wantErr(t, "ack of another event", s.Retry(ctx, forged, time.Time{}, "x"), outbox.ErrLeaseLost)
		wantErr(t, "ack of nothing", s.Ack(ctx, outbox.Delivery{}), outbox.ErrLeaseLost)
		ack(t, s, ds[0])
		// The same settlement again is answered as the first (a caller's
		// retry of a call whose answer was lost); another is not.
		wantErr(t, "second ack", s.Ack(ctx, ds[0]), nil)
		wantErr(t, "dead letter after ack", s.DeadLetter(ctx, ds[0], "x"), outbox.ErrLeaseLost)
		wantErr(t, "retry after ack", s.Retry(ctx, ds[0], time.Time{}, "x"), outbox.ErrLeaseLost)
		if err := s.DeadLetter(ctx, ds[1], "x"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "second dead letter", s.DeadLetter(ctx, ds[1], "x"), nil)
		wantErr(t, "ack after dead letter", s.Ack(ctx, ds[1]), outbox.ErrLeaseLost)
	})
	t.Run("an expired lease goes to another worker, flagged redelivered", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		mustAppend(t, s, "D", "e1", true)
		mustAppend(t, s, "D", "e2", true)
		t0 := c.Now()
		d1 := claimOne(t, s, "w1", "D", "e1")
		c.Advance(lease - time.Millisecond)
		claimNone(t, s, "w2")
		c.Advance(time.Millisecond)
		d2 := claimOne(t, s, "w2", "D", "e1")
		if !d2.Redelivered || d2.Attempt != 2 || d2.Token == d1.Token || d2.Worker != "w2" {
			t.Fatalf("taken over %+v", d2)
		}
		sameTime(t, "FirstAttempt", d2.FirstAttempt, t0)
		wantErr(t, "the old holder's ack", s.Ack(ctx, d1), outbox.ErrLeaseLost)
		wantErr(t, "the old holder's retry", s.Retry(ctx, d1, c.Now(), "x"), outbox.ErrLeaseLost)
		ack(t, s, d2)
		if d := claimOne(t, s, "w1", "D", "e2"); d.Redelivered || d.Attempt != 1 {
			t.Fatalf("next event %+v", d)
		}
	})
	t.Run("redelivered is set once a lease ended without outcome, and stays", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		mustAppend(t, s, "D", "e1", true)
		d := claimOne(t, s, "w1", "D", "e1")
		if err := s.Retry(ctx, d, c.Now(), "503"); err != nil {
			t.Fatal(err)
		}
		if d = claimOne(t, s, "w1", "D", "e1"); d.Redelivered {
			t.Fatal("a retried event flagged redelivered")
		}
		c.Advance(lease)
		if d = claimOne(t, s, "w2", "D", "e1"); !d.Redelivered || d.Attempt != 3 {
			t.Fatalf("after expiry %+v", d)
		}
		if err := s.Retry(ctx, d, c.Now(), "503"); err != nil {
			t.Fatal(err)
		}
		if d = claimOne(t, s, "w2", "D", "e1"); !d.Redelivered || d.Attempt != 4 {
			t.Fatalf("a failed attempt cleared the flag: %+v", d)
		}
	})
	t.Run("an expired lease nobody took over still settles", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		mustAppend(t, s, "D", "e1", true)
		mustAppend(t, s, "D", "e2", true)
		d := claimOne(t, s, "w1", "D", "e1")
		c.Advance(3 * lease)
		ack(t, s, d)
		if d = claimOne(t, s, "w2", "D", "e2"); d.Redelivered {
			t.Fatalf("next event %+v", d)
		}
	})
}

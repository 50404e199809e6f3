package outboxtest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/outbox"
)

// deadLetter claims dossier's head and dead-letters it.
func deadLetter(t *testing.T, s outbox.Store, dossier, id, reason string) outbox.Delivery {
	t.Helper()
	d := claimOne(t, s, "w", dossier, id)
	if err := s.DeadLetter(ctx, d, reason); err != nil {
		t.Fatal(err)
	}
	return d
}

func inspect(t *testing.T, s outbox.Store, dossier, id string) outbox.DeadLetter {
	t.Helper()
	l, err := s.Inspect(ctx, dossier, id)
	if err != nil {
		t.Fatalf("Inspect(%s, %s): %v", dossier, id, err)
	}
	return l
}

func runDead(t *testing.T, newStore Factory) {
	t.Run("a dead letter holds its dossier and keeps its history", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		mustAppend(t, s, "D", "e1", true)
		mustAppend(t, s, "D", "e2", true)
		mustAppend(t, s, "E", "f1", true)
		t0 := c.Now()
		ds := claim(t, s, "w1", 10)
		for _, d := range ds {
			if d.Dossier == "E" {
				ack(t, s, d)
				continue
			}
			if err := s.Retry(ctx, d, c.Now().Add(time.Second), "portal: 503 \t\n\"x\""); err != nil {
				t.Fatal(err)
			}
		}
		c.Advance(time.Second)
		claimOne(t, s, "w1", "D", "e1") // crashes
		c.Advance(lease)
		d := claimOne(t, s, "w2", "D", "e1")
		c.Advance(time.Second)
		deadAt := c.Now()
		if err := s.DeadLetter(ctx, d, "permanent: 422 invalid"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "ack after dead letter", s.Ack(ctx, d), outbox.ErrLeaseLost)
		mustAppend(t, s, "D", "e3", true) // held too
		mustAppend(t, s, "E", "f2", true) // other dossiers proceed
		c.Advance(100 * time.Hour)
		ack(t, s, claimOne(t, s, "w", "E", "f2"))
		claimNone(t, s, "w")
		wantStats(t, s, outbox.Stats{Pending: 3, Dead: 1})

		l := inspect(t, s, "D", "e1")
		if l.ID != "e1" || l.Dossier != "D" || l.Seq != 1 || l.Reason != "permanent: 422 invalid" ||
			l.Attempts != 3 || l.Held != 2 || !bytes.Equal(l.Payload, payload("D", "e1")) {
			t.Fatalf("dead letter %+v", l)
		}
		sameTime(t, "DeadAt", l.DeadAt, deadAt)
		sameTime(t, "AppendedAt", l.AppendedAt, t0)
		want := []outbox.Attempt{
			{At: t0, Worker: "w1", Outcome: outbox.OutcomeRetry, Reason: "portal: 503 \t\n\"x\""},
			{At: t0.Add(time.Second + lease), Worker: "w1", Outcome: outbox.OutcomeLeaseExpired, Reason: "lease expired"},
			{At: deadAt, Worker: "w2", Outcome: outbox.OutcomeDeadLetter, Reason: "permanent: 422 invalid"},
		}
		if len(l.History) != len(want) {
			t.Fatalf("history %+v", l.History)
		}
		for i, a := range l.History {
			if !a.At.Equal(want[i].At) || a.Worker != want[i].Worker || a.Outcome != want[i].Outcome || a.Reason != want[i].Reason {
				t.Fatalf("history[%d] = %+v, want %+v", i, a, want[i])
			}
		}
		_, err := s.Inspect(ctx, "D", "e2")
		wantErr(t, "inspect a held event", err, outbox.ErrNotFound)
		_, err = s.Inspect(ctx, "nope", "e1")
		wantErr(t, "inspect an unknown dossier", err, outbox.ErrNotFound)
	})
	t.Run("replay puts it back at its position and the held events follow in order", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		for _, id := range []string{"e1", "e2"} {
			mustAppend(t, s, "D", id, true)
		}
		deadLetter(t, s, "D", "e1", "gone")
		mustAppend(t, s, "D", "e3", true)
		c.Advance(time.Hour)
		if err := s.Replay(ctx, "D", "e1"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "second replay", s.Replay(ctx, "D", "e1"), outbox.ErrNotFound)
		wantErr(t, "replay of a held event", s.Replay(ctx, "D", "e2"), outbox.ErrNotFound)
		d := claimOne(t, s, "w", "D", "e1")
		if d.Attempt != 1 || d.Redelivered || d.Seq != 1 {
			t.Fatalf("replayed %+v", d)
		}
		sameTime(t, "FirstAttempt after replay", d.FirstAttempt, c.Now())
		if err := s.DeadLetter(ctx, d, "again"); err != nil { // the history carries on
			t.Fatal(err)
		}
		if l := inspect(t, s, "D", "e1"); l.Attempts != 2 || len(l.History) != 2 || l.History[0].Reason != "gone" {
			t.Fatalf("after a second dead letter %+v", l)
		}
		_ = s.Replay(ctx, "D", "e1")
		for i, id := range []string{"e1", "e2", "e3"} {
			d := claimOne(t, s, "w", "D", id)
			if d.Seq != int64(i+1) {
				t.Fatalf("%s has seq %d", id, d.Seq)
			}
			ack(t, s, d)
		}
		claimNone(t, s, "w")
		wantStats(t, s, outbox.Stats{})
	})
	t.Run("discard drops the dead letter and the held events proceed", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		mustAppend(t, s, "D", "e1", true)
		mustAppend(t, s, "D", "e2", true)
		deadLetter(t, s, "D", "e1", "poison")
		wantErr(t, "discard of a held event", s.Discard(ctx, "D", "e2"), outbox.ErrNotFound)
		if err := s.Discard(ctx, "D", "e1"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "second discard", s.Discard(ctx, "D", "e1"), outbox.ErrNotFound)
		wantStats(t, s, outbox.Stats{Pending: 1})
		ack(t, s, claimOne(t, s, "w", "D", "e2"))
		mustAppend(t, s, "D", "e1", false) // a discarded id stays known
		mustAppend(t, s, "S", "s1", true)  // the only event of its dossier
		deadLetter(t, s, "S", "s1", "poison")
		if err := s.Discard(ctx, "S", "s1"); err != nil {
			t.Fatal(err)
		}
		claimNone(t, s, "w")
		wantStats(t, s, outbox.Stats{})
	})
	t.Run("dead letters are listed oldest first, page by page", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		var want []string
		for i := range 7 {
			dossier := fmt.Sprintf("chi-thuong-xuyen|G09.20-%02d", 7-i) // names sort against time
			mustAppend(t, s, dossier, "e", true)
			deadLetter(t, s, dossier, "e", "r")
			want = append(want, outbox.DeadKey(c.Now(), dossier, "e"))
			if i%3 != 0 { // some share a millisecond
				c.Advance(time.Second)
			}
		}
		slices.Sort(want)
		var got []string
		cursor := ""
		for page := 0; ; page++ {
			ls, next, err := s.DeadLetters(ctx, cursor, 3)
			if err != nil {
				t.Fatal(err)
			}
			if page > 5 || len(ls) > 3 || (next != "" && len(ls) != 3) {
				t.Fatalf("page %d: %d letters, next %q", page, len(ls), next)
			}
			for _, l := range ls {
				if l.Held != 0 || l.Reason != "r" || l.Attempts != 1 || len(l.History) != 1 {
					t.Fatalf("letter %+v", l)
				}
				got = append(got, outbox.DeadKey(l.DeadAt, l.Dossier, l.ID))
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("listed\n%q\nwant\n%q", got, want)
		}
		_, _, err := s.DeadLetters(ctx, "not a cursor!", 3)
		wantErr(t, "a bad cursor", err, outbox.ErrInvalid)
	})
	t.Run("the history keeps the most recent attempts", func(t *testing.T) {
		c := NewClock()
		s := newStore(t, c.Now)
		mustAppend(t, s, "D", "e1", true)
		const n = outbox.MaxHistory + 5
		for i := 1; i < n; i++ {
			d := claimOne(t, s, "w", "D", "e1")
			if err := s.Retry(ctx, d, c.Now(), fmt.Sprintf("attempt %d", i)); err != nil {
				t.Fatal(err)
			}
			c.Advance(time.Millisecond)
		}
		l := inspect(t, s, "D", deadLetter(t, s, "D", "e1", fmt.Sprintf("attempt %d", n)).ID)
		if l.Attempts != n || len(l.History) != outbox.MaxHistory {
			t.Fatalf("%d attempts, %d in the history", l.Attempts, len(l.History))
		}
		for i, a := range l.History {
			if want := fmt.Sprintf("attempt %d", n-outbox.MaxHistory+1+i); a.Reason != want {
				t.Fatalf("history[%d] = %+v, want %q", i, a, want)
			}
		}
	})
	t.Run("replay all", func(t *testing.T) {
		s := newStore(t, NewClock().Now)
		for _, d := range []string{"A", "B", "C"} {
			mustAppend(t, s, d, "e", true)
			deadLetter(t, s, d, "e", "r")
		}
		if n, err := s.ReplayAll(ctx); err != nil || n != 3 {
			t.Fatalf("ReplayAll = %d, %v", n, err)
		}
		wantStats(t, s, outbox.Stats{Pending: 3})
		if ds := claim(t, s, "w", 10); len(ds) != 3 {
			t.Fatalf("claimed %s", describe(ds))
		}
		if n, err := s.ReplayAll(ctx); err != nil || n != 0 {
			t.Fatalf("second ReplayAll = %d, %v", n, err)
		}
	})
}

package statusflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/portal"
	"github.com/kbnn/dvc/adapter/upstream"
)

// workerFlow is a test flow whose outbox is the real Memory store, driven
// by a real Worker through Poll.
func workerFlow(t *testing.T) (*testFlow, *outbox.Memory, *outbox.Worker) {
	t.Helper()
	tf := newTestFlow(t)
	box := outbox.NewMemory(tf.clock.Now)
	tf.Flow.outbox = box
	w, err := outbox.NewWorker(box, outbox.WorkerConfig{Deliver: tf.Deliver, Name: "w", Now: tf.clock.Now,
		OnAttempt: func(ctx context.Context, d outbox.Delivery, r outbox.Result, err error) {
			if r == outbox.DeadLettered {
				tf.DeadLettered(ctx, d)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	return tf, box, w
}

func appendEv(t *testing.T, box outbox.Store, ev Event) {
	t.Helper()
	b, _ := json.Marshal(ev)
	if ok, err := box.Append(context.Background(), dossierKey(ev.Procedure, ev.DossierCode), ev.EventID, b); !ok || err != nil {
		t.Fatalf("append %s: %v %v", ev.EventID, ok, err)
	}
}

func drain(t *testing.T, w *outbox.Worker) {
	t.Helper()
	for range 20 {
		n, err := w.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

func paidSent(tf *testFlow) bool {
	tf.portal.mu.Lock()
	defer tf.portal.mu.Unlock()
	for _, p := range tf.portal.progress {
		if p.TrangThai == 9 {
			return true
		}
	}
	return false
}

// An event released, deferred again behind the event queued before it,
// and released again is delivered: its second release is not taken for a
// duplicate of the first. PAID (5) first, then PROCESSING (2) releases it
// behind CORRECTION_REQUIRED (3), which makes it wait again; PROCESSING (4)
// releases it once more.
func TestEventDeferredAgainIsDelivered(t *testing.T) {
	const p, code = "chi-thuong-xuyen", "G09.20-20260609-0000777"
	tf, box, w := workerFlow(t)
	tf.registered(p, code)

	appendEv(t, box, event(p, code, "e5", "PAID", 5))
	drain(t, w) // deferred: PAID only from 4
	appendEv(t, box, event(p, code, "e2", "PROCESSING", 2))
	appendEv(t, box, event(p, code, "e3", "CORRECTION_REQUIRED", 3))
	drain(t, w) // e2 1→4 releases e5 behind e3; e3 4→5; e5 deferred again
	appendEv(t, box, event(p, code, "e4", "PROCESSING", 4))
	drain(t, w) // e4 5→4: PAID allowed now, release again

	r := tf.dossiers.get(t, p, code)
	if !paidSent(tf) || r.TrangThai != 9 || len(r.Deferred) != 0 {
		t.Fatalf("PAID (e5) not delivered: status %d, deferred %+v, history %q", r.TrangThai, r.Deferred, historyEntry(t, r, "e5").Delivery)
	}
	if h := historyEntry(t, r, "e5"); h.Delivery != dossier.DeliveryDelivered {
		t.Errorf("PAID's history says %q", h.Delivery)
	}
	if st, err := box.Stats(context.Background()); err != nil || st.Pending != 0 {
		t.Errorf("outbox %+v %v, want nothing pending", st, err)
	}
}

// A dead letter's later events that arrived first wait in the dossier's
// record, where the outbox does not see them (Held 0): inspecting the dead
// letter names them, and discarding it, which leaves them waiting, is
// logged as an error naming them.
func TestDeadLetterNamesDeferredEvents(t *testing.T) {
	const p, code = "chi-thuong-xuyen", "G09.20-20260609-0000778"
	tf, box, w := workerFlow(t)
	var logs bytes.Buffer
	tf.log = slog.New(slog.NewTextHandler(&logs, nil))
	tf.at(p, code, 2, 1)
	appendEv(t, box, event(p, code, "e3", "PAID", 3))
	drain(t, w) // deferred: PAID only from 4
	tf.portal.writeErr = &portal.PortalError{Service: "DongBoHoSoMC", Code: "99", Class: portal.ClassPermanent}
	appendEv(t, box, event(p, code, "e2", "PROCESSING", 2))
	drain(t, w) // a dead letter at once
	tf.portal.writeErr = nil

	view := tf.DeadLetters(box)
	ctx := context.Background()
	dl, err := view.Inspect(ctx, dossierKey(p, code), "e2")
	if err != nil {
		t.Fatal(err)
	}
	if dl.Held != 0 || !slices.Equal(dl.Deferred, []string{"e3"}) {
		t.Fatalf("dead letter e2: held %d, deferred %v; want 0 and [e3]", dl.Held, dl.Deferred)
	}
	if err := view.Discard(ctx, dossierKey(p, code), "e2"); err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "e3") {
		t.Errorf("discard with an event deferred behind it not logged as an error naming it:\n%s", out)
	}
	if _, err := view.Inspect(ctx, dossierKey(p, code), "e2"); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("inspect after the discard: %v", err)
	}
	if h := historyEntry(t, tf.dossiers.get(t, p, code), "e2"); h.Delivery != dossier.DeliveryDiscarded {
		t.Errorf("e2's history after the discard: %q, want discarded", h.Delivery)
	}
}

// Discarding a dead letter with events held behind it in the outbox is an
// error in the log too: a held event whose move needs the discarded status
// is deferred once it goes on, and waits.
func TestDiscardWithHeldEventsIsAnError(t *testing.T) {
	const p, code = "chi-thuong-xuyen", "G09.20-20260609-0000779"
	tf, box, w := workerFlow(t)
	var logs bytes.Buffer
	tf.log = slog.New(slog.NewTextHandler(&logs, nil))
	tf.at(p, code, 2, 1)
	tf.portal.writeErr = &portal.PortalError{Service: "DongBoHoSoMC", Code: "99", Class: portal.ClassPermanent}
	appendEv(t, box, event(p, code, "e2", "PROCESSING", 2))
	drain(t, w) // a dead letter at once
	tf.portal.writeErr = nil
	appendEv(t, box, event(p, code, "e3", "PAID", 3))
	drain(t, w) // held behind e2

	view := tf.DeadLetters(box)
	ctx := context.Background()
	if dl, err := view.Inspect(ctx, dossierKey(p, code), "e2"); err != nil || dl.Held != 1 {
		t.Fatalf("dead letter e2: %+v, %v; want 1 held", dl, err)
	}
	logs.Reset()
	if err := view.Discard(ctx, dossierKey(p, code), "e2"); err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "held=1") {
		t.Errorf("discard with an event held behind it not logged as an error:\n%s", out)
	}
	drain(t, w)
	rec, _, err := tf.dossiers.Get(ctx, p, code)
	if err != nil || len(rec.Deferred) != 1 || rec.Deferred[0].EventID != "e3" {
		t.Fatalf("after the discard: deferred %+v, %v; want e3 waiting", rec.Deferred, err)
	}
}

// A write to the portal that timed out may still be applied by the portal
// after the client gave up: the event is tried again no sooner than
// UncertainWait, and the dossier's later event waits behind it, so that the
// late write cannot land after the later one's and move the portal back.
func TestTimedOutWriteWaitsBeforeItsRetry(t *testing.T) {
	const p, code = "chi-thuong-xuyen", "G09.20-20260609-0000780"
	tf, box, w := workerFlow(t)
	tf.at(p, code, 2, 1)
	tf.portal.writeErr = fmt.Errorf("DongBoHoSoMC: %w", portal.ErrTimeout)
	appendEv(t, box, event(p, code, "e2", "PROCESSING", 2))
	drain(t, w)
	tf.portal.writeErr = nil
	appendEv(t, box, event(p, code, "e3", "PAID", 3))
	progress := func() int {
		tf.portal.mu.Lock()
		defer tf.portal.mu.Unlock()
		return len(tf.portal.progress)
	}
	// The schedule's first retry (5 s, ±20 %) has passed: nothing goes yet.
	tf.clock.Advance(DefaultUncertainWait - time.Second)
	drain(t, w)
	if n := progress(); n != 0 {
		t.Fatalf("%d progress calls before the uncertain wait ended", n)
	}
	tf.clock.Advance(time.Second)
	drain(t, w)
	if n := progress(); n != 2 || !paidSent(tf) {
		t.Fatalf("%d progress calls after the wait (PAID sent: %v), want both events", n, paidSent(tf))
	}
}

// A write the portal or a gateway failed (a 502, a connection reset after
// the request went) may have taken effect as well: it waits the same; a
// call the breaker refused was never sent, and does not.
func TestUnavailableWriteWaitsButARefusedCallDoesNot(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		wait bool
	}{
		{"unavailable", fmt.Errorf("DongBoHoSoMC: %w", portal.ErrUnavailable), true},
		{"refused by the breaker", fmt.Errorf("DongBoHoSoMC: %w: %w", portal.ErrUnavailable, &upstream.Rejected{}), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tf := newTestFlow(t)
			got := tf.writeErr(c.err)
			d, _ := outbox.RetryAfterOf(got)
			if (d == DefaultUncertainWait) != c.wait {
				t.Fatalf("retry after %v, want the uncertain wait: %v", d, c.wait)
			}
		})
	}
}

// An event the portal took stays delivered in the dossier's history when
// its outbox entry is dead-lettered afterwards (its settlement kept
// failing): the view does not say otherwise, and a replay of it still finds
// it delivered and sends the portal nothing more.
func TestDeliveredIsNeverDowngraded(t *testing.T) {
	const p, code = "chi-thuong-xuyen", "G09.20-20260609-0000779"
	tf, box, w := workerFlow(t)
	tf.registered(p, code)
	e := event(p, code, "e2", "PROCESSING", 2)
	appendEv(t, box, e)
	drain(t, w)
	if h := historyEntry(t, tf.dossiers.get(t, p, code), "e2"); h.Delivery != dossier.DeliveryDelivered {
		t.Fatalf("e2: %q", h.Delivery)
	}
	b, _ := json.Marshal(e)
	tf.DeadLettered(context.Background(), outbox.Delivery{Event: outbox.Event{Dossier: dossierKey(p, code), ID: "e2", Payload: b}})
	if h := historyEntry(t, tf.dossiers.get(t, p, code), "e2"); h.Delivery != dossier.DeliveryDelivered {
		t.Fatalf("e2 after a dead letter: %q, want it still delivered", h.Delivery)
	}
}

// OnSettled hears how each event was settled in its dossier's record, once
// the record holds it: the outbox acknowledges all of these alike.
func TestOnSettledCountsEachOutcome(t *testing.T) {
	const p, code = "chi-thuong-xuyen", "G09.20-20260609-0000780"
	tf, box, w := workerFlow(t)
	var got []string
	tf.onSettled = func(d string) { got = append(got, d) }
	tf.registered(p, code)
	appendEv(t, box, event(p, code, "e3", "PAID", 3))
	drain(t, w) // deferred: PAID only from 4
	appendEv(t, box, event(p, code, "e2", "PROCESSING", 2))
	drain(t, w) // delivered, and PAID released and delivered
	appendEv(t, box, event(p, code, "e1", "PROCESSING", 1))
	drain(t, w) // sent before the latest status applied: stale
	want := []string{dossier.DeliveryDeferred, dossier.DeliveryDelivered, dossier.DeliveryDelivered, dossier.DeliveryStale}
	if !slices.Equal(got, want) {
		t.Fatalf("settled %v, want %v", got, want)
	}
}

// A released event is delivered before the dossier's events the treasury
// sent after it, even those already queued in the outbox ahead of it: PAID
// (3) waits for PROCESSING (2); STOPPED (4) is queued behind PROCESSING
// before PAID is released. STOPPED then waits behind the released PAID
// instead of closing the dossier first (which would leave PAID stale and
// the portal at 8 for a paid dossier); after PAID it is not allowed.
func TestReleasedEventIsNotOvertaken(t *testing.T) {
	const p, code = "chi-thuong-xuyen", "G09.20-20260609-0000781"
	tf, box, w := workerFlow(t)
	tf.registered(p, code)
	appendEv(t, box, event(p, code, "e1", "RECEIVED", 1))
	drain(t, w)
	appendEv(t, box, event(p, code, "e3", "PAID", 3))
	drain(t, w) // deferred: PAID only from 4
	appendEv(t, box, event(p, code, "e2", "PROCESSING", 2))
	appendEv(t, box, event(p, code, "e4", "STOPPED", 4))
	drain(t, w)
	r := tf.dossiers.get(t, p, code)
	if r.TrangThai != 9 || len(r.Deferred) != 0 {
		t.Fatalf("status %d, deferred %+v; want 9 and nothing waiting", r.TrangThai, r.Deferred)
	}
	for id, want := range map[string]string{"e2": dossier.DeliveryDelivered, "e3": dossier.DeliveryDelivered, "e4": dossier.DeliveryNotAllowed} {
		if h := historyEntry(t, r, id); h.Delivery != want {
			t.Errorf("%s: %q (%s), want %q", id, h.Delivery, h.DeliveryNote, want)
		}
	}
	if st, err := box.Stats(context.Background()); err != nil || st.Pending != 0 {
		t.Errorf("outbox %+v %v, want nothing pending", st, err)
	}
}

// A released event that is not delivered at its turn (not allowed any
// more) still lets the events that waited behind it go on: they are judged
// at once, not left waiting for a delivery that may never come. PAID (4)
// waits for PROCESSING (2); STOPPED (3) and RESULT_RETURNED (5) are queued
// behind PROCESSING. STOPPED closes the dossier (8), the released PAID is
// then not allowed, and RESULT_RETURNED, which waited behind it, is passed.
func TestEventsBehindAnUndeliveredReleaseGoOn(t *testing.T) {
	const p, code = "chi-thuong-xuyen", "G09.20-20260609-0000782"
	tf, box, w := workerFlow(t)
	tf.at(p, code, 2, 1)
	appendEv(t, box, event(p, code, "e4", "PAID", 4))
	drain(t, w) // deferred: PAID only from 4
	appendEv(t, box, event(p, code, "e2", "PROCESSING", 2))
	appendEv(t, box, event(p, code, "e3", "STOPPED", 3))
	appendEv(t, box, event(p, code, "e5", "RESULT_RETURNED", 5))
	drain(t, w)
	r := tf.dossiers.get(t, p, code)
	if r.TrangThai != 8 || len(r.Deferred) != 0 {
		t.Fatalf("status %d, deferred %+v; want 8 and nothing waiting", r.TrangThai, r.Deferred)
	}
	for id, want := range map[string]string{"e2": dossier.DeliveryDelivered, "e3": dossier.DeliveryDelivered,
		"e4": dossier.DeliveryNotAllowed, "e5": dossier.DeliveryNotAllowed} {
		if h := historyEntry(t, r, id); h.Delivery != want {
			t.Errorf("%s: %q (%s), want %q", id, h.Delivery, h.DeliveryNote, want)
		}
	}
}

package statusflow

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/portal"
)

func pollOne(t *testing.T, w *outbox.Worker) int {
	t.Helper()
	n, err := w.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func dumpRecord(t *testing.T, r dossier.Record) {
	t.Helper()
	t.Logf("status %d TS %d TSeq %d synced %v", r.TrangThai, r.TreasurySupplement, r.TreasurySequence, r.PortalSynced)
	for _, d := range r.Deferred {
		t.Logf("  deferred %s seq %d %s rel=%q", d.EventID, d.Sequence, d.Status, d.ReleaseID)
	}
	for _, h := range r.History {
		t.Logf("  hist %s %s -> %d %s (%s)", h.EventID, h.TreasuryStatus, h.TrangThai, h.Delivery, h.DeliveryNote)
	}
}

// The released PAID is dead-lettered while STOPPED, which the treasury sent
// after it and which was queued ahead of it, waits behind it in the record:
// STOPPED goes back to the outbox behind the dead letter, and once the
// operator discards the dead letter it is delivered; nothing stays waiting.
func TestDiscardedReleaseLetsHeldEventsGo(t *testing.T) {
	const p, code = "chi-thuong-xuyen", "G09.20-20260609-0009001"
	tf, box, w := workerFlow(t)
	tf.at(p, code, 2, 1)
	appendEv(t, box, event(p, code, "e3", "PAID", 3))
	drain(t, w) // deferred
	appendEv(t, box, event(p, code, "e2", "PROCESSING", 2))
	appendEv(t, box, event(p, code, "e4", "STOPPED", 4))
	pollOne(t, w) // e2 2->4, releases e3 behind e4
	pollOne(t, w) // e4 deferred behind released e3
	tf.portal.writeErr = &portal.PortalError{Service: "DongBoHoSoMC", Code: "99", Class: portal.ClassPermanent}
	pollOne(t, w) // rel e3 dead letter
	tf.portal.writeErr = nil
	r := tf.dossiers.get(t, p, code)
	dumpRecord(t, r)
	if err := tf.DeadLetters(box).Discard(context.Background(), dossierKey(p, code), "e3~released~0"); err != nil {
		t.Fatal(err)
	}
	drain(t, w)
	tf.clock.Advance(48 * time.Hour)
	drain(t, w)
	r = tf.dossiers.get(t, p, code)
	dumpRecord(t, r)
	if len(r.Deferred) != 0 || r.TrangThai != 8 {
		t.Errorf("STOPPED not delivered: deferred %+v, status %d", r.Deferred, r.TrangThai)
	}
	if h := historyEntry(t, r, "e3"); h.Delivery != dossier.DeliveryDiscarded {
		t.Errorf("the discarded PAID's history says %q", h.Delivery)
	}
}

// failing outbox: Append of a release id fails once.
type failOnceOutbox struct {
	outbox.Store
	mu   sync.Mutex
	fail bool
}

func (o *failOnceOutbox) Append(ctx context.Context, dk, id string, b []byte) (bool, error) {
	o.mu.Lock()
	f := o.fail && strings.Contains(id, "~released~")
	if f {
		o.fail = false
	}
	o.mu.Unlock()
	if f {
		return false, errors.New("redis: i/o timeout")
	}
	return o.Store.Append(ctx, dk, id, b)
}

// A release whose append to the outbox failed (the record names its
// release id, the outbox has no copy) is appended again by the first event
// that would wait behind it, so nothing waits for it in vain.
func TestFailedReleaseAppendIsNotWaitedForInVain(t *testing.T) {
	const p, code = "chi-thuong-xuyen", "G09.20-20260609-0009002"
	tf, box, w := workerFlow(t)
	fo := &failOnceOutbox{Store: box}
	tf.Flow.outbox = fo
	tf.registered(p, code) // status 1, never synced; portal does not know it
	appendEv(t, box, event(p, code, "e3", "PAID", 3))
	drain(t, w) // deferred: PAID only from 4
	r := tf.dossiers.get(t, p, code)
	dumpRecord(t, r)
	// the portal shows 4 (another channel / record behind the portal)
	tf.portal.mu.Lock()
	tf.portal.dossiers[code] = 4
	tf.portal.mu.Unlock()
	fo.fail = true
	appendEv(t, box, event(p, code, "e5", "ACCOUNT_OPENED", 5))
	drain(t, w) // place 4, RECEIVED not allowed, release e3 -> Append fails -> retry
	tf.clock.Advance(time.Hour)
	drain(t, w)
	appendEv(t, box, event(p, code, "e6", "RESULT_RETURNED", 6))
	drain(t, w)
	tf.clock.Advance(48 * time.Hour)
	drain(t, w)
	r = tf.dossiers.get(t, p, code)
	dumpRecord(t, r)
	st, _ := box.Stats(context.Background())
	t.Logf("outbox %+v", st)
	if len(r.Deferred) != 0 {
		t.Errorf("stuck: deferred %+v, status %d", r.Deferred, r.TrangThai)
	}
}

// failing dossiers: Update fails while on.
type failDossiers struct {
	*fakeDossiers
	fail bool
}

func (s *failDossiers) Update(ctx context.Context, procedure, maHoSo string, fn func(*dossier.Record, bool) bool) error {
	if s.fail {
		return errors.New("store down")
	}
	return s.fakeDossiers.Update(ctx, procedure, maHoSo, fn)
}

// A dead letter whose record write failed (logged only) leaves the event
// listed as released; discarding the dead letter takes it off the list, so
// the dossier's later events go on.
func TestDiscardAfterAnUnrecordedDeadLetter(t *testing.T) {
	const p, code = "chi-thuong-xuyen", "G09.20-20260609-0009003"
	tf, box, w := workerFlow(t)
	fd := &failDossiers{fakeDossiers: tf.dossiers}
	tf.Flow.dossiers = fd
	tf.at(p, code, 2, 1)
	appendEv(t, box, event(p, code, "e3", "PAID", 3))
	drain(t, w)
	appendEv(t, box, event(p, code, "e2", "PROCESSING", 2))
	pollOne(t, w) // e2 2->4, release e3
	tf.portal.writeErr = &portal.PortalError{Service: "DongBoHoSoMC", Code: "99", Class: portal.ClassPermanent}
	fd.fail = true
	pollOne(t, w) // rel e3 dead letter; DeadLettered's write fails
	fd.fail = false
	tf.portal.writeErr = nil
	if err := tf.DeadLetters(box).Discard(context.Background(), dossierKey(p, code), "e3~released~0"); err != nil {
		t.Fatal(err)
	}
	appendEv(t, box, event(p, code, "e4", "STOPPED", 4))
	drain(t, w)
	r := tf.dossiers.get(t, p, code)
	dumpRecord(t, r)
	if len(r.Deferred) != 0 {
		t.Errorf("stuck: deferred %+v, status %d", r.Deferred, r.TrangThai)
	}
}

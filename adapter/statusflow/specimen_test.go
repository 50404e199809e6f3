package statusflow

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/portal"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/adapter/webhook"
)

// fakeRegistry keeps registrations, or fails while down.
type fakeRegistry struct {
	mu   sync.Mutex
	regs []signers.Registration
	down bool
}

func (r *fakeRegistry) Put(_ context.Context, regs ...signers.Registration) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		return 0, errors.New("registry down")
	}
	r.regs = append(r.regs, regs...)
	return len(regs), nil
}

// specimenFlow is a test flow whose tai-khoan registers its specimen on
// ACCOUNT_OPENED, and a record of HS-2 (unit 1077777, supplement sup)
// keeping a specimen of two signers.
func specimenFlow(t *testing.T, sup int) (*testFlow, *fakeRegistry) {
	t.Helper()
	tf := newTestFlow(t)
	reg := &fakeRegistry{}
	tf.signers = reg
	p := tf.procedures["tai-khoan"]
	p.RegistersSignersOn = "ACCOUNT_OPENED"
	tf.procedures["tai-khoan"] = p
	r := tf.at("tai-khoan", "HS-2", 4, 2)
	r.Unit, r.SoBoSung = "1077777", sup
	r.Specimen = []dossier.SpecimenSigner{
		{Role: "chu-tai-khoan", Serial: "4a25", Issuer: "CN=test ca,C=vn"},
		{Role: "ke-toan-truong", Serial: "5b36", Issuer: "CN=test ca,C=vn"},
	}
	tf.dossiers.put(r)
	return tf, reg
}

func receiveStatus(t *testing.T, tf *testFlow, id, status string, supplement int) error {
	t.Helper()
	body := []byte(`{"eventId": "` + id + `", "dossierCode": "HS-2", "procedure": "tai-khoan", "supplementNo": ` +
		strconv.Itoa(supplement) + `, "documentId": "KB-DOC-HS-2", "reference": "KBNN-0011-2026-000003", "status": "` +
		status + `", "sequence": 3, "occurredAt": "2026-06-09T15:00:00+07:00"}`)
	_, err := tf.Receive(context.Background(), webhook.Headers(secret, id, tf.clock.Now(), body), body)
	return err
}

// The specimen's signers are registered when the treasury reports the
// account opened, for the unit, from the dossier, and the record says
// when; another status registers nothing. A registry that cannot take them
// answers 503 and stores nothing, so the treasury's retry registers them.
func TestAccountOpenedRegistersTheSpecimen(t *testing.T) {
	tf, reg := specimenFlow(t, 0)
	if err := receiveStatus(t, tf, "evt-1", "PROCESSING", 0); err != nil {
		t.Fatal(err)
	}
	if len(reg.regs) != 0 {
		t.Fatalf("registered on PROCESSING: %+v", reg.regs)
	}

	reg.down = true
	err := receiveStatus(t, tf, "evt-2", "ACCOUNT_OPENED", 0)
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Kind != problem.StoreUnavailable {
		t.Fatalf("registry down: %v, want store-unavailable", err)
	}
	if len(tf.outbox.events) != 1 {
		t.Fatalf("the event was stored though its signers were not registered: %d events", len(tf.outbox.events))
	}
	if !tf.dossiers.get(t, "tai-khoan", "HS-2").SpecimenRegisteredAt.IsZero() {
		t.Fatal("the record says registered")
	}

	reg.down = false
	if err := receiveStatus(t, tf, "evt-2", "ACCOUNT_OPENED", 0); err != nil {
		t.Fatalf("the treasury's retry: %v", err)
	}
	if len(reg.regs) != 2 {
		t.Fatalf("registrations %+v, want the specimen's two", reg.regs)
	}
	for _, r := range reg.regs {
		if r.Unit != "1077777" || r.Source != "HS-2" || r.Issuer != "CN=test ca,C=vn" || (r.Serial != "4a25" && r.Serial != "5b36") || r.RegisteredAt.IsZero() {
			t.Errorf("registration %+v", r)
		}
	}
	if rec := tf.dossiers.get(t, "tai-khoan", "HS-2"); !rec.SpecimenRegisteredAt.Equal(tf.clock.Now()) {
		t.Errorf("specimenRegisteredAt %v, want %v", rec.SpecimenRegisteredAt, tf.clock.Now())
	}
}

// An account opened for another supplement than the one whose specimen
// the record keeps registers nothing (the specimen the treasury approved
// is not known), and the event is stored as usual; so is one for a dossier
// with no specimen.
func TestAccountOpenedForAnotherSupplementRegistersNothing(t *testing.T) {
	tf, reg := specimenFlow(t, 1)
	if err := receiveStatus(t, tf, "evt-1", "ACCOUNT_OPENED", 0); err != nil {
		t.Fatal(err)
	}
	if len(reg.regs) != 0 {
		t.Fatalf("registered another supplement's specimen: %+v", reg.regs)
	}
	r := tf.dossiers.get(t, "tai-khoan", "HS-2")
	r.Specimen, r.SoBoSung = nil, 0
	tf.dossiers.put(r)
	if err := receiveStatus(t, tf, "evt-2", "ACCOUNT_OPENED", 0); err != nil {
		t.Fatal(err)
	}
	if len(reg.regs) != 0 || len(tf.outbox.events) != 2 {
		t.Fatalf("no specimen: registrations %+v, %d events stored", reg.regs, len(tf.outbox.events))
	}
}

// Once registered, the specimen is not registered again: a repeated
// callback (its answer lost) or another event with the same status does
// not bring back a signer an operator revoked since.
func TestAccountOpenedRegistersOnce(t *testing.T) {
	tf, reg := specimenFlow(t, 0)
	if err := receiveStatus(t, tf, "evt-1", "ACCOUNT_OPENED", 0); err != nil {
		t.Fatal(err)
	}
	if len(reg.regs) != 2 {
		t.Fatalf("registrations %+v, want the specimen's two", reg.regs)
	}
	reg.regs = nil // an operator revoked them
	for _, id := range []string{"evt-1", "evt-2"} {
		if err := receiveStatus(t, tf, id, "ACCOUNT_OPENED", 0); err != nil {
			t.Fatal(err)
		}
	}
	if len(reg.regs) != 0 {
		t.Fatalf("registered again: %+v", reg.regs)
	}
}

// deadlineDossiers records the deadline of each record write.
type deadlineDossiers struct {
	*fakeDossiers
	mu        sync.Mutex
	deadlines []time.Time
}

func (d *deadlineDossiers) Update(ctx context.Context, procedure, maHoSo string, fn func(*dossier.Record, bool) bool) error {
	dl, _ := ctx.Deadline()
	d.mu.Lock()
	d.deadlines = append(d.deadlines, dl)
	d.mu.Unlock()
	return d.fakeDossiers.Update(ctx, procedure, maHoSo, fn)
}

// Once the portal took a move, the record is settled on a deadline of its
// own: past the attempt's (a move taken just before it is settled, not
// sent again), but within the lease the attempt's deadline stands for
// (the worker's timeout is half the lease).
func TestSettledAfterThePortalWithinTheLease(t *testing.T) {
	tf := newTestFlow(t)
	rec := &deadlineDossiers{fakeDossiers: tf.dossiers}
	tf.Flow.dossiers = rec
	tf.at("chi-thuong-xuyen", "HS-9", 2, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	attempt, _ := ctx.Deadline()
	if err := tf.Deliver(ctx, tf.delivery(t, event("chi-thuong-xuyen", "HS-9", "e2", "PROCESSING", 2), 1, false)); err != nil {
		t.Fatal(err)
	}
	if len(rec.deadlines) == 0 {
		t.Fatal("the record was not settled")
	}
	settled := rec.deadlines[0]
	if !settled.After(attempt) || settled.After(attempt.Add(2*time.Second)) {
		t.Fatalf("settled with deadline %v; the attempt's is %v, the lease ends about %v", settled, attempt, attempt.Add(2*time.Second))
	}
}

// slowPortal takes the progress after a pause and notes when it answered.
type slowPortal struct {
	*fakePortal
	pause    time.Duration
	mu       sync.Mutex
	answered time.Time
}

func (p *slowPortal) UpdateProgress(ctx context.Context, item portal.ProgressItem) error {
	time.Sleep(p.pause)
	err := p.fakePortal.UpdateProgress(ctx, item)
	p.mu.Lock()
	p.answered = time.Now()
	p.mu.Unlock()
	return err
}

// The writes after the portal have afterPortal from when the portal took
// the move, not from when the delivery started: a slow portal does not eat
// their time (a settlement that timed out would send the progress again).
func TestSettledAfterASlowPortal(t *testing.T) {
	tf := newTestFlow(t)
	rec := &deadlineDossiers{fakeDossiers: tf.dossiers}
	tf.Flow.dossiers = rec
	slow := &slowPortal{fakePortal: tf.portal, pause: 300 * time.Millisecond}
	tf.Flow.portal = slow
	tf.at("chi-thuong-xuyen", "HS-9", 2, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // the worker's default
	defer cancel()
	if err := tf.Deliver(ctx, tf.delivery(t, event("chi-thuong-xuyen", "HS-9", "e2", "PROCESSING", 2), 1, false)); err != nil {
		t.Fatal(err)
	}
	if len(rec.deadlines) == 0 {
		t.Fatal("the record was not settled")
	}
	slow.mu.Lock()
	answered := slow.answered
	slow.mu.Unlock()
	if settled := rec.deadlines[len(rec.deadlines)-1]; settled.Before(answered.Add(afterPortal)) {
		t.Fatalf("settled with deadline %v, less than %v after the portal answered (%v)", settled, afterPortal, answered)
	}
}

// Under a worker, the writes after the portal end within the event's
// lease even when the worker's timeout is most of it: another worker may
// take the event over once the lease ends.
func TestSettledWithinTheWorkersLease(t *testing.T) {
	tf := newTestFlow(t)
	rec := &deadlineDossiers{fakeDossiers: tf.dossiers}
	tf.Flow.dossiers = rec
	tf.at("chi-thuong-xuyen", "HS-9", 2, 1)
	box := outbox.NewMemory(tf.clock.Now)
	tf.Flow.outbox = box
	const lease = 4 * time.Second
	w, err := outbox.NewWorker(box, outbox.WorkerConfig{Deliver: tf.Deliver, Name: "w", Now: tf.clock.Now,
		Lease: lease, Timeout: lease * 9 / 10})
	if err != nil {
		t.Fatal(err)
	}
	appendEv(t, box, event("chi-thuong-xuyen", "HS-9", "e2", "PROCESSING", 2))
	claimed := time.Now()
	if n, err := w.Poll(context.Background()); n != 1 || err != nil {
		t.Fatalf("poll: %d, %v", n, err)
	}
	tf.portal.mu.Lock()
	progressed := len(tf.portal.progress)
	tf.portal.mu.Unlock()
	if len(rec.deadlines) == 0 || progressed != 1 {
		t.Fatalf("the event was not delivered and settled: %d record writes, %d progress calls", len(rec.deadlines), progressed)
	}
	for _, dl := range rec.deadlines {
		if dl.IsZero() || dl.After(claimed.Add(lease)) {
			t.Fatalf("a record write had deadline %v; the lease ends by %v", dl, claimed.Add(lease))
		}
	}
}

// A record the adapter did not have, recreated from the treasury's event,
// knows the unit the event names: a caller restricted to units is then
// answered about it as about any other record of that unit.
func TestRecordFromAnEventKnowsItsUnit(t *testing.T) {
	tf := newTestFlow(t)
	body := []byte(`{"eventId": "evt-u", "dossierCode": "HS-77", "procedure": "chi-thuong-xuyen", "supplementNo": 0, ` +
		`"documentId": "KB-DOC-HS-77", "reference": "KBNN-0011-2026-000077", "status": "PROCESSING", "sequence": 3, ` +
		`"occurredAt": "2026-06-09T15:00:00+07:00", "budgetUnitCode": "1012345"}`)
	if _, err := tf.Receive(context.Background(), webhook.Headers(secret, "evt-u", tf.clock.Now(), body), body); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := tf.dossiers.Get(context.Background(), "chi-thuong-xuyen", "HS-77")
	if err != nil || !ok || rec.Unit != "1012345" {
		t.Fatalf("record %+v, %v, %v; want unit 1012345", rec, ok, err)
	}
}

// An account opened for a dossier whose lifecycle has ended (final status,
// or a withdrawal the treasury accepted and whose callback is not in yet),
// or by an event older than the latest status applied, registers no
// signer: the delivery refuses the move too, and signers registered on a
// contradiction could pay from an account the unit gave up.
func TestAccountOpenedAfterTheEndRegistersNothing(t *testing.T) {
	for name, edit := range map[string]func(r *dossier.Record){
		"withdrawn": func(r *dossier.Record) { r.TrangThai = 7 },
		"stopped":   func(r *dossier.Record) { r.TrangThai = 8 },
		"withdrawal accepted": func(r *dossier.Record) {
			r.History = append(r.History, dossier.Event{TrangThai: 7, Source: "adapter", Note: "withdrawal requested by the unit"})
		},
		"older than the latest status": func(r *dossier.Record) { r.TreasurySequence = 3 },
	} {
		t.Run(name, func(t *testing.T) {
			tf, reg := specimenFlow(t, 0)
			if err := tf.dossiers.Update(context.Background(), "tai-khoan", "HS-2", func(r *dossier.Record, _ bool) bool {
				edit(r)
				return true
			}); err != nil {
				t.Fatal(err)
			}
			if err := receiveStatus(t, tf, "evt-9", "ACCOUNT_OPENED", 0); err != nil {
				t.Fatal(err)
			}
			if len(reg.regs) != 0 {
				t.Errorf("signers registered: %+v", reg.regs)
			}
		})
	}
}

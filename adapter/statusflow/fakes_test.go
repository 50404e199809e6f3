package statusflow

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/portal"
	"github.com/kbnn/dvc/adapter/statusmap"
	"github.com/kbnn/dvc/adapter/testkit/clock"
	"github.com/kbnn/dvc/adapter/webhook"
	"github.com/kbnn/dvc/mappings"
	"github.com/kbnn/dvc/schemas"
)

// The portal services, as the fake portal records its calls.
const (
	callLookup   = "TraCuuHoSo"
	callSync     = "DongBoHoSoMC"
	callProgress = "CapNhatTienDoHoSoMC"
)

// fakePortal is the portal as delivery sees it: TraCuuHoSo finds what
// earlier writes (or the test) left, and every call is recorded in order.
type fakePortal struct {
	mu       sync.Mutex
	dossiers map[string]portal.Status // maHoSo → TrangThaiHoSo the portal shows
	calls    []string
	syncs    []syncCall
	progress []portal.ProgressItem
	// writeErr, if set, fails DongBoHoSoMC and CapNhatTienDoHoSoMC
	// without the portal taking the write; progressErr fails only
	// CapNhatTienDoHoSoMC so.
	writeErr, progressErr error
	// loseProgress makes CapNhatTienDoHoSoMC take the write and still fail,
	// as when its answer is lost on the way.
	loseProgress bool
}

type syncCall struct {
	isUpdating bool
	item       portal.DossierItem
}

func newFakePortal() *fakePortal { return &fakePortal{dossiers: map[string]portal.Status{}} }

func (p *fakePortal) Lookup(_ context.Context, maHoSo string) (portal.Dossier, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, callLookup)
	st, ok := p.dossiers[maHoSo]
	if !ok {
		return portal.Dossier{}, false, nil
	}
	return portal.Dossier{MaHoSo: maHoSo, TrangThaiHoSo: st}, true, nil
}

func (p *fakePortal) SyncDossier(_ context.Context, isUpdating bool, item portal.DossierItem) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, callSync)
	if p.writeErr != nil {
		return p.writeErr
	}
	p.syncs = append(p.syncs, syncCall{isUpdating: isUpdating, item: item})
	p.dossiers[item.MaHoSo] = item.TrangThaiHoSo
	return nil
}

func (p *fakePortal) UpdateProgress(_ context.Context, item portal.ProgressItem) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, callProgress)
	if p.writeErr != nil {
		return p.writeErr
	}
	if p.progressErr != nil {
		return p.progressErr
	}
	p.progress = append(p.progress, item)
	p.dossiers[item.MaHoSo] = item.TrangThai
	if p.loseProgress {
		return errPortalDown
	}
	return nil
}

// takeCalls returns the calls so far and forgets them.
func (p *fakePortal) takeCalls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.calls
	p.calls = nil
	return c
}

// fakeDossiers is the flow's Dossiers on a map; records are copied in and out
// so that a test never shares a history slice with the flow.
type fakeDossiers struct {
	mu sync.Mutex
	m  map[[2]string]dossier.Record
}

func newFakeDossiers() *fakeDossiers { return &fakeDossiers{m: map[[2]string]dossier.Record{}} }

func cloneRecord(r dossier.Record) dossier.Record {
	r.History = append([]dossier.Event(nil), r.History...)
	r.Deferred = append([]dossier.Deferred(nil), r.Deferred...)
	return r
}

func (s *fakeDossiers) Get(_ context.Context, procedure, maHoSo string) (dossier.Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[[2]string{procedure, maHoSo}]
	return cloneRecord(r), ok, nil
}

func (s *fakeDossiers) Update(_ context.Context, procedure, maHoSo string, fn func(*dossier.Record, bool) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{procedure, maHoSo}
	r, ok := s.m[k]
	r = cloneRecord(r)
	if fn(&r, ok) {
		s.m[k] = r
	}
	return nil
}

func (s *fakeDossiers) put(r dossier.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[[2]string{r.Procedure, r.MaHoSo}] = cloneRecord(r)
}

func (s *fakeDossiers) get(t *testing.T, procedure, maHoSo string) dossier.Record {
	t.Helper()
	r, ok, _ := s.Get(context.Background(), procedure, maHoSo)
	if !ok {
		t.Fatalf("no record of %s %s", procedure, maHoSo)
	}
	return r
}

// fakeOutbox is the part of an outbox.Store that Receive uses: Append,
// deduplicated by event id within a dossier. Any other method panics.
type fakeOutbox struct {
	outbox.Store
	mu     sync.Mutex
	events map[string][]byte // dossier|eventId → payload
}

func newFakeOutbox() *fakeOutbox { return &fakeOutbox{events: map[string][]byte{}} }

func (o *fakeOutbox) Append(_ context.Context, dossierKey, eventID string, payload []byte) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := dossierKey + "|" + eventID
	if _, ok := o.events[k]; ok {
		return false, nil
	}
	o.events[k] = append([]byte(nil), payload...)
	return true, nil
}

// take returns the payload appended under the dossier and event id, failing
// the test when there is none.
func (o *fakeOutbox) take(t *testing.T, dossierKey, eventID string) []byte {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	p, ok := o.events[dossierKey+"|"+eventID]
	if !ok {
		t.Fatalf("nothing appended to the outbox as %s %s", dossierKey, eventID)
	}
	return p
}

// reference is the treasury's reference of every test dossier.
const reference = "KBNN-0011-2026-000001"

// receipt is the test clock's start, a Tuesday in ICT.
var receipt = time.Date(2026, 6, 9, 9, 0, 0, 0, portal.ICT)

// secret signs the test callbacks.
var secret = []byte("statusflow-test-secret-32-bytes!")

// testProcedures are two procedures whose lifecycles differ (PAID and
// ACCOUNT_OPENED), read from mappings/<procedure>/status.yaml.
var testProcedures = map[string]Procedure{
	"chi-thuong-xuyen": {Code: "2.002208", Name: "Chi thường xuyên", SLAWorkingDays: 2},
	"tai-khoan":        {Code: "1.009449", Name: "Đăng ký tài khoản", SLAWorkingDays: 3},
}

type testFlow struct {
	*Flow
	clock    *clock.Clock
	portal   *fakePortal
	dossiers *fakeDossiers
	outbox   *fakeOutbox
}

func newTestFlow(t *testing.T) *testFlow {
	t.Helper()
	eventSchema, err := fs.ReadFile(schemas.FS, "treasury/status-event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	statuses, err := statusmap.SchemaStatuses(eventSchema)
	if err != nil {
		t.Fatal(err)
	}
	procs := map[string]Procedure{}
	for id, p := range testProcedures {
		if p.Statuses, err = statusmap.Load(mappings.FS, id, statuses); err != nil {
			t.Fatal(err)
		}
		procs[id] = p
	}
	tf := &testFlow{clock: clock.New(receipt), portal: newFakePortal(), dossiers: newFakeDossiers(), outbox: newFakeOutbox()}
	tf.Flow, err = New(Options{
		Verifier:    webhook.NewVerifier([][]byte{secret}, time.Minute, tf.clock.Now),
		EventSchema: eventSchema, Procedures: procs, Outbox: tf.outbox, Dossiers: tf.dossiers,
		Portal: tf.portal, Now: tf.clock.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tf
}

// registered stores the record intake leaves for a dossier the treasury
// accepted: status 1, one history entry, nothing sent to the portal yet.
func (tf *testFlow) registered(procedure, code string) dossier.Record {
	r := dossier.Record{Procedure: procedure, MaHoSo: code, TrangThai: 1,
		TreasuryReference: reference, TreasuryDocumentID: "KB-DOC-" + code, UpdatedAt: receipt,
		History: []dossier.Event{{TrangThai: 1, At: receipt, Source: "adapter"}}}
	tf.dossiers.put(r)
	return r
}

// at stores a dossier the portal knows at status (1: registered only, the
// portal never told), whose latest treasury event applied had sequence seq.
func (tf *testFlow) at(procedure, code string, status int, seq int64) dossier.Record {
	r := tf.registered(procedure, code)
	if status > 1 {
		r.TrangThai, r.PortalSynced, r.TreasurySequence = status, true, seq
		tf.dossiers.put(r)
		tf.portal.mu.Lock()
		tf.portal.dossiers[code] = portal.Status(status)
		tf.portal.mu.Unlock()
	}
	return r
}

// event is a treasury status event of supplement 0 with the given sequence.
func event(procedure, code, id, status string, seq int64) Event {
	return Event{EventID: id, DossierCode: code, Procedure: procedure, DocumentID: "KB-DOC-" + code,
		Reference: reference, Status: status, Sequence: seq, OccurredAt: receipt.Add(time.Duration(seq) * time.Hour),
		Handler: "Nguyễn Văn B", HandlerTitle: "Kiểm soát viên", Department: "Phòng Kiểm soát chi"}
}

// delivery is ev as the outbox hands it to a worker, after the callback
// was received: the dossier's history holds the event, pending, as Receive
// leaves it.
func (tf *testFlow) delivery(t *testing.T, ev Event, attempt int, redelivered bool) outbox.Delivery {
	t.Helper()
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	_ = tf.dossiers.Update(context.Background(), ev.Procedure, ev.DossierCode, func(r *dossier.Record, _ bool) bool {
		for _, h := range r.History {
			if h.EventID == ev.EventID {
				return false
			}
		}
		code := 0
		if p, ok := tf.procedures[ev.Procedure]; ok {
			code, _ = p.Statuses.Nominal(ev.Status)
			if tr, ok := p.Statuses.Next(r.TrangThai, ev.Status); ok {
				code = tr.To
			}
		}
		r.History = append(r.History, dossier.Event{TrangThai: code, At: ev.OccurredAt, Source: "treasury",
			EventID: ev.EventID, TreasuryStatus: ev.Status, Delivery: dossier.DeliveryPending})
		return true
	})
	return outbox.Delivery{Event: outbox.Event{ID: ev.EventID, Dossier: dossierKey(ev.Procedure, ev.DossierCode), Payload: body},
		Attempt: attempt, Redelivered: redelivered}
}

// deliver runs Deliver for a first attempt and fails the test on an error.
func (tf *testFlow) deliver(t *testing.T, ev Event) {
	t.Helper()
	if err := tf.Deliver(context.Background(), tf.delivery(t, ev, 1, false)); err != nil {
		t.Fatalf("Deliver %s (%s): %v", ev.EventID, ev.Status, err)
	}
}

// historyEntry returns the history entry of eventID.
func historyEntry(t *testing.T, r dossier.Record, eventID string) dossier.Event {
	t.Helper()
	for _, h := range r.History {
		if h.EventID == eventID {
			return h
		}
	}
	t.Fatalf("no history entry for %s in %+v", eventID, r.History)
	return dossier.Event{}
}

var errPortalDown = errors.New("portal unavailable")

package statusflow

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/portal"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/webhook"
)

// Each treasury status reaches the portal as the national code its
// procedure's status.yaml gives it; a status the procedure lists as not
// delivered reaches nothing and is recorded stale.
func TestDeliverMapsStatusPerProcedure(t *testing.T) {
	cases := []struct {
		procedure, status string
		code              int // 0: not delivered for this procedure
	}{
		{"chi-thuong-xuyen", "RECEIVED", 2},
		{"chi-thuong-xuyen", "ACCEPTED", 2},
		{"chi-thuong-xuyen", "REJECTED", 3},
		{"chi-thuong-xuyen", "PROCESSING", 4},
		{"chi-thuong-xuyen", "CORRECTION_REQUIRED", 5},
		{"chi-thuong-xuyen", "WITHDRAWN", 7},
		{"chi-thuong-xuyen", "STOPPED", 8},
		{"chi-thuong-xuyen", "PAID", 9},
		{"chi-thuong-xuyen", "RESULT_RETURNED", 10},
		{"chi-thuong-xuyen", "ACCOUNT_OPENED", 0},
		{"tai-khoan", "RECEIVED", 2},
		{"tai-khoan", "PROCESSING", 4},
		{"tai-khoan", "ACCOUNT_OPENED", 9},
		{"tai-khoan", "RESULT_RETURNED", 10},
		{"tai-khoan", "PAID", 0},
	}
	for _, c := range cases {
		t.Run(c.procedure+"/"+c.status, func(t *testing.T) {
			tf := newTestFlow(t)
			tf.registered(c.procedure, "HS-1")
			ev := event(c.procedure, "HS-1", "evt-1", c.status, 1)
			tf.deliver(t, ev)

			rec := tf.dossiers.get(t, c.procedure, "HS-1")
			h := historyEntry(t, rec, "evt-1")
			if c.code == 0 {
				if calls := tf.portal.takeCalls(); len(calls) != 0 {
					t.Fatalf("portal calls %v for a status not delivered for %s", calls, c.procedure)
				}
				if h.Delivery != dossier.DeliveryStale || rec.TrangThai != 1 || rec.PortalSynced {
					t.Fatalf("history %+v, status %d, synced %v; want stale, status 1, not synced", h, rec.TrangThai, rec.PortalSynced)
				}
				return
			}
			if len(tf.portal.syncs) != 1 {
				t.Fatalf("DongBoHoSoMC calls %d, want 1 (calls %v)", len(tf.portal.syncs), tf.portal.calls)
			}
			if got := tf.portal.syncs[0].item.TrangThaiHoSo; got != portal.Status(c.code) {
				t.Fatalf("portal got TrangThaiHoSo %d, want %d", got, c.code)
			}
			if rec.TrangThai != c.code || h.TrangThai != c.code || h.Delivery != dossier.DeliveryDelivered {
				t.Fatalf("record status %d, history %+v; want %d delivered", rec.TrangThai, h, c.code)
			}
		})
	}
}

// Receive records a callback in the dossier's history with its national
// code, pending delivery; the same event id again is a duplicate.
func TestReceiveRecordsNationalCode(t *testing.T) {
	tf := newTestFlow(t)
	tf.registered("tai-khoan", "HS-2")
	body := []byte(`{"eventId": "evt-tk-1", "dossierCode": "HS-2", "procedure": "tai-khoan", "supplementNo": 0,
		"documentId": "KB-DOC-HS-2", "reference": "KBNN-0011-2026-000003", "status": "ACCOUNT_OPENED", "sequence": 3,
		"occurredAt": "2026-06-09T15:00:00+07:00"}`)
	h := webhook.Headers(secret, "evt-tk-1", tf.clock.Now(), body)
	dup, err := tf.Receive(context.Background(), h, body)
	if err != nil || dup {
		t.Fatalf("Receive: duplicate %v, err %v", dup, err)
	}
	entry := historyEntry(t, tf.dossiers.get(t, "tai-khoan", "HS-2"), "evt-tk-1")
	if entry.TrangThai != 9 || entry.Delivery != dossier.DeliveryPending || entry.TreasuryStatus != "ACCOUNT_OPENED" {
		t.Fatalf("history entry %+v, want code 9 pending for ACCOUNT_OPENED", entry)
	}
	if len(tf.outbox.events) != 1 {
		t.Fatalf("outbox holds %d events, want 1", len(tf.outbox.events))
	}
	if dup, err = tf.Receive(context.Background(), h, body); err != nil || !dup {
		t.Fatalf("Receive again: duplicate %v, err %v; want a duplicate", dup, err)
	}
	if n := len(tf.dossiers.get(t, "tai-khoan", "HS-2").History); n != 2 {
		t.Fatalf("history has %d entries after a duplicate, want 2", n)
	}
	if len(tf.portal.calls) != 0 {
		t.Fatalf("Receive called the portal: %v", tf.portal.calls)
	}

	// A bad signature stores nothing.
	other := []byte(strings.ReplaceAll(string(body), "evt-tk-1", "evt-tk-2"))
	h = webhook.Headers([]byte("another-secret-of-32-bytes-long!"), "evt-tk-2", tf.clock.Now(), other)
	_, err = tf.Receive(context.Background(), h, other)
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Kind != problem.Unauthorized {
		t.Fatalf("Receive with a bad signature: %v, want unauthorized", err)
	}
	if len(tf.outbox.events) != 1 {
		t.Fatalf("outbox holds %d events after a refused callback, want 1", len(tf.outbox.events))
	}
}

// An event whose status is older than or equal to the dossier's current
// one, or that the treasury sent before the latest event delivered, is
// recorded stale: the portal is not called and the current status stays.
func TestDeliverStaleEventIsRecordedNotDelivered(t *testing.T) {
	cases := []struct {
		name          string
		recSupplement int // the record's latest supplement; its latest sequence is 5
		status        string
		supplement    int
		seq           int64
		stale         bool
	}{
		{"equal status", 0, "PROCESSING", 0, 10, true},
		{"older status", 0, "RECEIVED", 0, 10, true},
		{"older sequence, later status", 0, "PAID", 0, 4, true},
		{"equal sequence, later status", 0, "PAID", 0, 5, true},
		{"older supplement, later status", 1, "PAID", 0, 9, true},
		{"later sequence, later status", 0, "PAID", 0, 6, false},
		{"later supplement, later status", 1, "PAID", 2, 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tf := newTestFlow(t)
			rec := tf.registered("chi-thuong-xuyen", "HS-3")
			rec.TrangThai, rec.PortalSynced = 4, true
			rec.TreasurySupplement, rec.TreasurySequence = c.recSupplement, 5
			tf.dossiers.put(rec)
			tf.portal.dossiers["HS-3"] = 4
			ev := event("chi-thuong-xuyen", "HS-3", "evt-3", c.status, c.seq)
			ev.SupplementNo = c.supplement
			tf.deliver(t, ev)

			got := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-3")
			h := historyEntry(t, got, "evt-3")
			calls := tf.portal.takeCalls()
			if !c.stale {
				if !slices.Equal(calls, []string{callProgress}) || got.TrangThai != 9 || h.Delivery != dossier.DeliveryDelivered {
					t.Fatalf("calls %v, status %d, history %+v; want CapNhatTienDoHoSoMC and status 9 delivered", calls, got.TrangThai, h)
				}
				return
			}
			if len(calls) != 0 {
				t.Fatalf("portal calls %v for a stale event", calls)
			}
			if h.Delivery != dossier.DeliveryStale {
				t.Fatalf("history entry %+v, want stale", h)
			}
			if got.TrangThai != 4 || got.TreasurySequence != 5 || got.TreasurySupplement != rec.TreasurySupplement {
				t.Fatalf("record moved by a stale event: status %d, supplement %d, sequence %d",
					got.TrangThai, got.TreasurySupplement, got.TreasurySequence)
			}
		})
	}
}

// A dossier waiting for a correction (5) that is in progress again (4)
// moves on: that is the one lower code the portal takes.
func TestDeliverCorrectionBackToProcessing(t *testing.T) {
	tf := newTestFlow(t)
	rec := tf.registered("chi-thuong-xuyen", "HS-4")
	rec.TrangThai, rec.PortalSynced, rec.TreasurySequence = 5, true, 3
	tf.dossiers.put(rec)
	tf.deliver(t, event("chi-thuong-xuyen", "HS-4", "evt-4", "PROCESSING", 4))
	if calls := tf.portal.takeCalls(); !slices.Equal(calls, []string{callProgress}) {
		t.Fatalf("calls %v, want CapNhatTienDoHoSoMC", calls)
	}
	if got := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-4"); got.TrangThai != 4 {
		t.Fatalf("status %d, want 4", got.TrangThai)
	}
}

// The first delivery of a dossier looks it up (TraCuuHoSo) and sends the
// whole dossier (DongBoHoSoMC); every later one is a progress update
// (CapNhatTienDoHoSoMC) without a lookup.
func TestDeliverFirstSyncsThenUpdatesProgress(t *testing.T) {
	tf := newTestFlow(t)
	tf.registered("chi-thuong-xuyen", "HS-5")

	first := event("chi-thuong-xuyen", "HS-5", "evt-5a", "RECEIVED", 1)
	first.Note = "Đã tiếp nhận"
	tf.deliver(t, first)
	if calls := tf.portal.takeCalls(); !slices.Equal(calls, []string{callLookup, callSync}) {
		t.Fatalf("first delivery calls %v, want [%s %s]", calls, callLookup, callSync)
	}
	s := tf.portal.syncs[0]
	if s.isUpdating {
		t.Fatal("DongBoHoSoMC isUpdating for a dossier the portal did not have")
	}
	want := portal.DossierItem{MaHoSo: "HS-5", MaTTHC: "2.002208", TenTTHC: "Chi thường xuyên", TrichYeuHoSo: "Chi thường xuyên",
		SoBienNhan: reference, NgayTiepNhan: "20260609090000", NgayHenTra: "20260611090000", TrangThaiHoSo: 2,
		DonViXuLy: "Phòng Kiểm soát chi", GhiChu: "Đã tiếp nhận"}
	if got, _ := json.Marshal(s.item); string(got) != string(must(json.Marshal(want))) {
		t.Fatalf("DongBoHoSoMC item\n got %s\nwant %s", got, must(json.Marshal(want)))
	}
	rec := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-5")
	if !rec.PortalSynced || rec.TrangThai != 2 || rec.TreasurySequence != 1 {
		t.Fatalf("after the first delivery: synced %v, status %d, sequence %d", rec.PortalSynced, rec.TrangThai, rec.TreasurySequence)
	}
	if h := historyEntry(t, rec, "evt-5a"); h.Delivery != dossier.DeliveryDelivered || !h.DeliveredAt.Equal(receipt) {
		t.Fatalf("history entry %+v, want delivered at the clock's time", h)
	}

	tf.clock.Advance(time.Hour)
	second := event("chi-thuong-xuyen", "HS-5", "evt-5b", "PROCESSING", 2)
	tf.deliver(t, second)
	if calls := tf.portal.takeCalls(); !slices.Equal(calls, []string{callProgress}) {
		t.Fatalf("later delivery calls %v, want [%s]", calls, callProgress)
	}
	p := tf.portal.progress[0]
	if p.TrangThai != 4 || p.MaHoSo != "HS-5" || p.NoiDungXuLy != "Đang xử lý" || p.NguoiXuLy != "Nguyễn Văn B" ||
		p.NgayBatDau != "20260609090000" || p.ThoiDiemXuLy != "20260609110000" {
		t.Fatalf("progress item %+v", p)
	}
	if h := historyEntry(t, tf.dossiers.get(t, "chi-thuong-xuyen", "HS-5"), "evt-5b"); !h.DeliveredAt.Equal(receipt.Add(time.Hour)) {
		t.Fatalf("history entry %+v, want delivered an hour later", h)
	}
}

// A first delivery to a portal that already has the dossier (another
// channel registered it) updates it: DongBoHoSoMC with isUpdating.
func TestDeliverFirstSyncUpdatesDossierThePortalHas(t *testing.T) {
	tf := newTestFlow(t)
	tf.registered("chi-thuong-xuyen", "HS-6")
	tf.portal.dossiers["HS-6"] = 1
	tf.deliver(t, event("chi-thuong-xuyen", "HS-6", "evt-6", "PROCESSING", 1))
	if calls := tf.portal.takeCalls(); !slices.Equal(calls, []string{callLookup, callSync}) {
		t.Fatalf("calls %v, want [%s %s]", calls, callLookup, callSync)
	}
	if !tf.portal.syncs[0].isUpdating {
		t.Fatal("DongBoHoSoMC not isUpdating for a dossier the portal has")
	}
}

// A failed write leaves the dossier as it was, so the retry sends the whole
// dossier again rather than a progress update.
func TestDeliverFailedFirstSyncIsRetriedAsSync(t *testing.T) {
	tf := newTestFlow(t)
	tf.registered("chi-thuong-xuyen", "HS-7")
	ev := event("chi-thuong-xuyen", "HS-7", "evt-7", "PROCESSING", 1)
	tf.portal.writeErr = errPortalDown
	if err := tf.Deliver(context.Background(), tf.delivery(t, ev, 1, false)); !errors.Is(err, errPortalDown) {
		t.Fatalf("Deliver: %v, want the portal's error", err)
	}
	rec := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-7")
	if rec.PortalSynced || rec.TrangThai != 1 {
		t.Fatalf("after a failed write: synced %v, status %d", rec.PortalSynced, rec.TrangThai)
	}
	tf.portal.writeErr = nil
	tf.portal.takeCalls()
	if err := tf.Deliver(context.Background(), tf.delivery(t, ev, 2, false)); err != nil {
		t.Fatal(err)
	}
	if calls := tf.portal.takeCalls(); !slices.Equal(calls, []string{callLookup, callSync}) {
		t.Fatalf("retry calls %v, want [%s %s]", calls, callLookup, callSync)
	}
}

// After an attempt that ended without an answer (a redelivery, or a retry),
// delivery looks the dossier up first, and sends nothing when the portal
// already shows the event's status or a later one.
func TestDeliverUncertainAttemptChecksPortalFirst(t *testing.T) {
	cases := []struct {
		name        string
		attempt     int
		redelivered bool
		onPortal    portal.Status
		want        []string
	}{
		{"redelivered, portal has it", 1, true, 9, []string{callLookup}},
		{"redelivered, portal has a later status", 1, true, 10, []string{callLookup}},
		{"redelivered, portal has an older status", 1, true, 4, []string{callLookup, callProgress}},
		{"retry, portal has it", 2, false, 9, []string{callLookup}},
		{"retry, portal has an older status", 3, false, 4, []string{callLookup, callProgress}},
		// A first attempt of a synced dossier trusts the record.
		{"first attempt", 1, false, 9, []string{callProgress}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tf := newTestFlow(t)
			rec := tf.registered("chi-thuong-xuyen", "HS-8")
			rec.TrangThai, rec.PortalSynced, rec.TreasurySequence = 4, true, 2
			tf.dossiers.put(rec)
			tf.portal.dossiers["HS-8"] = c.onPortal
			ev := event("chi-thuong-xuyen", "HS-8", "evt-8", "PAID", 3)
			if err := tf.Deliver(context.Background(), tf.delivery(t, ev, c.attempt, c.redelivered)); err != nil {
				t.Fatal(err)
			}
			if calls := tf.portal.takeCalls(); !slices.Equal(calls, c.want) {
				t.Fatalf("calls %v, want %v", calls, c.want)
			}
			got := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-8")
			if h := historyEntry(t, got, "evt-8"); h.Delivery != dossier.DeliveryDelivered || got.TrangThai != 9 || got.TreasurySequence != 3 {
				t.Fatalf("history %+v, status %d, sequence %d; want delivered, 9, 3", h, got.TrangThai, got.TreasurySequence)
			}
		})
	}
}

// A redelivered event the record already shows delivered (the
// acknowledgement was lost) is acknowledged without calling the portal.
func TestDeliverAlreadyDeliveredEventIsAcknowledged(t *testing.T) {
	tf := newTestFlow(t)
	tf.registered("chi-thuong-xuyen", "HS-9")
	ev := event("chi-thuong-xuyen", "HS-9", "evt-9", "PROCESSING", 1)
	tf.deliver(t, ev)
	tf.portal.takeCalls()
	if err := tf.Deliver(context.Background(), tf.delivery(t, ev, 1, true)); err != nil {
		t.Fatal(err)
	}
	if calls := tf.portal.takeCalls(); len(calls) != 0 {
		t.Fatalf("calls %v for an event already delivered", calls)
	}
	if h := historyEntry(t, tf.dossiers.get(t, "chi-thuong-xuyen", "HS-9"), "evt-9"); h.Delivery != dossier.DeliveryDelivered {
		t.Fatalf("history entry %+v, want delivered", h)
	}
}

// A payload that is not an event, or an unknown procedure, can never be
// delivered: the error is permanent.
func TestDeliverUndeliverableIsPermanent(t *testing.T) {
	tf := newTestFlow(t)
	bad := outbox.Delivery{Event: outbox.Event{ID: "evt-x", Dossier: "chi-thuong-xuyen|HS-X", Payload: []byte("{")}, Attempt: 1}
	if err := tf.Deliver(context.Background(), bad); !outbox.IsPermanent(err) {
		t.Fatalf("malformed payload: %v, want permanent", err)
	}
	ev := event("von-dau-tu", "HS-X", "evt-y", "PAID", 1)
	if err := tf.Deliver(context.Background(), tf.delivery(t, ev, 1, false)); !outbox.IsPermanent(err) {
		t.Fatalf("unknown procedure: %v, want permanent", err)
	}
	if len(tf.portal.calls) != 0 {
		t.Fatalf("portal calls %v", tf.portal.calls)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

package statusflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/portal"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/statusmap"
	"github.com/kbnn/dvc/adapter/webhook"
)

// Each allowed move reaches the portal as the national code the procedure's
// lifecycle (mappings/<procedure>/status.yaml) gives it, the full dossier
// first and then the progress; a move the lifecycle does not allow, a
// status the procedure never reports included, reaches nothing and is
// recorded "not-allowed" with the reason.
func TestDeliverMapsStatusPerProcedure(t *testing.T) {
	cases := []struct {
		procedure   string
		from        int // the dossier's status before; 1: registered, never sent to the portal
		status      string
		code        int    // 0: not allowed
		whyContains string // for a move not allowed
	}{
		{"chi-thuong-xuyen", 1, "RECEIVED", 2, ""},
		{"chi-thuong-xuyen", 1, "ACCEPTED", 2, ""},
		{"chi-thuong-xuyen", 1, "REJECTED", 3, ""},
		{"chi-thuong-xuyen", 2, "REJECTED", 3, ""},
		{"chi-thuong-xuyen", 4, "REJECTED", 8, ""},
		{"chi-thuong-xuyen", 5, "REJECTED", 8, ""},
		{"chi-thuong-xuyen", 1, "PROCESSING", 4, ""},
		{"chi-thuong-xuyen", 4, "CORRECTION_REQUIRED", 5, ""},
		{"chi-thuong-xuyen", 5, "RECEIVED", 2, ""},
		{"chi-thuong-xuyen", 4, "WITHDRAWN", 7, ""},
		{"chi-thuong-xuyen", 2, "STOPPED", 8, ""},
		{"chi-thuong-xuyen", 4, "PAID", 9, ""},
		{"chi-thuong-xuyen", 9, "RESULT_RETURNED", 10, ""},
		{"chi-thuong-xuyen", 2, "PAID", 0, "PAID moves a dossier only from 4, not from 2"},
		{"chi-thuong-xuyen", 4, "RESULT_RETURNED", 0, "RESULT_RETURNED moves a dossier only from 9, not from 4"},
		{"chi-thuong-xuyen", 9, "STOPPED", 0, "STOPPED moves a dossier only from 1, 2, 4, 5, not from 9"},
		{"chi-thuong-xuyen", 4, "ACCOUNT_OPENED", 0, "only account registration (tai-khoan) opens accounts"},
		{"tai-khoan", 1, "RECEIVED", 2, ""},
		{"tai-khoan", 2, "PROCESSING", 4, ""},
		{"tai-khoan", 4, "ACCOUNT_OPENED", 9, ""},
		{"tai-khoan", 9, "RESULT_RETURNED", 10, ""},
		{"tai-khoan", 4, "PAID", 0, "account registration moves no money"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%d/%s", c.procedure, c.from, c.status), func(t *testing.T) {
			tf := newTestFlow(t)
			tf.at(c.procedure, "HS-1", c.from, 3)
			seq := int64(4)
			if c.from == 1 {
				seq = 1 // the document's first event: none is missing before it
			}
			ev := event(c.procedure, "HS-1", "evt-1", c.status, seq)
			tf.deliver(t, ev)

			rec := tf.dossiers.get(t, c.procedure, "HS-1")
			h := historyEntry(t, rec, "evt-1")
			calls := tf.portal.takeCalls()
			if c.code == 0 {
				// a dossier the portal has not been told of may be looked up
				// (the adapter may have lost its record); nothing is written
				if slices.Contains(calls, callSync) || slices.Contains(calls, callProgress) {
					t.Fatalf("portal calls %v for a move not allowed", calls)
				}
				if h.Delivery != dossier.DeliveryNotAllowed || !strings.Contains(h.DeliveryNote, c.whyContains) || rec.TrangThai != c.from {
					t.Fatalf("history %+v, status %d; want not-allowed (%q), status %d", h, rec.TrangThai, c.whyContains, c.from)
				}
				return
			}
			want := []string{callSync, callProgress}
			if c.from == 1 {
				want = []string{callLookup, callSync, callProgress}
			}
			if !slices.Equal(calls, want) {
				t.Fatalf("calls %v, want %v", calls, want)
			}
			if got := tf.portal.syncs[0].item.TrangThaiHoSo; got != portal.Status(c.code) {
				t.Fatalf("DongBoHoSoMC TrangThaiHoSo %d, want %d", got, c.code)
			}
			if got := tf.portal.progress[0].TrangThai; got != portal.Status(c.code) {
				t.Fatalf("CapNhatTienDoHoSoMC TrangThai %d, want %d", got, c.code)
			}
			if rec.TrangThai != c.code || h.TrangThai != c.code || h.Delivery != dossier.DeliveryDelivered || h.DeliveryNote != "" {
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

// A callback whose sender the transport authenticated (the treasury's
// client certificate) needs no signature; its webhook-id, when sent, must
// still be the event's id.
func TestReceiveOnAuthenticatedChannel(t *testing.T) {
	tf := newTestFlow(t)
	tf.registered("tai-khoan", "HS-2")
	body := []byte(`{"eventId": "evt-tk-1", "dossierCode": "HS-2", "procedure": "tai-khoan", "supplementNo": 0,
		"documentId": "KB-DOC-HS-2", "reference": "KBNN-0011-2026-000003", "status": "ACCOUNT_OPENED", "sequence": 3,
		"occurredAt": "2026-06-09T15:00:00+07:00"}`)
	if _, err := tf.Receive(context.Background(), http.Header{}, body); err == nil {
		t.Fatal("an unsigned callback was accepted without an authenticated channel")
	}
	ctx := webhook.WithAuthenticatedChannel(context.Background())
	other := http.Header{}
	other.Set(webhook.HeaderID, "evt-other")
	_, err := tf.Receive(ctx, other, body)
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Kind != problem.SchemaViolation {
		t.Fatalf("webhook-id other than the event id: %v, want schema-violation", err)
	}
	if dup, err := tf.Receive(ctx, http.Header{}, body); err != nil || dup {
		t.Fatalf("Receive: duplicate %v, err %v", dup, err)
	}
	if len(tf.outbox.events) != 1 {
		t.Fatalf("outbox holds %d events, want 1", len(tf.outbox.events))
	}
}

// An event the treasury sent before the latest one applied (an older
// supplement, or an older or equal sequence of the same one) is recorded
// stale, whatever its status; a newer event whose move the lifecycle does
// not allow is recorded not-allowed. Neither calls the portal or moves the
// dossier.
func TestDeliverStaleAndNotAllowedAreRecordedNotDelivered(t *testing.T) {
	cases := []struct {
		name          string
		recSupplement int // the record's latest supplement; its latest sequence is 5
		status        string
		supplement    int
		seq           int64
		want          string // delivery state
	}{
		{"equal status", 0, "PROCESSING", 0, 6, dossier.DeliveryNotAllowed},
		{"lower status", 0, "RECEIVED", 0, 6, dossier.DeliveryNotAllowed},
		// an event after a gap in the treasury's sequence, whose move the
		// dossier can still come to, waits for the missing one
		{"later status after a gap", 0, "RESULT_RETURNED", 0, 10, dossier.DeliveryDeferred},
		{"equal status after a gap", 0, "PROCESSING", 0, 10, dossier.DeliveryDeferred},
		// after a gap, but no status the dossier can come to allows it
		{"never again after a gap", 0, "ACCOUNT_OPENED", 0, 10, dossier.DeliveryNotAllowed},
		{"older sequence, allowed move", 0, "PAID", 0, 4, dossier.DeliveryStale},
		{"equal sequence, allowed move", 0, "PAID", 0, 5, dossier.DeliveryStale},
		{"older supplement, allowed move", 1, "PAID", 0, 9, dossier.DeliveryStale},
		{"later sequence, allowed move", 0, "PAID", 0, 6, dossier.DeliveryDelivered},
		{"later supplement, allowed move", 1, "PAID", 2, 1, dossier.DeliveryDelivered},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tf := newTestFlow(t)
			rec := tf.at("chi-thuong-xuyen", "HS-3", 4, 5)
			rec.TreasurySupplement = c.recSupplement
			tf.dossiers.put(rec)
			ev := event("chi-thuong-xuyen", "HS-3", "evt-3", c.status, c.seq)
			ev.SupplementNo = c.supplement
			tf.deliver(t, ev)

			got := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-3")
			h := historyEntry(t, got, "evt-3")
			calls := tf.portal.takeCalls()
			if h.Delivery != c.want {
				t.Fatalf("history entry %+v, want %s", h, c.want)
			}
			if c.want == dossier.DeliveryDelivered {
				if !slices.Equal(calls, []string{callSync, callProgress}) || got.TrangThai != 9 {
					t.Fatalf("calls %v, status %d; want [%s %s] and status 9", calls, got.TrangThai, callSync, callProgress)
				}
				return
			}
			if len(calls) != 0 {
				t.Fatalf("portal calls %v for an event not delivered", calls)
			}
			if h.DeliveryNote == "" || h.Note != ev.Note {
				t.Fatalf("history entry %+v: want the reason in deliveryNote and the treasury's note kept", h)
			}
			if got.TrangThai != 4 || got.TreasurySequence != 5 || got.TreasurySupplement != rec.TreasurySupplement {
				t.Fatalf("record moved by an event not delivered: status %d, supplement %d, sequence %d",
					got.TrangThai, got.TreasurySupplement, got.TreasurySequence)
			}
		})
	}
}

// A dossier waiting for a correction (5) whose control resumes (4) moves
// on: the lifecycle allows PROCESSING from 5.
func TestDeliverCorrectionBackToProcessing(t *testing.T) {
	tf := newTestFlow(t)
	tf.at("chi-thuong-xuyen", "HS-4", 5, 3)
	tf.deliver(t, event("chi-thuong-xuyen", "HS-4", "evt-4", "PROCESSING", 4))
	if calls := tf.portal.takeCalls(); !slices.Equal(calls, []string{callSync, callProgress}) {
		t.Fatalf("calls %v, want [%s %s]", calls, callSync, callProgress)
	}
	if got := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-4"); got.TrangThai != 4 {
		t.Fatalf("status %d, want 4", got.TrangThai)
	}
}

// Every move sends the full dossier (DongBoHoSoMC) and then the progress
// (CapNhatTienDoHoSoMC); the first delivery of a dossier looks it up first
// (TraCuuHoSo) and sends the full dossier as new, later ones as an update
// without a look-up.
func TestDeliverSendsFullDossierThenProgress(t *testing.T) {
	tf := newTestFlow(t)
	tf.registered("chi-thuong-xuyen", "HS-5")

	first := event("chi-thuong-xuyen", "HS-5", "evt-5a", "RECEIVED", 1)
	first.Note = "Đã tiếp nhận"
	tf.deliver(t, first)
	if calls := tf.portal.takeCalls(); !slices.Equal(calls, []string{callLookup, callSync, callProgress}) {
		t.Fatalf("first delivery calls %v, want [%s %s %s]", calls, callLookup, callSync, callProgress)
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
	if p := tf.portal.progress[0]; p.TrangThai != 2 || p.NoiDungXuLy != "Đã tiếp nhận" {
		t.Fatalf("progress item %+v", p)
	}
	rec := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-5")
	if !rec.PortalSynced || rec.TrangThai != 2 || rec.TreasurySequence != 1 {
		t.Fatalf("after the first delivery: synced %v, status %d, sequence %d", rec.PortalSynced, rec.TrangThai, rec.TreasurySequence)
	}
	if h := historyEntry(t, rec, "evt-5a"); h.Delivery != dossier.DeliveryDelivered || !h.DeliveredAt.Equal(receipt) {
		t.Fatalf("history entry %+v, want delivered at the clock's time", h)
	}

	tf.clock.Advance(time.Hour)
	tf.deliver(t, event("chi-thuong-xuyen", "HS-5", "evt-5b", "PROCESSING", 2))
	if calls := tf.portal.takeCalls(); !slices.Equal(calls, []string{callSync, callProgress}) {
		t.Fatalf("later delivery calls %v, want [%s %s]", calls, callSync, callProgress)
	}
	if s := tf.portal.syncs[1]; !s.isUpdating || s.item.TrangThaiHoSo != 4 || s.item.NgayTiepNhan != "20260609090000" {
		t.Fatalf("second DongBoHoSoMC: isUpdating %v, item %+v", s.isUpdating, s.item)
	}
	p := tf.portal.progress[1]
	if p.TrangThai != 4 || p.MaHoSo != "HS-5" || p.NoiDungXuLy != "Đang xử lý" || p.NguoiXuLy != "Nguyễn Văn B" ||
		p.NgayBatDau != "20260609090000" || p.ThoiDiemXuLy != "20260609110000" {
		t.Fatalf("progress item %+v", p)
	}
	if h := historyEntry(t, tf.dossiers.get(t, "chi-thuong-xuyen", "HS-5"), "evt-5b"); !h.DeliveredAt.Equal(receipt.Add(time.Hour)) {
		t.Fatalf("history entry %+v, want delivered an hour later", h)
	}
}

// The full dossier of every move carries what the move says beyond the
// status: the end of processing (NgayKetThucXuLy) from 9 on, the result
// documents, the return date (NgayTra) and what was returned at 10.
func TestDeliverFullDossierCarriesResultsAndDates(t *testing.T) {
	tf := newTestFlow(t)
	tf.registered("chi-thuong-xuyen", "HS-R")
	for i, st := range []string{"ACCEPTED", "PROCESSING", "PAID"} {
		tf.deliver(t, event("chi-thuong-xuyen", "HS-R", fmt.Sprint("evt-r", i), st, int64(i+1)))
	}
	done := event("chi-thuong-xuyen", "HS-R", "evt-r3", "RESULT_RETURNED", 4)
	done.ResultDocuments = []ResultDocument{{Name: "Giấy rút dự toán đã hạch toán", URL: "https://dvc.kbnn.gov.vn/ket-qua/x.pdf"}}
	tf.deliver(t, done)
	if calls := tf.portal.takeCalls(); !slices.Equal(calls, []string{callLookup, callSync, callProgress, callSync, callProgress,
		callSync, callProgress, callSync, callProgress}) {
		t.Fatalf("calls %v: want the full dossier then the progress on every move", calls)
	}
	paid, returned := tf.portal.syncs[2].item, tf.portal.syncs[3].item
	if paid.TrangThaiHoSo != 9 || paid.NgayKetThucXuLy != "20260609120000" || paid.NgayTra != "" {
		t.Fatalf("at 9: %+v", paid)
	}
	if returned.TrangThaiHoSo != 10 || returned.NgayKetThucXuLy != "20260609120000" || returned.NgayTra != "20260609130000" ||
		returned.ThongTinTra != "Đã trả kết quả" || len(returned.DanhSachGiayToKetQua) != 1 ||
		returned.DanhSachGiayToKetQua[0].DuongDanTepTinKetQua != "https://dvc.kbnn.gov.vn/ket-qua/x.pdf" {
		t.Fatalf("at 10: %+v", returned)
	}
}

// A refusal after control (the treasury refuses once it examined the
// vouchers, the dossier at 4 or 5) reaches the portal as 8, Dừng xử lý,
// with the treasury's reason as the result (ThongTinTra) and the end of
// processing; a refusal at intake (1 or 2) as 3, Không được tiếp nhận.
func TestDeliverRefusals(t *testing.T) {
	for _, c := range []struct {
		name       string
		from, want int
	}{
		{"after control", 4, 8},
		{"after a correction request", 5, 8},
		{"at intake", 2, 3},
		{"at intake, never on the portal", 1, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			tf := newTestFlow(t)
			tf.at("chi-thuong-xuyen", "HS-N", c.from, 2)
			seq := int64(3)
			if c.from == 1 {
				seq = 1 // the document's first event: none is missing before it
			}
			ev := event("chi-thuong-xuyen", "HS-N", "evt-n", "REJECTED", seq)
			ev.Note = "Từ chối: mục lục ngân sách không khớp dự toán"
			tf.deliver(t, ev)
			if n := len(tf.portal.syncs); n != 1 {
				t.Fatalf("%d DongBoHoSoMC calls", n)
			}
			it := tf.portal.syncs[0].item
			if it.TrangThaiHoSo != portal.Status(c.want) || it.ThongTinTra != ev.Note || it.NgayKetThucXuLy != ev.OccurredAt.Format("20060102150405") {
				t.Fatalf("item: TrangThaiHoSo %d, ThongTinTra %q, NgayKetThucXuLy %q; want %d with the reason",
					it.TrangThaiHoSo, it.ThongTinTra, it.NgayKetThucXuLy, c.want)
			}
			if p := tf.portal.progress[0]; p.TrangThai != portal.Status(c.want) || p.NoiDungXuLy != ev.Note {
				t.Fatalf("progress %+v", p)
			}
			if rec := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-N"); rec.TrangThai != c.want {
				t.Fatalf("record status %d, want %d", rec.TrangThai, c.want)
			}
		})
	}
}

// Nothing moves a dossier at a final status: 3 → 4, 7 → 9, 8 → 9, 8 → 10,
// 10 → 4 are recorded not-allowed and never sent, however new the event.
func TestDeliverFinalNeverReopens(t *testing.T) {
	for _, c := range []struct {
		from   int
		status string
	}{
		{3, "PROCESSING"}, {3, "RECEIVED"}, {7, "PAID"}, {8, "PAID"}, {8, "RESULT_RETURNED"}, {8, "PROCESSING"},
		{10, "PROCESSING"}, {10, "REJECTED"},
	} {
		t.Run(fmt.Sprintf("%d/%s", c.from, c.status), func(t *testing.T) {
			tf := newTestFlow(t)
			tf.at("chi-thuong-xuyen", "HS-F", c.from, 2)
			tf.deliver(t, event("chi-thuong-xuyen", "HS-F", "evt-f", c.status, 9))
			if calls := tf.portal.takeCalls(); len(calls) != 0 {
				t.Fatalf("portal calls %v", calls)
			}
			rec := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-F")
			h := historyEntry(t, rec, "evt-f")
			if rec.TrangThai != c.from || h.Delivery != dossier.DeliveryNotAllowed || !strings.Contains(h.DeliveryNote, "a final status") {
				t.Fatalf("status %d, history %+v; want %d and not-allowed at a final status", rec.TrangThai, h, c.from)
			}
			if rec.TreasurySequence != 2 {
				t.Fatalf("sequence %d: an event not delivered moved the treasury's order", rec.TreasurySequence)
			}
		})
	}
}

// A correction round: 4 → 5 (the treasury's request, with its due date) →
// the unit resubmits (supplement 1, registered by intake) → 2 → 4 for the
// new supplement. Every move is delivered, the full dossier listing the
// round from the request on, with the resubmission once it is known.
func TestDeliverCorrectionRound(t *testing.T) {
	tf := newTestFlow(t)
	tf.at("chi-thuong-xuyen", "HS-C", 4, 2)
	corr := event("chi-thuong-xuyen", "HS-C", "evt-c5", "CORRECTION_REQUIRED", 3)
	corr.Note = "Bổ sung hợp đồng"
	due := receipt.Add(72 * time.Hour)
	corr.DueAt = &due
	tf.deliver(t, corr)

	requested := portal.HoSoBoSung{HoSoBoSungID: "HS-C-BS1", NguoiYeuCauBoSung: "Nguyễn Văn B", NoiDungBoSung: "Bổ sung hợp đồng",
		NgayBoSung: "20260609120000", NgayHenTraMoi: "20260612090000", TrangThaiBoSung: "0"}
	if it := tf.portal.syncs[0].item; it.TrangThaiHoSo != 5 || !reflect.DeepEqual(it.DanhSachHoSoBoSung, []portal.HoSoBoSung{requested}) {
		t.Fatalf("at 5: TrangThaiHoSo %d, rounds %+v; want 5 and %+v", it.TrangThaiHoSo, it.DanhSachHoSoBoSung, requested)
	}

	resubmittedAt := receipt.Add(5 * time.Hour)
	if err := dossier.Register(context.Background(), tf.dossiers, dossier.Record{Procedure: "chi-thuong-xuyen", MaHoSo: "HS-C",
		SoBoSung: 1, TrangThai: 1, TreasuryReference: "KBNN-0011-2026-000009", TreasuryDocumentID: "KB-DOC-HS-C-1",
		UpdatedAt: resubmittedAt, History: []dossier.Event{{TrangThai: 1, At: resubmittedAt, Source: "adapter"}}}); err != nil {
		t.Fatal(err)
	}
	if rec := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-C"); rec.TrangThai != 5 {
		t.Fatalf("the resubmission moved the dossier to %d; the treasury's callbacks move it", rec.TrangThai)
	}
	newDue := receipt.Add(96 * time.Hour)
	for i, st := range []string{"RECEIVED", "PROCESSING"} {
		ev := event("chi-thuong-xuyen", "HS-C", fmt.Sprint("evt-c", i), st, int64(i+1)) // sequences restart with the new document
		ev.SupplementNo, ev.DocumentID, ev.Reference = 1, "KB-DOC-HS-C-1", "KBNN-0011-2026-000009"
		ev.DueAt = &newDue
		tf.deliver(t, ev)
	}
	if calls := tf.portal.takeCalls(); !slices.Equal(calls, []string{callSync, callProgress, callSync, callProgress, callSync, callProgress}) {
		t.Fatalf("calls %v", calls)
	}
	answered := requested
	answered.NgayTiepNhanBoSung, answered.NgayHenTraMoi = "20260609140000", "20260613090000"
	answered.ThongTinTiepNhan = "Đã tiếp nhận hồ sơ bổ sung lần 1 (KBNN-0011-2026-000009)"
	answered.TrangThaiBoSung = "1"
	for i, want := range []portal.Status{2, 4} {
		it := tf.portal.syncs[i+1].item
		if it.TrangThaiHoSo != want || !reflect.DeepEqual(it.DanhSachHoSoBoSung, []portal.HoSoBoSung{answered}) {
			t.Fatalf("after the resubmission: TrangThaiHoSo %d, rounds %+v; want %d and %+v", it.TrangThaiHoSo, it.DanhSachHoSoBoSung, want, answered)
		}
	}
	rec := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-C")
	if rec.TrangThai != 4 || rec.TreasurySupplement != 1 || rec.TreasurySequence != 2 || len(rec.Rounds) != 1 {
		t.Fatalf("record: status %d, supplement %d, sequence %d, rounds %+v", rec.TrangThai, rec.TreasurySupplement, rec.TreasurySequence, rec.Rounds)
	}
	if r := rec.Rounds[0]; r.EventID != "evt-c5" || !r.ResubmittedAt.Equal(resubmittedAt) || !r.DueAt.Equal(newDue) {
		t.Fatalf("round %+v", r)
	}
}

// A first delivery to a portal that already has the dossier (another
// channel registered it) updates it: DongBoHoSoMC with isUpdating.
func TestDeliverFirstSyncUpdatesDossierThePortalHas(t *testing.T) {
	tf := newTestFlow(t)
	tf.registered("chi-thuong-xuyen", "HS-6")
	tf.portal.dossiers["HS-6"] = 1
	tf.deliver(t, event("chi-thuong-xuyen", "HS-6", "evt-6", "PROCESSING", 1))
	if calls := tf.portal.takeCalls(); !slices.Equal(calls, []string{callLookup, callSync, callProgress}) {
		t.Fatalf("calls %v, want [%s %s %s]", calls, callLookup, callSync, callProgress)
	}
	if !tf.portal.syncs[0].isUpdating {
		t.Fatal("DongBoHoSoMC not isUpdating for a dossier the portal has")
	}
}

// A failed write leaves the dossier as it was; the retry looks the dossier
// up and sends what the portal does not have yet. When the full dossier
// went through and only the progress failed, the retry sends the progress
// alone; when the progress may have gone through too (its answer was
// lost), it is sent again: at least once.
func TestDeliverFailedWriteIsRetried(t *testing.T) {
	cases := []struct {
		name  string
		fail  func(p *fakePortal)
		first []string // the failed attempt's calls
		retry []string
	}{
		{"full dossier refused", func(p *fakePortal) { p.writeErr = errPortalDown },
			[]string{callLookup, callSync}, []string{callLookup, callSync, callProgress}},
		{"progress refused", func(p *fakePortal) { p.progressErr = errPortalDown },
			[]string{callLookup, callSync, callProgress}, []string{callLookup, callProgress}},
		{"progress answer lost", func(p *fakePortal) { p.loseProgress = true },
			[]string{callLookup, callSync, callProgress}, []string{callLookup, callProgress}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tf := newTestFlow(t)
			tf.registered("chi-thuong-xuyen", "HS-7")
			ev := event("chi-thuong-xuyen", "HS-7", "evt-7", "PROCESSING", 1)
			c.fail(tf.portal)
			if err := tf.Deliver(context.Background(), tf.delivery(t, ev, 1, false)); !errors.Is(err, errPortalDown) {
				t.Fatalf("Deliver: %v, want the portal's error", err)
			}
			if calls := tf.portal.takeCalls(); !slices.Equal(calls, c.first) {
				t.Fatalf("failed attempt calls %v, want %v", calls, c.first)
			}
			rec := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-7")
			if rec.PortalSynced || rec.TrangThai != 1 || historyEntry(t, rec, "evt-7").Delivery != dossier.DeliveryPending {
				t.Fatalf("after a failed attempt: synced %v, status %d", rec.PortalSynced, rec.TrangThai)
			}
			tf.portal.writeErr, tf.portal.progressErr, tf.portal.loseProgress = nil, nil, false
			if err := tf.Deliver(context.Background(), tf.delivery(t, ev, 2, false)); err != nil {
				t.Fatal(err)
			}
			if calls := tf.portal.takeCalls(); !slices.Equal(calls, c.retry) {
				t.Fatalf("retry calls %v, want %v", calls, c.retry)
			}
			if rec := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-7"); rec.TrangThai != 4 || !rec.PortalSynced {
				t.Fatalf("after the retry: status %d, synced %v", rec.TrangThai, rec.PortalSynced)
			}
		})
	}
}

// After an attempt that ended without an answer (a redelivery, or a retry),
// delivery looks the dossier up first: a portal that shows the move's status
// has its full dossier already, so only the progress is sent; one that
// shows another final status was closed elsewhere, and nothing is sent.
func TestDeliverUncertainAttemptChecksPortalFirst(t *testing.T) {
	cases := []struct {
		name        string
		attempt     int
		redelivered bool
		onPortal    portal.Status // 0: the portal does not know the dossier
		want        []string
		delivery    string
	}{
		{"redelivered, portal has the full dossier", 1, true, 9, []string{callLookup, callProgress}, dossier.DeliveryDelivered},
		{"redelivered, portal has the status before", 1, true, 4, []string{callLookup, callSync, callProgress}, dossier.DeliveryDelivered},
		{"retry, portal has the full dossier", 2, false, 9, []string{callLookup, callProgress}, dossier.DeliveryDelivered},
		{"retry, portal has the status before", 3, false, 4, []string{callLookup, callSync, callProgress}, dossier.DeliveryDelivered},
		{"retry, portal forgot the dossier", 2, false, 0, []string{callLookup, callSync, callProgress}, dossier.DeliveryDelivered},
		{"redelivered, portal closed it elsewhere", 1, true, 7, []string{callLookup}, dossier.DeliveryNotAllowed},
		// A first attempt of a synced dossier trusts the record.
		{"first attempt", 1, false, 9, []string{callSync, callProgress}, dossier.DeliveryDelivered},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tf := newTestFlow(t)
			tf.at("chi-thuong-xuyen", "HS-8", 4, 2)
			delete(tf.portal.dossiers, "HS-8")
			if c.onPortal != 0 {
				tf.portal.dossiers["HS-8"] = c.onPortal
			}
			ev := event("chi-thuong-xuyen", "HS-8", "evt-8", "PAID", 3)
			if err := tf.Deliver(context.Background(), tf.delivery(t, ev, c.attempt, c.redelivered)); err != nil {
				t.Fatal(err)
			}
			if calls := tf.portal.takeCalls(); !slices.Equal(calls, c.want) {
				t.Fatalf("calls %v, want %v", calls, c.want)
			}
			for _, s := range tf.portal.syncs {
				if s.isUpdating != (c.onPortal != 0) {
					t.Fatalf("DongBoHoSoMC isUpdating %v for a dossier the portal has: %v", s.isUpdating, c.onPortal != 0)
				}
			}
			got := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-8")
			h := historyEntry(t, got, "evt-8")
			if c.delivery == dossier.DeliveryNotAllowed {
				if h.Delivery != c.delivery || got.TrangThai != 4 || !strings.Contains(h.DeliveryNote, "the portal shows 7") {
					t.Fatalf("history %+v, status %d; want not-allowed, 4", h, got.TrangThai)
				}
				return
			}
			if h.Delivery != c.delivery || got.TrangThai != 9 || got.TreasurySequence != 3 {
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

// A later event that arrives first (webhook retries reorder them) is not
// lost: PAID (sequence 3) before PROCESSING (2) on a dossier at 2 waits;
// once PROCESSING is delivered it goes back to the outbox and is delivered
// in its turn, and RESULT_RETURNED after it.
func TestDeliverLaterEventArrivingFirstWaits(t *testing.T) {
	tf := newTestFlow(t)
	tf.at("chi-thuong-xuyen", "HS-R", 2, 1)
	paid := event("chi-thuong-xuyen", "HS-R", "evt-paid", "PAID", 3)
	tf.deliver(t, paid)
	rec := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-R")
	if h := historyEntry(t, rec, "evt-paid"); h.Delivery != dossier.DeliveryDeferred || rec.TrangThai != 2 || len(rec.Deferred) != 1 {
		t.Fatalf("PAID before PROCESSING: %+v, status %d, deferred %d", h, rec.TrangThai, len(rec.Deferred))
	}
	if calls := tf.portal.takeCalls(); slices.Contains(calls, callSync) || slices.Contains(calls, callProgress) {
		t.Fatalf("a waiting event was written to the portal: %v", calls)
	}

	tf.deliver(t, event("chi-thuong-xuyen", "HS-R", "evt-proc", "PROCESSING", 2))
	rec = tf.dossiers.get(t, "chi-thuong-xuyen", "HS-R")
	if rec.TrangThai != 4 || len(rec.Deferred) != 1 || rec.Deferred[0].ReleaseID != "evt-paid~released~0" {
		t.Fatalf("after PROCESSING: status %d, deferred %+v; want PAID released, held until it is settled", rec.TrangThai, rec.Deferred)
	}
	released := tf.outbox.take(t, "chi-thuong-xuyen|HS-R", "evt-paid~released~0")
	tf.portal.takeCalls()
	if err := tf.Deliver(context.Background(), outbox.Delivery{Event: outbox.Event{Dossier: "chi-thuong-xuyen|HS-R",
		ID: "evt-paid~released~0", Payload: released}, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	rec = tf.dossiers.get(t, "chi-thuong-xuyen", "HS-R")
	if h := historyEntry(t, rec, "evt-paid"); h.Delivery != dossier.DeliveryDelivered || rec.TrangThai != 9 || len(rec.Deferred) != 0 {
		t.Fatalf("PAID released: %+v, status %d, deferred %+v", h, rec.TrangThai, rec.Deferred)
	}
	if calls := tf.portal.takeCalls(); !slices.Equal(calls, []string{callSync, callProgress}) {
		t.Fatalf("PAID's delivery calls %v", calls)
	}
	tf.deliver(t, event("chi-thuong-xuyen", "HS-R", "evt-ret", "RESULT_RETURNED", 4))
	if rec = tf.dossiers.get(t, "chi-thuong-xuyen", "HS-R"); rec.TrangThai != 10 {
		t.Fatalf("RESULT_RETURNED after the released PAID: status %d", rec.TrangThai)
	}
}

// A waiting event that a later one passes is settled not-allowed: a final
// status closes the dossier with it still waiting.
func TestDeliverWaitingEventPassedIsNotAllowed(t *testing.T) {
	tf := newTestFlow(t)
	tf.at("chi-thuong-xuyen", "HS-P", 2, 1)
	tf.deliver(t, event("chi-thuong-xuyen", "HS-P", "evt-ret", "RESULT_RETURNED", 5)) // waits for 9
	tf.deliver(t, event("chi-thuong-xuyen", "HS-P", "evt-stop", "STOPPED", 2))        // final
	rec := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-P")
	if h := historyEntry(t, rec, "evt-ret"); h.Delivery != dossier.DeliveryNotAllowed || rec.TrangThai != 8 || len(rec.Deferred) != 0 {
		t.Fatalf("after the final status: %+v, status %d, deferred %d", h, rec.TrangThai, len(rec.Deferred))
	}
}

// A worker that lost its lease to a later event settles its own move
// without rolling the dossier back: only a move from where the record
// stands, or one later in the treasury's order, sets the status.
func TestSettleNeverRollsBack(t *testing.T) {
	tf := newTestFlow(t)
	r := dossier.Record{Procedure: "chi-thuong-xuyen", MaHoSo: "HS-L", TrangThai: 9, PortalSynced: true, TreasurySequence: 5}
	ev := event("chi-thuong-xuyen", "HS-L", "evt-late", "PROCESSING", 4)
	tf.settleRecord(&r, true, ev, dossier.DeliveryDelivered, &statusmap.Transition{Status: "PROCESSING", From: 2, To: 4}, "")
	if r.TrangThai != 9 || r.TreasurySequence != 5 {
		t.Fatalf("a late move rolled the record back: status %d, sequence %d", r.TrangThai, r.TreasurySequence)
	}
	later := event("chi-thuong-xuyen", "HS-L", "evt-next", "RESULT_RETURNED", 6)
	tf.settleRecord(&r, true, later, dossier.DeliveryDelivered, &statusmap.Transition{Status: "RESULT_RETURNED", From: 9, To: 10}, "")
	if r.TrangThai != 10 || r.TreasurySequence != 6 {
		t.Fatalf("the next move: status %d, sequence %d", r.TrangThai, r.TreasurySequence)
	}
}

// A dossier the adapter has no record of (a memory store restarted, a
// record expired) is judged from where the portal shows it, even when the
// move from 1 would be allowed: a refusal of a dossier under control is a
// refusal after control, and a final status on the portal never moves.
func TestLostRecordJudgedFromThePortal(t *testing.T) {
	tf := newTestFlow(t)
	tf.portal.mu.Lock()
	tf.portal.dossiers["HS-L"] = 4
	tf.portal.dossiers["HS-B"] = 9
	tf.portal.mu.Unlock()
	tf.deliver(t, event("chi-thuong-xuyen", "HS-L", "evt-rej", "REJECTED", 7))
	if rec := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-L"); rec.TrangThai != 8 || tf.portal.status("HS-L") != 8 {
		t.Fatalf("refusal of a dossier the portal has at 4: record %d, portal %d; want 8", rec.TrangThai, tf.portal.status("HS-L"))
	}
	tf.deliver(t, event("chi-thuong-xuyen", "HS-B", "evt-proc", "PROCESSING", 2))
	rec := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-B")
	if tf.portal.status("HS-B") != 9 || historyEntry(t, rec, "evt-proc").Delivery != dossier.DeliveryNotAllowed {
		t.Fatalf("PROCESSING over a portal at 9: portal %d, history %+v", tf.portal.status("HS-B"), historyEntry(t, rec, "evt-proc"))
	}
}

// A delivery judged from where the portal shows a dossier the adapter had
// no record of, whose progress then failed, is finished by its retry: the
// record was placed there first, so the portal at the move's status is the
// event's own earlier attempt, not a final status to refuse.
func TestPlacedDeliveryRetried(t *testing.T) {
	tf := newTestFlow(t)
	tf.portal.mu.Lock()
	tf.portal.dossiers["HS-Q"] = 4
	tf.portal.mu.Unlock()
	ev := event("chi-thuong-xuyen", "HS-Q", "evt-rej", "REJECTED", 7)
	tf.portal.progressErr = errPortalDown
	if err := tf.Deliver(context.Background(), tf.delivery(t, ev, 1, false)); !errors.Is(err, errPortalDown) {
		t.Fatalf("Deliver: %v, want the portal's error", err)
	}
	if st := tf.portal.status("HS-Q"); st != 8 {
		t.Fatalf("portal at %d after the full dossier, want 8", st)
	}
	tf.portal.progressErr = nil
	tf.portal.takeCalls()
	if err := tf.Deliver(context.Background(), tf.delivery(t, ev, 2, false)); err != nil {
		t.Fatal(err)
	}
	rec := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-Q")
	if h := historyEntry(t, rec, "evt-rej"); h.Delivery != dossier.DeliveryDelivered || rec.TrangThai != 8 {
		t.Fatalf("retry: %+v, status %d; want delivered at 8", h, rec.TrangThai)
	}
	if calls := tf.portal.takeCalls(); !slices.Equal(calls, []string{callLookup, callProgress}) {
		t.Fatalf("retry calls %v, want the look-up and the progress", calls)
	}
}

// The treasury's WITHDRAWN, delivered, settles a withdrawal whose answer
// was lost: the record no longer marks it pending.
func TestWithdrawnClearsThePendingWithdrawal(t *testing.T) {
	tf := newTestFlow(t)
	r := tf.at("chi-thuong-xuyen", "HS-W", 4, 2)
	r.WithdrawalPending = "k"
	tf.dossiers.put(r)
	tf.deliver(t, event("chi-thuong-xuyen", "HS-W", "evt-w", "WITHDRAWN", 3))
	if rec := tf.dossiers.get(t, "chi-thuong-xuyen", "HS-W"); rec.TrangThai != 7 || rec.WithdrawalPending != "" {
		t.Fatalf("after WITHDRAWN: status %d, pending %q", rec.TrangThai, rec.WithdrawalPending)
	}
}

// status is what the portal shows of a dossier.
func (p *fakePortal) status(maHoSo string) portal.Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dossiers[maHoSo]
}

package statusflow

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kbnn/dvc/adapter/calendar"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/portal"
	"github.com/kbnn/dvc/adapter/schema"
	"github.com/kbnn/dvc/adapter/statusmap"
	"github.com/kbnn/dvc/adapter/testkit/clock"
	"github.com/kbnn/dvc/mappings"
	"github.com/kbnn/dvc/schemas"
)

// itemsHolidays is a calendar of 2026 with the 30 April and 1 May holidays and a worked
// Saturday, so that due dates here do not follow edits of configs/holidays.
func itemsHolidays(t *testing.T) *calendar.Calendar {
	t.Helper()
	cal, err := calendar.Load(fstest.MapFS{"2026.yaml": {Data: []byte(`year: 2026
holidays:
  - {date: 2026-04-30, name: "Ngày Chiến thắng"}
  - {date: 2026-05-01, name: "Quốc tế Lao động"}
workdays: [2026-05-09]
`)}}, "test-holidays")
	if err != nil {
		t.Fatal(err)
	}
	return cal
}

// itemsProcedure is chi-thuong-xuyen as configuration would give it, with cal as its calendar.
func itemsProcedure(t *testing.T, cal *calendar.Calendar) Procedure {
	t.Helper()
	eventSchema, err := fs.ReadFile(schemas.FS, "treasury/status-event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	statuses, err := statusmap.SchemaStatuses(eventSchema)
	if err != nil {
		t.Fatal(err)
	}
	m, err := statusmap.Load(mappings.FS, "chi-thuong-xuyen", statuses)
	if err != nil {
		t.Fatal(err)
	}
	return Procedure{Code: "2.002208", Name: "Chi thường xuyên", SLAWorkingDays: 2, Statuses: m,
		FieldCode: "KBNN", FieldName: "Kho bạc Nhà nước", LoaiDoiTuong: "2", HinhThuc: "0", Calendar: cal}
}

// itemsAt is a time in ICT.
func itemsAt(month time.Month, day, hour int) time.Time {
	return time.Date(2026, month, day, hour, 0, 0, 0, portal.ICT)
}

// itemsEvent is a treasury event of dossier HS-1 of chi-thuong-xuyen.
func itemsEvent(id, status string, seq int64, at time.Time) Event {
	return Event{EventID: id, DossierCode: "HS-1", Procedure: "chi-thuong-xuyen", DocumentID: "KB-DOC-1",
		Reference: "KBNN-0011-2026-000001", Status: status, Sequence: seq, OccurredAt: at,
		Handler: "Nguyễn Văn B", HandlerTitle: "Kiểm soát viên", Department: "Phòng Kiểm soát chi",
		BudgetUnitCode: "1234567", BudgetUnitName: "Trường THCS Nguyễn Du"}
}

// itemsRecord is the record intake leaves for HS-1 received at receipt.
func itemsRecord(receipt time.Time) dossier.Record {
	return dossier.Record{Procedure: "chi-thuong-xuyen", MaHoSo: "HS-1", TrangThai: 1,
		History: []dossier.Event{{TrangThai: 1, At: receipt, Source: "adapter"}}}
}

// The full dossier carries the procedure's configured field, applicant type and form of
// hand-back, the unit as its owner, and a due date that skips weekends and public holidays.
func TestDossierItemFields(t *testing.T) {
	t.Parallel()
	cal := itemsHolidays(t)
	p := itemsProcedure(t, cal)
	f := &Flow{}
	receipt := itemsAt(4, 29, 10) // Wednesday, before 30/4 and 1/5
	ev := itemsEvent("e1", "ACCEPTED", 1, receipt.Add(time.Hour))
	item := f.dossierItem(p, itemsRecord(receipt), ev, 2)

	want := portal.DossierItem{
		MaHoSo: "HS-1", MaTTHC: "2.002208", TenTTHC: "Chi thường xuyên", MaLinhVuc: "KBNN", TenLinhVuc: "Kho bạc Nhà nước",
		SoBienNhan: "KBNN-0011-2026-000001", ChuHoSo: "1234567 - Trường THCS Nguyễn Du", LoaiDoiTuong: "2",
		TrichYeuHoSo: "Chi thường xuyên", NgayTiepNhan: "20260429100000",
		// Thu 30/4, Fri 1/5 holidays, Sat 2/5 and Sun 3/5 weekend: Mon 4/5 and Tue 5/5.
		NgayHenTra: "20260505100000", TrangThaiHoSo: 2, HinhThuc: "0", DonViXuLy: "Phòng Kiểm soát chi",
	}
	if got, w := itemsJSON(t, item), itemsJSON(t, want); got != w {
		t.Fatalf("DongBoHoSoMC item\n got %s\nwant %s", got, w)
	}
	progress := f.progressItem(p, itemsRecord(receipt), ev, 2)
	if progress.NgayKetThucTheoQuyDinh != "20260505100000" || progress.NgayBatDau != "20260429100000" {
		t.Fatalf("progress dates %+v", progress)
	}

	// Weekends only without a calendar: Thu 30/4 and Fri 1/5.
	if got := f.dossierItem(itemsProcedure(t, nil), itemsRecord(receipt), ev, 2).NgayHenTra; got != "20260501100000" {
		t.Fatalf("NgayHenTra without holidays = %s, want 20260501100000", got)
	}
	// A worked Saturday counts: Fri 8/5 receipt, Sat 9/5 worked, Mon 11/5.
	if got := f.dossierItem(p, itemsRecord(itemsAt(5, 8, 9)), ev, 2).NgayHenTra; got != "20260511090000" {
		t.Fatalf("NgayHenTra across a worked Saturday = %s, want 20260511090000", got)
	}
	// The treasury's own due date wins.
	treasuryDue := itemsAt(5, 20, 17)
	ev.DueAt = &treasuryDue
	if got := f.dossierItem(p, itemsRecord(receipt), ev, 2).NgayHenTra; got != "20260520170000" {
		t.Fatalf("NgayHenTra with the treasury's dueAt = %s", got)
	}
}

// ChuHoSo is the unit's code and name, or whichever of them the event carries.
func TestDossierItemOwner(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ code, name, want string }{
		{"1234567", "Trường THCS Nguyễn Du", "1234567 - Trường THCS Nguyễn Du"},
		{"1234567", "", "1234567"},
		{"", "Trường THCS Nguyễn Du", "Trường THCS Nguyễn Du"},
		{" ", " ", ""},
		{"", "", ""},
	} {
		ev := itemsEvent("e1", "ACCEPTED", 1, itemsAt(6, 9, 9))
		ev.BudgetUnitCode, ev.BudgetUnitName = tc.code, tc.name
		if got := (&Flow{}).dossierItem(itemsProcedure(t, nil), itemsRecord(itemsAt(6, 9, 9)), ev, 2).ChuHoSo; got != tc.want {
			t.Errorf("code %q name %q: ChuHoSo %q, want %q", tc.code, tc.name, got, tc.want)
		}
	}
}

// A dossier that ended carries its end date; a delivered result also its hand-back date,
// ThongTinTra and the result documents.
func TestDossierItemEnd(t *testing.T) {
	t.Parallel()
	p := itemsProcedure(t, itemsHolidays(t))
	receipt := itemsAt(6, 9, 9)
	at := itemsAt(6, 10, 15)
	for _, tc := range []struct {
		code              int
		wantEnd, wantBack bool
	}{{2, false, false}, {4, false, false}, {5, false, false}, {3, true, false}, {7, true, false},
		{8, true, false}, {9, true, false}, {10, true, true}} {
		ev := itemsEvent("e1", "PAID", 3, at)
		ev.ResultDocuments = []ResultDocument{{Name: "Giấy rút dự toán đã hạch toán", URL: "https://dvc.kbnn.gov.vn/kq/1.pdf"}}
		item := (&Flow{}).dossierItem(p, itemsRecord(receipt), ev, tc.code)
		if (item.NgayKetThucXuLy == "20260610150000") != tc.wantEnd || (item.NgayKetThucXuLy == "") == tc.wantEnd {
			t.Errorf("status %d: NgayKetThucXuLy %q, want set %v", tc.code, item.NgayKetThucXuLy, tc.wantEnd)
		}
		if (item.NgayTra == "20260610150000" && item.ThongTinTra == "Đã trả kết quả") != tc.wantBack ||
			(item.NgayTra == "") == tc.wantBack {
			t.Errorf("status %d: NgayTra %q ThongTinTra %q, want set %v", tc.code, item.NgayTra, item.ThongTinTra, tc.wantBack)
		}
		if len(item.DanhSachGiayToKetQua) != 1 || item.DanhSachGiayToKetQua[0].DuongDanTepTinKetQua != "https://dvc.kbnn.gov.vn/kq/1.pdf" {
			t.Errorf("status %d: result documents %+v", tc.code, item.DanhSachGiayToKetQua)
		}
	}
}

// itemsPortal records the full dossiers and progress items that delivery sends.
type itemsPortal struct {
	mu       sync.Mutex
	synced   []portal.DossierItem
	progress []portal.ProgressItem
}

func (p *itemsPortal) Lookup(context.Context, string) (portal.Dossier, bool, error) {
	return portal.Dossier{}, false, nil
}

func (p *itemsPortal) SyncDossier(_ context.Context, _ bool, item portal.DossierItem) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.synced = append(p.synced, item)
	return nil
}

func (p *itemsPortal) UpdateProgress(_ context.Context, item portal.ProgressItem) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.progress = append(p.progress, item)
	return nil
}

// Delivery sends the item built here: the portal receives the unit, the configured fields and
// the holiday-aware due date.
func TestDeliverSendsFullItem(t *testing.T) {
	t.Parallel()
	eventSchema, err := fs.ReadFile(schemas.FS, "treasury/status-event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	receipt := itemsAt(4, 29, 10)
	clk := clock.New(receipt)
	dossiers := dossier.NewMemory()
	if err := dossier.Register(context.Background(), dossiers, itemsRecord(receipt)); err != nil {
		t.Fatal(err)
	}
	pt := &itemsPortal{}
	f, err := New(Options{EventSchema: eventSchema, Dossiers: dossiers, Portal: pt, Now: clk.Now,
		Procedures: map[string]Procedure{"chi-thuong-xuyen": itemsProcedure(t, itemsHolidays(t))},
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ev := itemsEvent("e1", "ACCEPTED", 1, receipt.Add(time.Hour))
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Deliver(context.Background(), outbox.Delivery{Attempt: 1,
		Event: outbox.Event{ID: ev.EventID, Dossier: dossierKey(ev.Procedure, ev.DossierCode), Payload: body}}); err != nil {
		t.Fatal(err)
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if len(pt.synced) != 1 {
		t.Fatalf("%d full dossiers sent, want 1", len(pt.synced))
	}
	got := pt.synced[0]
	if got.ChuHoSo != "1234567 - Trường THCS Nguyễn Du" || got.MaLinhVuc != "KBNN" || got.TenLinhVuc != "Kho bạc Nhà nước" ||
		got.LoaiDoiTuong != "2" || got.HinhThuc != "0" || got.NgayHenTra != "20260505100000" {
		t.Fatalf("item sent %+v", got)
	}
}

// The status event schema takes the unit's code (seven digits) and name.
func TestEventSchemaTakesTheUnit(t *testing.T) {
	t.Parallel()
	raw, err := fs.ReadFile(schemas.FS, "treasury/status-event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	sch, err := schema.Compile(raw, "schemas/treasury/status-event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		code string
		ok   bool
	}{{"1234567", true}, {"123456", false}, {"12345678", false}, {"12a4567", false}} {
		body := `{"eventId":"e1","dossierCode":"HS-1","procedure":"chi-thuong-xuyen","supplementNo":0,
			"documentId":"KB-DOC-1","reference":"KBNN-0011-2026-000001","status":"ACCEPTED","sequence":1,
			"occurredAt":"2026-06-09T09:00:00+07:00","budgetUnitCode":"` + tc.code + `","budgetUnitName":"Trường THCS Nguyễn Du"}`
		v, err := schema.DecodeJSON([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.ValidateWith(schema.NewValidator(sch), v); (err == nil) != tc.ok {
			t.Errorf("budgetUnitCode %q: %v, want valid %v", tc.code, err, tc.ok)
		}
	}
}

func itemsJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ChuHoSo falls back on the unit the dossier named at submission when the
// treasury's event does not name one.
func TestItemsOwnerFallsBackOnTheSubmittedUnit(t *testing.T) {
	t.Parallel()
	rec := dossier.Record{Unit: "1012345"}
	cases := []struct {
		ev   Event
		want string
	}{
		{Event{}, "1012345"},
		{Event{BudgetUnitName: "Sở Tài chính"}, "1012345 - Sở Tài chính"},
		{Event{BudgetUnitCode: "1099999", BudgetUnitName: "Sở Y tế"}, "1099999 - Sở Y tế"},
	}
	for _, c := range cases {
		if got := owner(rec, c.ev); got != c.want {
			t.Errorf("owner(%+v) = %q, want %q", c.ev, got, c.want)
		}
	}
	if got := owner(dossier.Record{}, Event{}); got != "" {
		t.Errorf("nothing known: %q", got)
	}
}

// The full dossier lists the files the submission listed (TaiLieuNop), in
// its order, by SHA-256 and file name.
func TestDossierItemListsAttachments(t *testing.T) {
	t.Parallel()
	p := itemsProcedure(t, itemsHolidays(t))
	receipt := itemsAt(4, 29, 10)
	rec := itemsRecord(receipt)
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	rec.Attachments = []dossier.Attachment{
		{TenTep: "hop-dong-15-2026.pdf", LoaiTep: "application/pdf", KichThuoc: 1342, SHA256: a},
		{TenTep: "bien-ban-nghiem-thu.pdf", LoaiTep: "application/pdf", KichThuoc: 977, SHA256: b},
	}
	item := (&Flow{}).dossierItem(p, rec, itemsEvent("e1", "ACCEPTED", 1, receipt.Add(time.Hour)), 2)
	want := []portal.TaiLieu{
		{TepDinhKemID: a, TenTepDinhKem: "hop-dong-15-2026.pdf", IsDeleted: "0"},
		{TepDinhKemID: b, TenTepDinhKem: "bien-ban-nghiem-thu.pdf", IsDeleted: "0"},
	}
	if got, w := itemsJSON(t, item.TaiLieuNop), itemsJSON(t, want); got != w {
		t.Fatalf("TaiLieuNop\n got %s\nwant %s", got, w)
	}
}

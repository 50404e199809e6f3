package statusflow

import (
	"strings"
	"time"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/portal"
)

// statusText is what the portal shows for a national code.
var statusText = map[int]string{
	1: "Mới đăng ký", 2: "Được tiếp nhận", 3: "Không được tiếp nhận", 4: "Đang xử lý",
	5: "Yêu cầu bổ sung giấy tờ", 6: "Yêu cầu thực hiện nghĩa vụ tài chính",
	7: "Công dân yêu cầu rút hồ sơ", 8: "Dừng xử lý", 9: "Đã xử lý xong", 10: "Đã trả kết quả",
}

// ended reports whether a national code ends the processing of a dossier: refused at intake,
// withdrawn, stopped, processed or result delivered. Its time is NgayKetThucXuLy.
func ended(code int) bool {
	switch code {
	case 3, 7, 8, 9, 10:
		return true
	}
	return false
}

// Correction round states (TrangThaiBoSung). The portal's values are not published; these are
// assumed: "0" waiting for the unit, "1" the corrected dossier was received.
const (
	roundWaiting  = "0"
	roundReceived = "1"
)

// receivedAt is when the adapter registered the dossier (its first history
// entry), or the event time when the adapter has no record of it.
func receivedAt(rec dossier.Record, ev Event) time.Time {
	if len(rec.History) > 0 && !rec.History[0].At.IsZero() {
		return rec.History[0].At
	}
	return ev.OccurredAt
}

// submissions are the times the adapter registered the dossier and each resubmission after a
// correction (the history entries intake writes), oldest first; at least the receipt.
func submissions(rec dossier.Record, ev Event) []time.Time {
	var out []time.Time
	for _, h := range rec.History {
		if h.Source == "adapter" && h.TrangThai == 1 && !h.At.IsZero() {
			out = append(out, h.At)
		}
	}
	if len(out) == 0 {
		out = []time.Time{receivedAt(rec, ev)}
	}
	return out
}

// due is start plus the procedure's processing time in working days of its
// calendar (weekends and public holidays skipped).
func due(p Procedure, start time.Time) time.Time {
	return p.Calendar.AddWorkingDays(start, p.SLAWorkingDays)
}

// dueAt is the treasury's due date, else the latest submission (the receipt,
// or the resubmission after the last correction round) plus the procedure's
// processing time.
func dueAt(p Procedure, rec dossier.Record, ev Event) time.Time {
	if ev.DueAt != nil {
		return *ev.DueAt
	}
	subs := submissions(rec, ev)
	return due(p, subs[len(subs)-1])
}

// owner is ChuHoSo: the budget-using unit whose dossier it is, as
// "<maDVQHNS> - <name>", or whichever of the two is known ("" when neither):
// the event's, else the unit the dossier named when it was submitted. The
// format is assumed.
func owner(rec dossier.Record, ev Event) string {
	code, name := strings.TrimSpace(ev.BudgetUnitCode), strings.TrimSpace(ev.BudgetUnitName)
	if code == "" {
		code = rec.Unit
	}
	switch {
	case code != "" && name != "":
		return code + " - " + name
	case code != "":
		return code
	}
	return name
}

func (f *Flow) dossierItem(p Procedure, rec dossier.Record, ev Event, code int) portal.DossierItem {
	item := portal.DossierItem{
		MaHoSo: ev.DossierCode, MaTTHC: p.Code, TenTTHC: p.Name,
		MaLinhVuc: p.FieldCode, TenLinhVuc: p.FieldName,
		SoBienNhan: ev.Reference, ChuHoSo: owner(rec, ev), LoaiDoiTuong: p.LoaiDoiTuong,
		TrichYeuHoSo:  p.Name,
		NgayTiepNhan:  portal.FormatTime(receivedAt(rec, ev)),
		NgayHenTra:    portal.FormatTime(dueAt(p, rec, ev)),
		TrangThaiHoSo: portal.Status(code), HinhThuc: p.HinhThuc,
		DonViXuLy: ev.Department, GhiChu: ev.Note,
	}
	if ended(code) {
		item.NgayKetThucXuLy = portal.FormatTime(ev.OccurredAt)
	}
	if code == 10 {
		item.NgayTra = portal.FormatTime(ev.OccurredAt)
		item.ThongTinTra = statusText[code]
	}
	for _, d := range ev.ResultDocuments {
		item.DanhSachGiayToKetQua = append(item.DanhSachGiayToKetQua, portal.GiayToKetQua{TenGiayTo: d.Name, DuongDanTepTinKetQua: d.URL})
	}
	item.TaiLieuNop = submittedFiles(rec.Attachments)
	f.addLifecycle(&item, p, rec, ev, code)
	return item
}

// submittedFiles is TaiLieuNop: the files the dossier's latest submission
// listed (dinhKem[]). The item's field names are the portal protocol's as
// OpenCPS declares them; what goes in each is assumed: TepDinhKemId the
// file's SHA-256 (the name the treasury holds it under), TenTepDinhKem its
// file name, IsDeleted "0", and no MaThanhPhanHoSo (a portal component code
// the dossier does not carry) nor DuongDanTaiTepTin (the file is at the
// treasury, not at a URL the portal can fetch).
func submittedFiles(files []dossier.Attachment) []portal.TaiLieu {
	if len(files) == 0 {
		return nil
	}
	out := make([]portal.TaiLieu, 0, len(files))
	for _, a := range files {
		out = append(out, portal.TaiLieu{TepDinhKemID: a.SHA256, TenTepDinhKem: a.TenTep, IsDeleted: "0"})
	}
	return out
}

func (f *Flow) progressItem(p Procedure, rec dossier.Record, ev Event, code int) portal.ProgressItem {
	content := ev.Note
	if content == "" {
		content = statusText[code]
	}
	return portal.ProgressItem{
		MaHoSo: ev.DossierCode, NguoiXuLy: ev.Handler, ChucDanh: ev.HandlerTitle,
		ThoiDiemXuLy: portal.FormatTime(ev.OccurredAt), PhongBanXuLy: ev.Department,
		NoiDungXuLy: content, TrangThai: portal.Status(code),
		NgayBatDau:             portal.FormatTime(receivedAt(rec, ev)),
		NgayKetThucTheoQuyDinh: portal.FormatTime(dueAt(p, rec, ev)),
	}
}

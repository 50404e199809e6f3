package statusflow

import (
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

// receivedAt is when the adapter registered the dossier (its first history
// entry), or the event time when the adapter has no record of it.
func receivedAt(rec dossier.Record, ev Event) time.Time {
	if len(rec.History) > 0 && !rec.History[0].At.IsZero() {
		return rec.History[0].At
	}
	return ev.OccurredAt
}

// dueAt is the treasury's due date, else the receipt plus the procedure's
// processing time in working days (Monday to Friday).
func dueAt(p Procedure, start time.Time, ev Event) time.Time {
	if ev.DueAt != nil {
		return *ev.DueAt
	}
	t := start.In(portal.ICT)
	for n := 0; n < p.SLAWorkingDays; {
		t = t.AddDate(0, 0, 1)
		if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
	}
	return t
}

func (f *Flow) dossierItem(p Procedure, rec dossier.Record, ev Event, code int) portal.DossierItem {
	start := receivedAt(rec, ev)
	item := portal.DossierItem{
		MaHoSo: ev.DossierCode, MaTTHC: p.Code, TenTTHC: p.Name,
		SoBienNhan: ev.Reference, TrichYeuHoSo: p.Name,
		NgayTiepNhan:  portal.FormatTime(start),
		NgayHenTra:    portal.FormatTime(dueAt(p, start, ev)),
		TrangThaiHoSo: portal.Status(code),
		DonViXuLy:     ev.Department, GhiChu: ev.Note,
	}
	if code >= 9 {
		item.NgayKetThucXuLy = portal.FormatTime(ev.OccurredAt)
	}
	if code == 10 {
		item.NgayTra = portal.FormatTime(ev.OccurredAt)
		item.ThongTinTra = statusText[code]
	}
	for _, d := range ev.ResultDocuments {
		item.DanhSachGiayToKetQua = append(item.DanhSachGiayToKetQua, portal.GiayToKetQua{TenGiayTo: d.Name, DuongDanTepTinKetQua: d.URL})
	}
	f.addLifecycle(&item, p, rec, ev, code)
	return item
}

func (f *Flow) progressItem(p Procedure, rec dossier.Record, ev Event, code int) portal.ProgressItem {
	start := receivedAt(rec, ev)
	content := ev.Note
	if content == "" {
		content = statusText[code]
	}
	return portal.ProgressItem{
		MaHoSo: ev.DossierCode, NguoiXuLy: ev.Handler, ChucDanh: ev.HandlerTitle,
		ThoiDiemXuLy: portal.FormatTime(ev.OccurredAt), PhongBanXuLy: ev.Department,
		NoiDungXuLy: content, TrangThai: portal.Status(code),
		NgayBatDau:             portal.FormatTime(start),
		NgayKetThucTheoQuyDinh: portal.FormatTime(dueAt(p, start, ev)),
	}
}

package portalsim

import (
	"encoding/json"
	"sort"
	"time"
)

// statusText is the name of each national status code, as the portal shows it.
var statusText = map[int]string{
	1: "Mới đăng ký", 2: "Được tiếp nhận", 3: "Không được tiếp nhận", 4: "Đang xử lý",
	5: "Yêu cầu bổ sung giấy tờ", 6: "Yêu cầu thực hiện nghĩa vụ tài chính",
	7: "Công dân yêu cầu rút hồ sơ", 8: "Dừng xử lý", 9: "Đã xử lý xong", 10: "Đã trả kết quả",
}

// LatestProgress is how many progress entries a DossierView lists.
const LatestProgress = 10

// DossierView is a dossier as a citizen-facing page of the portal would show it: the full
// dossier as last synced (DongBoHoSoMC), with the status the latest call set, and the latest
// progress entries (CapNhatTienDoHoSoMC). Dates are as the adapter sent them (yyyyMMddHHmmss,
// ICT); lists are as sent.
type DossierView struct {
	MaHoSo       string `json:"maHoSo"`
	MaTTHC       string `json:"maTTHC"`
	TenTTHC      string `json:"tenTTHC"`
	MaLinhVuc    string `json:"maLinhVuc"`
	TenLinhVuc   string `json:"tenLinhVuc"`
	ChuHoSo      string `json:"chuHoSo"`
	LoaiDoiTuong string `json:"loaiDoiTuong"`
	HinhThuc     string `json:"hinhThuc"`
	SoBienNhan   string `json:"soBienNhan"`
	TrichYeu     string `json:"trichYeuHoSo"`
	DonViXuLy    string `json:"donViXuLy"`
	// TrangThai is the current status (the latest sync or progress) and TenTrangThai its name.
	TrangThai       int    `json:"trangThai"`
	TenTrangThai    string `json:"tenTrangThai"`
	NgayTiepNhan    string `json:"ngayTiepNhan"`
	NgayHenTra      string `json:"ngayHenTra"`
	NgayKetThucXuLy string `json:"ngayKetThucXuLy"`
	NgayTra         string `json:"ngayTra"`
	ThongTinTra     string `json:"thongTinTra"`
	GhiChu          string `json:"ghiChu"`
	// GiayToKetQua is DanhSachGiayToKetQua (result documents), HoSoBoSung DanhSachHoSoBoSung
	// (correction rounds), as last synced; [] when none.
	GiayToKetQua []json.RawMessage `json:"giayToKetQua"`
	HoSoBoSung   []json.RawMessage `json:"hoSoBoSung"`
	// TienDo are the latest progress entries, newest first (at most LatestProgress);
	// SoTienDo counts every entry kept.
	TienDo   []ProgressView `json:"tienDo"`
	SoTienDo int            `json:"soTienDo"`
	// DongBoLuc is when the full dossier was last received, CapNhatLuc the last sync or progress.
	DongBoLuc  time.Time `json:"dongBoLuc"`
	CapNhatLuc time.Time `json:"capNhatLuc"`
}

// ProgressView is one processing step (a CapNhatTienDoHoSoMC item): who handled it, in which
// department, what was done, when, and the status it set.
type ProgressView struct {
	NguoiXuLy    string    `json:"nguoiXuLy"`
	ChucDanh     string    `json:"chucDanh"`
	PhongBanXuLy string    `json:"phongBanXuLy"`
	NoiDungXuLy  string    `json:"noiDungXuLy"`
	ThoiDiemXuLy string    `json:"thoiDiemXuLy"`
	TrangThai    int       `json:"trangThai"`
	TenTrangThai string    `json:"tenTrangThai"`
	NhanLuc      time.Time `json:"nhanLuc"` // when the simulator received it
}

// DossierSummary is one line of GET /sim/dossiers.
type DossierSummary struct {
	MaHoSo       string    `json:"maHoSo"`
	TrangThai    int       `json:"trangThai"`
	TenTrangThai string    `json:"tenTrangThai"`
	NgayHenTra   string    `json:"ngayHenTra"`
	CapNhatLuc   time.Time `json:"capNhatLuc"`
}

// Dossier returns what the simulator holds of a dossier, as GET /sim/dossiers/{maHoSo} shows
// it, and whether it holds that dossier.
func (s *Sim) Dossier(maHoSo string) (DossierView, bool) {
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	d, ok := st.dossiers[maHoSo]
	if !ok {
		return DossierView{}, false
	}
	return d.view(maHoSo), true
}

// Dossiers lists the dossiers held, by dossier code.
func (s *Sim) Dossiers() []DossierSummary {
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]DossierSummary, 0, len(st.dossiers))
	for code, d := range st.dossiers {
		out = append(out, DossierSummary{MaHoSo: code, TrangThai: d.status, TenTrangThai: statusText[d.status],
			NgayHenTra: str(d.item["NgayHenTra"]), CapNhatLuc: d.updated})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MaHoSo < out[j].MaHoSo })
	return out
}

func (d *dossier) view(maHoSo string) DossierView {
	it := d.item
	v := DossierView{
		MaHoSo: maHoSo, MaTTHC: str(it["MaTTHC"]), TenTTHC: str(it["TenTTHC"]),
		MaLinhVuc: str(it["MaLinhVuc"]), TenLinhVuc: str(it["TenLinhVuc"]),
		ChuHoSo: str(it["ChuHoSo"]), LoaiDoiTuong: text(it["LoaiDoiTuong"]), HinhThuc: text(it["HinhThuc"]),
		SoBienNhan: str(it["SoBienNhan"]), TrichYeu: str(it["TrichYeuHoSo"]), DonViXuLy: str(it["DonViXuLy"]),
		TrangThai: d.status, TenTrangThai: statusText[d.status],
		NgayTiepNhan: str(it["NgayTiepNhan"]), NgayHenTra: str(it["NgayHenTra"]),
		NgayKetThucXuLy: str(it["NgayKetThucXuLy"]), NgayTra: str(it["NgayTra"]),
		ThongTinTra: str(it["ThongTinTra"]), GhiChu: str(it["GhiChu"]),
		GiayToKetQua: objects(it["DanhSachGiayToKetQua"]), HoSoBoSung: objects(it["DanhSachHoSoBoSung"]),
		TienDo: []ProgressView{}, SoTienDo: len(d.progress), DongBoLuc: d.synced, CapNhatLuc: d.updated,
	}
	for i := len(d.progress) - 1; i >= 0 && len(v.TienDo) < LatestProgress; i-- {
		p := d.progress[i]
		status, _ := statusOf(p.item["TrangThai"])
		v.TienDo = append(v.TienDo, ProgressView{
			NguoiXuLy: str(p.item["NguoiXuLy"]), ChucDanh: str(p.item["ChucDanh"]),
			PhongBanXuLy: str(p.item["PhongBanXuLy"]), NoiDungXuLy: str(p.item["NoiDungXuLy"]),
			ThoiDiemXuLy: str(p.item["ThoiDiemXuLy"]), TrangThai: status, TenTrangThai: statusText[status],
			NhanLuc: p.received,
		})
	}
	return v
}

// text reads a member sent as a JSON string or number (codes such as LoaiDoiTuong); anything
// else is "".
func text(raw json.RawMessage) string {
	if s := str(raw); s != "" {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// objects reads a JSON array as its members; anything else is an empty list.
func objects(raw json.RawMessage) []json.RawMessage {
	var out []json.RawMessage
	if json.Unmarshal(raw, &out) != nil || out == nil {
		return []json.RawMessage{}
	}
	return out
}

package portal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Service names, as sent in the "service" field (session transport) or as the last path segment
// (bearer transport), and used as endpoint names ("portal/DongBoHoSoMC").
const (
	ServiceLogin          = "Login"
	ServiceLookup         = "TraCuuHoSo"
	ServiceSyncDossier    = "DongBoHoSoMC"
	ServiceUpdateProgress = "CapNhatTienDoHoSoMC"
)

// TimeLayout is the portal's date format, yyyyMMddHHmmss, read in ICT.
const TimeLayout = "20060102150405"

// ICT is Asia/Ho_Chi_Minh as a fixed zone (UTC+7, no daylight saving), so no time zone
// database is needed.
var ICT = time.FixedZone("ICT", 7*3600)

// FormatTime writes t as yyyyMMddHHmmss in ICT; the zero time is "" (the portal's "not set").
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(ICT).Format(TimeLayout)
}

// ParseTime reads a yyyyMMddHHmmss date in ICT; "" is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if len(s) != len(TimeLayout) || strings.Trim(s, "0123456789") != "" {
		return time.Time{}, fmt.Errorf("portal: date %q is not yyyyMMddHHmmss", s)
	}
	t, err := time.ParseInLocation(TimeLayout, s, ICT)
	if err != nil {
		return time.Time{}, fmt.Errorf("portal: date %q is not yyyyMMddHHmmss: %w", s, err)
	}
	return t, nil
}

// Status is a national dossier status code (TrangThaiHoSo, TrangThai), 1 to 10. It is sent as
// a JSON string ("4"), as portal clients do, and read from a string or a number.
type Status int

// The national status codes, sent as TrangThaiHoSo in DongBoHoSoMC items and as TrangThai in
// CapNhatTienDoHoSoMC items.
const (
	StatusNew                 Status = 1  // Mới đăng ký
	StatusAccepted            Status = 2  // Được tiếp nhận
	StatusRefused             Status = 3  // Không được tiếp nhận
	StatusProcessing          Status = 4  // Đang xử lý
	StatusCorrectionRequested Status = 5  // Yêu cầu bổ sung giấy tờ
	StatusFeeDue              Status = 6  // Yêu cầu thực hiện nghĩa vụ tài chính
	StatusWithdrawn           Status = 7  // Công dân yêu cầu rút hồ sơ
	StatusStopped             Status = 8  // Dừng xử lý
	StatusProcessed           Status = 9  // Đã xử lý xong
	StatusResultDelivered     Status = 10 // Đã trả kết quả
)

// Valid reports whether s is one of the ten national codes.
func (s Status) Valid() bool { return s >= StatusNew && s <= StatusResultDelivered }

// MarshalJSON writes the code as a JSON string.
func (s Status) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, strconv.Itoa(int(s))), nil
}

// UnmarshalJSON reads an integer given as a JSON number or string; null and "" are 0.
func (s *Status) UnmarshalJSON(b []byte) error {
	n, err := lenientInt(b)
	if err != nil {
		return fmt.Errorf("portal: status: %w", err)
	}
	if n < -1<<31 || n > 1<<31-1 {
		return fmt.Errorf("portal: status: %d out of range", n)
	}
	*s = Status(n)
	return nil
}

// Amount is an integer amount of đồng (a fee's Gia). It is sent as a JSON number and read from
// a number or a string of digits; never a float.
type Amount int64

// UnmarshalJSON reads an integer given as a JSON number or string; null and "" are 0.
func (a *Amount) UnmarshalJSON(b []byte) error {
	n, err := lenientInt(b)
	if err != nil {
		return fmt.Errorf("portal: amount: %w", err)
	}
	*a = Amount(n)
	return nil
}

// lenientInt reads a JSON integer, or a JSON string holding one; null and "" are 0.
func lenientInt(b []byte) (int64, error) {
	b = bytes.TrimSpace(b)
	text := string(b)
	switch {
	case text == "null":
		return 0, nil
	case len(b) > 0 && b[0] == '"':
		if err := json.Unmarshal(b, &text); err != nil {
			return 0, err
		}
		text = strings.TrimSpace(text)
		if text == "" {
			return 0, nil
		}
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%.40q is not an integer", text)
	}
	return n, nil
}

// DossierItem is one element of DongBoHoSoMC's data: the full dossier. Dates are
// yyyyMMddHHmmss strings (FormatTime), "" when not set. Codes the portal defines as text
// (LoaiDoiTuong: "1" citizen, "2" organisation; HinhThuc) stay text.
type DossierItem struct {
	MaHoSo               string         `json:"MaHoSo"`
	MaTTHC               string         `json:"MaTTHC"`
	TenTTHC              string         `json:"TenTTHC"`
	MaLinhVuc            string         `json:"MaLinhVuc"`
	TenLinhVuc           string         `json:"TenLinhVuc"`
	SoBienNhan           string         `json:"SoBienNhan"`
	ChuHoSo              string         `json:"ChuHoSo"`
	LoaiDoiTuong         string         `json:"LoaiDoiTuong"`
	MaDoiTuong           string         `json:"MaDoiTuong"`
	TrichYeuHoSo         string         `json:"TrichYeuHoSo"`
	NgayTiepNhan         string         `json:"NgayTiepNhan"`
	NgayHenTra           string         `json:"NgayHenTra"`
	TrangThaiHoSo        Status         `json:"TrangThaiHoSo"`
	NgayTra              string         `json:"NgayTra"`
	ThongTinTra          string         `json:"ThongTinTra"`
	HinhThuc             string         `json:"HinhThuc"`
	NgayKetThucXuLy      string         `json:"NgayKetThucXuLy"`
	DonViXuLy            string         `json:"DonViXuLy"`
	GhiChu               string         `json:"GhiChu"`
	TaiLieuNop           []TaiLieu      `json:"TaiLieuNop"`
	DanhSachLePhi        []LePhi        `json:"DanhSachLePhi"`
	DanhSachHoSoBoSung   []HoSoBoSung   `json:"DanhSachHoSoBoSung"`
	DanhSachGiayToKetQua []GiayToKetQua `json:"DanhSachGiayToKetQua"`
}

// TaiLieu is a submitted document (TaiLieuNop, DanhSachGiayToBoSung). Field names as portal
// clients send them; not confirmed by a published specification.
type TaiLieu struct {
	TepDinhKemID      string `json:"TepDinhKemId"`
	TenTepDinhKem     string `json:"TenTepDinhKem"`
	IsDeleted         string `json:"IsDeleted"`
	MaThanhPhanHoSo   string `json:"MaThanhPhanHoSo"`
	DuongDanTaiTepTin string `json:"DuongDanTaiTepTin"`
}

// LePhi is a fee (DanhSachLePhi, DanhSachLePhiBoSung); Gia in integer đồng.
type LePhi struct {
	TenPhiLePhi  string `json:"TenPhiLePhi"`
	MaPhiLePhi   string `json:"MaPhiLePhi"`
	HinhThucThu  string `json:"HinhThucThu"`
	Gia          Amount `json:"Gia"`
	LoaiPhiLePhi string `json:"LoaiPhiLePhi"`
}

// HoSoBoSung is a correction round (DanhSachHoSoBoSung).
type HoSoBoSung struct {
	HoSoBoSungID         string    `json:"HoSoBoSungId"`
	NguoiYeuCauBoSung    string    `json:"NguoiYeuCauBoSung"`
	NoiDungBoSung        string    `json:"NoiDungBoSung"`
	NgayBoSung           string    `json:"NgayBoSung"`
	NguoiTiepNhanBoSung  string    `json:"NguoiTiepNhanBoSung"`
	ThongTinTiepNhan     string    `json:"ThongTinTiepNhan"`
	NgayTiepNhanBoSung   string    `json:"NgayTiepNhanBoSung"`
	TrangThaiBoSung      string    `json:"TrangThaiBoSung"`
	DanhSachGiayToBoSung []TaiLieu `json:"DanhSachGiayToBoSung"`
	DanhSachLePhiBoSung  []LePhi   `json:"DanhSachLePhiBoSung"`
	NgayHenTraTruoc      string    `json:"NgayHenTraTruoc"`
	NgayHenTraMoi        string    `json:"NgayHenTraMoi"`
}

// GiayToKetQua is a result document (DanhSachGiayToKetQua).
type GiayToKetQua struct {
	TenGiayTo            string `json:"TenGiayTo"`
	MaThanhPhanHoSo      string `json:"MaThanhPhanHoSo"`
	GiayToID             string `json:"GiayToId"`
	DuongDanTepTinKetQua string `json:"DuongDanTepTinKetQua"`
}

// ProgressItem is one element of CapNhatTienDoHoSoMC's data: one processing step.
type ProgressItem struct {
	MaHoSo                 string `json:"MaHoSo"`
	NguoiXuLy              string `json:"NguoiXuLy"`
	ChucDanh               string `json:"ChucDanh"`
	ThoiDiemXuLy           string `json:"ThoiDiemXuLy"`
	PhongBanXuLy           string `json:"PhongBanXuLy"`
	NoiDungXuLy            string `json:"NoiDungXuLy"`
	TrangThai              Status `json:"TrangThai"`
	NgayBatDau             string `json:"NgayBatDau"`
	NgayKetThucTheoQuyDinh string `json:"NgayKetThucTheoQuyDinh"`
}

// Dossier is what TraCuuHoSo says of a dossier: the fields the adapter reads, and the whole
// item as the portal sent it.
type Dossier struct {
	MaHoSo        string
	TrangThaiHoSo Status
	Item          json.RawMessage
}

// check refuses an item the portal could only misread: no dossier code, a status outside
// 1–10, a date not in yyyyMMddHHmmss. It returns the item with nil lists made empty, since
// portal clients send [] rather than null.
func (d DossierItem) check() (DossierItem, error) {
	if err := checkCommon(d.MaHoSo, "TrangThaiHoSo", d.TrangThaiHoSo); err != nil {
		return d, err
	}
	dates := []field{{"NgayTiepNhan", d.NgayTiepNhan}, {"NgayHenTra", d.NgayHenTra},
		{"NgayTra", d.NgayTra}, {"NgayKetThucXuLy", d.NgayKetThucXuLy}}
	for i, b := range d.DanhSachHoSoBoSung {
		for _, f := range []field{{"NgayBoSung", b.NgayBoSung}, {"NgayTiepNhanBoSung", b.NgayTiepNhanBoSung},
			{"NgayHenTraTruoc", b.NgayHenTraTruoc}, {"NgayHenTraMoi", b.NgayHenTraMoi}} {
			dates = append(dates, field{fmt.Sprintf("DanhSachHoSoBoSung[%d].%s", i, f.name), f.value})
		}
		if b.DanhSachGiayToBoSung == nil {
			d.DanhSachHoSoBoSung[i].DanhSachGiayToBoSung = []TaiLieu{}
		}
		if b.DanhSachLePhiBoSung == nil {
			d.DanhSachHoSoBoSung[i].DanhSachLePhiBoSung = []LePhi{}
		}
	}
	if err := checkDates(dates); err != nil {
		return d, err
	}
	d.TaiLieuNop = nonNil(d.TaiLieuNop)
	d.DanhSachLePhi = nonNil(d.DanhSachLePhi)
	d.DanhSachHoSoBoSung = nonNil(d.DanhSachHoSoBoSung)
	d.DanhSachGiayToKetQua = nonNil(d.DanhSachGiayToKetQua)
	return d, nil
}

func (p ProgressItem) check() error {
	if err := checkCommon(p.MaHoSo, "TrangThai", p.TrangThai); err != nil {
		return err
	}
	return checkDates([]field{{"ThoiDiemXuLy", p.ThoiDiemXuLy}, {"NgayBatDau", p.NgayBatDau},
		{"NgayKetThucTheoQuyDinh", p.NgayKetThucTheoQuyDinh}})
}

func checkCommon(maHoSo, statusField string, s Status) error {
	if strings.TrimSpace(maHoSo) == "" {
		return fmt.Errorf("%w: MaHoSo is empty", ErrInvalidRequest)
	}
	if !s.Valid() {
		return fmt.Errorf("%w: %s %d is not a national status code (1-10)", ErrInvalidRequest, statusField, int(s))
	}
	return nil
}

// field is a named value of an item, for checks that name what they refuse.
type field struct{ name, value string }

func checkDates(dates []field) error {
	for _, f := range dates {
		if _, err := ParseTime(f.value); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidRequest, f.name, err)
		}
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

package portalsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// GET /sim/dossiers/{maHoSo} shows the full dossier as last synced, the status the latest call
// set, and the latest progress entries newest first; a later sync keeps the progress.
func TestDossierView(t *testing.T) {
	t.Parallel()
	s, clk := newSim(t, Options{})
	session := login(t, s)
	full := map[string]any{
		"MaHoSo": "D1", "MaTTHC": "2.002208", "TenTTHC": "Chi thường xuyên", "MaLinhVuc": "KBNN-CTX",
		"TenLinhVuc": "Kho bạc Nhà nước", "ChuHoSo": "1234567 - Trường THCS A", "LoaiDoiTuong": "2", "HinhThuc": 0,
		"SoBienNhan": "KBNN-0011-2026-000001", "TrichYeuHoSo": "Chi thường xuyên", "DonViXuLy": "Phòng Kiểm soát chi",
		"NgayTiepNhan": "20260609090000", "NgayHenTra": "20260611090000", "TrangThaiHoSo": "2",
		"NgayKetThucXuLy": "", "NgayTra": "", "ThongTinTra": "", "GhiChu": "Đã tiếp nhận",
		"DanhSachGiayToKetQua": []any{},
		"DanhSachHoSoBoSung": []any{map[string]any{"HoSoBoSungId": "D1-BS1", "NoiDungBoSung": "Thiếu hợp đồng",
			"NgayBoSung": "20260609100000", "NgayHenTraTruoc": "20260611090000", "NgayHenTraMoi": "20260612090000"}},
	}
	if r := syncCall(t, s, session, full); r.code() != "00" {
		t.Fatalf("sync: %s", r.raw)
	}
	for i := range 12 {
		clk.Advance(time.Minute)
		r := service(t, s, session, "CapNhatTienDoHoSoMC", map[string]any{"data": []any{map[string]any{
			"MaHoSo": "D1", "TrangThai": 4, "NguoiXuLy": fmt.Sprintf("Người %d", i), "ChucDanh": "Kiểm soát viên",
			"PhongBanXuLy": "Phòng Kiểm soát chi", "NoiDungXuLy": fmt.Sprintf("Bước %d", i),
			"ThoiDiemXuLy": fmt.Sprintf("202606091%d0000", i%10)}}})
		if r.code() != "00" {
			t.Fatalf("progress %d: %s", i, r.raw)
		}
	}
	clk.Advance(time.Minute)
	done := map[string]any{}
	for k, v := range full {
		done[k] = v
	}
	done["TrangThaiHoSo"], done["NgayKetThucXuLy"], done["NgayTra"] = 10, "20260610150000", "20260610150000"
	done["ThongTinTra"] = "Đã trả kết quả"
	done["DanhSachGiayToKetQua"] = []any{map[string]any{"TenGiayTo": "Giấy rút dự toán đã hạch toán",
		"DuongDanTepTinKetQua": "https://dvc.kbnn.gov.vn/ket-qua/1.pdf"}}
	r := service(t, s, session, "DongBoHoSoMC", map[string]any{"isUpdating": "True", "data": []any{done}})
	if r.code() != "00" {
		t.Fatalf("second sync: %s", r.raw)
	}

	got := do(t, s, http.MethodGet, "/sim/dossiers/D1", "", nil)
	if got.status != http.StatusOK {
		t.Fatalf("GET /sim/dossiers/D1: %d %s", got.status, got.raw)
	}
	var v DossierView
	if err := json.Unmarshal([]byte(got.raw), &v); err != nil {
		t.Fatal(err)
	}
	if v.TrangThai != 10 || v.TenTrangThai != "Đã trả kết quả" || v.NgayHenTra != "20260611090000" ||
		v.NgayKetThucXuLy != "20260610150000" || v.NgayTra != "20260610150000" || v.ThongTinTra != "Đã trả kết quả" {
		t.Fatalf("status and dates: %+v", v)
	}
	if v.ChuHoSo != "1234567 - Trường THCS A" || v.LoaiDoiTuong != "2" || v.HinhThuc != "0" ||
		v.MaLinhVuc != "KBNN-CTX" || v.TenLinhVuc != "Kho bạc Nhà nước" || v.SoBienNhan != "KBNN-0011-2026-000001" {
		t.Fatalf("dossier fields: %+v", v)
	}
	if len(v.GiayToKetQua) != 1 || len(v.HoSoBoSung) != 1 {
		t.Fatalf("result documents %s, correction rounds %s", v.GiayToKetQua, v.HoSoBoSung)
	}
	var round struct {
		ID     string `json:"HoSoBoSungId"`
		NewDue string `json:"NgayHenTraMoi"`
	}
	if json.Unmarshal(v.HoSoBoSung[0], &round) != nil || round.ID != "D1-BS1" || round.NewDue != "20260612090000" {
		t.Fatalf("correction round %s", v.HoSoBoSung[0])
	}
	if v.SoTienDo != 12 || len(v.TienDo) != LatestProgress {
		t.Fatalf("%d progress entries kept, %d shown; want 12 and %d", v.SoTienDo, len(v.TienDo), LatestProgress)
	}
	newest := v.TienDo[0]
	if newest.NguoiXuLy != "Người 11" || newest.NoiDungXuLy != "Bước 11" || newest.PhongBanXuLy != "Phòng Kiểm soát chi" ||
		newest.ChucDanh != "Kiểm soát viên" || newest.TrangThai != 4 || newest.TenTrangThai != "Đang xử lý" ||
		newest.ThoiDiemXuLy != "20260609110000" || !newest.NhanLuc.Equal(clk.Now().Add(-time.Minute)) {
		t.Fatalf("newest progress entry %+v", newest)
	}
	if last := v.TienDo[LatestProgress-1]; last.NguoiXuLy != "Người 2" {
		t.Fatalf("oldest shown entry %+v, want Người 2", last)
	}
	if !v.CapNhatLuc.Equal(clk.Now()) || !v.DongBoLuc.Equal(clk.Now()) {
		t.Fatalf("times: synced %v, updated %v, want %v", v.DongBoLuc, v.CapNhatLuc, clk.Now())
	}

	if r := do(t, s, http.MethodGet, "/sim/dossiers/D2", "", nil); r.status != http.StatusNotFound {
		t.Fatalf("unknown dossier: %d %s", r.status, r.raw)
	}
	var list []DossierSummary
	if r := do(t, s, http.MethodGet, "/sim/dossiers", "", nil); json.Unmarshal([]byte(r.raw), &list) != nil ||
		len(list) != 1 || list[0].MaHoSo != "D1" || list[0].TrangThai != 10 || list[0].NgayHenTra != "20260611090000" {
		t.Fatalf("GET /sim/dossiers: %s", r.raw)
	}
}

// A dossier synced with no lists shows empty lists, not null, and a refused call (a backward
// move under RejectBackwardCode) changes nothing of the view.
func TestDossierViewEmptyAndRefused(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, Options{RejectBackwardCode: "-9"})
	session := login(t, s)
	if r := syncCall(t, s, session, syncItem("D1", 4)); r.code() != "00" {
		t.Fatalf("sync: %s", r.raw)
	}
	if r := progressCall(t, s, session, "D1", 2); r.code() != "-9" {
		t.Fatalf("backward progress: %s", r.raw)
	}
	r := do(t, s, http.MethodGet, "/sim/dossiers/D1", "", nil)
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.raw), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"giayToKetQua", "hoSoBoSung", "tienDo"} {
		if string(m[k]) != "[]" {
			t.Fatalf("%s = %s, want []", k, m[k])
		}
	}
	if string(m["trangThai"]) != "4" || string(m["soTienDo"]) != "0" {
		t.Fatalf("view after a refused call: %s", r.raw)
	}
}

package portal_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/portal"
	"github.com/kbnn/dvc/adapter/sim/portalsim"
	"github.com/kbnn/dvc/adapter/upstream"
)

// The item fields the client sends (DossierItem, ProgressItem). They are named as in the
// DongBoHoSoMC and CapNhatTienDoHoSoMC items that OpenCPS's DVCQGIntegrationActionImpl builds
// (createSyncDossierBodyRequest, createSyncDossierStatusBodyRequest), without the contact
// fields and the list of other attachments, which the adapter has nothing for.
var (
	dossierFields = []string{"MaHoSo", "MaTTHC", "TenTTHC", "MaLinhVuc", "TenLinhVuc", "SoBienNhan",
		"ChuHoSo", "LoaiDoiTuong", "MaDoiTuong", "TrichYeuHoSo", "NgayTiepNhan", "NgayHenTra",
		"TrangThaiHoSo", "NgayTra", "ThongTinTra", "HinhThuc", "NgayKetThucXuLy", "DonViXuLy", "GhiChu",
		"TaiLieuNop", "DanhSachLePhi", "DanhSachHoSoBoSung", "DanhSachGiayToKetQua"}
	progressFields = []string{"MaHoSo", "NguoiXuLy", "ChucDanh", "ThoiDiemXuLy", "PhongBanXuLy",
		"NoiDungXuLy", "TrangThai", "NgayBatDau", "NgayKetThucTheoQuyDinh"}
)

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

func firstItem(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	data, _ := body["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("data %v, want one item", body["data"])
	}
	item, _ := data[0].(map[string]any)
	return item
}

func TestClientPayloads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, portalsim.Options{})
	c, _ := newClient(t, e.session(t, nil), zeroSettings)
	ctx := context.Background()

	if err := c.SyncDossier(ctx, false, dossier("D1", portal.StatusAccepted)); err != nil {
		t.Fatal(err)
	}
	body := e.body(portal.ServiceSyncDossier)
	item := firstItem(t, body)
	if body["service"] != "DongBoHoSoMC" || body["isUpdating"] != "False" || body["madonvi"] != "000.00.00.G09" {
		t.Fatalf("DongBoHoSoMC body %v", body)
	}
	if got := keys(item); !slices.Equal(got, sorted(dossierFields)) {
		t.Fatalf("DongBoHoSoMC item fields\n%v\nwant\n%v", got, sorted(dossierFields))
	}
	if item["TrangThaiHoSo"] != "2" || item["NgayTiepNhan"] != "20260609090000" || item["NgayHenTra"] != "20260611090000" {
		t.Fatalf("status or dates: %v %v %v", item["TrangThaiHoSo"], item["NgayTiepNhan"], item["NgayHenTra"])
	}
	for _, list := range []string{"TaiLieuNop", "DanhSachLePhi", "DanhSachHoSoBoSung", "DanhSachGiayToKetQua"} {
		if l, ok := item[list].([]any); !ok || len(l) != 0 {
			t.Fatalf("%s = %#v, want []", list, item[list])
		}
	}

	if err := c.UpdateProgress(ctx, progress("D1", portal.StatusProcessing)); err != nil {
		t.Fatal(err)
	}
	body = e.body(portal.ServiceUpdateProgress)
	if item := firstItem(t, body); !slices.Equal(keys(item), sorted(progressFields)) || item["TrangThai"] != "4" {
		t.Fatalf("CapNhatTienDoHoSoMC item %v", item)
	}
	if err := c.SyncDossier(ctx, true, dossier("D1", portal.StatusProcessing)); err != nil {
		t.Fatal(err)
	}
	if body := e.body(portal.ServiceSyncDossier); body["isUpdating"] != "True" {
		t.Fatalf("isUpdating %v, want True", body["isUpdating"])
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	for name, transport := range map[string]func(e *env) portal.Transport{
		"session": func(e *env) portal.Transport { return e.session(t, nil) },
		"bearer":  func(e *env) portal.Transport { return e.bearer(t, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, portalsim.Options{})
			c, _ := newClient(t, transport(e), zeroSettings)
			ctx := context.Background()
			if _, found, err := c.Lookup(ctx, "D1"); err != nil || found {
				t.Fatalf("unknown dossier: found %v, err %v", found, err)
			}
			steps := []struct {
				do   func() error
				want portal.Status
			}{
				{func() error { return c.SyncDossier(ctx, false, dossier("D1", portal.StatusAccepted)) }, portal.StatusAccepted},
				{func() error { return c.UpdateProgress(ctx, progress("D1", portal.StatusProcessing)) }, portal.StatusProcessing},
				{func() error { return c.SyncDossier(ctx, true, dossier("D1", portal.StatusProcessed)) }, portal.StatusProcessed},
			}
			for i, st := range steps {
				if err := st.do(); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				d, found, err := c.Lookup(ctx, "D1")
				if err != nil || !found || d.MaHoSo != "D1" || d.TrangThaiHoSo != st.want || !strings.Contains(string(d.Item), `"MaTTHC":"1.009460"`) {
					t.Fatalf("step %d: Lookup = %+v, %v, %v; want status %d", i, d, found, err, st.want)
				}
			}
		})
	}
}

func TestLookupAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, answer string
		found        bool
		status       portal.Status
		wantErr      error
	}{
		{"no data", `{"error_code":"00"}`, false, 0, nil},
		{"null data", `{"error_code":"00","data":null}`, false, 0, nil},
		{"result instead of data, other case", `{"error_code":0,"result":[{"MaHoSo":"d1","TrangThaiHoSo":9}]}`, true, 9, nil},
		{"one object", `{"error_code":"0","data":{"MaHoSo":"D1","TrangThaiHoSo":"3"}}`, true, 3, nil},
		{"among others", `{"error_code":"00","data":[{"MaHoSo":"D0"},{"MaHoSo":"D1","TrangThaiHoSo":"10"}]}`, true, 10, nil},
		{"only other dossiers", `{"error_code":"00","data":[{"MaHoSo":"D2","TrangThaiHoSo":"4"}]}`, false, 0, portal.ErrProtocol},
		{"data a string", `{"error_code":"00","data":"D1"}`, false, 0, portal.ErrProtocol},
		{"status not a number", `{"error_code":"00","data":[{"MaHoSo":"D1","TrangThaiHoSo":"four"}]}`, false, 0, portal.ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, portalsim.Options{})
			e.setIntercept(func(w http.ResponseWriter, _ string) bool {
				_, _ = io.WriteString(w, tc.answer)
				return true
			})
			c, _ := newClient(t, e.session(t, nil), upstream.Settings{Retries: -1})
			d, found, err := c.Lookup(context.Background(), "D1")
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) || found != tc.found || d.TrangThaiHoSo != tc.status {
				t.Fatalf("Lookup = %+v, %v, %v; want found %v status %d err %v", d, found, err, tc.found, tc.status, tc.wantErr)
			}
		})
	}
}

// failFirst answers the first n service calls 503 and counts the calls it saw.
func failFirst(e *env, n int32) *atomic.Int32 {
	var seen atomic.Int32
	e.setIntercept(func(w http.ResponseWriter, _ string) bool {
		if seen.Add(1) > n {
			return false
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	return &seen
}

func TestOnlyLookupIsRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		call      func(c *portal.Client) error
		failures  int32
		wantCalls int32
		wantErr   error
	}{
		{"lookup recovers", func(c *portal.Client) error { _, _, err := c.Lookup(ctx, "D1"); return err }, 2, 3, nil},
		{"lookup gives up", func(c *portal.Client) error { _, _, err := c.Lookup(ctx, "D1"); return err }, 3, 3, portal.ErrUnavailable},
		{"sync once", func(c *portal.Client) error { return c.SyncDossier(ctx, false, dossier("D1", 2)) }, 1, 1, portal.ErrUnavailable},
		{"progress once", func(c *portal.Client) error { return c.UpdateProgress(ctx, progress("D1", 4)) }, 1, 1, portal.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, portalsim.Options{})
			seen := failFirst(e, tc.failures)
			c, _ := newClient(t, e.session(t, nil), upstream.Settings{Retries: 2})
			if err := tc.call(c); !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			if got := seen.Load(); got != tc.wantCalls {
				t.Fatalf("%d calls reached the portal, want %d", got, tc.wantCalls)
			}
			if tc.wantCalls == 1 && len(e.sim.Received()) != 0 {
				t.Fatal("a failed write reached the simulator")
			}
		})
	}
}

func TestInvalidItemsAreNotSent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	withBadCorrectionDate := dossier("D1", 5)
	withBadCorrectionDate.DanhSachHoSoBoSung = []portal.HoSoBoSung{{HoSoBoSungID: "1", NgayBoSung: "2026-06-09"}}
	badProgressDate := progress("D1", 4)
	badProgressDate.ThoiDiemXuLy = "20260609 1000"
	for _, tc := range []struct {
		name string
		call func(c *portal.Client) error
	}{
		{"no dossier code", func(c *portal.Client) error { return c.SyncDossier(ctx, false, dossier(" ", 2)) }},
		{"status 0", func(c *portal.Client) error { return c.SyncDossier(ctx, false, dossier("D1", 0)) }},
		{"status 11", func(c *portal.Client) error { return c.UpdateProgress(ctx, progress("D1", 11)) }},
		{"date in a correction round", func(c *portal.Client) error { return c.SyncDossier(ctx, false, withBadCorrectionDate) }},
		{"progress date", func(c *portal.Client) error { return c.UpdateProgress(ctx, badProgressDate) }},
		{"lookup without code", func(c *portal.Client) error { _, _, err := c.Lookup(ctx, ""); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, portalsim.Options{})
			c, _ := newClient(t, e.session(t, nil), zeroSettings)
			err := tc.call(c)
			if !errors.Is(err, portal.ErrInvalidRequest) || !portal.Permanent(err) {
				t.Fatalf("got %v, want a permanent ErrInvalidRequest", err)
			}
			if logins, _ := e.counts(); logins != 0 || len(e.sim.Received()) != 0 {
				t.Fatal("an invalid call reached the portal")
			}
		})
	}
}

func TestBreaker(t *testing.T) {
	t.Parallel()
	e := newEnv(t, portalsim.Options{})
	c, g := newClient(t, e.session(t, nil), upstream.Settings{MinRequests: 3, FailureRatio: 0.5,
		Window: time.Minute, OpenTimeout: time.Minute})
	ctx := context.Background()
	endpoint := g.Endpoint(portal.ServiceUpdateProgress)
	if endpoint.Name() != "portal/CapNhatTienDoHoSoMC" {
		t.Fatalf("endpoint %q", endpoint.Name())
	}
	for range 5 { // the portal says no: a healthy portal
		var pe *portal.PortalError
		if err := c.UpdateProgress(ctx, progress("D-unknown", 4)); !errors.As(err, &pe) {
			t.Fatalf("got %v, want a PortalError", err)
		}
	}
	if st := endpoint.State(); st != upstream.StateClosed {
		t.Fatalf("breaker %v after business refusals, want closed", st)
	}
	e.sim.SetFaults(portalsim.Faults{Down: true})
	for range 5 { // 5 failures of 10 calls: the ratio reaches 0.5
		if st := endpoint.State(); st != upstream.StateClosed {
			t.Fatalf("breaker %v too early", st)
		}
		if err := c.UpdateProgress(ctx, progress("D1", 4)); !errors.Is(err, portal.ErrUnavailable) {
			t.Fatalf("got %v, want ErrUnavailable", err)
		}
	}
	err := c.UpdateProgress(ctx, progress("D1", 4))
	var rj *upstream.Rejected
	d, ok := portal.RetryAfter(err)
	if !errors.As(err, &rj) || !errors.Is(err, upstream.ErrOpen) || !ok || d <= 0 || portal.Permanent(err) {
		t.Fatalf("got %v (RetryAfter %v %v), want a retryable breaker refusal", err, d, ok)
	}
}

// NewGroup refuses settings that upstream.Settings.Validate rejects instead of replacing them
// by defaults, and names the group.
func TestNewGroupRefusesInvalidSettings(t *testing.T) {
	tests := []struct {
		name  string
		s     upstream.Settings
		field string
	}{
		{"ratio", upstream.Settings{FailureRatio: 1.1}, "FailureRatio"},
		{"window", upstream.Settings{Window: -time.Second}, "Window"},
		{"max below base", upstream.Settings{BaseDelay: 3 * time.Second}, "MaxDelay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := portal.NewGroup(tt.s)
			var fe *upstream.FieldError
			if g != nil || !errors.As(err, &fe) || fe.Field != tt.field || !strings.HasPrefix(err.Error(), "portal: ") {
				t.Fatalf("NewGroup(%+v) = %v, %v; want no group and an error naming portal and %s", tt.s, g, err, tt.field)
			}
		})
	}
}

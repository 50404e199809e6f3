package app

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/sim/portalsim"
	"github.com/kbnn/dvc/adapter/testkit/clock"
)

// With portal.authURL and portal.dstCode configured, delivery logs in at the separate
// authentication endpoint and sends the dstcode on every request: a portal that requires it
// takes the status, and its dossier page shows the configured item fields.
func TestStatusOpenCPSLoginVariant(t *testing.T) {
	const dst = "000.00.00.G09"
	clk := clock.New(receipt)
	sim := portalsim.New(portalsim.Options{Clock: clk.Now, DstCode: dst})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	e := startStatus(t, func(c *config.Config) {
		c.Portal.URL, c.Portal.AuthURL, c.Portal.DstCode = srv.URL+"/api", srv.URL+"/auth", dst
	})
	_, code := e.submit(t, "chi-thuong-xuyen/valid-json")
	e.clock.Advance(time.Minute)
	e.tick(t)
	if n := e.poll(t); n != 1 {
		t.Fatalf("poll delivered %d events, want 1", n)
	}
	v, ok := sim.Dossier(code)
	if !ok {
		t.Fatalf("the portal does not hold %s; it received %+v", code, sim.Received())
	}
	if v.TrangThai != 2 || v.MaTTHC != "2.002208" || v.MaLinhVuc != "KBNN" || v.TenLinhVuc != "Kho bạc Nhà nước" ||
		v.LoaiDoiTuong != "2" || v.HinhThuc != "0" || v.NgayHenTra == "" {
		t.Fatalf("dossier page %+v", v)
	}
}

// calendar.holidaysDir replaces the embedded holidays; a file there that does not read stops
// start-up naming it.
func TestCalendarHolidaysDir(t *testing.T) {
	t.Parallel()
	good, bad := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(good, "2026.yaml"), []byte("year: 2026\nholidays:\n  - {date: 2026-06-10, name: \"Nghỉ\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "2026.yaml"), []byte("year: 2027\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir     string
		wantErr string
	}{{good, ""}, {bad, "2026.yaml"}} {
		cfg := testConfig(t, "http://127.0.0.1:1")
		cfg.Calendar.HolidaysDir = tc.dir
		a, err := New(cfg, Options{Clock: clock.New(receipt).Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if a != nil {
			_ = a.Close()
		}
		switch {
		case tc.wantErr == "" && err != nil:
			t.Fatalf("%s: %v", tc.dir, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) ||
			!strings.Contains(err.Error(), "calendar.holidaysDir")):
			t.Fatalf("%s: error %v, want one naming calendar.holidaysDir and %s", tc.dir, err, tc.wantErr)
		}
	}
}

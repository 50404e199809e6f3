package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/portal"
	"github.com/kbnn/dvc/adapter/sim/portalsim"
	"github.com/kbnn/dvc/adapter/testkit/clock"
	"github.com/kbnn/dvc/adapter/upstream"
)

// env is a portal simulator behind an httptest server, with a count of logins and token
// requests and the last body received for each service.
type env struct {
	sim *portalsim.Sim
	srv *httptest.Server
	clk *clock.Clock

	mu     sync.Mutex
	logins int
	tokens int
	bodies map[string][]byte
	// dst lists the dstcode header of every request, in arrival order ("" when absent).
	dst []string
	// loginPaths lists the path of every login (the Login service or /auth).
	loginPaths []string
	// intercept, when set, may answer a service call (named) in place of the simulator.
	intercept func(w http.ResponseWriter, service string) bool
}

func newEnv(t *testing.T, opts portalsim.Options) *env {
	t.Helper()
	e := &env{clk: clock.New(time.Date(2026, 6, 9, 9, 0, 0, 0, portal.ICT)), bodies: map[string][]byte{}}
	opts.Clock = e.clk.Now
	e.sim = portalsim.New(opts)
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var m struct {
			Service string `json:"service"`
		}
		_ = json.Unmarshal(body, &m)
		service := m.Service
		if r.URL.Path != "/api" {
			service = strings.TrimPrefix(r.URL.Path, "/api/")
		}
		e.mu.Lock()
		e.dst = append(e.dst, r.Header.Get(portal.HeaderDstCode))
		switch {
		case r.URL.Path == "/oauth/token":
			e.tokens++
		case service == portal.ServiceLogin || r.URL.Path == "/auth":
			e.logins++
			service = portal.ServiceLogin
			e.bodies[service] = body
			e.loginPaths = append(e.loginPaths, r.URL.Path)
		default:
			e.bodies[service] = body
		}
		intercept := e.intercept
		e.mu.Unlock()
		if intercept != nil && r.URL.Path != "/oauth/token" && service != portal.ServiceLogin && intercept(w, service) {
			return
		}
		e.sim.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) setIntercept(f func(w http.ResponseWriter, service string) bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.intercept = f
}

func (e *env) counts() (logins, tokens int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logins, e.tokens
}

// loginPathsSeen returns the path of every login so far.
func (e *env) loginPathsSeen() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.loginPaths...)
}

// dstCodes returns the dstcode header of every request so far.
func (e *env) dstCodes() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.dst...)
}

func (e *env) body(service string) map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	var m map[string]any
	_ = json.Unmarshal(e.bodies[service], &m)
	return m
}

// session returns a SessionTransport to the simulator, adjusted by mod.
func (e *env) session(t *testing.T, mod func(*portal.SessionConfig)) *portal.SessionTransport {
	t.Helper()
	cfg := portal.SessionConfig{URL: e.srv.URL + "/api", Username: "dvc-adapter", Password: "dev-portal-secret",
		MaDonVi: "000.00.00.G09", Clock: e.clk.Now}
	if mod != nil {
		mod(&cfg)
	}
	tr, err := portal.NewSessionTransport(cfg, e.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// bearer returns a BearerTransport to the simulator, adjusted by mod.
func (e *env) bearer(t *testing.T, mod func(*portal.BearerConfig)) *portal.BearerTransport {
	t.Helper()
	cfg := portal.BearerConfig{BaseURL: e.srv.URL + "/api", TokenURL: e.srv.URL + "/oauth/token",
		ClientID: "dvc-adapter", ClientSecret: "dev-portal-secret", MaDonVi: "000.00.00.G09", Clock: e.clk.Now}
	if mod != nil {
		mod(&cfg)
	}
	tr, err := portal.NewBearerTransport(cfg, e.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// newClient returns a Client whose retries do not wait.
func newClient(t testing.TB, tr portal.Transport, s upstream.Settings) (*portal.Client, *upstream.Group) {
	t.Helper()
	g, err := portal.NewGroup(s, upstream.WithSleep(func(context.Context, time.Duration) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	return portal.NewClient(tr, g), g
}

// dossier is a valid DongBoHoSoMC item.
func dossier(maHoSo string, status portal.Status) portal.DossierItem {
	at := time.Date(2026, 6, 9, 2, 0, 0, 0, time.UTC)
	return portal.DossierItem{
		MaHoSo: maHoSo, MaTTHC: "1.009460", TenTTHC: "Kiểm soát, thanh toán các khoản chi thường xuyên",
		ChuHoSo: "Trường THCS A", LoaiDoiTuong: "2", TrichYeuHoSo: "Chi lương tháng 6",
		NgayTiepNhan: portal.FormatTime(at), NgayHenTra: portal.FormatTime(at.Add(48 * time.Hour)),
		TrangThaiHoSo: status, HinhThuc: "0", DonViXuLy: "KBNN Ba Đình",
	}
}

func progress(maHoSo string, status portal.Status) portal.ProgressItem {
	return portal.ProgressItem{MaHoSo: maHoSo, NguoiXuLy: "Nguyễn Văn B", ChucDanh: "Kiểm soát viên",
		ThoiDiemXuLy: "20260609100000", PhongBanXuLy: "Phòng Kiểm soát chi", NoiDungXuLy: "Đang kiểm soát",
		TrangThai: status}
}

// fixed is an httptest server that answers every request with one status, headers and body.
func fixed(t *testing.T, status int, header map[string]string, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			_, _ = io.WriteString(w, `{"access_token":"t","token_type":"Bearer","expires_in":300}`)
			return
		}
		var m map[string]any
		if json.NewDecoder(r.Body).Decode(&m) == nil && m["service"] == portal.ServiceLogin {
			_, _ = io.WriteString(w, `{"error_code":0,"session":"s"}`)
			return
		}
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// zeroSettings are the upstream defaults.
var zeroSettings = upstream.Settings{}

// fixedToken is an httptest server whose /token answers status and body, and whose service
// calls succeed.
func fixedToken(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/token" {
			_, _ = io.WriteString(w, `{"error_code":"00"}`)
			return
		}
		if status == http.StatusFound {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

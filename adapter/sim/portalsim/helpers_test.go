package portalsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/clock"
)

func newClock() *clock.Clock {
	return clock.New(time.Date(2026, 6, 9, 9, 0, 0, 0, time.FixedZone("ICT", 7*3600)))
}

// newSim returns a simulator on a fake clock.
func newSim(t *testing.T, opts Options) (*Sim, *clock.Clock) {
	t.Helper()
	clk := newClock()
	if opts.Clock == nil {
		opts.Clock = clk.Now
	}
	return New(opts), clk
}

// result is a decoded answer with its HTTP status and headers.
type result struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r result) code() string {
	switch v := r.body["error_code"].(type) {
	case string:
		return v
	case float64:
		return jsonText(v)
	}
	return "<none>"
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// do sends a request to the handler and decodes a JSON object answer.
func do(t *testing.T, h http.Handler, method, path string, body string, header map[string]string) result {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := result{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &res.body)
	return res
}

// call POSTs a JSON object to /api.
func call(t *testing.T, h http.Handler, body map[string]any) result {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, h, http.MethodPost, "/api", string(b), nil)
}

// login logs in with the default credentials and returns the session.
func login(t *testing.T, h http.Handler) string {
	t.Helper()
	r := call(t, h, map[string]any{"service": "Login", "username": "dvc-adapter", "password": "dev-portal-secret"})
	s, _ := r.body["session"].(string)
	if r.code() != "00" || s == "" {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	return s
}

// service calls a service with a session.
func service(t *testing.T, h http.Handler, session, name string, fields map[string]any) result {
	t.Helper()
	body := map[string]any{"service": name, "session": session, "madonvi": "000.00.00.G09"}
	for k, v := range fields {
		body[k] = v
	}
	return call(t, h, body)
}

func syncItem(maHoSo string, status any) map[string]any {
	return map[string]any{"MaHoSo": maHoSo, "MaTTHC": "1.009460", "TrangThaiHoSo": status,
		"NgayTiepNhan": "20260609090000", "TaiLieuNop": []any{}}
}

func syncCall(t *testing.T, h http.Handler, session string, items ...map[string]any) result {
	t.Helper()
	return service(t, h, session, "DongBoHoSoMC", map[string]any{"isUpdating": "False", "data": items})
}

func progressCall(t *testing.T, h http.Handler, session, maHoSo string, status any) result {
	t.Helper()
	return service(t, h, session, "CapNhatTienDoHoSoMC", map[string]any{"data": []any{
		map[string]any{"MaHoSo": maHoSo, "TrangThai": status, "NguoiXuLy": "Nguyễn Văn B"}}})
}

// token gets a bearer token with HTTP Basic client authentication.
func token(t *testing.T, h http.Handler) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("dvc-adapter", "dev-portal-secret")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.AccessToken == "" {
		t.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	return out.AccessToken
}

// bearerCall POSTs fields to /api/<name> with the token.
func bearerCall(t *testing.T, h http.Handler, tok, name string, fields map[string]any) result {
	t.Helper()
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(fields)
	return do(t, h, http.MethodPost, "/api/"+name, b.String(), map[string]string{"Authorization": "Bearer " + tok})
}

// statuses lists the received entries as "service maHoSo status errorCode backward" lines.
func statuses(recs []Received) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = strings.TrimSpace(r.Service + " " + r.MaHoSo + " " + r.Status + " " + r.ErrorCode)
		if r.Backward {
			out[i] += " backward"
		}
	}
	return out
}

package portalsim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/clock"
)

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	basic := func(id, secret string) map[string]string {
		r, _ := http.NewRequest(http.MethodPost, "/", nil)
		r.SetBasicAuth(id, secret)
		return map[string]string{"Authorization": r.Header.Get("Authorization"),
			"Content-Type": "application/x-www-form-urlencoded"}
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for _, tc := range []struct {
		name      string
		body      url.Values
		header    map[string]string
		status    int
		wantError string
	}{
		{"basic", url.Values{"grant_type": {"client_credentials"}}, basic("dvc-adapter", "dev-portal-secret"), http.StatusOK, ""},
		{"form", url.Values{"grant_type": {"client_credentials"}, "client_id": {"dvc-adapter"},
			"client_secret": {"dev-portal-secret"}}, form, http.StatusOK, ""},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}}, basic("dvc-adapter", "nope"), http.StatusUnauthorized, "invalid_client"},
		{"no credentials", url.Values{"grant_type": {"client_credentials"}}, form, http.StatusUnauthorized, "invalid_client"},
		{"password grant", url.Values{"grant_type": {"password"}}, basic("dvc-adapter", "dev-portal-secret"), http.StatusBadRequest, "unsupported_grant_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newSim(t, Options{TokenTTL: 90 * time.Second})
			r := do(t, s, http.MethodPost, "/oauth/token", tc.body.Encode(), tc.header)
			if r.status != tc.status || (tc.wantError != "" && r.body["error"] != tc.wantError) {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.status, tc.wantError)
			}
			if tc.status != http.StatusOK {
				return
			}
			if r.body["token_type"] != "Bearer" || r.body["expires_in"] != float64(90) || r.body["access_token"] == "" {
				t.Fatalf("token answer %s", r.raw)
			}
		})
	}
}

func TestBearerAPI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		token  func(s *Sim, clk *clock.Clock, tok string) string
		status int
	}{
		{"valid token", func(_ *Sim, _ *clock.Clock, tok string) string { return tok }, http.StatusOK},
		{"no token", func(*Sim, *clock.Clock, string) string { return "" }, http.StatusUnauthorized},
		{"unknown token", func(*Sim, *clock.Clock, string) string { return "forged" }, http.StatusUnauthorized},
		{"expired token", func(_ *Sim, clk *clock.Clock, tok string) string { clk.Advance(5 * time.Minute); return tok }, http.StatusUnauthorized},
		{"invalidated tokens", func(s *Sim, _ *clock.Clock, tok string) string { s.InvalidateTokens(); return tok }, http.StatusUnauthorized},
		{"session id as token", func(s *Sim, _ *clock.Clock, _ string) string { return login(t, s) }, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := newSim(t, Options{})
			tok := tc.token(s, clk, token(t, s))
			r := bearerCall(t, s, tok, "DongBoHoSoMC", map[string]any{"isUpdating": "False", "data": []any{syncItem("D1", "2")}})
			if r.status != tc.status {
				t.Fatalf("got %d %s, want %d", r.status, r.raw, tc.status)
			}
			if tc.status == http.StatusUnauthorized && !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
				t.Fatalf("401 without WWW-Authenticate: %v", r.header)
			}
			if st, ok := s.Status("D1"); ok != (tc.status == http.StatusOK) || (ok && st != 2) {
				t.Fatalf("Status(D1) = %d, %v", st, ok)
			}
		})
	}
}

func TestBearerServicesMatchSession(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, Options{})
	tok := token(t, s)
	if r := bearerCall(t, s, tok, "DongBoHoSoMC", map[string]any{"isUpdating": "False", "data": []any{syncItem("D1", "2")}}); r.code() != "00" {
		t.Fatalf("sync: %s", r.raw)
	}
	if r := bearerCall(t, s, tok, "CapNhatTienDoHoSoMC", map[string]any{"data": []any{map[string]any{"MaHoSo": "D1", "TrangThai": "4"}}}); r.code() != "00" {
		t.Fatalf("progress: %s", r.raw)
	}
	r := bearerCall(t, s, tok, "TraCuuHoSo", map[string]any{"mahoso": "D1"})
	var out struct {
		Data []struct{ MaHoSo, TrangThaiHoSo string }
	}
	if err := json.Unmarshal([]byte(r.raw), &out); err != nil || len(out.Data) != 1 || out.Data[0].TrangThaiHoSo != "4" {
		t.Fatalf("lookup: %s (%v)", r.raw, err)
	}
	if r := bearerCall(t, s, tok, "Login", map[string]any{}); r.code() != CodeInvalidRequest {
		t.Fatalf("Login on the bearer path: %s, want %s", r.raw, CodeInvalidRequest)
	}
}

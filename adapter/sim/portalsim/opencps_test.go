package portalsim

import (
	"net/http"
	"testing"
)

// POST /auth takes {"username","password"} and hands out a session that /api accepts.
func TestAuthRoute(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, Options{})
	for _, tc := range []struct {
		name, body, want string
	}{
		{"right credentials", `{"username":"dvc-adapter","password":"dev-portal-secret"}`, "00"},
		{"wrong password", `{"username":"dvc-adapter","password":"x"}`, CodeLoginRefused},
		{"not an object", `[]`, CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s, http.MethodPost, "/auth", tc.body, nil)
			if r.status != http.StatusOK || r.code() != tc.want {
				t.Fatalf("got %d %s, want error_code %s", r.status, r.raw, tc.want)
			}
			session, _ := r.body["session"].(string)
			if (session != "") != (tc.want == "00") {
				t.Fatalf("session %q in %s", session, r.raw)
			}
			if session == "" {
				return
			}
			if r := syncCall(t, s, session, syncItem("D1", "2")); r.code() != "00" {
				t.Fatalf("service call with the /auth session: %s", r.raw)
			}
		})
	}
}

// With DstCode set, every protocol route refuses a request without that dstcode header (403,
// nothing handled) and serves one with it; /sim/ routes never ask for it.
func TestDstCodeRequired(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, Options{DstCode: "G09-KBNN"})
	right := map[string]string{"dstcode": "G09-KBNN"}
	login := `{"service":"Login","username":"dvc-adapter","password":"dev-portal-secret"}`
	auth := `{"username":"dvc-adapter","password":"dev-portal-secret"}`
	for _, tc := range []struct {
		name, path, body string
		header           map[string]string
		want             int
	}{
		{"Login without dstcode", "/api", login, nil, http.StatusForbidden},
		{"Login with another dstcode", "/api", login, map[string]string{"dstcode": "G09"}, http.StatusForbidden},
		{"Login with dstcode", "/api", login, right, http.StatusOK},
		{"/auth without dstcode", "/auth", auth, nil, http.StatusForbidden},
		{"/auth with dstcode", "/auth", auth, right, http.StatusOK},
		{"token without dstcode", "/oauth/token", "grant_type=client_credentials", nil, http.StatusForbidden},
		{"bearer service without dstcode", "/api/TraCuuHoSo", `{"mahoso":"D1"}`, nil, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s, http.MethodPost, tc.path, tc.body, tc.header)
			if r.status != tc.want {
				t.Fatalf("%s: %d %s, want %d", tc.path, r.status, r.raw, tc.want)
			}
		})
	}
	r := do(t, s, http.MethodPost, "/auth", auth, right)
	session, _ := r.body["session"].(string)
	body := `{"service":"TraCuuHoSo","session":"` + session + `","madonvi":"m","mahoso":"D1"}`
	if r := do(t, s, http.MethodPost, "/api", body, nil); r.status != http.StatusForbidden {
		t.Fatalf("service call without dstcode: %d %s", r.status, r.raw)
	}
	if r := do(t, s, http.MethodPost, "/api", body, right); r.status != http.StatusOK || r.code() != "00" {
		t.Fatalf("service call with dstcode: %d %s", r.status, r.raw)
	}
	if n := len(s.Received()); n != 1 {
		t.Fatalf("%d calls received, want 1 (the refused ones are not handled)", n)
	}
	if r := do(t, s, http.MethodGet, "/sim/received", "", nil); r.status != http.StatusOK {
		t.Fatalf("/sim/received without dstcode: %d", r.status)
	}
}

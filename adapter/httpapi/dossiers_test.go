package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/kbnn/dvc/adapter/httpapi"
)

// The listing admits the portal's callers and operators alike, under the
// portal's realm; a token of neither list is refused.
func TestFindDossiersCallers(t *testing.T) {
	h := newServer(t, func(o *httpapi.Options) {
		o.AdminCallers = []httpapi.Caller{{Name: "ops", Token: adminToken}}
		o.Dossiers = o.Intake
	})
	tests := []struct {
		name, auth, query string
		status            int
		code              string
	}{
		{"portal token", "Bearer " + token, "", 200, ""},
		{"operator token", "Bearer " + adminToken, "", 200, ""},
		{"no token", "", "", 401, "unauthorized"},
		{"other token", "Bearer nope", "", 401, "unauthorized"},
		{"configured procedure", "Bearer " + token, "?procedure=chi-thuong-xuyen", 200, ""},
		{"unknown procedure", "Bearer " + token, "?procedure=tai-khoan", 400, "invalid-query"},
		{"malformed status", "Bearer " + adminToken, "?status=1,x", 400, "invalid-query"},
		{"unknown parameter", "Bearer " + adminToken, "?unit=1012345&sort=asc", 400, "invalid-query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, "GET", h.url+"/v1/dossiers"+tt.query, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, body := do(t, req)
			if resp.StatusCode != tt.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tt.status)
			}
			if tt.code != "" {
				wantProblem(t, resp, body, tt.status, tt.code)
			}
			if tt.status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") != `Bearer realm="dvc-adapter"` {
				t.Errorf("challenge %q", resp.Header.Get("WWW-Authenticate"))
			}
			if tt.status == 200 && string(body) != "{\"dossiers\":[],\"next\":\"\"}\n" {
				t.Errorf("body %s", body)
			}
		})
	}
}

package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/kbnn/dvc/adapter/httpapi"
)

var withdrawals = regexp.MustCompile(`(?m)^dvc_withdrawals_total\{(.*)\} (\S+)$`)

// The withdrawal route takes the portal's bearer token, the configured procedures and the
// body limit like the submission route, and is counted in dvc_withdrawals_total by outcome
// (not in dvc_submissions_total); each refusal is logged once with the dossier code. Nothing
// reaches the treasury (newServer checks).
func TestWithdrawalRoute(t *testing.T) {
	h := newServer(t, func(o *httpapi.Options) { o.MaxBodyBytes = 64 })
	auth := "Bearer " + token
	url := func(proc string) string {
		return h.url + "/v1/procedures/" + proc + "/dossiers/G09.20-20260609-0000101/withdrawal"
	}
	tests := []struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{
		{"no credential", newRequest(t, "POST", url("chi-thuong-xuyen"), []byte("{}"), "Content-Type", "application/json"), 401, "unauthorized"},
		{"portal token on an unknown procedure", newRequest(t, "POST", url("no-such-procedure"), []byte("{}"), "Authorization", auth, "Content-Type", "application/json"), 404, "unknown-procedure"},
		{"wrong content type", newRequest(t, "POST", url("chi-thuong-xuyen"), []byte("x"), "Authorization", auth, "Content-Type", "text/plain"), 415, "unsupported-media-type"},
		{"body over the limit", newRequest(t, "POST", url("chi-thuong-xuyen"), bytes.Repeat([]byte("x"), 65), "Authorization", auth, "Content-Type", "application/json"), 413, "body-too-large"},
		{"malformed key", newRequest(t, "POST", url("chi-thuong-xuyen"), []byte("{}"), "Authorization", auth, "Content-Type", "application/json", "Idempotency-Key", strings.Repeat("k", 256)), 400, "invalid-idempotency-key"},
		{"wrong method", newRequest(t, "GET", url("chi-thuong-xuyen"), nil, "Authorization", auth), 405, "method-not-allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, tt.req)
			wantProblem(t, resp, body, tt.status, tt.code)
		})
	}

	resp, body := do(t, newRequest(t, "GET", h.admin+"/metrics", nil))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	var got []string
	for _, m := range withdrawals.FindAllStringSubmatch(string(body), -1) {
		got = append(got, m[1]+" "+m[2])
	}
	want := []string{
		`outcome="body-too-large",procedure="chi-thuong-xuyen" 1`,
		`outcome="invalid-idempotency-key",procedure="chi-thuong-xuyen" 1`,
		`outcome="unauthorized",procedure="chi-thuong-xuyen" 1`,
		`outcome="unknown-procedure",procedure="" 1`,
		`outcome="unsupported-media-type",procedure="chi-thuong-xuyen" 1`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("dvc_withdrawals_total:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := metric(t, h.admin); len(got) != 0 {
		t.Errorf("withdrawals counted as submissions: %q", got)
	}

	refusals := 0
	for _, line := range strings.Split(strings.TrimSpace(h.log.String()), "\n") {
		var r map[string]any
		if json.Unmarshal([]byte(line), &r) != nil || r["msg"] != "request refused" {
			continue
		}
		refusals++
		if r["code"] == "unsupported-media-type" && r["maHoSo"] != "G09.20-20260609-0000101" {
			t.Errorf("refusal logged without the dossier code: %s", line)
		}
	}
	if refusals != len(tests) {
		t.Errorf("%d refusals logged, want %d:\n%s", refusals, len(tests), h.log.String())
	}
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/kbnn/dvc/adapter/httpapi"
	"github.com/kbnn/dvc/adapter/signers"
)

const testIssuer = "CN=KBNN Test Signing CA,O=Kho bac Nha nuoc - TEST ONLY,C=VN"

func signersServer(t *testing.T) (*harness, *signers.Memory) {
	store := signers.NewMemory()
	h := newServer(t, func(o *httpapi.Options) {
		o.AdminCallers = []httpapi.Caller{{Name: "ops", Token: adminToken}}
		o.Signers = store
	})
	return h, store
}

func admin(t *testing.T, method, url, body string) (*http.Response, []byte) {
	t.Helper()
	return do(t, newRequest(t, method, url, []byte(body), "Authorization", "Bearer "+adminToken, "Content-Type", "application/json"))
}

// Operators load registrations (twice: nothing changes), list them, and
// revoke one serial; the store holds what the routes said.
func TestAdminSignersLoadListRevoke(t *testing.T) {
	h, store := signersServer(t)
	put := `{"signers":[{"role":"chu-tai-khoan","serial":"4A:25:D5:92","issuer":"` + testIssuer + `"},
		{"role":"ke-toan-truong","serial":"0x739F","issuer":"` + testIssuer + `"}]}`
	for i, wantAdded := range []int{2, 0} {
		resp, body := admin(t, "PUT", h.admin+"/v1/admin/signers/1012345", put)
		var got struct{ Loaded, Added int }
		if resp.StatusCode != 200 || json.Unmarshal(body, &got) != nil || got.Loaded != 2 || got.Added != wantAdded {
			t.Fatalf("PUT #%d: %d %s; want 200, added %d", i+1, resp.StatusCode, body, wantAdded)
		}
	}
	resp, body := admin(t, "POST", h.admin+"/v1/admin/signers", `{"signers":[{"unit":"1045678","role":"chu-tai-khoan","serial":"4a25d592","issuer":"`+testIssuer+`"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	resp, body = admin(t, "GET", h.admin+"/v1/admin/signers?unit=1012345", "")
	var list struct {
		Unit    string
		Signers []signers.Registration
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &list) != nil || list.Unit != "1012345" || len(list.Signers) != 2 ||
		list.Signers[0].Serial != "4a25d592" || list.Signers[0].Source != signers.SourceOperator {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
	resp, body = admin(t, "DELETE", h.admin+"/v1/admin/signers/1012345/4A25D592", "")
	if resp.StatusCode != 200 {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	issuer, _ := signers.CanonicalDN(testIssuer)
	if ok, _ := signers.Registered(context.Background(), store, "1012345", "chu-tai-khoan", "4a25d592", issuer); ok {
		t.Error("revoked registration still registered")
	}
	if ok, _ := signers.Registered(context.Background(), store, "1045678", "chu-tai-khoan", "4a25d592", issuer); !ok {
		t.Error("the other unit's registration was revoked")
	}
	resp, body = admin(t, "DELETE", h.admin+"/v1/admin/signers/1012345/4A25D592", "")
	wantProblem(t, resp, body, 404, "not-found")
}

func TestAdminSignersRefusals(t *testing.T) {
	h, store := signersServer(t)
	for _, tc := range []struct {
		name, method, path, body, auth string
		status                         int
		code                           string
	}{
		{"portal token", "GET", "/v1/admin/signers?unit=1", "", "Bearer " + token, 401, "unauthorized"},
		{"no token", "PUT", "/v1/admin/signers/1", `{"signers":[]}`, "", 401, "unauthorized"},
		{"no unit", "GET", "/v1/admin/signers", "", "Bearer " + adminToken, 400, "invalid-query"},
		{"two units", "GET", "/v1/admin/signers?unit=1&unit=2", "", "Bearer " + adminToken, 400, "invalid-query"},
		{"not JSON", "POST", "/v1/admin/signers", `{`, "Bearer " + adminToken, 400, "malformed-body"},
		{"unknown member", "POST", "/v1/admin/signers", `{"signers":[],"x":1}`, "Bearer " + adminToken, 400, "malformed-body"},
		{"empty", "POST", "/v1/admin/signers", `{"signers":[]}`, "Bearer " + adminToken, 422, "schema-violation"},
		{"no unit in POST", "POST", "/v1/admin/signers", `{"signers":[{"role":"r","serial":"1","issuer":"CN=x"}]}`, "Bearer " + adminToken, 422, "schema-violation"},
		{"other unit than the path", "PUT", "/v1/admin/signers/1", `{"signers":[{"unit":"2","role":"r","serial":"1","issuer":"CN=x"}]}`, "Bearer " + adminToken, 422, "schema-violation"},
		{"bad serial", "PUT", "/v1/admin/signers/1", `{"signers":[{"role":"r","serial":"xyz","issuer":"CN=x"},{"role":"r","serial":"1","issuer":"CN=x"}]}`, "Bearer " + adminToken, 422, "schema-violation"},
		{"bad issuer", "PUT", "/v1/admin/signers/1", `{"signers":[{"role":"r","serial":"1","issuer":"x"}]}`, "Bearer " + adminToken, 422, "schema-violation"},
		{"revoke bad serial", "DELETE", "/v1/admin/signers/1/xyz", "", "Bearer " + adminToken, 404, "not-found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(t, tc.method, h.admin+tc.path, []byte(tc.body), "Content-Type", "application/json")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, body := do(t, req)
			wantProblem(t, resp, body, tc.status, tc.code)
		})
	}
	if got, _ := store.List(context.Background(), "1"); len(got) != 0 {
		t.Fatalf("refused loads stored %+v", got)
	}
}

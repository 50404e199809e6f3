package treasurysim

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
)

func TestAttachmentRoutes(t *testing.T) {
	h := newHarness(t)
	body := "%PDF-1.4 bien ban nghiem thu"
	s := sha256.Sum256([]byte(body))
	sum := hex.EncodeToString(s[:])
	auth := map[string]string{"Authorization": "Bearer " + h.token, "Content-Type": "application/pdf"}
	for _, tc := range []struct {
		name, path, body string
		header           map[string]string
		status           int
		reason           string
	}{
		{"no token", "/api/v1/attachments/" + sum, body, nil, http.StatusUnauthorized, ReasonInvalidToken},
		{"malformed hash", "/api/v1/attachments/" + sum[:63] + "G", body, auth, http.StatusBadRequest, ReasonInvalidRequest},
		{"body that does not hash to the path", "/api/v1/attachments/" + sum, body + " ", auth, http.StatusUnprocessableEntity, ReasonHashMismatch},
		{"stored", "/api/v1/attachments/" + sum, body, auth, http.StatusCreated, ""},
		{"stored again", "/api/v1/attachments/" + sum, body, auth, http.StatusOK, ""},
	} {
		rec := h.do(http.MethodPut, tc.path, tc.header, tc.body)
		if rec.Code != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.name, rec.Code, rec.Body, tc.status)
		}
		if tc.reason != "" {
			var r struct{ ReasonCode string }
			decode(t, rec, &r)
			if r.ReasonCode != tc.reason {
				t.Fatalf("%s: reason %q, want %q", tc.name, r.ReasonCode, tc.reason)
			}
		}
	}
	rec := h.do(http.MethodGet, "/sim/attachments/"+sum, nil, "")
	if rec.Code != http.StatusOK || rec.Body.String() != body || rec.Header().Get("Content-Type") != "application/pdf" {
		t.Fatalf("GET /sim/attachments: %d %q %q", rec.Code, rec.Body, rec.Header().Get("Content-Type"))
	}
	if l := h.sim.Attachments(); len(l) != 1 || l[0].Uploads != 2 || l[0].Size != len(body) {
		t.Fatalf("attachments %+v", l)
	}
	if rec := h.do(http.MethodGet, "/sim/attachments/"+sum[:60]+"0000", nil, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown attachment: %d", rec.Code)
	}
}

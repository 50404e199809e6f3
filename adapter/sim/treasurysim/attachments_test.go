package treasurysim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"maps"
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

// A document may carry its files in its attachments' content members
// instead of their uploads: stored as an upload would store them once the
// document is accepted, and counted as one (a replay counts nothing). A
// file that does not decode to its size and hash, or is not base64, and a
// document refused otherwise (here: no allotment) store nothing; a file
// one document lists twice counts once.
func TestInlineAttachments(t *testing.T) {
	h := newHarness(t)
	data := []byte("%PDF-1.4 hop dong")
	s := sha256.Sum256(data)
	sum := hex.EncodeToString(s[:])
	att := func(content string, size int) func(map[string]any) {
		return set("attachments", []any{map[string]any{"sha256": sum, "fileName": "hop-dong.pdf", "mediaType": "application/pdf",
			"size": size, "content": content}})
	}
	enc := base64.StdEncoding.EncodeToString(data)
	for _, tc := range []struct {
		name    string
		req     map[string]any
		status  int
		reason  string
		uploads int
	}{
		{"content that hashes otherwise", request("G09.20-20260609-0000701", att(base64.StdEncoding.EncodeToString(append(data, ' ')), len(data))),
			http.StatusUnprocessableEntity, ReasonHashMismatch, 0},
		{"content of another size", request("G09.20-20260609-0000702", att(enc, len(data)+1)), http.StatusUnprocessableEntity, ReasonHashMismatch, 0},
		{"content not base64", request("G09.20-20260609-0000703", att("not base64!", len(data))), http.StatusBadRequest, ReasonInvalidRequest, 0},
		{"a document refused", request("G09.20-20260609-0000706", att(enc, len(data)), lines(line("422", "6999", 1_000_000))),
			http.StatusUnprocessableEntity, ReasonNoAllotment, 0},
		{"stored with the document", request("G09.20-20260609-0000704", att(enc, len(data))), http.StatusCreated, "", 1},
		{"the document replayed", request("G09.20-20260609-0000704", att(enc, len(data))), http.StatusOK, "", 1},
		{"again with another", request("G09.20-20260609-0000705", att(enc, len(data))), http.StatusCreated, "", 2},
		{"listed twice in one", request("G09.20-20260609-0000707", func(m map[string]any) {
			e := map[string]any{"sha256": sum, "fileName": "hop-dong.pdf", "mediaType": "application/pdf", "size": len(data), "content": enc}
			m["attachments"] = []any{e, maps.Clone(e)}
		}), http.StatusCreated, "", 3},
	} {
		rec := h.send(tc.req)
		if rec.Code != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.name, rec.Code, rec.Body, tc.status)
		}
		if tc.reason != "" {
			if r := reasonOf(t, rec); r != tc.reason {
				t.Fatalf("%s: reason %q, want %q", tc.name, r, tc.reason)
			}
			if n := len(h.sim.store.list()); n != 0 {
				t.Fatalf("%s: %d documents stored", tc.name, n)
			}
		}
		var uploads int
		for _, a := range h.sim.Attachments() {
			if a.SHA256 == sum {
				uploads = a.Uploads
			}
		}
		if uploads != tc.uploads {
			t.Fatalf("%s: %d uploads, want %d", tc.name, uploads, tc.uploads)
		}
	}
	got, ok := h.sim.AttachmentData(sum)
	if !ok || string(got) != string(data) {
		t.Fatalf("stored %q %v", got, ok)
	}
}

package treasurysim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"testing"
)

func evidenceOf(original []byte, sum string) map[string]any {
	return map[string]any{
		"form": "xml-dsig", "contentType": "application/xml; charset=utf-8", "sha256": sum,
		"original": base64.StdEncoding.EncodeToString(original),
		"signers": []any{map[string]any{"role": "chu-tai-khoan", "subject": "CN=A", "issuer": "CN=CA", "serialNumber": "0a",
			"certificateSha256": sum, "notBefore": "2025-01-01T00:00:00Z", "notAfter": "2050-01-01T00:00:00Z",
			"signatureAlgorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"}},
		"verifiedAt": "2026-06-09T01:30:00Z", "instance": "test",
	}
}

// The simulator keeps the original and serves it back byte for byte with
// its content type; an original that does not hash to the stated SHA-256
// is refused and nothing is stored.
func TestEvidenceOriginal(t *testing.T) {
	h := newHarness(t)
	original := []byte("<?xml version=\"1.0\"?>\n<HoSo Id=\"x\">signed</HoSo>\n")
	s := sha256.Sum256(original)
	sum := hex.EncodeToString(s[:])

	bad := h.send(request("G09.20-20260609-0000901", set("evidence", evidenceOf(append(original, ' '), sum))))
	if bad.Code != http.StatusBadRequest || reasonOf(t, bad) != ReasonEvidenceMismatch {
		t.Fatalf("mismatched original: %d %s", bad.Code, bad.Body)
	}
	if n := len(h.sim.store.list()); n != 0 {
		t.Fatalf("%d documents stored after a refused original", n)
	}

	rec := h.send(request("G09.20-20260609-0000901", set("evidence", evidenceOf(original, sum))))
	if rec.Code != http.StatusCreated {
		t.Fatalf("send: %d %s", rec.Code, rec.Body)
	}
	var r receipt
	decode(t, rec, &r)
	// The receipt, a replay of the key (with other bytes) and a look-up name
	// the bytes the document holds.
	if r.EvidenceSHA256 != sum {
		t.Fatalf("receipt evidenceSha256 %q, want %s", r.EvidenceSHA256, sum)
	}
	other := append([]byte(" "), original...)
	o := sha256.Sum256(other)
	var replayed receipt
	decode(t, h.send(request("G09.20-20260609-0000901", set("evidence", evidenceOf(other, hex.EncodeToString(o[:]))))), &replayed)
	if replayed.DocumentID != r.DocumentID || replayed.EvidenceSHA256 != sum {
		t.Fatalf("replay %+v, want document %s holding %s", replayed, r.DocumentID, sum)
	}
	var st status
	decode(t, h.get("/api/v1/documents/"+r.DocumentID), &st)
	if st.EvidenceSHA256 != sum {
		t.Fatalf("status evidenceSha256 %q, want %s", st.EvidenceSHA256, sum)
	}
	got := h.get("/sim/documents/" + r.DocumentID + "/original")
	if got.Code != http.StatusOK || got.Body.String() != string(original) || got.Header().Get("Content-Type") != "application/xml; charset=utf-8" {
		t.Fatalf("original: %d %q %q", got.Code, got.Header().Get("Content-Type"), got.Body)
	}

	plain := h.send(request("G09.20-20260609-0000902"))
	r = receipt{}
	decode(t, plain, &r)
	if r.EvidenceSHA256 != "" {
		t.Fatalf("a document sent without evidence names %q", r.EvidenceSHA256)
	}
	if got := h.get("/sim/documents/" + r.DocumentID + "/original"); got.Code != http.StatusNotFound {
		t.Fatalf("original of a document sent without one: %d", got.Code)
	}
}

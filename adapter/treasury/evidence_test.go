package treasury

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"
)

// The receipt of a document sent with its evidence, its replay under the
// same key with other bytes, and a look-up name the bytes the treasury
// holds as the document's original (evidenceSha256).
func TestEvidenceSHA256IsRead(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t)
	ctx := context.Background()
	withEvidence := func(original []byte) (map[string]any, string) {
		s := sha256.Sum256(original)
		sum := hex.EncodeToString(s[:])
		m := document("G09.20-20260609-0000701").Map()
		m["evidence"] = map[string]any{
			"form": "xml-dsig", "contentType": "application/xml", "sha256": sum,
			"original": base64.StdEncoding.EncodeToString(original),
			"signers": []any{map[string]any{"role": "chu-tai-khoan", "subject": "CN=A", "issuer": "CN=CA", "serialNumber": "0a",
				"certificateSha256": sum, "notBefore": "2025-01-01T00:00:00Z", "notAfter": "2050-01-01T00:00:00Z",
				"signatureAlgorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"}},
			"verifiedAt": "2026-06-09T01:30:00Z", "instance": "test",
		}
		return m, sum
	}
	key := document("G09.20-20260609-0000701").Key()
	first, held := withEvidence([]byte("<HoSo>1</HoSo>"))
	r, err := e.client.SendDocument(ctx, key, first)
	if err != nil || r.EvidenceSHA256 != held {
		t.Fatalf("receipt %+v, %v; want evidenceSha256 %s", r, err, held)
	}
	again, _ := withEvidence([]byte(" <HoSo>1</HoSo>"))
	if r, err := e.client.SendDocument(ctx, key, again); err != nil || !r.Replayed || r.EvidenceSHA256 != held {
		t.Fatalf("replay %+v, %v; want the first request's %s", r, err, held)
	}
	if s, err := e.client.FindByKey(ctx, key); err != nil || s.EvidenceSHA256 != held {
		t.Fatalf("look-up %+v, %v; want %s", s, err, held)
	}
}

package intake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/kbnn/dvc/adapter/schema"
)

// The fingerprint of a fixed dossier, worked out with Marshal: stored
// idempotency records hold fingerprints, so it may never change.
func TestFingerprintIsStable(t *testing.T) {
	v := &Verified{Procedure: &Procedure{ID: "chi-thuong-xuyen"}, Value: map[string]any{
		"maHoSo": "G09.20.1012345-20260601-0000001", "soBoSung": json.Number("0"),
		"tenDonVi": "Trường <THCS> & \"Nguyễn Du\"", "chiTiet": []any{
			map[string]any{"soTien": json.Number("12500000"), "noiDung": "Lương\u2028tháng 6"}},
	}}
	const want = "c42bc88457d2f7e89aa48fde98d6bd43aeae4a64e8128ecb7ecc946ca685502d"
	if got := v.Fingerprint(); got != want {
		t.Errorf("fingerprint %s, want %s", got, want)
	}
}

// BenchmarkFingerprint: the fingerprint of the two-line chi-thuong-xuyen
// template, against hashing Marshal's bytes as it was done before.
func BenchmarkFingerprint(b *testing.B) {
	body, err := os.ReadFile("../../testdata/templates/chi-thuong-xuyen/dossier.json")
	if err != nil {
		b.Fatal(err)
	}
	val, err := schema.DecodeJSON(body)
	if err != nil {
		b.Fatal(err)
	}
	v := &Verified{Procedure: &Procedure{ID: "chi-thuong-xuyen"}, Value: val.(map[string]any)}
	b.Run("canonical", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = v.Fingerprint()
		}
	})
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw, _ := json.Marshal(v.Value)
			h := sha256.New()
			h.Write([]byte(v.Procedure.ID))
			h.Write([]byte{0})
			h.Write(raw)
			_ = hex.EncodeToString(h.Sum(nil))
		}
	})
}

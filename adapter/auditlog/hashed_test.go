package auditlog_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/kbnn/dvc/adapter/auditlog"
)

func hexSum(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// A hashed body names its bytes' SHA-256, the zero value the empty body's
// (never 64 zeros), and knows the bytes it was made from by place, so a
// body replaced since, even by equal bytes elsewhere, is hashed again.
func TestHashedBody(t *testing.T) {
	b := []byte("<HoSo>…</HoSo>")
	h := auditlog.HashBody(b)
	if h.Hex() != hexSum(b) || h.Sum() != sha256.Sum256(b) {
		t.Errorf("HashBody names %s, want %s", h.Hex(), hexSum(b))
	}
	var zero auditlog.HashedBody
	if zero.Hex() != hexSum(nil) {
		t.Errorf("zero value names %s, want the empty body's %s", zero.Hex(), hexSum(nil))
	}
	if !h.Of(b) || !h.Of(b[:len(b):len(b)]) {
		t.Error("not Of the bytes it was made from")
	}
	if h.Of(bytes.Clone(b)) || h.Of(b[:len(b)-1]) || h.Of(b[1:]) {
		t.Error("Of bytes it was not made from")
	}
	if !zero.Of(nil) || !auditlog.HashBody(nil).Of([]byte{}) || zero.Of(b) {
		t.Error("Of for empty bodies")
	}

	l := open(t, t.TempDir())
	defer func() { _ = l.Close() }()
	rc, err := l.AppendHashed(context.Background(), rec(0), zero)
	if err != nil {
		t.Fatal(err)
	}
	if rc.BodySHA256 != hexSum(nil) {
		t.Errorf("a zero HashedBody's leaf names %s, want %s", rc.BodySHA256, hexSum(nil))
	}
}

package intake

import (
	"bytes"
	"testing"

	"github.com/kbnn/dvc/adapter/attachment"
)

// A submission's body is hashed once for its records, and the copies made
// after share it; a body replaced since is hashed again, never named by the
// old one's SHA-256.
func TestSubmissionBodyHashedOnce(t *testing.T) {
	hexSum := attachment.Sum // an implementation of its own, not auditlog's
	a := []byte(`{"maHoSo":"G09.20-20260609-0000001"}`)
	sub := Submission{Body: a}
	if got := sub.hashedBody().Hex(); got != hexSum(a) {
		t.Fatalf("before hashBody: %s, want %s", got, hexSum(a))
	}
	sub.hashBody()
	cp := sub
	if cp.hashed != sub.hashed || cp.hashedBody().Hex() != hexSum(a) {
		t.Fatal("a copy made after hashBody does not share its hashing")
	}
	for _, b := range [][]byte{bytes.Clone(a), append([]byte(" "), a...), nil} {
		cp.Body = b
		if got := cp.hashedBody().Hex(); got != hexSum(b) {
			t.Errorf("body replaced by %q: named %s, want %s", b, got, hexSum(b))
		}
	}
}

package intake

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"github.com/kbnn/dvc/adapter/jsonenc"
)

// Fingerprint is the hash of the verified content: the same dossier gives
// the same fingerprint in its XML and its JSON form. It is the SHA-256 of
// the procedure id, a zero byte and the value as encoding/json's Marshal
// writes it (map keys sorted, numbers as written, HTML characters
// escaped; jsonenc writes them). Idempotency records keep it, so those
// bytes may never change.
func (v *Verified) Fingerprint() string {
	bp := canonicalBufs.Get().(*[]byte)
	raw, _ := jsonenc.Append((*bp)[:0], v.Value) // an error leaves it empty, as Marshal's always did
	h := sha256.New()
	h.Write([]byte(v.Procedure.ID))
	h.Write([]byte{0})
	h.Write(raw)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	if cap(raw) <= maxPooledCanonical {
		*bp = raw[:0]
		canonicalBufs.Put(bp)
	}
	return hex.EncodeToString(sum[:])
}

// maxPooledCanonical keeps a payroll dossier's buffer out of the pool.
const maxPooledCanonical = 64 << 10

var canonicalBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

package treasury

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"testing"
)

func sumOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// An attachment is stored once under its hash, a second upload changes
// nothing, and a document that references it is accepted; one that
// references a file never uploaded is refused.
func TestUploadAttachment(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t)
	ctx := context.Background()
	pdf := []byte("%PDF-1.4 hop dong so 15/2026")
	sum := sumOf(pdf)
	created, err := e.client.UploadAttachment(ctx, sum, "application/pdf", pdf)
	if err != nil || !created {
		t.Fatalf("first upload: created %v, err %v", created, err)
	}
	if created, err = e.client.UploadAttachment(ctx, sum, "application/pdf", pdf); err != nil || created {
		t.Fatalf("second upload: created %v, err %v; want an idempotent success", created, err)
	}
	if got, ok := e.sim.AttachmentData(sum); !ok || !bytes.Equal(got, pdf) {
		t.Fatalf("the simulator holds %q (%v)", got, ok)
	}
	if n := e.count.get(http.MethodPut + " /api/v1/attachments/" + sum); n != 2 {
		t.Fatalf("%d uploads reached the treasury, want 2", n)
	}

	req := document("G09.20-20260609-0000003")
	m := req.Map()
	m["attachments"] = []any{map[string]any{"sha256": sum, "fileName": "hop-dong.pdf", "mediaType": "application/pdf", "size": len(pdf)}}
	if _, err := e.client.SendDocument(ctx, req.Key(), m); err != nil {
		t.Fatalf("document with an uploaded attachment: %v", err)
	}
	other := document("G09.20-20260609-0000004")
	m = other.Map()
	m["attachments"] = []any{map[string]any{"sha256": sumOf([]byte("never sent")), "fileName": "x.pdf", "mediaType": "application/pdf", "size": 10}}
	_, err = e.client.SendDocument(ctx, other.Key(), m)
	var ref *Refusal
	if !errors.As(err, &ref) || ref.ReasonCode != "TEP_DINH_KEM_KHONG_TON_TAI" {
		t.Fatalf("document referencing a file never uploaded: %v", err)
	}
}

func TestUploadAttachmentRefusals(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t)
	ctx := context.Background()
	if _, err := e.client.UploadAttachment(ctx, sumOf([]byte("a")), "application/pdf", []byte("b")); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("body that does not hash to the path: %v, want ErrInvalidRequest", err)
	}
	if _, err := e.client.UploadAttachment(ctx, "ABC", "application/pdf", []byte("b")); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("malformed hash: %v", err)
	}
	if n := len(e.sim.Attachments()); n != 0 {
		t.Fatalf("%d attachments stored after refusals", n)
	}
}

package intake

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// stallingUploader blocks the first upload until released, then fails it.
type stallingUploader struct {
	inner   *fakeSender
	n       atomic.Int32
	entered chan struct{}
	release chan struct{}
}

func (u *stallingUploader) Upload(ctx context.Context, sum, mt string, data []byte) error {
	if u.n.Add(1) == 1 {
		close(u.entered)
		<-u.release
		return &problem.Error{Kind: problem.TreasuryUnavailable, RetryAfter: 30}
	}
	return u.inner.Upload(ctx, sum, mt, data)
}

// An attempt that stalls past its lease and then fails its upload releases
// nothing: the claim is its own key's next attempt's now (whose document
// may be at the treasury), and the release names the taking it had. A
// third key with other content is then told the dossier is in progress
// and sends nothing.
func TestStaleAttemptKeepsItsSuccessorsClaim(t *testing.T) {
	x := template(t, "chi-thuong-xuyen", "xml")
	var mu sync.Mutex
	now := receipt
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	svc, fs := newService(t, svcOptions{clock: clock})
	up := &stallingUploader{inner: fs, entered: make(chan struct{}), release: make(chan struct{})}
	svc.uploader = up
	a := Submission{RequestID: "a", Procedure: "chi-thuong-xuyen", IdempotencyKey: "kA", ContentType: "application/xml",
		Body: signXML(t, x, signing.XMLOptions{}, both...), Caller: "portal", ReceivedAt: receipt}
	other := replaceOnce(t, x, "<soTaiKhoan>0011004123456</soTaiKhoan>", "<soTaiKhoan>9999999999999</soTaiKhoan>")
	c := Submission{RequestID: "c", Procedure: "chi-thuong-xuyen", IdempotencyKey: "kC", ContentType: "application/xml",
		Body: signXML(t, other, signing.XMLOptions{}, both...), Caller: "portal", ReceivedAt: receipt}

	done := make(chan error, 1)
	go func() { _, err := svc.Submit(context.Background(), a); done <- err }() // attempt A1: stalls in its upload
	<-up.entered
	mu.Lock()
	now = now.Add(2 * svc.lease()) // A1 stalled past its lease
	mu.Unlock()
	b := a
	b.RequestID = "a2"
	loseAnswer(t, svc, fs, b) // A2 (same key, same content): recovers, sends, its answer is lost; claim kept
	close(up.release)         // A1 wakes up: upload fails -> release()
	if err := <-done; err == nil {
		t.Error("A1, whose upload failed after its lease, was answered as if sent")
	}
	if n := len(fs.sent()); n != 1 {
		t.Fatalf("%d sends so far, want 1", n)
	}
	// Another key, other content, within A2's lease: must be 409 (claim in
	// progress) and send nothing.
	resp, err := svc.Submit(context.Background(), c)
	if n := len(fs.sent()); n != 1 {
		t.Errorf("kC: %+v %v; %d sends of one dossier identity, want 1 (kC claimed a dossier whose document is at the treasury without asking)", resp, err, n)
	}
}

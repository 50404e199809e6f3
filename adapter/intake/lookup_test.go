package intake

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/problem"
)

// lookupFault is a treasury whose look-up by key can be made to find
// nothing (its key index rebuilt, a lagging read) or to be refused, while
// it still holds what was sent.
type lookupFault struct {
	*fakeSender
	forget atomic.Bool
	refuse atomic.Bool
}

func (f *lookupFault) Find(ctx context.Context, key string) (Receipt, bool, error) {
	if f.refuse.Load() {
		return Receipt{}, false, &problem.Error{Kind: problem.TreasuryRefused, Detail: "The treasury refused the look-up: KHONG_HOP_LE."}
	}
	if f.forget.Load() {
		return Receipt{}, false, nil
	}
	return f.fakeSender.Find(ctx, key)
}

// steppedClock is a clock tests move forward by hand.
type steppedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *steppedClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *steppedClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestSentClaimIsNeverSentAgain: a key whose claim is settled as sent,
// coming back after its own record is gone (kept 72 h against the claim's
// 720 h), is looked up at the treasury. When the look-up finds nothing,
// the dossier is not sent again: the caller is answered 503 naming the
// reference, and once the treasury finds the document again the key is
// answered with it.
func TestSentClaimIsNeverSentAgain(t *testing.T) {
	clock := &steppedClock{t: time.Now()}
	svc, fs := newService(t, svcOptions{clock: clock.now})
	lf := &lookupFault{fakeSender: fs}
	svc.sender = lf
	sub := Submission{RequestID: "r1", Procedure: "chi-thuong-xuyen", IdempotencyKey: "k-sent-once",
		ContentType: "application/xml", Body: xmlFixture(t, "chi-thuong-xuyen"), Caller: "portal", ReceivedAt: receipt}
	first, err := svc.Submit(t.Context(), sub)
	if err != nil || first.Status != 202 {
		t.Fatalf("first submission: %v %+v", err, first)
	}
	clock.add(73 * time.Hour)

	lf.forget.Store(true)
	sub.RequestID = "r2"
	resp, err := svc.Submit(t.Context(), sub)
	if n := len(fs.sent()); n != 1 {
		t.Fatalf("the dossier settled as sent went to the treasury %d times", n)
	}
	pe, ok := err.(*problem.Error)
	if !ok || pe.Kind != problem.TreasuryUnavailable || pe.RetryAfter <= 0 || pe.Extra["treasuryReference"] != "REF-1" {
		t.Fatalf("retry while the treasury finds nothing: %v %+v, want treasury-unavailable with Retry-After naming REF-1", err, resp)
	}

	lf.forget.Store(false)
	sub.RequestID = "r3"
	resp, err = svc.Submit(t.Context(), sub)
	if err != nil || resp.Status != 202 || !containsRef(resp.Body, "REF-1") {
		t.Fatalf("retry once the treasury finds it: %v %+v", err, resp)
	}
	if n := len(fs.sent()); n != 1 {
		t.Fatalf("sent %d times", n)
	}
}

// TestRefusedLookupIsNotFinal: a retry after a lost answer looks the
// document up first; a refusal of that look-up says nothing of the
// document, so it is not stored as the key's answer. The next retry finds
// the document and is answered with it.
func TestRefusedLookupIsNotFinal(t *testing.T) {
	svc, fs := newService(t, svcOptions{})
	lf := &lookupFault{fakeSender: fs}
	svc.sender = lf
	sub := Submission{RequestID: "r1", Procedure: "chi-thuong-xuyen", IdempotencyKey: "k-lookup-refused",
		ContentType: "application/xml", Body: xmlFixture(t, "chi-thuong-xuyen"), Caller: "portal", ReceivedAt: receipt}
	loseAnswer(t, svc, fs, sub)

	lf.refuse.Store(true)
	sub.RequestID = "r2"
	resp, err := svc.Submit(t.Context(), sub)
	if codeOf(err) != problem.TreasuryUnavailable.Code() {
		t.Fatalf("retry with the look-up refused: %v %+v, want treasury-unavailable", err, resp)
	}

	lf.refuse.Store(false)
	sub.RequestID = "r3"
	resp, err = svc.Submit(t.Context(), sub)
	if err != nil || resp.Status != 202 || resp.Replayed || !containsRef(resp.Body, "REF-1") {
		t.Fatalf("retry once the look-up answers: %v %+v, want 202 with REF-1", err, resp)
	}
	if n := len(fs.sent()); n != 1 {
		t.Fatalf("sent %d times", n)
	}
}

func containsRef(body []byte, ref string) bool {
	return strings.Contains(string(body), `"treasuryReference":"`+ref+`"`)
}

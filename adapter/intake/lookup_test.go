package intake

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/testkit/clock"
	"github.com/kbnn/dvc/adapter/testkit/signing"
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

// TestSentClaimIsNeverSentAgain: a key whose claim is settled as sent,
// coming back after its own record is gone (kept 72 h against the claim's
// 720 h), is looked up at the treasury. When the look-up finds nothing,
// the dossier is not sent again: the caller is answered 503 naming the
// reference, and once the treasury finds the document again the key is
// answered with it.
func TestSentClaimIsNeverSentAgain(t *testing.T) {
	clk := clock.New(time.Now())
	svc, fs := newService(t, svcOptions{clock: clk.Now})
	lf := &lookupFault{fakeSender: fs}
	svc.sender = lf
	sub := Submission{RequestID: "r1", Procedure: "chi-thuong-xuyen", IdempotencyKey: "k-sent-once",
		ContentType: "application/xml", Body: xmlFixture(t, "chi-thuong-xuyen"), Caller: "portal", ReceivedAt: receipt}
	first, err := svc.Submit(t.Context(), sub)
	if err != nil || first.Status != 202 {
		t.Fatalf("first submission: %v %+v", err, first)
	}
	clk.Advance(73 * time.Hour)

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

// failingUpdates is a dossier store whose updates fail while fail is set.
type failingUpdates struct {
	dossier.Store
	fail atomic.Bool
}

func (f *failingUpdates) Update(ctx context.Context, procedure, maHoSo string, fn func(r *dossier.Record, exists bool) bool) error {
	if f.fail.Load() {
		return errors.New("dossier store down")
	}
	return f.Store.Update(ctx, procedure, maHoSo, fn)
}

// A supplement whose answer is lost is marked in flight in the dossier's
// record until its claim's lease ends, and the dossier's lock is given
// back; when the mark cannot be written, the lock is kept to its lease
// instead, so that a withdrawal, which takes the lock and not the claim,
// still waits.
func TestSupplementInFlightMarked(t *testing.T) {
	for _, markFails := range []bool{false, true} {
		t.Run(fmt.Sprintf("mark fails %v", markFails), func(t *testing.T) {
			clk := clock.New(receipt)
			svc, fs := newService(t, svcOptions{clock: clk.Now})
			store := &failingUpdates{Store: svc.dossiers}
			svc.dossiers = store
			const proc, code = "chi-thuong-xuyen", "G09.20-20260609-0000001"
			awaitingSupplement(t, svc, proc, code, "1012345")
			body := signXML(t, replaceOnce(t, template(t, proc, "xml"), "<soBoSung>0</soBoSung>", "<soBoSung>1</soBoSung>"), signing.XMLOptions{}, both...)
			sub := Submission{RequestID: "r1", Procedure: proc, IdempotencyKey: "k-sup", ContentType: "application/xml",
				Body: body, Caller: "portal", ReceivedAt: receipt}
			store.fail.Store(markFails)
			loseAnswer(t, svc, fs, sub)
			store.fail.Store(false)

			rec, _, err := svc.dossiers.Get(t.Context(), proc, code)
			if err != nil {
				t.Fatal(err)
			}
			lock, err := svc.records.LockDossier(t.Context(), dossierLockID(proc, code), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if markFails {
				if rec.SupplementInFlight != nil || lock.Held {
					t.Fatalf("mark failed: in flight %+v, lock free %v; want the lock kept", rec.SupplementInFlight, lock.Held)
				}
				return
			}
			f := rec.SupplementInFlight
			if f == nil || f.SoBoSung != 1 || !f.Until.Equal(receipt.Add(svc.lease())) || !lock.Held {
				t.Fatalf("in flight %+v, lock free %v; want supplement 1 until %v and the lock given back", f, lock.Held, receipt.Add(svc.lease()))
			}
		})
	}
}

// Validation reports what is wrong with a dossier; a check that could not
// be made now is the 503 submission would answer, not a finding.
func TestNotCheckedNow(t *testing.T) {
	for kind, want := range map[problem.Kind]bool{
		problem.RevocationUnavailable: true,
		problem.ServerBusy:            true,
		problem.SignatureInvalid:      false,
		problem.CertificateRevoked:    false,
	} {
		if got := notCheckedNow(&problem.Error{Kind: kind}); got != want {
			t.Errorf("%s: %v, want %v", kind, got, want)
		}
	}
	if notCheckedNow(errors.New("plain")) {
		t.Error("a plain error")
	}
}

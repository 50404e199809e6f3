package intake

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kbnn/dvc/adapter/auditlog"
	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// leafLog is an evidence log whose accepted (202) leaves fail while failing
// is set.
type leafLog struct {
	mu      sync.Mutex
	failing atomic.Bool
	leaves  []auditlog.Record
}

func (l *leafLog) Append(_ context.Context, r auditlog.Record) (auditlog.Receipt, error) {
	if r.Status == 202 && l.failing.Load() {
		return auditlog.Receipt{}, errors.New("disk full")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leaves = append(l.leaves, r)
	return auditlog.Receipt{LogOrigin: "test", LogIndex: uint64(len(l.leaves) - 1), BodySHA256: r.BodySHA256, HeldSHA256: r.HeldSHA256}, nil
}

func (l *leafLog) AppendHashed(ctx context.Context, r auditlog.Record, body auditlog.HashedBody) (auditlog.Receipt, error) {
	r.BodySHA256 = body.Hex()
	return l.Append(ctx, r)
}

// When the treasury took a dossier but its accepted leaf cannot be written,
// the answer is 503 audit-unavailable naming the treasury reference, and the
// dossier stays sent: a retry under the same key gets its receipt without
// sending it again, and another key is told it was already sent.
// So too with a store whose Finish writes the dossier's record
// (registeringFinish): Finish is not reached, and the record is written
// without it.
func TestAcceptedLeafLostKeepsTheDossierSent(t *testing.T) {
	for _, tc := range []struct {
		key     string
		folding bool
	}{{"portal-key-1", false}, {"", false}, {"portal-key-1", true}, {"", true}} {
		t.Run(fmt.Sprintf("key=%s/finish-registers=%v", tc.key, tc.folding), func(t *testing.T) {
			key := tc.key
			var o svcOptions
			if tc.folding {
				o.records = &registeringRecords{Store: idempotency.NewMemory(nil)}
			}
			svc, fs := newService(t, o)
			lg := &leafLog{}
			svc.evidence = &Recorder{Log: lg, Instance: "test"}
			sub := Submission{RequestID: "r1", Procedure: "chi-thuong-xuyen", IdempotencyKey: key,
				ContentType: "application/xml", Body: xmlFixture(t, "chi-thuong-xuyen"), Caller: "portal", ReceivedAt: receipt}

			lg.failing.Store(true)
			_, err := svc.Submit(t.Context(), sub)
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Kind != problem.AuditUnavailable || pe.RetryAfter == 0 ||
				pe.Extra["treasuryReference"] != "REF-1" || !strings.Contains(pe.Detail, "REF-1") {
				t.Fatalf("accepted leaf lost: %v (%+v)", err, pe)
			}
			if n := len(fs.sent()); n != 1 {
				t.Fatalf("%d sends", n)
			}
			// The status view knows the dossier the treasury holds, receipt or not.
			rec, ok, err := svc.dossiers.Get(t.Context(), "chi-thuong-xuyen", "G09.20-20260609-0000101")
			if err != nil || !ok || rec.TreasuryReference != "REF-1" || rec.TrangThai != StatusRegistered {
				t.Fatalf("dossier record after the lost leaf: %v %v %+v", err, ok, rec)
			}
			// The claim is settled as sent without a stored answer: another
			// key is told so at once, not to wait for the lease.
			early := sub
			early.IdempotencyKey = "early-other-key"
			if _, err := svc.Submit(t.Context(), early); !errors.As(err, &pe) || pe.Kind != problem.DossierAlreadySent ||
				pe.Extra["treasuryReference"] != "REF-1" || pe.RetryAfter != 0 {
				t.Errorf("another key before the retry: %v (%+v), want already sent as REF-1", err, pe)
			}

			lg.failing.Store(false)
			resp, err := svc.Submit(t.Context(), sub)
			if err != nil || resp.Status != 202 || !strings.Contains(string(resp.Body), `"REF-1"`) || !strings.Contains(string(resp.Body), `"receipt"`) {
				t.Fatalf("retry under the same key: %v %+v", err, resp)
			}
			if n := len(fs.sent()); n != 1 {
				t.Errorf("the dossier was sent %d times", n)
			}

			other := sub
			other.IdempotencyKey = "another-key"
			if _, err := svc.Submit(t.Context(), other); codeOf(err) != problem.DossierAlreadySent.Code() {
				t.Errorf("another key: %v", err)
			}
			if n := len(fs.sent()); n != 1 {
				t.Errorf("the dossier was sent %d times", n)
			}
		})
	}
}

// settlementLost is a store whose Finish loses the claim's settlement, as
// a pipeline whose settlement failed on the way does.
type settlementLost struct{ idempotency.Store }

func (s settlementLost) Finish(ctx context.Context, f idempotency.Final) idempotency.Finished {
	lost := f.Sent != nil
	f.Sent = nil
	r := s.Store.Finish(ctx, f)
	if lost {
		r.SettleErr = errors.New("read tcp: connection reset by peer")
	}
	return r
}

// An accepted dossier's claim is settled as sent with its answer: another
// key is told at once that the treasury holds it, with its reference,
// nothing sent again; and so when the settlement in the answer's round
// trip failed, since it is written once more on its own.
func TestAcceptedDossierIsSettled(t *testing.T) {
	for _, lose := range []bool{false, true} {
		t.Run(fmt.Sprintf("settlement-lost=%v", lose), func(t *testing.T) {
			svc, fs := newService(t, svcOptions{})
			if lose {
				svc.records = settlementLost{svc.records}
			}
			sub := Submission{RequestID: "r1", Procedure: "chi-thuong-xuyen", IdempotencyKey: "portal-key-1",
				ContentType: "application/xml", Body: xmlFixture(t, "chi-thuong-xuyen"), Caller: "portal", ReceivedAt: receipt}
			if resp, err := svc.Submit(t.Context(), sub); err != nil || resp.Status != 202 {
				t.Fatalf("first submission: %v %+v", err, resp)
			}
			other := sub
			other.IdempotencyKey = "another-key"
			var pe *problem.Error
			if _, err := svc.Submit(t.Context(), other); !errors.As(err, &pe) || pe.Kind != problem.DossierAlreadySent ||
				pe.Extra["treasuryReference"] != "REF-1" || pe.RetryAfter != 0 {
				t.Errorf("another key: %v (%+v), want already sent as REF-1", err, pe)
			}
			if n := len(fs.sent()); n != 1 {
				t.Errorf("the dossier was sent %d times", n)
			}
		})
	}
}

// When the treasury's answer to a send is lost (a timeout after it stored
// the document), the dossier's claim is kept: another key is told the
// dossier is being sent instead of sending it a second time, and a retry
// under the same key finds the document at the treasury.
func TestLostAnswerKeepsTheClaim(t *testing.T) {
	svc, fs := newService(t, svcOptions{})
	sub := Submission{RequestID: "r1", Procedure: "chi-thuong-xuyen", IdempotencyKey: "portal-key-1",
		ContentType: "application/xml", Body: xmlFixture(t, "chi-thuong-xuyen"), Caller: "portal", ReceivedAt: receipt}

	loseAnswer(t, svc, fs, sub)

	other := sub
	other.IdempotencyKey = "another-key"
	if _, err := svc.Submit(t.Context(), other); codeOf(err) != problem.DossierAlreadySent.Code() {
		t.Errorf("another key while the claim is kept: %v", err)
	}
	derived := sub
	derived.IdempotencyKey = ""
	if _, err := svc.Submit(t.Context(), derived); codeOf(err) != problem.DossierAlreadySent.Code() {
		t.Errorf("no key while the claim is kept: %v", err)
	}
	if n := len(fs.sent()); n != 1 {
		t.Fatalf("the dossier was sent %d times", n)
	}

	resp, err := svc.Submit(t.Context(), sub)
	if err != nil || resp.Status != 202 || !strings.Contains(string(resp.Body), `"REF-1"`) {
		t.Fatalf("retry under the same key: %v %+v", err, resp)
	}
	if n := len(fs.sent()); n != 1 {
		t.Errorf("the dossier was sent %d times", n)
	}
}

// The claim belongs to a key and a content together: other content sent
// with no Idempotency-Key (the same derived key) after a lost answer does
// not inherit the claim and the treasury's document of the content before.
func TestOtherContentDoesNotInheritTheClaim(t *testing.T) {
	svc, fs := newService(t, svcOptions{})
	first := signXML(t, template(t, "chi-thuong-xuyen", "xml"), signing.XMLOptions{}, both...)
	changed := signXML(t, replaceOnce(t, template(t, "chi-thuong-xuyen", "xml"),
		"Thanh toán tiền điện tháng 5/2026", "Thanh toán tiền nước tháng 5/2026"), signing.XMLOptions{}, both...)
	sub := Submission{RequestID: "r1", Procedure: "chi-thuong-xuyen", ContentType: "application/xml",
		Body: first, Caller: "portal", ReceivedAt: receipt}

	loseAnswer(t, svc, fs, sub)

	other := sub
	other.Body = changed
	resp, err := svc.Submit(t.Context(), other)
	if err == nil {
		t.Fatalf("other content was answered %d %s", resp.Status, resp.Body)
	}
	if codeOf(err) != problem.DossierAlreadySent.Code() {
		t.Errorf("other content: %v", err)
	}
	if n := len(fs.sent()); n != 1 {
		t.Errorf("the dossier was sent %d times", n)
	}
}

// failingSender keeps the document, as the treasury does, and then fails
// with err: an answer that never came back whole.
type failingSender struct {
	*fakeSender
	err error
}

func (f failingSender) Send(ctx context.Context, key string, req map[string]any) (Receipt, error) {
	if _, err := f.fakeSender.Send(ctx, key, req); err != nil {
		return Receipt{}, err
	}
	return Receipt{}, f.err
}

// Any failed send but a business refusal may have stored the document, so
// it keeps the dossier's claim: a cancelled call, an answer that breaks the
// contract, refused credentials, the treasury unavailable. Another key is
// told the dossier is being sent, and the same key finds the document.
func TestFailedSendKeepsTheClaim(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"cancelled", problem.Wrap(problem.Internal, fmt.Errorf("treasury: send-document: %w", context.Canceled), "")},
		{"protocol", problem.Wrap(problem.Internal, errors.New("treasury: send-document: unexpected treasury answer: http 201"), "")},
		{"unavailable", &problem.Error{Kind: problem.TreasuryUnavailable, RetryAfter: 30}},
		{"not a problem", errors.New("no answer")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svc, fs := newService(t, svcOptions{})
			svc.sender = failingSender{fs, tt.err}
			sub := Submission{RequestID: "r1", Procedure: "chi-thuong-xuyen", IdempotencyKey: "k1",
				ContentType: "application/xml", Body: xmlFixture(t, "chi-thuong-xuyen"), Caller: "portal", ReceivedAt: receipt}
			if _, err := svc.Submit(t.Context(), sub); err == nil {
				t.Fatal("a failed send answered")
			}
			svc.sender = fs
			other := sub
			other.IdempotencyKey = "k2"
			if _, err := svc.Submit(t.Context(), other); codeOf(err) != problem.DossierAlreadySent.Code() {
				t.Errorf("another key after the failed send: %v", err)
			}
			resp, err := svc.Submit(t.Context(), sub)
			if err != nil || resp.Status != 202 || !strings.Contains(string(resp.Body), `"REF-1"`) {
				t.Fatalf("retry under the same key: %v %+v", err, resp)
			}
			if n := len(fs.sent()); n != 1 {
				t.Errorf("the dossier was sent %d times", n)
			}
		})
	}
}

// blockingSender holds each send until released and records whether the
// call's context was cancelled meanwhile.
type blockingSender struct {
	*fakeSender
	entered, release chan struct{}
	cancelled        atomic.Bool
}

func (b *blockingSender) Send(ctx context.Context, key string, req map[string]any) (Receipt, error) {
	close(b.entered)
	<-b.release
	b.cancelled.Store(ctx.Err() != nil)
	return b.fakeSender.Send(ctx, key, req)
}

// A caller gone while its document is on the way to the treasury does not
// cut the call short: the send completes, its answer is stored, and the
// dossier is known as sent.
func TestCallerGoneDuringSend(t *testing.T) {
	svc, fs := newService(t, svcOptions{})
	bs := &blockingSender{fakeSender: fs, entered: make(chan struct{}), release: make(chan struct{})}
	svc.sender = bs
	sub := Submission{RequestID: "r1", Procedure: "chi-thuong-xuyen", IdempotencyKey: "k1",
		ContentType: "application/xml", Body: xmlFixture(t, "chi-thuong-xuyen"), Caller: "portal", ReceivedAt: receipt}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := svc.Submit(ctx, sub)
		done <- err
	}()
	<-bs.entered
	cancel()
	close(bs.release)
	if err := <-done; err != nil {
		t.Fatalf("submission whose caller left: %v", err)
	}
	if bs.cancelled.Load() {
		t.Error("the treasury call was cancelled with its caller")
	}
	svc.sender = fs
	other := sub
	other.IdempotencyKey = "k2"
	if _, err := svc.Submit(t.Context(), other); codeOf(err) != problem.DossierAlreadySent.Code() {
		t.Errorf("another key after the send: %v", err)
	}
	resp, err := svc.Submit(t.Context(), sub)
	if err != nil || resp.Status != 202 || !strings.Contains(string(resp.Body), `"REF-1"`) {
		t.Fatalf("replay: %v %+v", err, resp)
	}
	if n := len(fs.sent()); n != 1 {
		t.Errorf("the dossier was sent %d times", n)
	}
}

// notReplicated is a store whose Finish stores the answer but reports that
// too few replicas hold it.
type notReplicated struct{ idempotency.Store }

func (s notReplicated) Finish(ctx context.Context, f idempotency.Final) idempotency.Finished {
	r := s.Store.Finish(ctx, f)
	if r.Err == nil {
		r.Err = idempotency.ErrNotReplicated
	}
	return r
}

// A submission whose 202 leaf is written but whose stored answer falls
// short of the replicas is answered 503: the trace no longer says its
// answer is logged, so the HTTP layer appends the leaf of the 503 it gives.
func TestNotReplicatedAnswerIsLoggedToo(t *testing.T) {
	svc, _ := newService(t, svcOptions{})
	lg := &leafLog{}
	svc.evidence = &Recorder{Log: lg, Instance: "test"}
	svc.records = notReplicated{svc.records}
	tr := &Trace{}
	sub := Submission{RequestID: "r1", Procedure: "chi-thuong-xuyen", IdempotencyKey: "k1",
		ContentType: "application/xml", Body: xmlFixture(t, "chi-thuong-xuyen"), Caller: "portal", ReceivedAt: receipt, Trace: tr}
	if _, err := svc.Submit(t.Context(), sub); codeOf(err) != problem.StoreUnavailable.Code() {
		t.Fatalf("answer not replicated: %v", err)
	}
	if tr.Logged {
		t.Error("the trace says the answer is logged, but the 202 leaf is not the answer given")
	}
	var accepted bool
	for _, l := range lg.leaves {
		accepted = accepted || l.Status == 202
	}
	if !accepted {
		t.Error("no 202 leaf for the document the treasury took")
	}
}

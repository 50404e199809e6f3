package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/adapter/statusmap"
	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// takeOverCase is a dossier sent under key kA whose answer was lost, and
// other content under key kB, both of one dossier and supplement.
type takeOverCase struct {
	svc  *Service
	fs   *fakeSender
	now  *time.Time
	a, b Submission
}

func newTakeOverCase(t *testing.T, x []byte, edit func([]byte) []byte) *takeOverCase {
	t.Helper()
	now := receipt
	c := &takeOverCase{now: &now}
	c.svc, c.fs = newService(t, svcOptions{clock: func() time.Time { return *c.now }})
	c.a = Submission{RequestID: "a", Procedure: "chi-thuong-xuyen", IdempotencyKey: "kA", ContentType: "application/xml",
		Body: signXML(t, x, signing.XMLOptions{}, both...), Caller: "portal", ReceivedAt: receipt}
	c.b = Submission{RequestID: "b", Procedure: "chi-thuong-xuyen", IdempotencyKey: "kB", ContentType: "application/xml",
		Body: signXML(t, edit(x), signing.XMLOptions{}, both...), Caller: "portal", ReceivedAt: receipt}
	return c
}

// leaseEnds moves the clock past every lease taken so far.
func (c *takeOverCase) leaseEnds() { *c.now = c.now.Add(2 * c.svc.lease()) }

// alreadySent checks that sub is refused 409 dossier-already-submitted,
// naming the treasury's reference ref, with nothing stored under its key.
func alreadySent(t *testing.T, svc *Service, sub Submission, ref string) {
	t.Helper()
	resp, err := svc.Submit(context.Background(), sub)
	pe, ok := err.(*problem.Error)
	if !ok || pe.Kind != problem.DossierAlreadySent || pe.Extra["treasuryReference"] != ref {
		t.Fatalf("submission %s: %+v %v, want 409 dossier-already-submitted naming %s", sub.RequestID, resp, err, ref)
	}
}

// acceptedAs checks that sub is answered 202 with the treasury's reference ref.
func acceptedAs(t *testing.T, svc *Service, sub Submission, ref string) {
	t.Helper()
	resp, err := svc.Submit(context.Background(), sub)
	if err != nil || resp.Status != 202 {
		t.Fatalf("submission %s: %+v %v, want 202", sub.RequestID, resp, err)
	}
	var acc Accepted
	if err := json.Unmarshal(resp.Body, &acc); err != nil || acc.TreasuryReference != ref {
		t.Fatalf("submission %s accepted as %q (%v), want %s", sub.RequestID, acc.TreasuryReference, err, ref)
	}
}

// Another key that takes over a claim whose sender's document is at the
// treasury is told the dossier was sent, not given that document's
// receipt, which would bind its body to a document that holds another.
// The sender's own retry then gets its receipt at once, without waiting for
// a lease. The same content under another key is the value the treasury
// holds: the dossier is recorded from it.
func TestTakeOverFindsTheSendersDocument(t *testing.T) {
	x := template(t, "chi-thuong-xuyen", "xml")
	t.Run("other content", func(t *testing.T) {
		c := newTakeOverCase(t, x, func(x []byte) []byte {
			return replaceOnce(t, x, "<soTaiKhoan>0011004123456</soTaiKhoan>", "<soTaiKhoan>9999999999999</soTaiKhoan>")
		})
		loseAnswer(t, c.svc, c.fs, c.a)
		c.leaseEnds()
		alreadySent(t, c.svc, c.b, "REF-1")
		alreadySent(t, c.svc, c.b, "REF-1") // its retry, from the settled claim
		acceptedAs(t, c.svc, c.a, "REF-1")
		if n := len(c.fs.sent()); n != 1 {
			t.Errorf("%d documents reached the treasury, want 1", n)
		}
	})
	t.Run("same content", func(t *testing.T) {
		c := newTakeOverCase(t, x, func(x []byte) []byte { return x })
		loseAnswer(t, c.svc, c.fs, c.a)
		c.leaseEnds()
		alreadySent(t, c.svc, c.b, "REF-1")
		if rec, ok, err := c.svc.dossiers.Get(context.Background(), "chi-thuong-xuyen", "G09.20-20260609-0000001"); !ok || err != nil || rec.TreasuryReference != "REF-1" {
			t.Errorf("the dossier's record: %+v %v %v, want it sent as REF-1", rec, ok, err)
		}
		acceptedAs(t, c.svc, c.a, "REF-1") // the sender's claim, settled by the other key
		if n := len(c.fs.sent()); n != 1 {
			t.Errorf("%d documents reached the treasury, want 1", n)
		}
	})
	t.Run("other unit's supplement", func(t *testing.T) {
		const proc, first, unit = "chi-thuong-xuyen", "G09.20-20260609-0000001", "1012345"
		sup := replaceOnce(t, x, "<soBoSung>0</soBoSung>", "<soBoSung>1</soBoSung>")
		c := newTakeOverCase(t, sup, func(x []byte) []byte {
			return replaceOnce(t, x, "<maDVQHNS>1012345</maDVQHNS>", "<maDVQHNS>1099999</maDVQHNS>")
		})
		ctx := context.Background()
		if err := c.svc.dossiers.Update(ctx, proc, first, func(r *dossier.Record, _ bool) bool {
			r.Procedure, r.MaHoSo, r.Unit, r.TrangThai = proc, first, unit, statusmap.CodeCorrectionRequested
			r.CorrectionRequested(1, dossier.Round{RequestedAt: receipt, EventID: "ev-5"})
			return true
		}); err != nil {
			t.Fatal(err)
		}
		loseAnswer(t, c.svc, c.fs, c.a)
		c.leaseEnds()
		alreadySent(t, c.svc, c.b, "REF-1")
		if rec, _, _ := c.svc.dossiers.Get(ctx, proc, first); rec.Unit != unit {
			t.Errorf("the record's unit is %q, want %q", rec.Unit, unit)
		}
		acceptedAs(t, c.svc, c.a, "REF-1")
		if n := len(c.fs.sent()); n != 1 {
			t.Errorf("%d documents reached the treasury, want 1", n)
		}
	})
}

// A key that takes over a claim and finds nothing at the treasury sends its
// own content and becomes the claim's sender: the first key, back later,
// is told the dossier was sent, whether the taker-over settled or its own
// answer was lost too.
func TestTakeOverSendsItsOwn(t *testing.T) {
	x := template(t, "chi-thuong-xuyen", "xml")
	other := func(x []byte) []byte {
		return replaceOnce(t, x, "<soTaiKhoan>0011004123456</soTaiKhoan>", "<soTaiKhoan>9999999999999</soTaiKhoan>")
	}
	t.Run("settled", func(t *testing.T) {
		c := newTakeOverCase(t, x, other)
		loseRequest(t, c.svc, c.fs, c.a)
		c.leaseEnds()
		acceptedAs(t, c.svc, c.b, "REF-1")
		alreadySent(t, c.svc, c.a, "REF-1")
		acceptedAs(t, c.svc, c.b, "REF-1")
	})
	t.Run("its answer lost", func(t *testing.T) {
		c := newTakeOverCase(t, x, other)
		loseRequest(t, c.svc, c.fs, c.a)
		c.leaseEnds()
		loseAnswer(t, c.svc, c.fs, c.b)
		c.leaseEnds()
		alreadySent(t, c.svc, c.a, "REF-1")
		acceptedAs(t, c.svc, c.b, "REF-1")
		sent := c.fs.sent()
		if len(sent) != 1 {
			t.Fatalf("%d documents reached the treasury, want kB's alone", len(sent))
		}
		if doc, _ := json.Marshal(sent[0].request); !bytes.Contains(doc, []byte("9999999999999")) {
			t.Errorf("the treasury holds %s, want kB's document (account 9999999999999)", doc)
		}
	})
}

// markFailing is a memory store whose MarkSender fails with err.
type markFailing struct {
	idempotency.Store
	err error
}

func (m *markFailing) MarkSender(context.Context, string, string) error { return m.err }

// A taker-over that cannot record itself as the sender sends nothing. When
// the store failed, the claim is given back (the treasury holds nothing), so
// the first key's retry goes through at once; when the claim was lost to
// another attempt, it is that attempt's.
func TestMarkSenderFails(t *testing.T) {
	x := template(t, "chi-thuong-xuyen", "xml")
	y := replaceOnce(t, x, "<soTaiKhoan>0011004123456</soTaiKhoan>", "<soTaiKhoan>9999999999999</soTaiKhoan>")
	for _, tc := range []struct {
		err      error
		wantCode string
		retry    int // the first key's retry, at once
	}{
		{errors.New("connection reset"), problem.StoreUnavailable.Code(), 202},
		{idempotency.ErrLeaseLost, problem.DossierAlreadySent.Code(), 409},
	} {
		t.Run(tc.wantCode, func(t *testing.T) {
			now := receipt
			records := &markFailing{Store: idempotency.NewMemory(func() time.Time { return now })}
			svc, fs := registryServiceOn(t, signers.NewMemory(), false, records)
			a := Submission{RequestID: "a", Procedure: "chi-thuong-xuyen", IdempotencyKey: "kA", ContentType: "application/xml",
				Body: signXML(t, x, signing.XMLOptions{}, both...), Caller: "portal", ReceivedAt: receipt}
			b := a
			b.RequestID, b.IdempotencyKey, b.Body = "b", "kB", signXML(t, y, signing.XMLOptions{}, both...)
			loseRequest(t, svc, fs, a)
			now = now.Add(2 * svc.lease())
			records.err = tc.err
			if _, err := svc.Submit(context.Background(), b); codeOf(err) != tc.wantCode {
				t.Fatalf("the taker-over: %v, want %s", err, tc.wantCode)
			}
			if n := len(fs.sent()); n != 0 {
				t.Fatalf("%d documents reached the treasury, want none", n)
			}
			records.err = nil
			resp, err := svc.Submit(context.Background(), a)
			switch {
			case tc.retry == 202 && (err != nil || resp.Status != 202):
				t.Fatalf("the first key's retry: %+v %v, want 202", resp, err)
			case tc.retry == 409 && codeOf(err) != problem.DossierAlreadySent.Code():
				t.Fatalf("the first key's retry: %+v %v, want 409 (the claim is another attempt's)", resp, err)
			}
		})
	}
}

// unknownSender is a memory store whose recovered claims name no sender,
// as a claim that an earlier release left unsettled does on Redis.
type unknownSender struct{ idempotency.Store }

func (u unknownSender) ClaimDossier(ctx context.Context, dossier, owner string, lease time.Duration) (idempotency.Claim, error) {
	c, err := u.Store.ClaimDossier(ctx, dossier, owner, lease)
	if c.Owned && c.Recovered && !c.Sent {
		c.Sender, c.TakenOver = "", true
	}
	return c, err
}

func (u unknownSender) ClaimAndLock(ctx context.Context, dossier, owner, lockID string, lease time.Duration) (idempotency.Claim, idempotency.Lock, error) {
	return idempotency.ClaimThenLock(ctx, u, dossier, owner, lockID, lease)
}

func (u unknownSender) Start(ctx context.Context, key, fp string, lease time.Duration, dossier, owner, lockID string) (idempotency.Started, error) {
	return idempotency.StartInSteps(ctx, u, key, fp, lease, dossier, owner, lockID)
}

// A document found for a claim whose sender is not known is nobody's for
// sure: even the same content, even under the same key, is told it was
// sent, with nothing recorded from it.
func TestUnknownSender(t *testing.T) {
	x := template(t, "chi-thuong-xuyen", "xml")
	now := receipt
	svc, fs := registryServiceOn(t, signers.NewMemory(), false, unknownSender{idempotency.NewMemory(func() time.Time { return now })})
	a := Submission{RequestID: "a", Procedure: "chi-thuong-xuyen", IdempotencyKey: "kA", ContentType: "application/xml",
		Body: signXML(t, x, signing.XMLOptions{}, both...), Caller: "portal", ReceivedAt: receipt}
	b := a
	b.RequestID, b.IdempotencyKey = "b", "kB"
	loseAnswer(t, svc, fs, a)
	now = now.Add(2 * svc.lease())
	alreadySent(t, svc, b, "REF-1")
	if _, ok, _ := svc.dossiers.Get(context.Background(), "chi-thuong-xuyen", "G09.20-20260609-0000001"); ok {
		t.Error("the dossier was recorded from content not known to be the treasury's")
	}
	if n := len(fs.sent()); n != 1 {
		t.Errorf("%d documents reached the treasury, want 1", n)
	}
}

// An account registration whose answer was lost, sent again under another
// key with the same content, is told 409, and the record keeps its
// specimen: the treasury holds that very value, and the registration on
// the account's opening must not wait for the first key to come back.
func TestTakeOverKeepsTheSpecimen(t *testing.T) {
	const unit = "1077778"
	ctk := certOf(t, "chu-tai-khoan")
	acct := template(t, "tai-khoan", "xml")
	acct = replaceOnce(t, acct, "<maDVQHNS>1012345</maDVQHNS>", "<maDVQHNS>"+unit+"</maDVQHNS>")
	acct = replaceOnce(t, acct, strings.ToUpper(ctk.SerialNumber.Text(16)), ctk.SerialNumber.Text(16))
	now := receipt
	reg := signers.NewMemory()
	svc, fs := registryServiceOn(t, reg, true, idempotency.NewMemory(func() time.Time { return now }))
	a := Submission{RequestID: "a", Procedure: "tai-khoan", IdempotencyKey: "kA", ContentType: "application/xml",
		Body: signXML(t, acct, signing.XMLOptions{}, "chu-tai-khoan"), Caller: "portal", ReceivedAt: receipt}
	b := a
	b.RequestID, b.IdempotencyKey = "b", "kB"
	loseAnswer(t, svc, fs, a)
	if rec, _, _ := svc.dossiers.Get(context.Background(), "tai-khoan", "G09.20-20260612-0000001"); len(rec.Specimen) != 0 {
		t.Fatalf("the specimen recorded before the answer: %+v", rec.Specimen)
	}
	now = now.Add(2 * svc.lease())
	resp, err := svc.Submit(context.Background(), b)
	if codeOf(err) != problem.DossierAlreadySent.Code() {
		t.Fatalf("the other key: %+v %v, want 409", resp, err)
	}
	rec, ok, err := svc.dossiers.Get(context.Background(), "tai-khoan", "G09.20-20260612-0000001")
	if err != nil || !ok || len(rec.Specimen) != 2 {
		t.Fatalf("the record's specimen = %+v, %v %v; want both entries", rec.Specimen, ok, err)
	}
	if got, err := reg.List(context.Background(), unit); err != nil || len(got) != 0 {
		t.Fatalf("registrations = %+v, %v; want none before the account is opened", got, err)
	}
}

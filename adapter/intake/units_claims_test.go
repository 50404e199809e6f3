package intake

import (
	"errors"
	"strings"
	"testing"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/statusmap"
	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// awaitingSupplement writes a record of the dossier at a correction request
// for supplement 1, of unit (empty: a record that does not know its unit,
// as one first learnt from a callback that named none).
func awaitingSupplement(t *testing.T, svc *Service, proc, code, unit string) {
	t.Helper()
	if err := svc.dossiers.Update(t.Context(), proc, code, func(r *dossier.Record, _ bool) bool {
		r.Procedure, r.MaHoSo, r.Unit, r.TrangThai = proc, code, unit, statusmap.CodeCorrectionRequested
		r.CorrectionRequested(1, dossier.Round{RequestedAt: receipt, EventID: "ev-5"})
		return true
	}); err != nil {
		t.Fatal(err)
	}
}

// A caller restricted to units corrects its own dossier when the record
// does not know the dossier's unit: the treasury checks the unit of what
// is sent; refusing would keep the unit from paying.
func TestOwnSupplementOfARecordWithoutUnit(t *testing.T) {
	svc, fs := newService(t, svcOptions{})
	const proc, code = "chi-thuong-xuyen", "G09.20-20260609-0000001"
	awaitingSupplement(t, svc, proc, code, "")
	body := signXML(t, replaceOnce(t, template(t, proc, "xml"), "<soBoSung>0</soBoSung>", "<soBoSung>1</soBoSung>"), signing.XMLOptions{}, both...)
	sub := Submission{RequestID: "r1", Procedure: proc, IdempotencyKey: "k-sup", ContentType: "application/xml",
		Body: body, Caller: "unit-a", Units: []string{"1012345"}, ReceivedAt: receipt}
	resp, err := svc.Submit(t.Context(), sub)
	if err != nil || resp.Status != 202 || len(fs.sent()) != 1 {
		t.Fatalf("the unit's own supplement: %v %+v; %d sent", err, resp, len(fs.sent()))
	}
}

// A caller's own attempt in progress under another key (its request lost,
// its claim kept for the lease) is told whole to the caller, restricted or
// not: "being sent" with the Retry-After after which the second key takes
// the claim over and sends. No record exists before the send, so the
// record cannot be what decides.
func TestOwnClaimInProgressUnderAnotherKey(t *testing.T) {
	for _, units := range [][]string{nil, {"1012345"}} {
		svc, fs := newService(t, svcOptions{})
		const proc = "chi-thuong-xuyen"
		body := signXML(t, template(t, proc, "xml"), signing.XMLOptions{}, both...)
		a := Submission{RequestID: "a", Procedure: proc, IdempotencyKey: "k1", ContentType: "application/xml",
			Body: body, Caller: "unit-a", Units: units, ReceivedAt: receipt}
		loseRequest(t, svc, fs, a)
		b := a
		b.RequestID, b.IdempotencyKey = "b", "k2"
		_, err := svc.Submit(t.Context(), b)
		var pe *problem.Error
		if !errors.As(err, &pe) || pe.Kind != problem.DossierAlreadySent || pe.RetryAfter == 0 || !strings.Contains(pe.Detail, "is being sent") {
			t.Errorf("units %v: %v; want the caller's own dossier being sent, with a Retry-After", units, err)
		}

		// Another caller restricted to the same unit is not that caller:
		// told only that the code is taken, with the same Retry-After
		// whatever the claim is.
		c := a
		c.RequestID, c.IdempotencyKey, c.Caller, c.Units = "c", "k3", "unit-a-other", []string{"1012345"}
		_, err = svc.Submit(t.Context(), c)
		if !errors.As(err, &pe) || !strings.Contains(pe.Detail, "may not see") || pe.RetryAfter != retryAfter(svc.lease()) {
			t.Errorf("units %v, another caller: %v; want the code taken, Retry-After %d", units, err, retryAfter(svc.lease()))
		}
	}
}

// Another unit's supplement of a dossier is told only that the code is
// taken, whether or not a request of the dossier holds its lock (a
// withdrawal at the treasury): not that the dossier is busy now.
func TestAnotherUnitsSupplementWhileTheDossierIsBusy(t *testing.T) {
	svc, fs := newService(t, svcOptions{})
	const proc, code = "chi-thuong-xuyen", "G09.20-20260609-0000001"
	awaitingSupplement(t, svc, proc, code, "1012345")
	body := signXML(t, replaceOnce(t, replaceOnce(t, template(t, proc, "xml"), "<soBoSung>0</soBoSung>", "<soBoSung>1</soBoSung>"),
		"<maDVQHNS>1012345</maDVQHNS>", "<maDVQHNS>1045678</maDVQHNS>"), signing.XMLOptions{}, both...)
	sub := Submission{RequestID: "b", Procedure: proc, IdempotencyKey: "kb", ContentType: "application/xml",
		Body: body, Caller: "unit-b", Units: []string{"1045678"}, ReceivedAt: receipt}
	_, free := svc.Submit(t.Context(), sub)
	if _, err := svc.records.LockDossier(t.Context(), dossierLockID(proc, code), svc.lease()); err != nil {
		t.Fatal(err)
	}
	sub.IdempotencyKey = "kb2"
	_, busy := svc.Submit(t.Context(), sub)
	for name, err := range map[string]error{"lock free": free, "lock held": busy} {
		var pe *problem.Error
		if !errors.As(err, &pe) || !strings.Contains(pe.Detail, "may not see") || pe.RetryAfter != retryAfter(svc.lease()) {
			t.Errorf("%s: %v; want the code taken, Retry-After %d", name, err, retryAfter(svc.lease()))
		}
	}
	if n := len(fs.sent()); n != 0 {
		t.Errorf("%d sent", n)
	}
}

// While a request of a dossier holds its lock, a restricted caller is told
// that the dossier is busy only when the dossier's record names one of its
// units: its own dossier, with the Retry-After of the lock; a dossier with
// no record yet (another unit's first submission at the treasury) is "code
// taken".
func TestBusyDossierToARestrictedCaller(t *testing.T) {
	const proc, code = "chi-thuong-xuyen", "G09.20-20260609-0000001"
	supplement := func(t *testing.T, svc *Service, key string) error {
		body := signXML(t, replaceOnce(t, template(t, proc, "xml"), "<soBoSung>0</soBoSung>", "<soBoSung>1</soBoSung>"), signing.XMLOptions{}, both...)
		_, err := svc.Submit(t.Context(), Submission{RequestID: key, Procedure: proc, IdempotencyKey: key, ContentType: "application/xml",
			Body: body, Caller: "unit-a", Units: []string{"1012345"}, ReceivedAt: receipt})
		return err
	}
	t.Run("own dossier", func(t *testing.T) {
		svc, _ := newService(t, svcOptions{})
		awaitingSupplement(t, svc, proc, code, "1012345")
		if _, err := svc.records.LockDossier(t.Context(), dossierLockID(proc, code), svc.lease()); err != nil {
			t.Fatal(err)
		}
		if err := supplement(t, svc, "k1"); codeOf(err) != problem.RequestInProgress.Code() {
			t.Errorf("%v; want request-in-progress", err)
		}
	})
	t.Run("no record", func(t *testing.T) {
		svc, fs := newService(t, svcOptions{})
		if _, err := svc.records.LockDossier(t.Context(), dossierLockID(proc, code), svc.lease()); err != nil {
			t.Fatal(err)
		}
		err := supplement(t, svc, "k2")
		var pe *problem.Error
		if !errors.As(err, &pe) || !strings.Contains(pe.Detail, "may not see") {
			t.Errorf("%v; want the code taken", err)
		}
		if n := len(fs.sent()); n != 0 {
			t.Errorf("%d sent", n)
		}
	})
}

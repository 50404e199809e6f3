package intake

import (
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

// A supplement whose answer was lost, and whose treasury callback then
// moved the dossier on (5 → 2, the round answered), is still the
// treasury's document: the retry under its key finds it there and is
// accepted, instead of being refused as a supplement nobody waits for.
func TestSupplementRetryAfterItsCallback(t *testing.T) {
	svc, fs := newService(t, svcOptions{})
	const proc, code = "chi-thuong-xuyen", "G09.20-20260609-0000001"
	ctx := t.Context()
	if err := svc.dossiers.Update(ctx, proc, code, func(r *dossier.Record, _ bool) bool {
		r.Procedure, r.MaHoSo, r.Unit, r.TrangThai = proc, code, "1012345", statusmap.CodeCorrectionRequested
		r.CorrectionRequested(1, dossier.Round{RequestedAt: receipt, EventID: "ev-5"})
		return true
	}); err != nil {
		t.Fatal(err)
	}
	body := signXML(t, replaceOnce(t, template(t, proc, "xml"), "<soBoSung>0</soBoSung>", "<soBoSung>1</soBoSung>"), signing.XMLOptions{}, both...)
	sub := Submission{RequestID: "r1", Procedure: proc, IdempotencyKey: "k-sup", ContentType: "application/xml",
		Body: body, Caller: "portal", ReceivedAt: receipt}
	loseAnswer(t, svc, fs, sub)
	// The treasury's callback for supplement 1, as statusflow applies it.
	if err := svc.dossiers.Update(ctx, proc, code, func(r *dossier.Record, _ bool) bool {
		r.TrangThai, r.TreasurySupplement = 2, 1
		r.Resubmitted(1, receipt, "REF-1")
		return true
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := svc.Submit(ctx, sub)
	if err != nil || resp.Status != 202 || !strings.Contains(string(resp.Body), `"REF-1"`) {
		t.Fatalf("retry of a supplement the treasury holds: %v %+v", err, resp)
	}
	if n := len(fs.sent()); n != 1 {
		t.Errorf("the supplement was sent %d times", n)
	}
	// A supplement nobody waits for is still refused, with nothing kept.
	two := signXML(t, replaceOnce(t, template(t, proc, "xml"), "<soBoSung>0</soBoSung>", "<soBoSung>2</soBoSung>"), signing.XMLOptions{}, both...)
	next := Submission{RequestID: "r2", Procedure: proc, IdempotencyKey: "k-sup-2", ContentType: "application/xml",
		Body: two, Caller: "portal", ReceivedAt: receipt}
	for range 2 {
		if _, err := svc.Submit(ctx, next); codeOf(err) != problem.SupplementUnexpected.Code() {
			t.Fatalf("supplement 2 while the dossier waits for none: %v", err)
		}
	}
	if n := len(fs.sent()); n != 1 {
		t.Errorf("%d documents reached the treasury, want 1", n)
	}
}

// A signer's registration revoked after their dossier went to the treasury
// changes no answer about that dossier: a retry of the answered key
// replays its 202, and a retry after a lost answer finds the document at
// the treasury, with the store that checks registrations in its start and
// with the one that does not. A new dossier of theirs is refused.
func TestRevokedSignerKeepsTheAnswers(t *testing.T) {
	const unit = "1012345"
	for _, folding := range []bool{false, true} {
		name := "separate check"
		if folding {
			name = "in the start"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			owner, chief := registration(t, unit, "chu-tai-khoan", "chu-tai-khoan"), registration(t, unit, "ke-toan-truong", "ke-toan-truong")
			reg := signers.NewMemory()
			if _, err := reg.Put(ctx, owner, chief); err != nil {
				t.Fatal(err)
			}
			var records idempotency.Store = idempotency.NewMemory(nil)
			if folding {
				records = &foldingRecords{Store: records}
			}
			svc, fs := registryServiceOn(t, reg, true, records)
			answered := Submission{RequestID: "r1", Procedure: "chi-thuong-xuyen", IdempotencyKey: "k1", ContentType: "application/xml",
				Body: xmlFixture(t, "chi-thuong-xuyen"), Caller: "portal", ReceivedAt: receipt}
			first, err := svc.Submit(ctx, answered)
			if err != nil {
				t.Fatal(err)
			}
			lostBody := signXML(t, replaceOnce(t, template(t, "chi-thuong-xuyen", "xml"), "<maHoSo>G09.20-20260609-0000001</maHoSo>", "<maHoSo>G09.20-20260609-0000002</maHoSo>"),
				signing.XMLOptions{}, both...)
			lost := Submission{RequestID: "r2", Procedure: "chi-thuong-xuyen", IdempotencyKey: "k2", ContentType: "application/xml",
				Body: lostBody, Caller: "portal", ReceivedAt: receipt}
			loseAnswer(t, svc, fs, lost)
			if _, err := reg.Revoke(ctx, unit, chief.Serial); err != nil {
				t.Fatal(err)
			}

			again, err := svc.Submit(ctx, answered)
			if err != nil || again.Status != 202 || string(again.Body) != string(first.Body) {
				t.Errorf("replay after the revocation: %v %+v", err, again)
			}
			resp, err := svc.Submit(ctx, lost)
			if err != nil || resp.Status != 202 || !strings.Contains(string(resp.Body), `"REF-2"`) {
				t.Errorf("retry of a lost answer after the revocation: %v %+v", err, resp)
			}
			newBody := signXML(t, replaceOnce(t, template(t, "chi-thuong-xuyen", "xml"), "<maHoSo>G09.20-20260609-0000001</maHoSo>", "<maHoSo>G09.20-20260609-0000003</maHoSo>"),
				signing.XMLOptions{}, both...)
			out := submitOn(t, svc, fs, xmlSub("chi-thuong-xuyen", newBody), "k3", receipt)
			wantRefused(t, out, "signer-not-registered")
			if n := len(fs.sent()); n != 2 {
				t.Errorf("%d documents reached the treasury, want 2", n)
			}
			// The refusal kept nothing: the key is free for the same dossier
			// once the registration is back.
			if _, err := reg.Put(ctx, chief); err != nil {
				t.Fatal(err)
			}
			if out := submitOn(t, svc, fs, xmlSub("chi-thuong-xuyen", newBody), "k3", receipt); out.err != nil {
				t.Errorf("the same dossier after the registration is back: %v", out.err)
			}
		})
	}
}

// A supplement number JSON Schema counts as an integer but that is not
// written as one (1.0, 1e0) is refused before anything is stored: it would
// otherwise name supplement 0, the first submission's records.
func TestSupplementNumberIsPlain(t *testing.T) {
	for _, tt := range []struct{ name, form, from, to string }{
		{"json fraction", "json", `"soBoSung": 0`, `"soBoSung": 1.0`},
		{"json exponent", "json", `"soBoSung": 0`, `"soBoSung": 1e0`},
		{"xml fraction", "xml", "<soBoSung>0</soBoSung>", "<soBoSung>1.0</soBoSung>"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := replaceOnce(t, template(t, "chi-thuong-xuyen", tt.form), tt.from, tt.to)
			var s submission
			if tt.form == "json" {
				s = jsonSub("chi-thuong-xuyen", body, signJWS(t, body, both...))
			} else {
				s = xmlSub("chi-thuong-xuyen", signXML(t, body, signing.XMLOptions{}, both...))
			}
			out := run(t, s, svcOptions{})
			wantRefused(t, out, "schema-violation")
			var pe *problem.Error
			if !errors.As(out.err, &pe) || len(pe.Fields) == 0 || pe.Fields[0].Path != "/soBoSung" {
				t.Errorf("the refusal does not name /soBoSung: %v", out.err)
			}
		})
	}
}

// plainSupplement, which dossiers and withdrawals share, takes a supplement
// number written as a plain whole number, or none.
func TestPlainSupplement(t *testing.T) {
	for _, tt := range []struct {
		v  any
		ok bool
	}{
		{json.Number("0"), true}, {json.Number("12"), true}, {nil, true},
		{json.Number("1.0"), false}, {json.Number("1e0"), false}, {json.Number("-0.0"), false}, {"1", false}, {1.0, false},
	} {
		obj := map[string]any{"soBoSung": tt.v}
		if tt.v == nil {
			obj = map[string]any{}
		}
		fe, ok := plainSupplement(obj)
		if ok != tt.ok || (!ok && fe.Path != "/soBoSung") {
			t.Errorf("%#v: ok %v %+v, want %v", tt.v, ok, fe, tt.ok)
		}
	}
}

// Another key taking over a claim whose attempt ended unsettled, and
// finding nothing at the treasury, sends a new document: it is checked as
// one (here, its signers' registrations).
func TestTakeOverIsChecked(t *testing.T) {
	const unit, code = "1012345", "G09.20-20260609-0000002"
	ctx := context.Background()
	owner, chief := registration(t, unit, "chu-tai-khoan", "chu-tai-khoan"), registration(t, unit, "ke-toan-truong", "ke-toan-truong")
	reg := signers.NewMemory()
	if _, err := reg.Put(ctx, owner, chief); err != nil {
		t.Fatal(err)
	}
	now := receipt
	svc, fs := registryServiceOn(t, reg, true, idempotency.NewMemory(func() time.Time { return now }))
	x := replaceOnce(t, template(t, "chi-thuong-xuyen", "xml"), "<maHoSo>G09.20-20260609-0000001</maHoSo>", "<maHoSo>"+code+"</maHoSo>")
	a := Submission{RequestID: "a", Procedure: "chi-thuong-xuyen", IdempotencyKey: "kA", ContentType: "application/xml",
		Body: signXML(t, x, signing.XMLOptions{}, both...), Caller: "portal", ReceivedAt: receipt}
	loseRequest(t, svc, fs, a)
	if _, err := reg.Revoke(ctx, unit, chief.Serial); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * svc.lease())
	y := replaceOnce(t, x, "<soTaiKhoan>0011004123456</soTaiKhoan>", "<soTaiKhoan>9999999999999</soTaiKhoan>")
	b := Submission{RequestID: "b", Procedure: "chi-thuong-xuyen", IdempotencyKey: "kB", ContentType: "application/xml",
		Body: signXML(t, y, signing.XMLOptions{}, both...), Caller: "portal", ReceivedAt: receipt}
	if _, err := svc.Submit(ctx, b); codeOf(err) != "signer-not-registered" {
		t.Errorf("another key taking the claim over with a revoked signer: %v", err)
	}
	if n := len(fs.sent()); n != 0 {
		t.Errorf("%d documents reached the treasury, want 0", n)
	}
}

package treasury

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/sim/treasurysim"
)

// withdrawalOf is the withdrawal of doc by its unit.
func withdrawalOf(doc SendDocumentRequest) (string, WithdrawalRequest) {
	return treasurysim.WithdrawalKey(doc.Procedure, doc.DossierCode, doc.SupplementNo), WithdrawalRequest{
		Procedure: doc.Procedure, ProcedureCode: doc.ProcedureCode, DossierCode: doc.DossierCode,
		SupplementNo: doc.SupplementNo, BudgetUnitCode: doc.BudgetUnitCode, RequestDate: "2026-06-09",
		Reason: "Don vi lap nham", ReceivedAt: time.Date(2026, 6, 9, 10, 0, 0, 0, time.UTC),
	}
}

// Withdraw against the simulator: withdrawn (201), the same again (200, Replayed), refused
// once paid, unknown document, and a key that is not the withdrawal's.
func TestWithdraw(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t)
	ctx := context.Background()
	doc := document("G09.20-20260609-0000101")
	rc, err := e.client.SendDocument(ctx, doc.Key(), doc.Map())
	if err != nil {
		t.Fatal(err)
	}
	key, req := withdrawalOf(doc)
	w, err := e.client.Withdraw(ctx, key, rc.DocumentID, req)
	if err != nil {
		t.Fatal(err)
	}
	if w.DocumentID != rc.DocumentID || w.Reference != rc.Reference || w.Status != StatusWithdrawn || w.Replayed || w.WithdrawnAt.IsZero() {
		t.Fatalf("withdrawal %+v", w)
	}
	again, err := e.client.Withdraw(ctx, key, rc.DocumentID, req)
	if err != nil || !again.Replayed || again.DocumentID != w.DocumentID || !again.WithdrawnAt.Equal(w.WithdrawnAt) {
		t.Fatalf("repeat: %+v %v", again, err)
	}
	if n := e.count.get("POST /api/v1/documents/" + rc.DocumentID + "/withdrawal"); n != 2 {
		t.Errorf("%d withdrawal calls, want 2", n)
	}

	paid := document("G09.20-20260609-0000102", oneLine("6501", 1000))
	prc, err := e.client.SendDocument(ctx, paid.Key(), paid.Map())
	if err != nil {
		t.Fatal(err)
	}
	e.sim.SetStatus(prc.DocumentID, "PAID")
	pkey, preq := withdrawalOf(paid)
	_, err = e.client.Withdraw(ctx, pkey, prc.DocumentID, preq)
	var ref *Refusal
	if !errors.As(err, &ref) || ref.ReasonCode != ReasonPaid {
		t.Fatalf("withdrawal of a paid document: %v, want a %s refusal", err, ReasonPaid)
	}
	if _, err := e.client.Withdraw(ctx, pkey, "KB-2026-999999", preq); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown document: %v, want ErrNotFound", err)
	}
	if _, err := e.client.Withdraw(ctx, paid.Key(), prc.DocumentID, preq); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("the document's own key: %v, want ErrInvalidRequest", err)
	}
}

// A malformed key or an empty document id is refused before anything is sent.
func TestWithdrawRefusedLocally(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	srv := stubServer(t, func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })
	c := newTestClient(t, srv.URL, newFakeClock())
	key, req := withdrawalOf(document("G09.20-20260609-0000101"))
	for _, tc := range []struct{ key, id string }{{"KEY", "KB-1"}, {key, ""}} {
		if _, err := c.Withdraw(context.Background(), tc.key, tc.id, req); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("key %q id %q: %v, want ErrInvalidRequest", tc.key, tc.id, err)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d calls reached the treasury", n)
	}
}

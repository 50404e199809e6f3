package treasurysim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// withdrawalOf returns a valid withdrawal body for the document sent as req, changed by the
// given functions.
func withdrawalOf(req map[string]any, changes ...func(map[string]any)) map[string]any {
	w := map[string]any{
		"procedure":      req["procedure"],
		"procedureCode":  req["procedureCode"],
		"dossierCode":    req["dossierCode"],
		"supplementNo":   req["supplementNo"],
		"budgetUnitCode": req["budgetUnitCode"],
		"requestDate":    "2026-06-09",
		"reason":         "Đơn vị lập nhầm, xin rút hồ sơ",
		"receivedAt":     "2026-06-09T10:00:00+07:00",
	}
	for _, c := range changes {
		c(w)
	}
	return w
}

// withdrawalKeyOf is the withdrawal key of the document sent as req.
func withdrawalKeyOf(req map[string]any) string {
	sup, _ := req["supplementNo"].(int)
	return WithdrawalKey(req["procedure"].(string), req["dossierCode"].(string), sup)
}

func (h *harness) withdraw(documentID, key string, body map[string]any) *httptest.ResponseRecorder {
	h.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do("POST", "/api/v1/documents/"+documentID+"/withdrawal", map[string]string{
		"Authorization":   "Bearer " + h.token,
		"Idempotency-Key": key,
		"Content-Type":    "application/json",
	}, string(raw))
}

// A withdrawal before payment: 201, the document WITHDRAWN with the withdrawal recorded and
// its lines given back; the same withdrawal again is answered 200 with the same body and
// changes nothing.
func TestWithdrawal(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before, _ := h.sim.Remaining("1012345", "422", "6001")
	req := request("G09.20-20260609-0000101")
	id := h.mustSend(req)
	if after, _ := h.sim.Remaining("1012345", "422", "6001"); after != before-1000 {
		t.Fatalf("remaining %d after the send, want %d", after, before-1000)
	}
	h.clock.Advance(time.Minute)
	first := h.withdraw(id, withdrawalKeyOf(req), withdrawalOf(req))
	if first.Code != http.StatusCreated {
		t.Fatalf("withdraw: %d %s", first.Code, first.Body)
	}
	var got withdrawal
	decode(t, first, &got)
	if got.DocumentID != id || got.Status != StatusWithdrawn || got.Reference == "" || !got.WithdrawnAt.Equal(h.clock.Now()) {
		t.Fatalf("answer %+v", got)
	}
	docs := h.sim.Documents()
	if len(docs) != 1 || docs[0].Status != StatusWithdrawn || docs[0].Withdrawal == nil {
		t.Fatalf("documents %+v", docs)
	}
	w := docs[0].Withdrawal
	if w.IdempotencyKey != withdrawalKeyOf(req) || w.Reason != "Đơn vị lập nhầm, xin rút hồ sơ" || w.RequestDate != "2026-06-09" ||
		w.BudgetUnitCode != "1012345" || w.Replays != 0 || len(w.Request) == 0 {
		t.Errorf("withdrawal %+v", w)
	}
	if after, _ := h.sim.Remaining("1012345", "422", "6001"); after != before {
		t.Errorf("remaining %d after the withdrawal, want %d given back", after, before)
	}

	h.clock.Advance(time.Minute)
	again := h.withdraw(id, withdrawalKeyOf(req), withdrawalOf(req))
	if again.Code != http.StatusOK || again.Body.String() != first.Body.String() {
		t.Fatalf("repeat: %d %s, want 200 %s", again.Code, again.Body, first.Body)
	}
	if w := h.sim.Documents()[0].Withdrawal; w.Replays != 1 {
		t.Errorf("replays %d, want 1", w.Replays)
	}
	if after, _ := h.sim.Remaining("1012345", "422", "6001"); after != before {
		t.Errorf("remaining %d after the repeat, want %d", after, before)
	}
	// What Documents returns is a copy.
	h.sim.Documents()[0].Withdrawal.Replays = 99
	if w := h.sim.Documents()[0].Withdrawal; w.Replays != 1 {
		t.Errorf("a caller changed the stored withdrawal: replays %d", w.Replays)
	}
}

// Every refusal, and the document left as it was.
func TestWithdrawalRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	req := request("G09.20-20260609-0000101")
	id := h.mustSend(req)
	key := withdrawalKeyOf(req)
	tests := []struct {
		name   string
		id     string
		key    string
		body   map[string]any
		status int
		reason string
	}{
		{"unknown document", "KB-2026-999999", key, withdrawalOf(req), 404, ReasonNotFound},
		{"malformed key", id, "ABC", withdrawalOf(req), 400, ReasonInvalidRequest},
		{"key of another identity", id, WithdrawalKey("chi-thuong-xuyen", "G09.20-20260609-0000101", 1), withdrawalOf(req), 400, ReasonInvalidRequest},
		{"the document's own downstream key", id, keyOf(req), withdrawalOf(req), 400, ReasonInvalidRequest},
		{"another dossier in the body", id, key, withdrawalOf(req, set("dossierCode", "G09.20-20260609-0000102")), 400, ReasonInvalidRequest},
		{"another supplement in the body", id, key, withdrawalOf(req, set("supplementNo", 1)), 400, ReasonInvalidRequest},
		{"no reason", id, key, withdrawalOf(req, del("reason")), 400, ReasonInvalidRequest},
		{"bad date", id, key, withdrawalOf(req, set("requestDate", "09/06/2026")), 400, ReasonInvalidRequest},
		{"unknown field", id, key, withdrawalOf(req, set("amount", 1)), 400, ReasonInvalidRequest},
		{"another unit", id, key, withdrawalOf(req, set("budgetUnitCode", "1000001")), 422, ReasonOtherUnit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.withdraw(tc.id, tc.key, tc.body)
			if rec.Code != tc.status || reasonOf(t, rec) != tc.reason {
				t.Fatalf("%d %s, want %d %s", rec.Code, rec.Body, tc.status, tc.reason)
			}
			if d := h.sim.Documents()[0]; d.Status != StatusReceived || d.Withdrawal != nil {
				t.Fatalf("document changed: %+v", d)
			}
		})
	}
	noAuth := h.do("POST", "/api/v1/documents/"+id+"/withdrawal", map[string]string{"Idempotency-Key": key}, "{}")
	if noAuth.Code != http.StatusUnauthorized {
		t.Errorf("without a token: %d", noAuth.Code)
	}
}

// A document can be withdrawn while it is being processed, not once it is paid, processed,
// refused or stopped.
func TestWithdrawalByStatus(t *testing.T) {
	t.Parallel()
	for status, reason := range map[string]string{
		"ACCEPTED": "", "PROCESSING": "", "CORRECTION_REQUIRED": "",
		"PAID": ReasonPaid, "RESULT_RETURNED": ReasonPaid, "ACCOUNT_OPENED": ReasonProcessed,
		"REJECTED": ReasonEnded, "STOPPED": ReasonEnded, "WITHDRAWN": ReasonEnded,
	} {
		t.Run(status, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			req := request("G09.20-20260609-0000101")
			id := h.mustSend(req)
			if !h.sim.SetStatus(id, status) {
				t.Fatal("SetStatus refused")
			}
			rec := h.withdraw(id, withdrawalKeyOf(req), withdrawalOf(req))
			switch {
			case reason == "" && rec.Code != http.StatusCreated:
				t.Fatalf("%s: %d %s, want 201", status, rec.Code, rec.Body)
			case reason != "" && (rec.Code != http.StatusUnprocessableEntity || reasonOf(t, rec) != reason):
				t.Fatalf("%s: %d %s, want 422 %s", status, rec.Code, rec.Body, reason)
			case reason != "" && h.statusOf(id) != status:
				t.Fatalf("refused withdrawal changed the status to %s", h.statusOf(id))
			}
		})
	}
}

// With callbacks on, a withdrawal stops the document's path and sends one WITHDRAWN event,
// after the path event still awaiting its answer; other documents go on.
func TestWithdrawalCallback(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var fail atomic.Bool
	fail.Store(true)
	r := newReceiver(t, h.clock.Now, func(int) int {
		if fail.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	startCallbacks(t, h, r)
	ctx := t.Context()
	req := request("G09.20-20260609-0000101")
	id := h.mustSend(req)
	other := h.mustSend(request("G09.20-20260609-0000102"))

	h.clock.Advance(time.Minute)
	h.sim.TickCallbacks(ctx) // ACCEPTED for both, refused by the receiver
	if rec := h.withdraw(id, withdrawalKeyOf(req), withdrawalOf(req)); rec.Code != http.StatusCreated {
		t.Fatalf("withdraw: %d %s", rec.Code, rec.Body)
	}
	fail.Store(false)
	for range 5 {
		h.clock.Advance(time.Minute)
		h.sim.TickCallbacks(ctx)
	}
	var mine, theirs []string
	var seqs []int
	for _, d := range r.deliveries(t) {
		switch d.Event.DocumentID {
		case id:
			mine = append(mine, d.Event.Status)
			seqs = append(seqs, d.Event.Sequence)
		case other:
			theirs = append(theirs, d.Event.Status)
		}
	}
	if want := []string{"ACCEPTED", "ACCEPTED", "WITHDRAWN"}; !slices.Equal(mine, want) {
		t.Errorf("withdrawn document's events %v, want %v", mine, want)
	}
	if want := []int{1, 1, 2}; !slices.Equal(seqs, want) {
		t.Errorf("sequences %v, want %v", seqs, want)
	}
	if want := []string{"ACCEPTED", "ACCEPTED", "PROCESSING", "PAID", "RESULT_RETURNED"}; !slices.Equal(theirs, want) {
		t.Errorf("other document's events %v, want %v", theirs, want)
	}
	if st := h.statusOf(id); st != StatusWithdrawn {
		t.Errorf("status %s, want WITHDRAWN", st)
	}
	var sources []string
	for _, rec := range h.sim.Callbacks() {
		if rec.DocumentID == id {
			sources = append(sources, rec.Source)
		}
	}
	if want := []string{"tick", "withdrawal"}; !slices.Equal(sources, want) {
		t.Errorf("records of the withdrawn document: sources %v, want %v", sources, want)
	}
}

// A document withdrawn before the callbacks start never moves along its path.
func TestWithdrawalBeforeCallbacks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	req := request("G09.20-20260609-0000101")
	id := h.mustSend(req)
	if rec := h.withdraw(id, withdrawalKeyOf(req), withdrawalOf(req)); rec.Code != http.StatusCreated {
		t.Fatalf("withdraw: %d %s", rec.Code, rec.Body)
	}
	r := newReceiver(t, h.clock.Now, nil)
	startCallbacks(t, h, r)
	if n := h.sim.TickCallbacks(t.Context()); n != 0 {
		t.Errorf("a tick sent %d events for a withdrawn document", n)
	}
	if st := h.statusOf(id); st != StatusWithdrawn {
		t.Errorf("status %s, want WITHDRAWN", st)
	}
}

func TestWithdrawalKey(t *testing.T) {
	t.Parallel()
	// The same vectors are checked in adapter/intake: both sides must derive the same key.
	tests := []struct {
		procedure, dossier string
		supplement         int
		want               string
	}{
		{"chi-thuong-xuyen", "G09.20-20260609-0092637", 0, "de05befff9a6a9cbdfb8b5888fde1a3ad29bbe4a14da58a9973349be0f879775"},
		{"chi-thuong-xuyen", "G09.20-20260609-0092637", 1, "c0e9a65cdcb1cab2b263efda6a4166652d076849b4a9192dae3af6ff8de27a4a"},
	}
	for _, tt := range tests {
		if got := WithdrawalKey(tt.procedure, tt.dossier, tt.supplement); got != tt.want {
			t.Errorf("WithdrawalKey(%q, %q, %d) = %s, want %s", tt.procedure, tt.dossier, tt.supplement, got, tt.want)
		}
	}
}

package treasurysend

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/intake"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/sim/treasurysim"
	"github.com/kbnn/dvc/adapter/treasury"
	"github.com/kbnn/dvc/adapter/upstream"
)

// mapped is a request as adapter/mapping builds it: the golden chi-thuong-xuyen request.
func mapped(t *testing.T) (string, map[string]any) {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/golden/chi-thuong-xuyen/treasury-request.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	sup, _ := doc["supplementNo"].(json.Number).Int64()
	return treasurysim.DownstreamKey(doc["procedure"].(string), doc["dossierCode"].(string), int(sup)), doc
}

// uploadFiles uploads the files the mapped request references
// (testdata/attachments/chi-thuong-xuyen), as intake does before sending it.
func uploadFiles(t *testing.T, s *Sender, doc map[string]any) {
	t.Helper()
	atts, _ := doc["attachments"].([]any)
	if len(atts) == 0 {
		t.Fatal("the golden request references no attachments")
	}
	for _, a := range atts {
		m := a.(map[string]any)
		data, err := os.ReadFile(filepath.Join("../../testdata/attachments/chi-thuong-xuyen", m["fileName"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Upload(context.Background(), m["sha256"].(string), m["mediaType"].(string), data); err != nil {
			t.Fatal(err)
		}
	}
}

func newSender(t *testing.T, h http.Handler, s upstream.Settings) *Sender {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := treasury.New(treasury.Config{BaseURL: srv.URL, ClientID: "dvc-adapter", ClientSecret: "dev-treasury-secret",
		Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := treasury.NewGroup(s)
	if err != nil {
		t.Fatal(err)
	}
	return New(c, g)
}

// loggedIn is a treasury that grants every login a token and answers the
// other calls with h.
func loggedIn(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/login" {
			_, _ = w.Write([]byte(`{"accessToken":"t","expiresIn":600}`))
			return
		}
		h(w, r)
	}
}

// The mapped request reaches the treasury as it is, and Find sees the document by its key.
func TestSendAndFind(t *testing.T) {
	t.Parallel()
	sim := treasurysim.New(treasurysim.Options{TokenTTL: time.Hour})
	s := newSender(t, sim, upstream.Settings{})
	ctx := context.Background()
	key, doc := mapped(t)
	uploadFiles(t, s, doc)
	if _, found, err := s.Find(ctx, key); found || err != nil {
		t.Fatalf("Find before sending: found %v, err %v", found, err)
	}
	rc, err := s.Send(ctx, key, doc)
	if err != nil {
		t.Fatal(err)
	}
	if rc.DocumentID == "" || rc.Reference == "" {
		t.Fatalf("receipt %+v", rc)
	}
	docs := sim.Documents()
	if len(docs) != 1 {
		t.Fatalf("%d documents at the treasury, want 1", len(docs))
	}
	want, _ := json.Marshal(doc)
	if !bytes.Equal(docs[0].Request, want) {
		t.Errorf("the treasury received\n%s\nwant\n%s", docs[0].Request, want)
	}
	got, found, err := s.Find(ctx, key)
	rc.Status = "RECEIVED" // a look-up also says where the document stands
	if err != nil || !found || got != rc {
		t.Errorf("Find: %+v %v %v, want %+v", got, found, err, rc)
	}
}

// Each treasury failure becomes the public problem the caller is answered.
func TestProblems(t *testing.T) {
	t.Parallel()
	answer := func(status int, body string) http.HandlerFunc {
		return loggedIn(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		})
	}
	tests := []struct {
		name       string
		status     int
		body       string
		kind       problem.Kind
		retryAfter int
	}{
		{"business refusal", 422, `{"reasonCode":"VUOT_DU_TOAN","message":"over the allotment"}`, problem.TreasuryRefused, 0},
		{"unavailable", 503, ``, problem.TreasuryUnavailable, retryAfterSeconds},
		{"too many requests", 429, ``, problem.TreasuryUnavailable, retryAfterSeconds},
		{"gateway timeout", 504, ``, problem.TreasuryTimeout, retryAfterSeconds},
		{"contract violation", 400, `{"reasonCode":"INVALID_REQUEST"}`, problem.Internal, 0},
		{"credentials refused", 401, `{"reasonCode":"INVALID_TOKEN"}`, problem.Internal, 0},
		{"answer outside the contract", 201, `<html>`, problem.Internal, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSender(t, answer(tt.status, tt.body), upstream.Settings{Retries: -1})
			key, doc := mapped(t)
			_, err := s.Send(context.Background(), key, doc)
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Kind != tt.kind || pe.RetryAfter != tt.retryAfter {
				t.Fatalf("err = %#v, want kind %s with Retry-After %d", err, tt.kind, tt.retryAfter)
			}
			if tt.kind == problem.TreasuryRefused &&
				(pe.Extra["treasuryReasonCode"] != "VUOT_DU_TOAN" || pe.Extra["treasuryMessage"] != "over the allotment") {
				t.Errorf("refusal extras %v", pe.Extra)
			}
		})
	}
}

// An open breaker refuses without calling the treasury, with the breaker's Retry-After.
func TestOpenBreaker(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	s := newSender(t, loggedIn(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}), upstream.Settings{MinRequests: 2, FailureRatio: 0.5, OpenTimeout: time.Minute, Retries: -1})
	key, doc := mapped(t)
	for range 2 {
		if _, err := s.Send(context.Background(), key, doc); err == nil {
			t.Fatal("sent to a treasury that is down")
		}
	}
	before := calls.Load()
	_, err := s.Send(context.Background(), key, doc)
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Kind != problem.TreasuryUnavailable || pe.RetryAfter < 1 || pe.RetryAfter > 60 {
		t.Fatalf("err = %#v, want treasury-unavailable with the breaker's Retry-After", err)
	}
	var rej *upstream.Rejected
	if !errors.As(err, &rej) {
		t.Errorf("err = %v does not come from the breaker", err)
	}
	if calls.Load() != before {
		t.Error("an open breaker let a call through")
	}
}

// withdrawalOf is the withdrawal of the golden request's dossier, by its unit.
func withdrawalOf(doc map[string]any) intake.Withdrawal {
	sup, _ := doc["supplementNo"].(json.Number).Int64()
	return intake.Withdrawal{Procedure: doc["procedure"].(string), ProcedureCode: doc["procedureCode"].(string),
		MaHoSo: doc["dossierCode"].(string), SoBoSung: int(sup), MaDVQHNS: doc["budgetUnitCode"].(string),
		NgayYeuCau: "2026-06-09", LyDo: "lập nhầm", ReceivedAt: time.Date(2026, 6, 9, 10, 0, 0, 0, time.UTC)}
}

// A withdrawal reaches the treasury under the withdrawal key with the unit's facts; the same
// withdrawal again is answered the same; a paid document's refusal and an unknown document
// become treasury-refused and not-found.
func TestWithdraw(t *testing.T) {
	t.Parallel()
	sim := treasurysim.New(treasurysim.Options{TokenTTL: time.Hour})
	s := newSender(t, sim, upstream.Settings{})
	ctx := context.Background()
	key, doc := mapped(t)
	uploadFiles(t, s, doc)
	rc, err := s.Send(ctx, key, doc)
	if err != nil {
		t.Fatal(err)
	}
	w := withdrawalOf(doc)
	wkey := treasurysim.WithdrawalKey(w.Procedure, w.MaHoSo, w.SoBoSung)
	got, err := s.Withdraw(ctx, wkey, rc.DocumentID, w)
	if err != nil {
		t.Fatal(err)
	}
	if got.DocumentID != rc.DocumentID || got.Reference != rc.Reference || got.WithdrawnAt.IsZero() {
		t.Fatalf("receipt %+v, want the document %+v", got, rc)
	}
	d := sim.Documents()[0]
	if d.Status != treasurysim.StatusWithdrawn || d.Withdrawal == nil || d.Withdrawal.Reason != w.LyDo ||
		d.Withdrawal.RequestDate != w.NgayYeuCau || d.Withdrawal.BudgetUnitCode != w.MaDVQHNS || d.Withdrawal.IdempotencyKey != wkey {
		t.Fatalf("the treasury holds %+v (withdrawal %+v)", d, d.Withdrawal)
	}
	if again, err := s.Withdraw(ctx, wkey, rc.DocumentID, w); err != nil || again != got {
		t.Errorf("repeat: %+v %v, want %+v", again, err, got)
	}

	_, other := mapped(t)
	other["dossierCode"] = "G09.20-20260609-0000999"
	okey := treasurysim.DownstreamKey(other["procedure"].(string), "G09.20-20260609-0000999", 0)
	orc, err := s.Send(ctx, okey, other)
	if err != nil {
		t.Fatal(err)
	}
	if !sim.SetStatus(orc.DocumentID, treasurysim.StatusPaid) {
		t.Fatal("SetStatus")
	}
	ow := withdrawalOf(other)
	_, err = s.Withdraw(ctx, treasurysim.WithdrawalKey(ow.Procedure, ow.MaHoSo, 0), orc.DocumentID, ow)
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Kind != problem.TreasuryRefused || pe.Extra["treasuryReasonCode"] != treasurysim.ReasonPaid {
		t.Fatalf("withdrawal of a paid document: %#v, want treasury-refused %s", err, treasurysim.ReasonPaid)
	}
	_, err = s.Withdraw(ctx, wkey, "KB-2026-999999", w)
	if !errors.As(err, &pe) || pe.Kind != problem.NotFound {
		t.Fatalf("withdrawal of an unknown document: %#v, want not-found", err)
	}
}

// Withdrawals have their own breaker: an open one refuses without calling the treasury, and
// leaves the sending of documents alone.
func TestWithdrawBreaker(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	s := newSender(t, loggedIn(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}), upstream.Settings{MinRequests: 2, FailureRatio: 0.5, OpenTimeout: time.Minute, Retries: -1})
	_, doc := mapped(t)
	w := withdrawalOf(doc)
	key := treasurysim.WithdrawalKey(w.Procedure, w.MaHoSo, w.SoBoSung)
	for range 2 {
		if _, err := s.Withdraw(context.Background(), key, "KB-2026-000001", w); err == nil {
			t.Fatal("withdrew at a treasury that is down")
		}
	}
	before := calls.Load()
	_, err := s.Withdraw(context.Background(), key, "KB-2026-000001", w)
	var rej *upstream.Rejected
	var pe *problem.Error
	if !errors.As(err, &rej) || rej.Endpoint != "treasury/withdraw" || !errors.As(err, &pe) || pe.Kind != problem.TreasuryUnavailable {
		t.Fatalf("err = %#v, want treasury-unavailable from the treasury/withdraw breaker", err)
	}
	if calls.Load() != before {
		t.Error("an open breaker let a withdrawal through")
	}
	dkey, _ := mapped(t)
	if _, err := s.Send(context.Background(), dkey, doc); errors.As(err, &rej) {
		t.Errorf("the withdrawal breaker refused a document: %v", err)
	}
}

// A refusal is final only when it answers the call's first attempt. After
// an attempt that ended without an answer (here a 503; a timeout alike),
// the treasury may still be taking it, so the retry's refusal is
// treasury-unavailable, for the send and the withdrawal alike.
func TestRefusalAfterAnUnansweredAttempt(t *testing.T) {
	t.Parallel()
	refusal := `{"reasonCode":"VUOT_DU_TOAN","message":"over the allotment"}`
	for _, tc := range []struct {
		name  string
		first int // the first attempt's status; 0: refused at once
		kind  problem.Kind
	}{
		{"refused at once", 0, problem.TreasuryRefused},
		{"refused after a 503", 503, problem.TreasuryUnavailable},
		{"refused after a 504", 504, problem.TreasuryUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int64
			s := newSender(t, loggedIn(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 && tc.first != 0 {
					w.WriteHeader(tc.first)
					return
				}
				w.WriteHeader(http.StatusUnprocessableEntity)
				_, _ = w.Write([]byte(refusal))
			}), upstream.Settings{Retries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})
			key, doc := mapped(t)
			_, err := s.Send(context.Background(), key, doc)
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Kind != tc.kind {
				t.Fatalf("send: %v, want %s", err, tc.kind)
			}
			if pe.Kind == problem.TreasuryUnavailable && (pe.RetryAfter <= 0 || pe.Extra["treasuryReasonCode"] != "VUOT_DU_TOAN") {
				t.Fatalf("send: %#v, want a Retry-After and the retry's reason code", pe)
			}
			calls.Store(0)
			w := withdrawalOf(doc)
			_, err = s.Withdraw(context.Background(), treasurysim.WithdrawalKey(w.Procedure, w.MaHoSo, w.SoBoSung), "KB-1", w)
			if !errors.As(err, &pe) || pe.Kind != tc.kind {
				t.Fatalf("withdraw: %v, want %s", err, tc.kind)
			}
		})
	}
}

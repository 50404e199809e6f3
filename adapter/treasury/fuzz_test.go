package treasury

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzAnswers feeds arbitrary treasury answers to SendDocument: whatever the
// treasury says, the client returns a receipt with a document id or an
// error, and never panics.
func FuzzAnswers(f *testing.F) {
	f.Add(201, []byte(`{"documentId":"KB-2026-000001","reference":"KBNN-0011-2026-000001","status":"RECEIVED","receivedAt":"2026-06-09T08:30:00+07:00"}`))
	f.Add(422, []byte(`{"reasonCode":"VUOT_DU_TOAN","message":"x"}`))
	f.Add(200, []byte(`{}`))
	f.Add(500, []byte(`<html>`))
	f.Add(302, []byte(``))
	var status atomic.Int64
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/login" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"accessToken":"t","expiresIn":900}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(status.Load()))
		_, _ = w.Write(body.Load().([]byte))
	}))
	f.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL, ClientID: "dvc-adapter", ClientSecret: "s", Timeout: 2 * time.Second}, nil)
	if err != nil {
		f.Fatal(err)
	}
	req := SendDocumentRequest{DocumentType: "C2-02a/NS", Procedure: "chi-thuong-xuyen", ProcedureCode: "2.002208",
		DossierCode: "G09.20-20260609-0000001", BudgetUnitCode: "1012345", TreasuryOfficeCode: "0011",
		BudgetYear: 2026, SubmittedAt: time.Date(2026, 6, 9, 8, 30, 0, 0, time.UTC)}
	key, doc := req.Key(), req.Map()
	f.Fuzz(func(t *testing.T, code int, b []byte) {
		if code < 200 || code > 599 {
			return
		}
		status.Store(int64(code))
		body.Store(b)
		rc, err := c.SendDocument(context.Background(), key, doc)
		if err == nil && rc.DocumentID == "" {
			t.Fatalf("status %d body %q: receipt without a document id", code, b)
		}
		var ref *Refusal
		if err != nil && errors.As(err, &ref) && code != http.StatusUnprocessableEntity {
			t.Fatalf("status %d became a business refusal", code)
		}
	})
}

// FuzzWithdrawAnswers feeds arbitrary treasury answers to Withdraw: whatever the treasury
// says, the client returns a withdrawal naming a document or an error, never panics, and
// reports a business refusal only for a 422.
func FuzzWithdrawAnswers(f *testing.F) {
	f.Add(201, []byte(`{"documentId":"KB-2026-000001","reference":"KBNN-0011-2026-000001","status":"WITHDRAWN","withdrawnAt":"2026-06-09T10:00:00+07:00"}`))
	f.Add(200, []byte(`{"documentId":"KB-2026-000001","reference":"KBNN-0011-2026-000001"}`))
	f.Add(422, []byte(`{"reasonCode":"DA_THANH_TOAN","message":"x"}`))
	f.Add(404, []byte(`{"reasonCode":"NOT_FOUND"}`))
	f.Add(201, []byte(`{"documentId":""}`))
	f.Add(500, []byte(`<html>`))
	var status atomic.Int64
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/login" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"accessToken":"t","expiresIn":900}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(status.Load()))
		_, _ = w.Write(body.Load().([]byte))
	}))
	f.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL, ClientID: "dvc-adapter", ClientSecret: "s", Timeout: 2 * time.Second}, nil)
	if err != nil {
		f.Fatal(err)
	}
	key, req := withdrawalOf(document("G09.20-20260609-0000001"))
	f.Fuzz(func(t *testing.T, code int, b []byte) {
		if code < 200 || code > 599 {
			return
		}
		status.Store(int64(code))
		body.Store(b)
		w, err := c.Withdraw(context.Background(), key, "KB-2026-000001", req)
		if err == nil && (w.DocumentID == "" || w.Reference == "") {
			t.Fatalf("status %d body %q: withdrawal without a document", code, b)
		}
		var ref *Refusal
		if err != nil && errors.As(err, &ref) && code != http.StatusUnprocessableEntity {
			t.Fatalf("status %d became a business refusal", code)
		}
	})
}

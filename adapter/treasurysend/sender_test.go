package treasurysend

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

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

// The mapped request reaches the treasury as it is, and Find sees the document by its key.
func TestSendAndFind(t *testing.T) {
	t.Parallel()
	sim := treasurysim.New(treasurysim.Options{TokenTTL: time.Hour})
	s := newSender(t, sim, upstream.Settings{})
	ctx := context.Background()
	key, doc := mapped(t)
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
	if err != nil || !found || got != rc {
		t.Errorf("Find: %+v %v %v, want %+v", got, found, err, rc)
	}
}

// Each treasury failure becomes the public problem the caller is answered.
func TestProblems(t *testing.T) {
	t.Parallel()
	answer := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/v1/login" {
				_, _ = w.Write([]byte(`{"accessToken":"t","expiresIn":600}`))
				return
			}
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}
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
	s := newSender(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/login" {
			_, _ = w.Write([]byte(`{"accessToken":"t","expiresIn":600}`))
			return
		}
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

package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/kbnn/dvc/adapter/auditlog"
	"github.com/kbnn/dvc/adapter/httpapi"
	"github.com/kbnn/dvc/adapter/intake"
	"github.com/kbnn/dvc/adapter/problem"
)

// memLog is an evidence log that keeps the records appended to it.
type memLog struct {
	mu   sync.Mutex
	recs []auditlog.Record
}

func (l *memLog) Append(_ context.Context, r auditlog.Record) (auditlog.Receipt, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
	return auditlog.Receipt{LogIndex: uint64(len(l.recs) - 1), BodySHA256: r.BodySHA256}, nil
}

func (l *memLog) AppendHashed(ctx context.Context, r auditlog.Record, body auditlog.HashedBody) (auditlog.Receipt, error) {
	r.BodySHA256 = body.Hex()
	return l.Append(ctx, r)
}

func (l *memLog) records() []auditlog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]auditlog.Record(nil), l.recs...)
}

// verifyingReceiver answers as statusflow does: unauthorized unless the
// webhook-signature header is "good", then a schema violation.
type verifyingReceiver struct{}

func (verifyingReceiver) Receive(_ context.Context, h http.Header, _ []byte) (bool, error) {
	if h.Get("webhook-signature") != "good" {
		return false, problem.New(problem.Unauthorized, "")
	}
	return false, problem.New(problem.SchemaViolation, "")
}

// failingBody fails the read after a few bytes, as a connection cut does.
type failingBody struct{ r *strings.Reader }

func (b failingBody) Read(p []byte) (int, error) {
	if b.r.Len() == 0 {
		return 0, errors.New("connection reset")
	}
	return b.r.Read(p)
}

// Only requests a credential vouches for reach the evidence log: an
// unauthenticated flood of callbacks or submissions, however it fails
// (bad signature, a body cut short, no token), leaves it as it was.
func TestEvidenceOnlyForAuthenticated(t *testing.T) {
	lg := &memLog{}
	h := httpapi.New(httpapi.Options{
		Intake:       intake.New(intake.Options{Procedures: []*intake.Procedure{{ID: "chi-thuong-xuyen", Code: "2.002208"}}}),
		Callers:      []httpapi.Caller{{Name: "portal", Token: token}},
		MaxBodyBytes: 1 << 20,
		Callbacks:    verifyingReceiver{},
		Evidence:     &intake.Recorder{Log: lg, Instance: "test"},
	})
	serve := func(req *http.Request) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	unauthenticated := []*http.Request{
		httptest.NewRequest(http.MethodPost, "/v1/callbacks/treasury/status", strings.NewReader(`{"eventId":"e1"}`)),
		httptest.NewRequest(http.MethodPost, "/v1/callbacks/treasury/status", failingBody{strings.NewReader(`{"eventId":`)}),
		httptest.NewRequest(http.MethodPost, "/v1/procedures/chi-thuong-xuyen/dossiers", strings.NewReader("<HoSo/>")),
		httptest.NewRequest(http.MethodPost, "/v1/procedures/chi-thuong-xuyen/dossiers", failingBody{strings.NewReader("<Ho")}),
	}
	for i, req := range unauthenticated {
		req.Header.Set("Content-Type", "application/json")
		if code := serve(req); code < 400 {
			t.Errorf("request %d: %d", i, code)
		}
	}
	if recs := lg.records(); len(recs) != 0 {
		t.Fatalf("unauthenticated requests wrote %d leaves: %+v", len(recs), recs)
	}
	// The same refusals to authenticated senders are logged.
	good := httptest.NewRequest(http.MethodPost, "/v1/callbacks/treasury/status", bytes.NewReader([]byte(`{"eventId":"e1"}`)))
	good.Header.Set("webhook-signature", "good")
	if code := serve(good); code != http.StatusUnprocessableEntity {
		t.Fatalf("signed callback: %d", code)
	}
	sub := httptest.NewRequest(http.MethodPost, "/v1/procedures/chi-thuong-xuyen/dossiers", failingBody{strings.NewReader("<Ho")})
	sub.Header.Set("Authorization", "Bearer "+token)
	if code := serve(sub); code != http.StatusBadRequest {
		t.Fatalf("authenticated submission cut short: %d", code)
	}
	recs := lg.records()
	if len(recs) != 2 || recs[0].Caller != "treasury" || recs[0].Code != "schema-violation" ||
		recs[1].Caller != "portal" || recs[1].Code != "malformed-body" {
		t.Fatalf("leaves of authenticated refusals: %+v", recs)
	}
}

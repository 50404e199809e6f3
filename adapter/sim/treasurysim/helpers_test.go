package treasurysim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/clock"
)

func newFakeClock() *clock.Clock {
	return clock.New(time.Date(2026, 6, 9, 1, 30, 0, 0, time.UTC))
}

// harness drives a Sim in process.
type harness struct {
	t     testing.TB
	sim   *Sim
	clock *clock.Clock
	token string
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessWith(t, Options{})
}

// newHarnessWith is newHarness with other options (the harness's clock and
// token TTL kept).
func newHarnessWith(t testing.TB, opts Options) *harness {
	t.Helper()
	clock := newFakeClock()
	opts.Clock, opts.TokenTTL = clock.Now, 10*time.Minute
	h := &harness{t: t, clock: clock, sim: New(opts)}
	h.token = h.login()
	return h
}

func (h *harness) login() string {
	h.t.Helper()
	rec := h.do("POST", "/api/v1/login", nil, `{"clientId":"dvc-adapter","clientSecret":"dev-treasury-secret"}`)
	if rec.Code != http.StatusOK {
		h.t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	var out struct {
		AccessToken string `json:"accessToken"`
	}
	decode(h.t, rec, &out)
	return out.AccessToken
}

func (h *harness) do(method, target string, header map[string]string, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.sim.ServeHTTP(rec, req)
	return rec
}

// send posts a request with the document's own downstream key.
func (h *harness) send(req map[string]any) *httptest.ResponseRecorder {
	return h.sendWithKey(keyOf(req), req)
}

func (h *harness) sendWithKey(key string, req map[string]any) *httptest.ResponseRecorder {
	body, err := json.Marshal(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do("POST", "/api/v1/documents", map[string]string{
		"Authorization":   "Bearer " + h.token,
		"Idempotency-Key": key,
		"Content-Type":    "application/json",
	}, string(body))
}

func (h *harness) get(target string) *httptest.ResponseRecorder {
	return h.do("GET", target, map[string]string{"Authorization": "Bearer " + h.token}, "")
}

func keyOf(req map[string]any) string {
	sup, _ := req["supplementNo"].(int)
	return DownstreamKey(req["procedure"].(string), req["dossierCode"].(string), sup)
}

// request returns a valid SendDocument request, changed by the given functions.
func request(dossier string, changes ...func(map[string]any)) map[string]any {
	req := map[string]any{
		"documentType":       "C2-02a/NS",
		"procedure":          "chi-thuong-xuyen",
		"procedureCode":      "1.009460",
		"dossierCode":        dossier,
		"supplementNo":       0,
		"budgetUnitCode":     "1012345",
		"treasuryOfficeCode": "0011",
		"budgetYear":         2026,
		"submittedAt":        "2026-06-09T08:30:00+07:00",
		"totalAmount":        1500,
		"lines": []any{
			line("422", "6001", 1000),
			line("422", "6501", 500),
		},
		"content": map[string]any{"voucherNumber": "125/2026"},
	}
	for _, c := range changes {
		c(req)
	}
	return req
}

func line(chapter, item string, amount int64) map[string]any {
	return map[string]any{
		"budgetLine": map[string]any{"chapter": chapter, "sector": "071", "item": item, "source": "12", "program": "00000"},
		"amount":     amount,
	}
}

func set(k string, v any) func(map[string]any) {
	return func(m map[string]any) { m[k] = v }
}

func del(k string) func(map[string]any) {
	return func(m map[string]any) { delete(m, k) }
}

func lines(ls ...any) func(map[string]any) {
	return func(m map[string]any) {
		m["lines"] = ls
		var total int64
		for _, l := range ls {
			total += l.(map[string]any)["amount"].(int64)
		}
		m["totalAmount"] = total
	}
}

func decode(t testing.TB, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("decode %q: %v", rec.Body.String(), err)
	}
}

func reasonOf(t testing.TB, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var r struct {
		ReasonCode string `json:"reasonCode"`
	}
	decode(t, rec, &r)
	return r.ReasonCode
}

package treasurysim

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestSendDocumentRules(t *testing.T) {
	t.Parallel()
	const allotment = int64(10_000_000_000_000)
	tests := []struct {
		name    string
		req     map[string]any
		key     string // empty: the document's own downstream key
		status  int
		reason  string
		message string // substring of the refusal message
	}{
		{"accepted", request("D-1"), "", 201, "", ""},
		{"accepted without lines", request("D-1", set("procedure", "tai-khoan"), del("lines"), set("totalAmount", 0)), "", 201, "", ""},
		{"whole allotment", request("D-1", lines(line("422", "7001", allotment))), "", 201, "", ""},
		{"unknown budget unit", request("D-1", set("budgetUnitCode", "1999999")), "", 422, ReasonUnknownBudgetUnit, "1999999"},
		{"unknown budget unit, no lines", request("D-1", set("procedure", "tai-khoan"), set("budgetUnitCode", "1999999"), del("lines"), set("totalAmount", 0)), "", 422, ReasonUnknownBudgetUnit, ""},
		{"unknown treasury office", request("D-1", set("treasuryOfficeCode", "9999")), "", 422, ReasonUnknownOffice, "9999"},
		{"item without allotment", request("D-1", lines(line("422", "6999", 1))), "", 422, ReasonNoAllotment, "6999"},
		{"chapter without allotment", request("D-1", lines(line("423", "6001", 1))), "", 422, ReasonNoAllotment, "423"},
		{"no allotment wins over excess", request("D-1", lines(line("422", "6001", allotment+1), line("422", "6999", 1))), "", 422, ReasonNoAllotment, ""},
		{"one line over the allotment", request("D-1", lines(line("422", "6001", allotment+1))), "", 422, ReasonOverAllotment, "6001"},
		{"lines of one item over the allotment", request("D-1", lines(line("422", "6101", allotment/2+1), line("422", "6101", allotment/2))), "", 422, ReasonOverAllotment, "6101"},
		{"fractional total", request("D-1", set("totalAmount", 1500.5)), "", 400, ReasonInvalidRequest, "/totalAmount"},
		{"fractional line amount", request("D-1", func(m map[string]any) { m["lines"].([]any)[0].(map[string]any)["amount"] = 0.5 }), "", 400, ReasonInvalidRequest, "/lines/0/amount"},
		{"integral float total", request("D-1", set("totalAmount", 1500.0)), "", 201, "", ""},
		{"negative total", request("D-1", set("totalAmount", -1)), "", 400, ReasonInvalidRequest, "/totalAmount"},
		{"six-digit budget unit", request("D-1", set("budgetUnitCode", "101234")), "", 400, ReasonInvalidRequest, "/budgetUnitCode"},
		{"unknown field", request("D-1", set("amount", 1)), "", 400, ReasonInvalidRequest, ""},
		{"missing content", request("D-1", del("content")), "", 400, ReasonInvalidRequest, ""},
		{"missing key", request("D-1"), "-", 400, ReasonInvalidRequest, "Idempotency-Key"},
		{"upper-case key", request("D-1"), strings.ToUpper(keyOf(request("D-1"))), 400, ReasonInvalidRequest, "Idempotency-Key"},
		{"key of another dossier", request("D-1"), keyOf(request("D-2")), 400, ReasonInvalidRequest, "Idempotency-Key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			key := tt.key
			switch key {
			case "":
				key = keyOf(tt.req)
			case "-":
				key = ""
			}
			rec := h.sendWithKey(key, tt.req)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			wantDocs := 1
			if tt.status != 201 {
				wantDocs = 0
				var r refusal
				decode(t, rec, &r)
				if r.ReasonCode != tt.reason || !strings.Contains(r.Message, tt.message) {
					t.Errorf("refusal = %+v, want %s containing %q", r, tt.reason, tt.message)
				}
			}
			if got := len(h.sim.Documents()); got != wantDocs {
				t.Errorf("%d documents, want %d", got, wantDocs)
			}
		})
	}
}

func TestAllotmentDeduction(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const tn = int64(1_000_000_000_000) // 10^12
	steps := []struct {
		req       map[string]any
		status    int
		remaining int64 // of 1012345 / 422 / 6001 afterwards
	}{
		{request("D-1", lines(line("422", "6001", 6*tn))), 201, 4 * tn},
		{request("D-2", lines(line("422", "6001", 5*tn))), 422, 4 * tn},
		{request("D-3", lines(line("422", "6001", tn), line("422", "6999", 1))), 422, 4 * tn},
		{request("D-4", lines(line("422", "6001", 4*tn))), 201, 0},
		{request("D-5", lines(line("422", "6001", 0))), 201, 0},
		{request("D-6", lines(line("422", "6001", 1))), 422, 0},
		{request("D-7", set("budgetUnitCode", "1045678"), lines(line("422", "6001", 6*tn))), 201, 0},
	}
	for i, s := range steps {
		rec := h.send(s.req)
		if rec.Code != s.status {
			t.Fatalf("step %d: status = %d, want %d (%s)", i, rec.Code, s.status, rec.Body)
		}
		if got, _ := h.sim.Remaining("1012345", "422", "6001"); got != s.remaining {
			t.Fatalf("step %d: remaining = %d, want %d", i, got, s.remaining)
		}
	}
	if got, _ := h.sim.Remaining("1045678", "422", "6001"); got != 4*tn {
		t.Errorf("other unit remaining = %d, want %d", got, 4*tn)
	}
	if got, _ := h.sim.Remaining("1012345", "422", "6501"); got != 10*tn {
		t.Errorf("untouched allotment = %d, want %d", got, 10*tn)
	}
}

// With UnlimitedAllotments an amount above the allotment is accepted and
// nothing is deducted; an unknown allotment is still refused.
func TestUnlimitedAllotments(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.sim = New(Options{Clock: h.clock.Now, TokenTTL: 10 * time.Minute, UnlimitedAllotments: true})
	h.token = h.login()
	const tn = int64(1_000_000_000_000)
	for i := range 3 {
		rec := h.send(request(fmt.Sprintf("U-%d", i), lines(line("422", "6001", 6*tn))))
		if rec.Code != 201 {
			t.Fatalf("document %d over the allotment: %d %s", i, rec.Code, rec.Body)
		}
	}
	if got, _ := h.sim.Remaining("1012345", "422", "6001"); got != 10*tn {
		t.Errorf("remaining %d, want the whole %d", got, 10*tn)
	}
	if rec := h.send(request("U-9", lines(line("422", "6999", 1)))); rec.Code != 422 || !strings.Contains(rec.Body.String(), ReasonNoAllotment) {
		t.Errorf("unknown allotment: %d %s", rec.Code, rec.Body)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.sim = New(Options{Clock: h.clock.Now, MaxBodyBytes: 512})
	h.token = h.login()
	rec := h.send(request("D-1", set("content", map[string]any{"note": strings.Repeat("x", 600)})))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "larger than 512") {
		t.Errorf("answer = %d %s, want 400 body too large", rec.Code, rec.Body)
	}
}

func TestParseLedger(t *testing.T) {
	t.Parallel()
	if _, err := parseLedger(allotmentsYAML); err != nil {
		t.Fatalf("embedded allotments: %v", err)
	}
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "treasuryOffices: [\"0011\"]\nbudgetUnit: {}\n", "budgetUnit"},
		{"office not 4 digits", "treasuryOffices: [\"011\"]\nbudgetUnits: {\"1012345\": {\"422\": {\"6001\": 1}}}\n", "011"},
		{"unit not 7 digits", "treasuryOffices: [\"0011\"]\nbudgetUnits: {\"101234\": {\"422\": {\"6001\": 1}}}\n", "101234"},
		{"bad chapter", "treasuryOffices: [\"0011\"]\nbudgetUnits: {\"1012345\": {\"42\": {\"6001\": 1}}}\n", "42"},
		{"bad item", "treasuryOffices: [\"0011\"]\nbudgetUnits: {\"1012345\": {\"422\": {\"601\": 1}}}\n", "601"},
		{"negative amount", "treasuryOffices: [\"0011\"]\nbudgetUnits: {\"1012345\": {\"422\": {\"6001\": -1}}}\n", "negative"},
		{"fractional amount", "treasuryOffices: [\"0011\"]\nbudgetUnits: {\"1012345\": {\"422\": {\"6001\": 1.5}}}\n", "1.5"},
		{"empty", "treasuryOffices: []\n", "no treasury offices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseLedger([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// TestAnswersMatchSchemas checks the simulator's answers against the contract's response schemas.
func TestAnswersMatchSchemas(t *testing.T) {
	t.Parallel()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.UseLoader(embeddedLoader{})
	compile := func(name string) *jsonschema.Schema {
		sch, err := c.Compile(schemaBase + "treasury/" + name + ".schema.json")
		if err != nil {
			t.Fatal(err)
		}
		return sch
	}
	h := newHarness(t)
	req := request("D-1")
	tests := []struct {
		name   string
		do     func() *http.Response
		status int
		schema string
	}{
		{"login", func() *http.Response {
			return h.do("POST", "/api/v1/login", nil, `{"clientId":"dvc-adapter","clientSecret":"dev-treasury-secret"}`).Result()
		}, 200, "login-response"},
		{"login refused", func() *http.Response {
			return h.do("POST", "/api/v1/login", nil, `{"clientId":"x","clientSecret":"y"}`).Result()
		}, 401, "refusal"},
		{"created", func() *http.Response { return h.send(req).Result() }, 201, "send-document-response"},
		{"replayed", func() *http.Response { return h.send(req).Result() }, 200, "send-document-response"},
		{"refused", func() *http.Response { return h.send(request("D-2", set("budgetUnitCode", "1999999"))).Result() }, 422, "refusal"},
		{"invalid", func() *http.Response { return h.send(request("D-2", set("totalAmount", 0.5))).Result() }, 400, "refusal"},
		{"status", func() *http.Response { return h.get("/api/v1/documents/KB-2026-000001").Result() }, 200, "document-status"},
		{"by key", func() *http.Response { return h.get("/api/v1/documents?idempotencyKey=" + keyOf(req)).Result() }, 200, "document-status"},
		{"not found", func() *http.Response { return h.get("/api/v1/documents/KB-2026-000002").Result() }, 404, "refusal"},
		{"bad token", func() *http.Response { return h.do("GET", "/api/v1/documents/KB-2026-000001", nil, "").Result() }, 401, "refusal"},
	}
	for _, tt := range tests { // in order: later steps need earlier ones
		resp := tt.do()
		if resp.StatusCode != tt.status {
			t.Fatalf("%s: status = %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type = %q", tt.name, ct)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		v, err := jsonschema.UnmarshalJSON(&buf)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if err := compile(tt.schema).Validate(v); err != nil {
			t.Errorf("%s: answer does not match %s: %v", tt.name, tt.schema, err)
		}
	}
}

// TestDocumentsBooking checks that a request listing its documents books the lines of its
// payment and advance documents only: a recovery of an advance and a refund book nothing.
func TestDocumentsBooking(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const tn = int64(1_000_000_000_000) // 10^12
	doc := func(kind string, ls ...any) map[string]any {
		return map[string]any{"type": "X", "kind": kind, "number": "1", "date": "2026-06-09", "totalAmount": 0, "lines": ls}
	}
	req := request("D-DOCS", set("documents", []any{
		doc("PAYMENT", line("422", "6001", 2*tn)),
		doc("ADVANCE_RECOVERY", line("422", "6001", 3*tn)),
		doc("REFUND", line("422", "6501", 3*tn)),
		doc("ADVANCE", line("422", "6501", tn)),
	}))
	if rec := h.send(req); rec.Code != 201 {
		t.Fatalf("status = %d (%s)", rec.Code, rec.Body)
	}
	if got, _ := h.sim.Remaining("1012345", "422", "6001"); got != 8*tn {
		t.Errorf("6001 remaining = %d, want %d (the payment only)", got, 8*tn)
	}
	if got, _ := h.sim.Remaining("1012345", "422", "6501"); got != 9*tn {
		t.Errorf("6501 remaining = %d, want %d (the advance only)", got, 9*tn)
	}
	over := request("D-OVER", set("documents", []any{doc("PAYMENT", line("422", "6001", 9*tn))}))
	if rec := h.send(over); rec.Code != 422 {
		t.Errorf("over the allotment through a document: status = %d, want 422", rec.Code)
	}
}

package treasurysim

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		status int
		reason string
	}{
		{"good credentials", `{"clientId":"dvc-adapter","clientSecret":"dev-treasury-secret"}`, 200, ""},
		{"wrong secret", `{"clientId":"dvc-adapter","clientSecret":"nope"}`, 401, ReasonInvalidClient},
		{"wrong client", `{"clientId":"other","clientSecret":"dev-treasury-secret"}`, 401, ReasonInvalidClient},
		{"missing secret", `{"clientId":"dvc-adapter"}`, 400, ReasonInvalidRequest},
		{"not JSON", `clientId=dvc-adapter`, 400, ReasonInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			rec := h.do("POST", "/api/v1/login", nil, tt.body)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			if tt.status != 200 {
				if got := reasonOf(t, rec); got != tt.reason {
					t.Errorf("reasonCode = %q, want %q", got, tt.reason)
				}
				return
			}
			var out struct {
				AccessToken string `json:"accessToken"`
				ExpiresIn   int64  `json:"expiresIn"`
			}
			decode(t, rec, &out)
			if len(out.AccessToken) != 64 || out.ExpiresIn != 600 {
				t.Errorf("answer = %+v, want a 64-char token valid 600 s", out)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(h *harness) string // returns the Authorization header
		status int
	}{
		{"valid", func(h *harness) string { return "Bearer " + h.token }, 404},
		{"lower-case scheme", func(h *harness) string { return "bearer " + h.token }, 404},
		{"missing", func(h *harness) string { return "" }, 401},
		{"basic scheme", func(h *harness) string { return "Basic " + h.token }, 401},
		{"unknown token", func(h *harness) string { return "Bearer " + strings.Repeat("0", 64) }, 401},
		{"expired", func(h *harness) string { h.clock.Advance(10 * time.Minute); return "Bearer " + h.token }, 401},
		{"just before expiry", func(h *harness) string { h.clock.Advance(10*time.Minute - time.Second); return "Bearer " + h.token }, 404},
		{"invalidated", func(h *harness) string { h.sim.InvalidateTokens(); return "Bearer " + h.token }, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			rec := h.do("GET", "/api/v1/documents/KB-2026-999999", map[string]string{"Authorization": tt.setup(h)}, "")
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			if tt.status == 401 {
				if got := reasonOf(t, rec); got != ReasonInvalidToken {
					t.Errorf("reasonCode = %q", got)
				}
				if rec.Header().Get("WWW-Authenticate") == "" {
					t.Error("no WWW-Authenticate header")
				}
			}
		})
	}
}

func TestIdempotentReplay(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	first := h.send(request("G09.20-20260609-0000001"))
	if first.Code != http.StatusCreated {
		t.Fatalf("first send: %d %s", first.Code, first.Body)
	}
	h.clock.Advance(time.Minute)
	again := h.send(request("G09.20-20260609-0000001"))
	if again.Code != http.StatusOK {
		t.Fatalf("second send: %d %s", again.Code, again.Body)
	}
	if first.Body.String() != again.Body.String() {
		t.Errorf("replayed answer differs:\n%s\n%s", first.Body, again.Body)
	}
	// A resubmission after a correction is another document.
	sup := h.send(request("G09.20-20260609-0000001", set("supplementNo", 1)))
	if sup.Code != http.StatusCreated {
		t.Fatalf("supplement send: %d %s", sup.Code, sup.Body)
	}
	docs := h.sim.Documents()
	if len(docs) != 2 || docs[0].Replays != 1 || docs[1].SupplementNo != 1 {
		t.Errorf("documents = %+v", docs)
	}
	if got, _ := h.sim.Remaining("1012345", "422", "6001"); got != 10_000_000_000_000-2000 {
		t.Errorf("remaining = %d, want deducted twice", got)
	}
}

func TestConcurrentSameKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const n = 50
	var wg sync.WaitGroup
	codes := make([]int, n)
	bodies := make([]string, n)
	for i := range n {
		wg.Go(func() {
			rec := h.send(request("G09.20-20260609-0000077"))
			codes[i], bodies[i] = rec.Code, rec.Body.String()
		})
	}
	wg.Wait()
	created := 0
	for i := range n {
		switch codes[i] {
		case http.StatusCreated:
			created++
		case http.StatusOK:
		default:
			t.Fatalf("send %d: %d %s", i, codes[i], bodies[i])
		}
		if bodies[i] != bodies[0] {
			t.Errorf("send %d answered %s, send 0 %s", i, bodies[i], bodies[0])
		}
	}
	if created != 1 {
		t.Errorf("%d answers were 201, want 1", created)
	}
	docs := h.sim.Documents()
	if len(docs) != 1 || docs[0].Replays != n-1 {
		t.Fatalf("%d documents (replays %d), want 1 with %d replays", len(docs), docs[0].Replays, n-1)
	}
	if got, _ := h.sim.Remaining("1012345", "422", "6001"); got != 10_000_000_000_000-1000 {
		t.Errorf("remaining = %d, want deducted once", got)
	}
}

func TestStatusRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	req := request("G09.20-20260609-0000003")
	rec := h.send(req)
	if rec.Code != http.StatusCreated {
		t.Fatalf("send: %d %s", rec.Code, rec.Body)
	}
	var r receipt
	decode(t, rec, &r)
	if loc := rec.Header().Get("Location"); loc != "/api/v1/documents/"+r.DocumentID {
		t.Errorf("Location = %q", loc)
	}
	h.clock.Advance(time.Hour)
	h.token = h.login()
	if !h.sim.SetStatus(r.DocumentID, "PROCESSING") {
		t.Fatal("SetStatus refused")
	}
	if h.sim.SetStatus(r.DocumentID, "processing") || h.sim.SetStatus("KB-1-1", "PAID") {
		t.Error("SetStatus accepted a malformed status or an unknown document")
	}
	tests := []struct {
		name, target string
		status       int
		reason       string
	}{
		{"by id", "/api/v1/documents/" + r.DocumentID, 200, ""},
		{"by key", "/api/v1/documents?idempotencyKey=" + keyOf(req), 200, ""},
		{"unknown id", "/api/v1/documents/KB-2026-424242", 404, ReasonNotFound},
		{"unknown key", "/api/v1/documents?idempotencyKey=" + strings.Repeat("a", 64), 404, ReasonNotFound},
		{"malformed key", "/api/v1/documents?idempotencyKey=ABC", 400, ReasonInvalidRequest},
		{"no route", "/api/v2/documents", 404, ReasonNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := h.get(tt.target)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			if tt.status != 200 {
				if got := reasonOf(t, rec); got != tt.reason {
					t.Errorf("reasonCode = %q, want %q", got, tt.reason)
				}
				return
			}
			var st status
			decode(t, rec, &st)
			want := status{r.DocumentID, r.Reference, "PROCESSING", "G09.20-20260609-0000003",
				"chi-thuong-xuyen", r.ReceivedAt.Add(time.Hour), ""}
			if st.DocumentID != want.DocumentID || st.Reference != want.Reference || st.Status != want.Status ||
				st.DossierCode != want.DossierCode || st.Procedure != want.Procedure || !st.UpdatedAt.Equal(want.UpdatedAt) {
				t.Errorf("status = %+v, want %+v", st, want)
			}
		})
	}
}

func TestSimDocumentsAndReferences(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sends := []map[string]any{
		request("G09.20-20260609-0000010"),
		request("G09.20-20260609-0000011", set("treasuryOfficeCode", "0021"), set("budgetUnitCode", "1045678")),
		request("G09.20-20260609-0000012", set("procedure", "tai-khoan"), del("lines"), set("totalAmount", 0)),
	}
	for _, req := range sends {
		if rec := h.send(req); rec.Code != http.StatusCreated {
			t.Fatalf("send: %d %s", rec.Code, rec.Body)
		}
	}
	rec := h.do("GET", "/sim/documents", nil, "")
	if rec.Code != 200 {
		t.Fatalf("GET /sim/documents: %d", rec.Code)
	}
	var docs []map[string]any
	decode(t, rec, &docs)
	want := []struct{ dossier, id, ref string }{
		{"G09.20-20260609-0000010", "KB-2026-000001", "KBNN-0011-2026-000001"},
		{"G09.20-20260609-0000011", "KB-2026-000002", "KBNN-0021-2026-000001"},
		{"G09.20-20260609-0000012", "KB-2026-000003", "KBNN-0011-2026-000002"},
	}
	if len(docs) != len(want) {
		t.Fatalf("%d documents, want %d", len(docs), len(want))
	}
	for i, w := range want {
		d := docs[i]
		if d["dossierCode"] != w.dossier || d["documentId"] != w.id || d["reference"] != w.ref {
			t.Errorf("document %d = %v %v %v, want %+v", i, d["dossierCode"], d["documentId"], d["reference"], w)
		}
		for _, field := range []string{"procedure", "dossierCode", "supplementNo", "idempotencyKey",
			"documentId", "reference", "receivedAt", "totalAmount", "lineCount", "request"} {
			if _, ok := d[field]; !ok {
				t.Errorf("document %d has no %s", i, field)
			}
		}
		if d["idempotencyKey"] != keyOf(sends[i]) {
			t.Errorf("document %d idempotencyKey = %v", i, d["idempotencyKey"])
		}
	}
	if docs[0]["lineCount"] != 2.0 || docs[2]["lineCount"] != 0.0 || docs[0]["totalAmount"] != 1500.0 {
		t.Errorf("lineCount/totalAmount wrong: %v", docs)
	}
	if docs[0]["receivedAt"] != "2026-06-09T08:30:00+07:00" {
		t.Errorf("receivedAt = %v, want ICT", docs[0]["receivedAt"])
	}
	if req, ok := docs[1]["request"].(map[string]any); !ok || req["budgetUnitCode"] != "1045678" {
		t.Errorf("request = %v", docs[1]["request"])
	}
}

func TestDownstreamKey(t *testing.T) {
	t.Parallel()
	// The same vectors are checked in adapter/intake: both sides must derive the same key.
	tests := []struct {
		procedure, dossier string
		supplement         int
		want               string
	}{
		{"chi-thuong-xuyen", "G09.20-20260609-0092637", 0, "5b127f41199344b9fab0e80ca4dc43e22f45dfe413ddb70acd8a0964d2e412c4"},
		{"chi-thuong-xuyen", "G09.20-20260609-0092637", 1, "c44e1d7ce00ec263ed0a4f17d5f5c6b3572a321b083fa7be7503bd8d7121d683"},
	}
	for _, tt := range tests {
		if got := DownstreamKey(tt.procedure, tt.dossier, tt.supplement); got != tt.want {
			t.Errorf("DownstreamKey(%q, %q, %d) = %s, want %s", tt.procedure, tt.dossier, tt.supplement, got, tt.want)
		}
	}
}

package treasurysim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

func TestAdminCallbacksOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	doc := h.mustSend(request("G09.20-20260609-0000901"))
	rec := h.do("POST", "/sim/admin/callbacks", nil, `{"documentId":"`+doc+`","status":"PAID"}`)
	if rec.Code != http.StatusConflict || reasonOf(t, rec) != ReasonCallbacksOff {
		t.Errorf("before StartCallbacks: %d %s", rec.Code, rec.Body)
	}
	if st := h.statusOf(doc); st != StatusReceived {
		t.Errorf("status %s", st)
	}
	rec = h.do("GET", "/sim/callbacks", nil, "")
	if rec.Code != http.StatusOK || rec.Body.String() != "[]\n" {
		t.Errorf("GET /sim/callbacks: %d %q", rec.Code, rec.Body)
	}
}

// TestAdminCallbacks sends events on demand, by document and by dossier, repeats one by its
// id, and lists them.
func TestAdminCallbacks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := newReceiver(t, h.clock.Now, nil)
	startCallbacks(t, h, r)
	first := h.mustSend(request("G09.20-20260609-0001001"))
	supp := h.mustSend(request("G09.20-20260609-0001001", set("supplementNo", 1)))
	admin := func(body string) CallbackRecord {
		t.Helper()
		rec := h.do("POST", "/sim/admin/callbacks", map[string]string{"Content-Type": "application/json"}, body)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", body, rec.Code, rec.Body)
		}
		var out CallbackRecord
		decode(t, rec, &out)
		return out
	}

	a := admin(`{"documentId":"` + first + `","status":"CORRECTION_REQUIRED"}`)
	if a.DocumentID != first || a.Status != "CORRECTION_REQUIRED" || a.Sequence != 1 || !a.Delivered ||
		a.Attempts != 1 || a.Source != "admin" {
		t.Errorf("by document: %+v", a)
	}
	if st := h.statusOf(first); st != "CORRECTION_REQUIRED" {
		t.Errorf("status %s", st)
	}
	b := admin(`{"dossierCode":"G09.20-20260609-0001001","status":"STOPPED"}`)
	if b.DocumentID != supp || b.Sequence != 1 {
		t.Errorf("by dossier: %+v, want the supplement %s", b, supp)
	}
	again := admin(`{"eventId":"` + a.EventID + `"}`)
	if again.EventID != a.EventID || !bytes.Equal(again.Event, a.Event) || again.Attempts != 2 {
		t.Errorf("repeat: %+v", again)
	}
	chosen := admin(`{"documentId":"` + first + `","status":"PROCESSING","eventId":"evt-chosen"}`)
	if chosen.EventID != "evt-chosen" || chosen.Sequence != 2 {
		t.Errorf("chosen id: %+v", chosen)
	}

	got := r.deliveries(t)
	var ids []string
	for _, d := range got {
		ids = append(ids, d.ID)
	}
	want := []string{a.EventID, b.EventID, a.EventID, "evt-chosen"}
	if len(ids) != len(want) {
		t.Fatalf("receiver got %v, want %v", ids, want)
	}
	for i := range want {
		if ids[i] != want[i] {
			t.Errorf("receiver got %v, want %v", ids, want)
			break
		}
	}
	if !bytes.Equal(got[0].Body, got[2].Body) {
		t.Error("the repeat's body differs")
	}

	rec := h.do("GET", "/sim/callbacks", nil, "")
	var list []CallbackRecord
	decode(t, rec, &list)
	if len(list) != 3 || list[0].EventID != a.EventID || list[0].Attempts != 2 || list[2].EventID != "evt-chosen" {
		t.Errorf("GET /sim/callbacks: %+v", list)
	}

	// A tick continues the path after the last on-demand status of the path (PROCESSING,
	// which resumed the first document after its correction request), with later sequence
	// numbers; the supplement, stopped on demand (8, final), stays where it is.
	h.sim.TickCallbacks(t.Context())
	list = h.sim.Callbacks()
	if len(list) != 4 {
		t.Fatalf("%d records after the tick, want 4", len(list))
	}
	if got := fmt.Sprintf("%s %s %d", list[3].DocumentID, list[3].Status, list[3].Sequence); got != first+" PAID 3" {
		t.Errorf("tick after admin events: %s, want %s PAID 3", got, first)
	}
	if st := h.statusOf(supp); st != "STOPPED" {
		t.Errorf("supplement status %s, want STOPPED", st)
	}
}

func TestAdminCallbacksRefuses(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := newReceiver(t, h.clock.Now, nil)
	startCallbacks(t, h, r)
	doc := h.mustSend(request("G09.20-20260609-0001101"))
	sent, err := h.sim.SendEvent(t.Context(), CallbackRequest{DocumentID: doc, Status: "ACCEPTED"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, body string
		status                   int
		reason                   string
	}{
		{"both names", "POST", "/sim/admin/callbacks", `{"documentId":"` + doc + `","dossierCode":"G09.20-20260609-0001101","status":"PAID"}`, 400, ReasonInvalidRequest},
		{"no name", "POST", "/sim/admin/callbacks", `{"status":"PAID"}`, 400, ReasonInvalidRequest},
		{"unknown document", "POST", "/sim/admin/callbacks", `{"documentId":"KB-2026-999999","status":"PAID"}`, 404, ReasonNotFound},
		{"unknown dossier", "POST", "/sim/admin/callbacks", `{"dossierCode":"X","status":"PAID"}`, 404, ReasonNotFound},
		{"unknown status", "POST", "/sim/admin/callbacks", `{"documentId":"` + doc + `","status":"SHIPPED"}`, 400, ReasonInvalidRequest},
		{"no status", "POST", "/sim/admin/callbacks", `{"documentId":"` + doc + `"}`, 400, ReasonInvalidRequest},
		{"bad event id", "POST", "/sim/admin/callbacks", `{"documentId":"` + doc + `","status":"PAID","eventId":"évt"}`, 400, ReasonInvalidRequest},
		{"repeat with other status", "POST", "/sim/admin/callbacks", `{"eventId":"` + sent.EventID + `","status":"PAID"}`, 400, ReasonInvalidRequest},
		{"repeat for other document", "POST", "/sim/admin/callbacks", `{"eventId":"` + sent.EventID + `","documentId":"KB-2026-000009"}`, 400, ReasonInvalidRequest},
		{"unknown field", "POST", "/sim/admin/callbacks", `{"documentId":"` + doc + `","status":"PAID","statu":"x"}`, 400, ReasonInvalidRequest},
		{"trailing data", "POST", "/sim/admin/callbacks", `{"documentId":"` + doc + `","status":"PAID"} {}`, 400, ReasonInvalidRequest},
		{"not JSON", "POST", "/sim/admin/callbacks", `status=PAID`, 400, ReasonInvalidRequest},
		{"array", "POST", "/sim/admin/callbacks", `[]`, 400, ReasonInvalidRequest},
		{"GET admin", "GET", "/sim/admin/callbacks", ``, 405, ReasonInvalidRequest},
		{"POST list", "POST", "/sim/callbacks", `{}`, 405, ReasonInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := h.do(tt.method, tt.path, nil, tt.body)
			if rec.Code != tt.status || reasonOf(t, rec) != tt.reason {
				t.Errorf("%d %s, want %d %s", rec.Code, rec.Body, tt.status, tt.reason)
			}
		})
	}
	if recs := h.sim.Callbacks(); len(recs) != 1 {
		t.Errorf("refused requests recorded events: %+v", recs)
	}
	if st := h.statusOf(doc); st != "ACCEPTED" {
		t.Errorf("refused requests changed the status to %s", st)
	}
}

func FuzzParseCallbackRequest(f *testing.F) {
	f.Add([]byte(`{"documentId":"KB-2026-000001","status":"PAID"}`))
	f.Add([]byte(`{"eventId":"evt-1"} x`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseCallbackRequest(body)
		if err != nil && req != (CallbackRequest{}) {
			t.Fatalf("error %v with a request %+v", err, req)
		}
	})
}

// An on-demand event may carry the officer's own note (a refusal's reason).
func TestOnDemandNote(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := newReceiver(t, h.clock.Now, nil)
	startCallbacks(t, h, r)
	doc := h.mustSend(request("G09.20-20260609-0000777"))
	rec := h.do("POST", "/sim/admin/callbacks", map[string]string{"Content-Type": "application/json"},
		`{"documentId":"`+doc+`","status":"REJECTED","note":"Vượt dự toán được giao"}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var out CallbackRecord
	decode(t, rec, &out)
	var ev Event
	if err := json.Unmarshal(out.Event, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Note != "Vượt dự toán được giao" {
		t.Fatalf("note %q", ev.Note)
	}
}

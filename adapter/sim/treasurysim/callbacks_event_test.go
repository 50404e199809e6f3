package treasurysim

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/webhook"
)

// TestBuildEventTampered builds signed events and changes them the ways an attacker or a
// broken proxy would; the receiver's verifier must refuse each.
func TestBuildEventTampered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := newReceiver(t, h.clock.Now, nil)
	startCallbacks(t, h, r)
	doc := h.mustSend(request("G09.20-20260609-0000601"))
	verifier := webhook.NewVerifier([][]byte{testSecret}, 0, h.clock.Now)
	tests := []struct {
		name   string
		req    EventRequest
		change func(se *SignedEvent)
		want   error
	}{
		{"untouched", EventRequest{}, func(*SignedEvent) {}, nil},
		{"body changed", EventRequest{}, func(se *SignedEvent) {
			se.Body = bytes.Replace(se.Body, []byte(`"PAID"`), []byte(`"REJECTED"`), 1)
		}, webhook.ErrSignature},
		{"body reformatted", EventRequest{}, func(se *SignedEvent) { se.Body = append(se.Body, '\n') }, webhook.ErrSignature},
		{"id changed", EventRequest{}, func(se *SignedEvent) { se.Header.Set("webhook-id", "evt-other") }, webhook.ErrSignature},
		{"timestamp changed", EventRequest{}, func(se *SignedEvent) {
			se.Header.Set("webhook-timestamp", "1780968661")
		}, webhook.ErrSignature},
		{"signature dropped", EventRequest{}, func(se *SignedEvent) { se.Header.Del("webhook-signature") }, webhook.ErrMissingHeaders},
		{"stale", EventRequest{SignedAt: time.Date(2026, 6, 9, 1, 20, 0, 0, time.UTC)}, func(*SignedEvent) {}, webhook.ErrTimestamp},
		{"from the future", EventRequest{SignedAt: time.Date(2026, 6, 9, 1, 40, 0, 0, time.UTC)}, func(*SignedEvent) {}, webhook.ErrTimestamp},
		{"other secret", EventRequest{Secret: bytes.Repeat([]byte("x"), 32)}, func(*SignedEvent) {}, webhook.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.DocumentID, req.Status = doc, "PAID"
			se, err := h.sim.BuildEvent(req)
			if err != nil {
				t.Fatal(err)
			}
			tt.change(&se)
			_, err = verifier.Verify(se.Header, se.Body)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Errorf("Verify error = %v, want %v", err, tt.want)
			}
			// The same request through HTTP reaches the receiver's verdict.
			post, err := http.NewRequestWithContext(t.Context(), "POST", r.srv.URL, bytes.NewReader(se.Body))
			if err != nil {
				t.Fatal(err)
			}
			post.Header = se.Header
			resp, err := http.DefaultClient.Do(post)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if ok := resp.StatusCode == http.StatusNoContent; ok != (tt.want == nil) {
				t.Errorf("receiver answered %d", resp.StatusCode)
			}
			<-r.ch
		})
	}
	// BuildEvent changed nothing but the sequence numbers it took.
	if st := h.statusOf(doc); st != StatusReceived {
		t.Errorf("status %s after BuildEvent", st)
	}
	if n := len(h.sim.Callbacks()); n != 0 {
		t.Errorf("%d records after BuildEvent", n)
	}
	h.sim.TickCallbacks(t.Context())
	if recs := h.sim.Callbacks(); len(recs) != 1 || recs[0].Sequence != len(tests)+1 {
		t.Errorf("first path event %+v, want sequence %d", recs, len(tests)+1)
	}
}

func TestBuildEventRepeat(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := newReceiver(t, h.clock.Now, nil)
	startCallbacks(t, h, r)
	h.mustSend(request("G09.20-20260609-0000701"))
	h.sim.TickCallbacks(t.Context())
	rec := h.sim.Callbacks()[0]
	h.clock.Advance(time.Minute)
	se, err := h.sim.BuildEvent(EventRequest{EventID: rec.EventID})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(se.Body, rec.Event) || se.Event.EventID != rec.EventID || se.Header.Get("webhook-id") != rec.EventID {
		t.Errorf("repeat differs: %s vs %s", se.Body, rec.Event)
	}
	if _, err := h.sim.BuildEvent(EventRequest{EventID: rec.EventID, Status: "PAID"}); err == nil {
		t.Error("repeat with another status accepted")
	}
}

func TestBuildEventRefuses(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	doc := h.mustSend(request("G09.20-20260609-0000801"))
	if _, err := h.sim.BuildEvent(EventRequest{DocumentID: doc, Status: "PAID"}); !errors.Is(err, ErrCallbacksOff) {
		t.Errorf("before StartCallbacks without a secret: %v", err)
	}
	tests := []struct {
		name string
		req  EventRequest
	}{
		{"no document", EventRequest{Status: "PAID"}},
		{"both names", EventRequest{DocumentID: doc, DossierCode: "G09.20-20260609-0000801", Status: "PAID"}},
		{"unknown document", EventRequest{DocumentID: "KB-2026-999999", Status: "PAID"}},
		{"unknown dossier", EventRequest{DossierCode: "G09.20-20260609-0009999", Status: "PAID"}},
		{"unknown status", EventRequest{DocumentID: doc, Status: "SHIPPED"}},
		{"no status", EventRequest{DocumentID: doc}},
		{"event id with a space", EventRequest{DocumentID: doc, Status: "PAID", EventID: "evt 1"}},
		{"event id too long", EventRequest{DocumentID: doc, Status: "PAID", EventID: "e" + strings.Repeat("x", 128)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Secret = testSecret
			if _, err := h.sim.BuildEvent(tt.req); err == nil {
				t.Error("BuildEvent succeeded")
			}
		})
	}
	se, err := h.sim.BuildEvent(EventRequest{DossierCode: "G09.20-20260609-0000801", Status: "PAID", Secret: testSecret})
	if err != nil || se.Event.DocumentID != doc || !strings.HasPrefix(se.Event.EventID, "evt-") {
		t.Errorf("with a secret before StartCallbacks: %+v, %v", se.Event, err)
	}
}

// TestStatusEventSchemaRefuses keeps the event schema strict where the adapter relies on it.
func TestStatusEventSchemaRefuses(t *testing.T) {
	t.Parallel()
	sch, err := eventSchema()
	if err != nil {
		t.Fatal(err)
	}
	valid := `{"eventId":"evt-1","dossierCode":"G09.20-20260609-0000101","procedure":"chi-thuong-xuyen",
"supplementNo":0,"documentId":"KB-2026-000001","reference":"KBNN-0011-2026-000001","status":"PAID",
"sequence":3,"occurredAt":"2026-06-09T09:00:00+07:00","resultDocuments":[{"name":"A","url":"https://x.vn/a.pdf"}]}`
	tests := []struct {
		name, old, new string
		ok             bool
	}{
		{"valid", "", "", true},
		{"fractional sequence", `"sequence":3`, `"sequence":3.5`, false},
		{"string sequence", `"sequence":3`, `"sequence":"3"`, false},
		{"zero sequence", `"sequence":3`, `"sequence":0`, false},
		{"fractional supplement", `"supplementNo":0`, `"supplementNo":0.5`, false},
		{"negative supplement", `"supplementNo":0`, `"supplementNo":-1`, false},
		{"unknown status", `"PAID"`, `"SHIPPED"`, false},
		{"lower-case status", `"PAID"`, `"paid"`, false},
		{"unknown field", `"sequence":3`, `"sequence":3,"amount":1`, false},
		{"bad occurredAt", `2026-06-09T09:00:00+07:00`, `09/06/2026 09:00`, false},
		{"occurredAt without zone", `2026-06-09T09:00:00+07:00`, `2026-06-09T09:00:00`, false},
		{"bad dueAt", `"sequence":3`, `"sequence":3,"dueAt":"tomorrow"`, false},
		{"missing eventId", `"eventId":"evt-1",`, ``, false},
		{"empty eventId", `"eventId":"evt-1"`, `"eventId":""`, false},
		{"missing reference", `"reference":"KBNN-0011-2026-000001",`, ``, false},
		{"bad reference", `KBNN-0011-2026-000001`, `KB-1`, false},
		{"result without url", `,"url":"https://x.vn/a.pdf"`, ``, false},
		{"result url relative", `https://x.vn/a.pdf`, `a.pdf`, false},
		{"result extra field", `"name":"A"`, `"name":"A","size":1`, false},
		{"optional fields", `"sequence":3`, `"sequence":3,"handler":"Nguyễn Văn B","note":"x","dueAt":"2026-06-11T17:00:00+07:00"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Replace(valid, tt.old, tt.new, 1)
			if tt.old != "" && body == valid {
				t.Fatalf("replacement %q not applied", tt.old)
			}
			err := validate(sch, []byte(body))
			if (err == nil) != tt.ok {
				t.Errorf("valid = %v, want %v (%v)", err == nil, tt.ok, err)
			}
		})
	}
}

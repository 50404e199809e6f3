package app

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/sim/treasurysim"
	"github.com/kbnn/dvc/adapter/webhook"
)

// A dossier goes 1 → 2 → 4 → 9 → 10: each treasury callback reaches the
// portal once and in order, the full dossier and then the progress on every
// move (a look-up first, the first time); the status view shows every step
// delivered.
func TestStatusJourneyToPortal(t *testing.T) {
	forEachStatusStore(t, func(t *testing.T, e *statusEnv) {
		proc, code := e.submit(t, "chi-thuong-xuyen/valid-json")
		for range 4 {
			e.clock.Advance(time.Minute)
			e.tick(t)
			if n := e.poll(t); n != 1 {
				t.Fatalf("poll delivered %d events, want 1", n)
			}
		}
		if n := e.poll(t); n != 0 {
			t.Fatalf("%d events left after the path", n)
		}
		recs := e.received(t, code)
		want := append([]string{"TraCuuHoSo"}, moves(2, 4, 9, 10)...)
		if got := calls(recs); !slices.Equal(got, want) {
			t.Fatalf("portal calls %v, want %v", got, want)
		}
		checkNoRepeat(t, recs)
		if st, ok := e.portal.Status(code); !ok || st != 10 {
			t.Fatalf("portal status %d %v, want 10", st, ok)
		}

		rec := e.view(t, proc, code)
		if rec.TrangThai != 10 || !rec.PortalSynced {
			t.Fatalf("view: trangThai %d, portalSynced %v", rec.TrangThai, rec.PortalSynced)
		}
		var codes []int
		for _, h := range rec.History {
			codes = append(codes, h.TrangThai)
		}
		if !slices.Equal(codes, []int{1, 2, 4, 9, 10}) {
			t.Fatalf("history codes %v", codes)
		}
		sent := e.sim.Callbacks()
		if len(sent) != 4 {
			t.Fatalf("%d callbacks sent", len(sent))
		}
		for i, cb := range sent {
			h := rec.History[i+1]
			if h.EventID != cb.EventID || h.TreasuryStatus != cb.Status || h.Source != "treasury" ||
				h.Delivery != dossier.DeliveryDelivered || h.DeliveredAt.IsZero() {
				t.Errorf("history[%d] = %+v, want event %s (%s) delivered", i+1, h, cb.EventID, cb.Status)
			}
		}
		if rec.History[0].Source != "adapter" || rec.History[0].Delivery != dossier.DeliveryNone {
			t.Errorf("history[0] = %+v, want the submission", rec.History[0])
		}
	})
}

// Only authentic, fresh, well-formed callbacks are stored; a repeated event
// id is acknowledged with 200 and delivered once.
func TestStatusCallbackAuthenticity(t *testing.T) {
	forEachStatusStore(t, func(t *testing.T, e *statusEnv) {
		proc, code := e.submit(t, "chi-thuong-xuyen/valid-json")
		e.tick(t) // ACCEPTED
		first := e.sim.Callbacks()[0]

		// repeated while pending, then after delivery
		again, err := e.sim.SendEvent(t.Context(), treasurysim.CallbackRequest{EventID: first.EventID})
		if err != nil || again.LastResponse != http.StatusOK {
			t.Fatalf("repeat while pending: %d %v", again.LastResponse, err)
		}
		e.drain(t)
		rep := e.build(t, treasurysim.EventRequest{EventID: first.EventID})
		if !bytes.Equal(rep.Body, first.Event) {
			t.Fatal("the repeat is not the same body")
		}
		if a := e.postCallback(t, rep.Header, rep.Body); a.status != http.StatusOK || !strings.Contains(string(a.body), "duplicate") {
			t.Fatalf("repeat after delivery: %d %s", a.status, a.body)
		}
		e.drain(t)
		if got := writes(e.received(t, code)); !slices.Equal(got, moves(2)) {
			t.Fatalf("portal writes %v after repeats", got)
		}
		historyOf(t, e.view(t, proc, code), first.EventID)

		// nothingStored checks that a refused event left no trace; posting
		// it again correctly signed is then a first receipt (202).
		nothingStored := func(t *testing.T, ev treasurysim.SignedEvent) {
			t.Helper()
			st, err := e.app.Outbox.Stats(t.Context())
			if err != nil || st.Pending != 0 {
				t.Fatalf("outbox after a refusal: %+v %v", st, err)
			}
			for _, h := range e.view(t, proc, code).History {
				if h.EventID == ev.Event.EventID {
					t.Fatalf("refused event %s is in the history", h.EventID)
				}
			}
			if e.poll(t) != 0 {
				t.Fatal("a refused event was delivered")
			}
			h := webhook.Headers(e.secret, ev.Event.EventID, e.clock.Now(), ev.Body)
			if a := e.postCallback(t, h, ev.Body); a.status != http.StatusAccepted {
				t.Fatalf("the genuine event after its refusal: %d %s", a.status, a.body)
			}
			e.drain(t)
		}
		unauthorized := func(t *testing.T, a answer) {
			t.Helper()
			if a.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", a.status, a.body)
			}
			if p := problemOf(t, a); p.Code != "unauthorized" {
				t.Fatalf("problem code %q", p.Code)
			}
		}

		t.Run("tampered body or signature", func(t *testing.T) {
			ev := e.build(t, treasurysim.EventRequest{DossierCode: code, Status: "PROCESSING"})
			forged := bytes.Replace(ev.Body, []byte(`"PROCESSING"`), []byte(`"RESULT_RETURNED"`), 1)
			if bytes.Equal(forged, ev.Body) {
				t.Fatal("nothing tampered")
			}
			unauthorized(t, e.postCallback(t, ev.Header, forged))
			h := ev.Header.Clone()
			sig := []byte(h.Get(webhook.HeaderSignature))
			sig[5] ^= 0x01 // a character of the MAC, after "v1,"
			h.Set(webhook.HeaderSignature, string(sig))
			unauthorized(t, e.postCallback(t, h, ev.Body))
			h.Set(webhook.HeaderSignature, webhook.Sign([]byte("another-secret-of-32-bytes-long!"), ev.Event.EventID, e.clock.Now(), ev.Body))
			unauthorized(t, e.postCallback(t, h, ev.Body))
			h.Del(webhook.HeaderSignature)
			unauthorized(t, e.postCallback(t, h, ev.Body))
			nothingStored(t, ev)
		})
		t.Run("stale or future timestamp", func(t *testing.T) {
			ev := e.build(t, treasurysim.EventRequest{DossierCode: code, Status: "PAID", SignedAt: e.clock.Now().Add(-10 * time.Minute)})
			unauthorized(t, e.postCallback(t, ev.Header, ev.Body))
			future := webhook.Headers(e.secret, ev.Event.EventID, e.clock.Now().Add(10*time.Minute), ev.Body)
			unauthorized(t, e.postCallback(t, future, ev.Body))
			nothingStored(t, ev)
		})
		t.Run("schema violation", func(t *testing.T) {
			ev := e.build(t, treasurysim.EventRequest{DossierCode: code, Status: "RESULT_RETURNED"})
			var m map[string]any
			if err := json.Unmarshal(ev.Body, &m); err != nil {
				t.Fatal(err)
			}
			delete(m, "dossierCode")
			m["sequence"], m["status"] = 0, "LOST_IN_THE_MAIL"
			body, _ := json.Marshal(m)
			a := e.postCallback(t, webhook.Headers(e.secret, ev.Event.EventID, e.clock.Now(), body), body)
			if a.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %s", a.status, a.body)
			}
			p := problemOf(t, a)
			var paths []string
			for _, f := range p.Errors {
				paths = append(paths, f.Path)
			}
			for _, want := range []string{"/dossierCode", "/sequence", "/status"} {
				if !slices.Contains(paths, want) {
					t.Errorf("field paths %v lack %s", paths, want)
				}
			}
			if p.Code != "schema-violation" {
				t.Errorf("problem code %q", p.Code)
			}
			nothingStored(t, ev)
		})
		t.Run("dossier code no path can name", func(t *testing.T) {
			// The dead-letter routes name a dossier in the path, where "/"
			// cannot be: such a code would be a dead letter nobody can reach.
			ev := e.build(t, treasurysim.EventRequest{DossierCode: code, Status: "RESULT_RETURNED"})
			var m map[string]any
			if err := json.Unmarshal(ev.Body, &m); err != nil {
				t.Fatal(err)
			}
			m["dossierCode"] = "G09.20/20260609-0000101"
			body, _ := json.Marshal(m)
			a := e.postCallback(t, webhook.Headers(e.secret, ev.Event.EventID, e.clock.Now(), body), body)
			if p := problemOf(t, a); a.status != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].Path != "/dossierCode" {
				t.Fatalf("status %d, want 422 naming /dossierCode: %s", a.status, a.body)
			}
			nothingStored(t, ev)
		})
		t.Run("eventId differs from webhook-id", func(t *testing.T) {
			ev := e.build(t, treasurysim.EventRequest{DossierCode: code, Status: "STOPPED"})
			h := webhook.Headers(e.secret, "evt-someone-else", e.clock.Now(), ev.Body)
			a := e.postCallback(t, h, ev.Body)
			if a.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %s", a.status, a.body)
			}
			if p := problemOf(t, a); len(p.Errors) == 0 || p.Errors[0].Path != "/eventId" {
				t.Fatalf("problem %+v, want the path /eventId", p)
			}
			if st, _ := e.app.Outbox.Stats(t.Context()); st.Pending != 0 {
				t.Fatalf("outbox after a refusal: %+v", st)
			}
			for _, h := range e.view(t, proc, code).History {
				if h.EventID == ev.Event.EventID || h.EventID == "evt-someone-else" {
					t.Fatalf("refused event in the history: %+v", h)
				}
			}
		})

		// The genuine events, each accepted once after its refusals, went to
		// the portal once each, in order.
		recs := e.received(t, code)
		if got, want := writes(recs), moves(2, 4, 9, 10); !slices.Equal(got, want) {
			t.Fatalf("portal writes %v, want %v", got, want)
		}
		checkNoRepeat(t, recs)
	})
}

// An event the treasury sent before the latest one delivered (by its
// sequence) is kept in the history as stale, whatever its status; a newer
// event whose move the lifecycle does not allow (an earlier status) is kept
// as not-allowed. Neither is sent to the portal.
func TestStatusOlderStatusIsStale(t *testing.T) {
	forEachStatusStore(t, func(t *testing.T, e *statusEnv) {
		proc, code := e.submit(t, "von-dau-tu/valid-json")
		e.sendStatus(t, code, "ACCEPTED")
		e.sendStatus(t, code, "PROCESSING")
		e.drain(t)
		late := e.build(t, treasurysim.EventRequest{DossierCode: code, Status: "CORRECTION_REQUIRED"}) // sent late
		e.clock.Advance(time.Minute)
		paid := e.sendStatus(t, code, "PAID")
		e.drain(t)
		if a := e.postCallback(t, late.Header, late.Body); a.status != http.StatusAccepted {
			t.Fatalf("late event: %d %s", a.status, a.body)
		}
		e.drain(t)
		newer := e.sendStatus(t, code, "PROCESSING") // newer, but 9 → 4 is no move
		e.drain(t)

		recs := e.received(t, code)
		if got, want := writes(recs), moves(2, 4, 9); !slices.Equal(got, want) {
			t.Fatalf("portal writes %v, want %v", got, want)
		}
		checkNoRepeat(t, recs)
		if st, _ := e.portal.Status(code); st != 9 {
			t.Fatalf("portal status %d, want 9", st)
		}
		rec := e.view(t, proc, code)
		if rec.TrangThai != 9 {
			t.Fatalf("view trangThai %d, want 9", rec.TrangThai)
		}
		if h := historyOf(t, rec, paid.EventID); h.Delivery != dossier.DeliveryDelivered {
			t.Errorf("PAID: %+v", h)
		}
		if h := historyOf(t, rec, late.Event.EventID); h.Delivery != dossier.DeliveryStale || h.TrangThai != 5 ||
			h.TreasuryStatus != "CORRECTION_REQUIRED" || !strings.Contains(h.DeliveryNote, "sent before the latest status applied") {
			t.Errorf("the late event: %+v, want stale", h)
		}
		if h := historyOf(t, rec, newer.EventID); h.Delivery != dossier.DeliveryNotAllowed || h.TrangThai != 4 ||
			h.TreasuryStatus != "PROCESSING" || !strings.Contains(h.DeliveryNote, "not from 9") {
			t.Errorf("the newer event with an earlier status: %+v, want not-allowed", h)
		}
	})
}

// 5 → 4 is delivered: the lifecycle lets control resume after a correction
// request.
func TestStatusCorrectionThenProcessingIsDelivered(t *testing.T) {
	forEachStatusStore(t, func(t *testing.T, e *statusEnv) {
		proc, code := e.submit(t, "cam-ket-chi/valid-json")
		var ids []string
		for _, st := range []string{"ACCEPTED", "PROCESSING", "CORRECTION_REQUIRED", "PROCESSING"} {
			e.clock.Advance(time.Minute)
			ids = append(ids, e.sendStatus(t, code, st).EventID)
			e.drain(t)
		}
		recs := e.received(t, code)
		want := moves(2, 4, 5, 4)
		if got := writes(recs); !slices.Equal(got, want) {
			t.Fatalf("portal writes %v, want %v", got, want)
		}
		for _, r := range recs {
			if r.Backward {
				t.Errorf("portal saw a backward move: %+v", r)
			}
		}
		if st, _ := e.portal.Status(code); st != 4 {
			t.Fatalf("portal status %d, want 4", st)
		}
		rec := e.view(t, proc, code)
		if rec.TrangThai != 4 {
			t.Fatalf("view trangThai %d, want 4", rec.TrangThai)
		}
		for _, id := range ids {
			if h := historyOf(t, rec, id); h.Delivery != dossier.DeliveryDelivered {
				t.Errorf("%+v, want delivered", h)
			}
		}
	})
}

// An event older than the correction request (by the treasury's sequence)
// that reaches the adapter after it is stale: delivering it would put the
// portal back to "processing" while the treasury waits for a correction.
// Only a PROCESSING newer than the CORRECTION_REQUIRED may take 5 → 4.
func TestStatusOlderEventAfterCorrectionIsStale(t *testing.T) {
	forEachStatusStore(t, func(t *testing.T, e *statusEnv) {
		proc, code := e.submit(t, "chi-thuong-xuyen/valid-json")
		e.sendStatus(t, code, "ACCEPTED")
		e.drain(t)
		late := e.build(t, treasurysim.EventRequest{DossierCode: code, Status: "PROCESSING"}) // sequence n, sent late
		e.clock.Advance(time.Minute)
		corr := e.sendStatus(t, code, "CORRECTION_REQUIRED") // sequence n+1
		e.drain(t)
		if corr.Sequence <= late.Event.Sequence {
			t.Fatalf("sequences %d then %d", late.Event.Sequence, corr.Sequence)
		}
		if a := e.postCallback(t, late.Header, late.Body); a.status != http.StatusAccepted {
			t.Fatalf("late event: %d %s", a.status, a.body)
		}
		e.drain(t)
		if got, want := writes(e.received(t, code)), moves(2, 5); !slices.Equal(got, want) {
			t.Errorf("portal writes %v, want %v: the PROCESSING of sequence %d went out after the CORRECTION_REQUIRED of sequence %d",
				got, want, late.Event.Sequence, corr.Sequence)
		}
		rec := e.view(t, proc, code)
		if h := historyOf(t, rec, late.Event.EventID); rec.TrangThai != 5 || h.Delivery != dossier.DeliveryStale {
			t.Errorf("view trangThai %d, late event %q; want 5 and stale", rec.TrangThai, h.Delivery)
		}
	})
}

package app

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/sim/portalsim"
)

// When the schedule is spent before MinSpan has passed since the first
// attempt, the event gets one more attempt at MinSpan and only then becomes
// a dead letter (the contract's "at least 72 hours", here one hour).
func TestStatusRetriesLastAtLeastMinSpan(t *testing.T) {
	forEachStatusStore(t, func(t *testing.T, e *statusEnv) {
		_, code := e.submit(t, "tai-khoan/valid-xml")
		e.portal.SetFaults(portalsim.Faults{Down: true})
		e.tick(t)
		first := e.clock.Now()
		for i := range 3 { // the whole schedule: attempts 1 to 3
			if n := e.poll(t); n != 1 {
				t.Fatalf("attempt %d: %d events claimed", i+1, n)
			}
			e.clock.Advance(2 * time.Second)
		}
		st, err := e.app.Outbox.Stats(t.Context())
		if err != nil || st.Dead != 0 || st.Waiting != 1 {
			t.Fatalf("%v after the first attempt: outbox %+v %v; want no dead letter before the one-hour MinSpan",
				e.clock.Now().Sub(first), st, err)
		}
		if n := e.poll(t); n != 0 {
			t.Fatalf("%d events claimed before MinSpan", n)
		}
		e.clock.Advance(time.Hour)
		if n := e.poll(t); n != 1 {
			t.Fatalf("the attempt at MinSpan: %d events claimed", n)
		}
		st, _ = e.app.Outbox.Stats(t.Context())
		if st.Dead != 1 {
			t.Fatalf("outbox after the attempt at MinSpan: %+v", st)
		}
		if got := writes(e.received(t, code)); len(got) != 0 {
			t.Fatalf("portal writes %v while down", got)
		}
	}, func(c *config.Config) {
		c.Delivery.Schedule = []time.Duration{0, 10 * time.Millisecond, 10 * time.Millisecond}
		c.Delivery.MinSpan = time.Hour
	})
}

// The portal is down: events are stored and acknowledged, retried on the
// schedule, and when the portal is back they all arrive in order, none
// twice.
func TestStatusPortalDownRetried(t *testing.T) {
	forEachStatusStore(t, func(t *testing.T, e *statusEnv) {
		proc, code := e.submit(t, "tai-khoan/valid-json")
		e.portal.SetFaults(portalsim.Faults{Down: true})
		e.tick(t) // ACCEPTED: 202 with the portal down
		if n := e.poll(t); n != 1 {
			t.Fatalf("first attempt: %d", n)
		}
		e.tick(t) // PROCESSING
		e.tick(t) // ACCOUNT_OPENED
		if n := e.poll(t); n != 0 {
			t.Fatalf("%d events claimed before the retry time (the head waits, the rest wait behind it)", n)
		}
		for i := range 3 {
			e.clock.Advance(2 * time.Second) // past the 503's Retry-After: 1
			if n := e.poll(t); n != 1 {
				t.Fatalf("retry %d: %d events claimed, want the head only", i+1, n)
			}
		}
		st, err := e.app.Outbox.Stats(t.Context())
		if err != nil || st.Pending != 3 || st.Dead != 0 || st.Waiting != 1 {
			t.Fatalf("outbox while the portal is down: %+v %v", st, err)
		}
		if got := calls(e.received(t, code)); len(got) != 0 {
			t.Fatalf("portal calls while down: %v", got)
		}
		rec := e.view(t, proc, code)
		if rec.TrangThai != 1 {
			t.Fatalf("view trangThai %d while nothing was delivered", rec.TrangThai)
		}
		for _, h := range rec.History[1:] {
			if h.Delivery != dossier.DeliveryPending {
				t.Fatalf("%+v, want pending", h)
			}
		}

		e.portal.SetFaults(portalsim.Faults{})
		e.tick(t) // RESULT_RETURNED
		e.drain(t)
		recs := e.received(t, code)
		want := append([]string{"TraCuuHoSo"}, moves(2, 4, 9, 10)...)
		if got := calls(recs); !slices.Equal(got, want) {
			t.Fatalf("portal calls %v, want %v", got, want)
		}
		checkNoRepeat(t, recs)
		rec = e.view(t, proc, code)
		if rec.TrangThai != 10 {
			t.Fatalf("view trangThai %d, want 10", rec.TrangThai)
		}
		for _, h := range rec.History[1:] {
			if h.Delivery != dossier.DeliveryDelivered {
				t.Errorf("%+v, want delivered", h)
			}
		}
		if st, _ := e.app.Outbox.Stats(t.Context()); st.Pending != 0 || st.Dead != 0 {
			t.Fatalf("outbox after recovery: %+v", st)
		}
	})
}

// The portal handled the full dossier but its answer was lost: the retry
// asks the portal first, sees the move's status there and sends only the
// progress. When the progress's answer is lost too, the portal's status
// cannot tell whether it took the progress: that one call goes again (at
// least once), and the status on the portal is right throughout.
func TestStatusLostPortalAnswerNotRepeated(t *testing.T) {
	forEachStatusStore(t, func(t *testing.T, e *statusEnv) {
		proc, code := e.submit(t, "chi-thuong-xuyen/valid-xml")
		for range 4 {
			e.loseAnswers(1)
			e.tick(t)
			e.drain(t)
		}
		recs := e.received(t, code)
		if got, want := writes(recs), moves(2, 4, 9, 10); !slices.Equal(got, want) {
			t.Fatalf("portal writes %v, want %v (all calls %v)", got, want, calls(recs))
		}
		want := []string{"TraCuuHoSo", "DongBoHoSoMC:2", "TraCuuHoSo", "CapNhatTienDoHoSoMC:2"}
		if got := calls(recs); !slices.Equal(got[:4], want) {
			t.Fatalf("portal calls %v, want them to start %v", got, want)
		}
		checkNoRepeat(t, recs)
		rec := e.view(t, proc, code)
		if rec.TrangThai != 10 {
			t.Fatalf("view trangThai %d, want 10", rec.TrangThai)
		}
		for _, h := range rec.History[1:] {
			if h.Delivery != dossier.DeliveryDelivered {
				t.Errorf("%+v, want delivered", h)
			}
		}

		_, other := e.submit(t, "tai-khoan/valid-xml")
		e.loseAnswers(2)
		e.sendStatus(t, other, "ACCEPTED")
		e.drain(t)
		want = []string{"TraCuuHoSo", "DongBoHoSoMC:2", "TraCuuHoSo", "CapNhatTienDoHoSoMC:2", "TraCuuHoSo", "CapNhatTienDoHoSoMC:2"}
		if got := calls(e.received(t, other)); !slices.Equal(got, want) {
			t.Fatalf("portal calls %v, want %v", got, want)
		}
		if st, _ := e.portal.Status(other); st != 2 {
			t.Fatalf("portal status %d, want 2", st)
		}
	})
}

// A permanent portal refusal parks the event at once; the dossier's later
// events wait behind it (others do not); an operator lists and inspects it
// and replays it, and it then arrives with the held ones, in order.
func TestStatusDeadLetterReplay(t *testing.T) {
	forEachStatusStore(t, func(t *testing.T, e *statusEnv) {
		proc, code := e.submit(t, "chi-thuong-xuyen/valid-json")
		procB, codeB := e.submit(t, "von-dau-tu/valid-json")
		e.sendStatus(t, code, "ACCEPTED")
		e.drain(t)

		e.portal.SetFaults(portalsim.Faults{ErrorCode: "42"}) // not a transient code
		dead := e.sendStatus(t, code, "PROCESSING")
		if n := e.poll(t); n != 1 {
			t.Fatalf("poll: %d", n)
		}
		held := []string{e.sendStatus(t, code, "PAID").EventID, e.sendStatus(t, code, "RESULT_RETURNED").EventID}
		e.drain(t)

		const listPath = "/v1/admin/dead-letters"
		for _, tok := range []string{"", "wrong-token", "dev-portal-token"} {
			a := e.admin(t, http.MethodGet, listPath, tok)
			if a.status != http.StatusUnauthorized || a.header.Get("WWW-Authenticate") == "" {
				t.Fatalf("list with token %q: %d %s", tok, a.status, a.body)
			}
			problemOf(t, a)
		}
		list := func(t *testing.T) []outbox.DeadLetter {
			t.Helper()
			a := e.admin(t, http.MethodGet, listPath, "dev-operator-token")
			var out struct{ DeadLetters []outbox.DeadLetter }
			if a.status != http.StatusOK || json.Unmarshal(a.body, &out) != nil {
				t.Fatalf("list: %d %s", a.status, a.body)
			}
			return out.DeadLetters
		}
		letters := list(t)
		if len(letters) != 1 {
			t.Fatalf("%d dead letters, want 1", len(letters))
		}
		dl := letters[0]
		if dl.ID != dead.EventID || dl.Dossier != proc+"|"+code || dl.Held != 2 || dl.Attempts != 1 ||
			!strings.Contains(dl.Reason, "42") || !bytes.Equal(dl.Payload, dead.Event) {
			t.Fatalf("dead letter %s (%s) seq %d: held %d, attempts %d, reason %q", dl.ID, dl.Dossier, dl.Seq, dl.Held, dl.Attempts, dl.Reason)
		}
		onePath := listPath + "/" + proc + "/" + code + "/" + dead.EventID
		a := e.admin(t, http.MethodGet, onePath, "dev-operator-token")
		var one outbox.DeadLetter
		if a.status != http.StatusOK || json.Unmarshal(a.body, &one) != nil {
			t.Fatalf("inspect: %d %s", a.status, a.body)
		}
		if one.Attempts != 1 || len(one.History) != 1 || one.History[0].Outcome != outbox.OutcomeDeadLetter ||
			!strings.Contains(one.History[0].Reason, "42") || one.Held != 2 {
			t.Fatalf("inspected dead letter: attempts %d, held %d, history %+v", one.Attempts, one.Held, one.History)
		}
		if a := e.admin(t, http.MethodGet, onePath, ""); a.status != http.StatusUnauthorized {
			t.Fatalf("inspect without a token: %d", a.status)
		}
		if a := e.admin(t, http.MethodGet, listPath+"/"+proc+"/"+code+"/"+held[0], "dev-operator-token"); a.status != http.StatusNotFound {
			t.Fatalf("inspect a held event: %d %s", a.status, a.body)
		}

		rec := e.view(t, proc, code)
		if rec.TrangThai != 2 || historyOf(t, rec, dead.EventID).Delivery != dossier.DeliveryDead {
			t.Fatalf("view of the parked dossier: %+v", rec)
		}
		for _, id := range held {
			if h := historyOf(t, rec, id); h.Delivery != dossier.DeliveryPending {
				t.Fatalf("held event %+v, want pending", h)
			}
		}

		// The portal is well again: other dossiers go on, the parked one
		// stays parked until an operator acts.
		e.portal.SetFaults(portalsim.Faults{})
		e.sendStatus(t, codeB, "ACCEPTED")
		e.drain(t)
		if got := writes(e.received(t, codeB)); !slices.Equal(got, moves(2)) {
			t.Fatalf("other dossier: portal writes %v", got)
		}
		if e.view(t, procB, codeB).TrangThai != 2 {
			t.Fatal("other dossier not delivered")
		}
		if got := writes(e.received(t, code)); !slices.Equal(got, moves(2)) {
			t.Fatalf("parked dossier: portal writes %v before the replay", got)
		}
		if len(list(t)) != 1 {
			t.Fatal("the dead letter went away by itself")
		}

		if a := e.admin(t, http.MethodPost, onePath+"/replay", ""); a.status != http.StatusUnauthorized {
			t.Fatalf("replay without a token: %d", a.status)
		}
		if a := e.admin(t, http.MethodPost, onePath+"/replay", "dev-operator-token"); a.status != http.StatusAccepted {
			t.Fatalf("replay: %d %s", a.status, a.body)
		}
		e.drain(t)
		recs := e.received(t, code)
		if got, want := writes(recs), moves(2, 4, 9, 10); !slices.Equal(got, want) {
			t.Fatalf("portal writes %v after the replay, want %v", got, want)
		}
		checkNoRepeat(t, recs)
		if n := len(list(t)); n != 0 {
			t.Fatalf("%d dead letters after the replay", n)
		}
		if a := e.admin(t, http.MethodPost, onePath+"/replay", "dev-operator-token"); a.status != http.StatusNotFound {
			t.Fatalf("second replay: %d %s", a.status, a.body)
		}
		rec = e.view(t, proc, code)
		if rec.TrangThai != 10 {
			t.Fatalf("view trangThai %d, want 10", rec.TrangThai)
		}
		for _, h := range rec.History[1:] {
			if h.Delivery != dossier.DeliveryDelivered {
				t.Errorf("%+v, want delivered", h)
			}
		}
	})
}

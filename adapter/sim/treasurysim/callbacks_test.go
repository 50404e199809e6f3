package treasurysim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/webhook"
)

// testSecret is the callback key of the tests.
var testSecret = bytes.Repeat([]byte("k"), 32)

// delivery is one POST the receiver got.
type delivery struct {
	ID     string
	Header http.Header
	Body   []byte
	Event  Event
	Err    error // signature or schema failure; the receiver answered 401 or 400
}

// receiver is the adapter's side of the callbacks in tests: it verifies each POST with
// adapter/webhook and the event schema, and answers 204, or what answer says.
type receiver struct {
	srv      *httptest.Server
	verifier *webhook.Verifier
	answer   func(n int) int // status for the n-th POST (from 1); nil: 204
	mu       sync.Mutex
	got      []delivery
	ch       chan delivery
}

func newReceiver(t testing.TB, clock func() time.Time, answer func(n int) int) *receiver {
	r := &receiver{verifier: webhook.NewVerifier([][]byte{testSecret}, 0, clock), answer: answer,
		ch: make(chan delivery, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	d := delivery{Header: req.Header.Clone(), Body: body}
	code := http.StatusNoContent
	id, err := r.verifier.Verify(req.Header, body)
	switch {
	case err != nil:
		d.Err, code = err, http.StatusUnauthorized
	case req.Header.Get("Content-Type") != "application/json":
		d.Err, code = fmt.Errorf("content type %q", req.Header.Get("Content-Type")), http.StatusUnsupportedMediaType
	default:
		d.ID = id
		sch, _ := eventSchema()
		if err := validate(sch, body); err != nil {
			d.Err, code = err, http.StatusBadRequest
		} else if err := json.Unmarshal(body, &d.Event); err != nil || d.Event.EventID != id {
			d.Err, code = fmt.Errorf("webhook-id %s, eventId %s (%v)", id, d.Event.EventID, err), http.StatusBadRequest
		}
	}
	r.mu.Lock()
	r.got = append(r.got, d)
	n := len(r.got)
	r.mu.Unlock()
	if d.Err == nil && r.answer != nil {
		code = r.answer(n)
	}
	w.WriteHeader(code)
	r.ch <- d
}

// deliveries returns what the receiver got and fails the test on any bad delivery.
func (r *receiver) deliveries(t testing.TB) []delivery {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range r.got {
		if d.Err != nil {
			t.Errorf("bad delivery %s: %v", d.Header.Get("webhook-id"), d.Err)
		}
	}
	return slices.Clone(r.got)
}

// counterIDs returns a NewID giving evt-1, evt-2, …
func counterIDs() func() string {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("evt-%d", n.Add(1)) }
}

// startCallbacks starts manual-tick callbacks (Interval < 0) to r.
func startCallbacks(t testing.TB, h *harness, r *receiver, change ...func(*CallbackOptions)) {
	t.Helper()
	o := CallbackOptions{URL: r.srv.URL + "/v1/callbacks/treasury/status", Secret: testSecret,
		Interval: -1, NewID: counterIDs()}
	for _, c := range change {
		c(&o)
	}
	if err := h.sim.StartCallbacks(t.Context(), o); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) mustSend(req map[string]any) string {
	h.t.Helper()
	rec := h.send(req)
	if rec.Code != http.StatusCreated {
		h.t.Fatalf("send: %d %s", rec.Code, rec.Body)
	}
	var out receipt
	decode(h.t, rec, &out)
	return out.DocumentID
}

func (h *harness) statusOf(documentID string) string {
	h.t.Helper()
	d, ok := h.sim.store.byDocumentID(documentID)
	if !ok {
		h.t.Fatalf("no document %s", documentID)
	}
	return d.Status
}

// TestCallbackPath ticks two documents of different procedures through their default paths
// and checks every event the receiver verified.
func TestCallbackPath(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := newReceiver(t, h.clock.Now, nil)
	startCallbacks(t, h, r)
	ctx := t.Context()
	a := h.mustSend(request("G09.20-20260609-0000101"))
	b := h.mustSend(request("G09.20-20260609-0000102", set("procedure", "tai-khoan")))
	paths := map[string][]string{
		a: {"ACCEPTED", "PROCESSING", "PAID", "RESULT_RETURNED"},
		b: {"ACCEPTED", "PROCESSING", "ACCOUNT_OPENED", "RESULT_RETURNED"},
	}
	var times []time.Time
	for step := range 4 {
		h.clock.Advance(time.Minute)
		times = append(times, h.clock.Now())
		if n := h.sim.TickCallbacks(ctx); n != 2 {
			t.Fatalf("tick %d sent %d events, want 2", step+1, n)
		}
		for doc, path := range paths {
			if got := h.statusOf(doc); got != path[step] {
				t.Errorf("tick %d: %s status %s, want %s", step+1, doc, got, path[step])
			}
		}
	}
	if n := h.sim.TickCallbacks(ctx); n != 0 {
		t.Errorf("tick after the end sent %d events", n)
	}
	got := r.deliveries(t)
	if len(got) != 8 {
		t.Fatalf("receiver got %d events, want 8", len(got))
	}
	ids := map[string]bool{}
	seen := map[string]int{}
	for i, d := range got {
		ev := d.Event
		step := seen[ev.DocumentID]
		seen[ev.DocumentID]++
		if ids[ev.EventID] {
			t.Errorf("event id %s sent twice", ev.EventID)
		}
		ids[ev.EventID] = true
		if want := paths[ev.DocumentID][step]; ev.Status != want || ev.Sequence != step+1 {
			t.Errorf("delivery %d: %s %s seq %d, want %s seq %d", i, ev.DocumentID, ev.Status, ev.Sequence, want, step+1)
		}
		if !ev.OccurredAt.Equal(times[step]) {
			t.Errorf("delivery %d: occurredAt %v, want %v", i, ev.OccurredAt, times[step])
		}
		if ts := d.Header.Get("webhook-timestamp"); ts != fmt.Sprint(times[step].Unix()) {
			t.Errorf("delivery %d: webhook-timestamp %s, want %d", i, ts, times[step].Unix())
		}
		if _, off := ev.OccurredAt.Zone(); off != 7*3600 {
			t.Errorf("occurredAt %v is not in UTC+7", ev.OccurredAt)
		}
	}
	if got[0].Event.DossierCode != "G09.20-20260609-0000101" || got[0].Event.Reference == "" {
		t.Errorf("first event %+v", got[0].Event)
	}
	if last := got[7].Event; len(last.ResultDocuments) != 1 {
		t.Errorf("RESULT_RETURNED without result documents: %+v", last)
	}
	for _, rec := range h.sim.Callbacks() {
		if !rec.Delivered || rec.Attempts != 1 || rec.Source != "tick" || rec.LastResponse != 204 {
			t.Errorf("record %+v", rec)
		}
	}
}

// TestCallbackRetry makes the receiver refuse the first attempts: the same event (id and body)
// is resent on each tick and the document waits until it is acknowledged.
func TestCallbackRetry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := newReceiver(t, h.clock.Now, func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusAccepted
	})
	startCallbacks(t, h, r)
	doc := h.mustSend(request("G09.20-20260609-0000201"))
	for range 4 {
		h.clock.Advance(10 * time.Second)
		h.sim.TickCallbacks(t.Context())
	}
	got := r.deliveries(t)
	if len(got) != 4 {
		t.Fatalf("receiver got %d POSTs, want 4", len(got))
	}
	first := got[0]
	for i, d := range got[:3] {
		if d.ID != first.ID || !bytes.Equal(d.Body, first.Body) {
			t.Errorf("attempt %d: id %s body %s; want the first event again", i+1, d.ID, d.Body)
		}
	}
	if got[1].Header.Get("webhook-signature") == first.Header.Get("webhook-signature") {
		t.Error("a resend kept the old signature (and timestamp)")
	}
	if ev := got[3].Event; ev.EventID == first.ID || ev.Status != "PROCESSING" || ev.Sequence != 2 {
		t.Errorf("after the ack: %+v, want PROCESSING seq 2 with a new id", ev)
	}
	if st := h.statusOf(doc); st != "PROCESSING" {
		t.Errorf("status %s", st)
	}
	recs := h.sim.Callbacks()
	if len(recs) != 2 || recs[0].Attempts != 3 || !recs[0].Delivered || recs[0].LastResponse != 202 {
		t.Errorf("records %+v", recs)
	}
}

// TestCallbackTransportError sends to a closed server: the event stays pending.
func TestCallbackTransportError(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := newReceiver(t, h.clock.Now, nil)
	r.srv.Close()
	startCallbacks(t, h, r)
	h.mustSend(request("G09.20-20260609-0000301"))
	h.sim.TickCallbacks(t.Context())
	h.sim.TickCallbacks(t.Context())
	recs := h.sim.Callbacks()
	if len(recs) != 1 || recs[0].Attempts != 2 || recs[0].Delivered || recs[0].LastResponse != 0 || recs[0].LastError == "" {
		t.Errorf("records %+v, want one undelivered event tried twice", recs)
	}
}

// TestCallbackLoop runs the real loop with a short interval and waits for the receiver to see
// the whole path (no sleeping, no timing assertions).
func TestCallbackLoop(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := newReceiver(t, h.clock.Now, nil)
	h.mustSend(request("G09.20-20260609-0000401"))
	startCallbacks(t, h, r, func(o *CallbackOptions) {
		o.Interval = time.Millisecond
		o.Path = []string{"PROCESSING", "CORRECTION_REQUIRED"}
	})
	var statuses []string
	watchdog := time.After(time.Minute) // only so a broken loop fails instead of hanging
	for len(statuses) < 2 {
		select {
		case d := <-r.ch:
			statuses = append(statuses, d.Event.Status)
		case <-watchdog:
			t.Fatalf("the loop sent %v and then nothing", statuses)
		}
	}
	if !slices.Equal(statuses, []string{"PROCESSING", "CORRECTION_REQUIRED"}) {
		t.Errorf("statuses %v", statuses)
	}
	r.deliveries(t)
}

func TestStartCallbacksRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*CallbackOptions)
		want   string
	}{
		{"no URL", func(o *CallbackOptions) { o.URL = "" }, "not an absolute http(s) URL"},
		{"relative URL", func(o *CallbackOptions) { o.URL = "/v1/callbacks" }, "not an absolute"},
		{"ftp URL", func(o *CallbackOptions) { o.URL = "ftp://x/y" }, "not an absolute"},
		{"no secret", func(o *CallbackOptions) { o.Secret = nil }, "secret is empty"},
		{"unknown status", func(o *CallbackOptions) { o.Path = []string{"ACCEPTED", "SHIPPED"} }, `"SHIPPED" is not a status`},
		{"unknown status in Paths", func(o *CallbackOptions) { o.Paths = map[string][]string{"tai-khoan": {"paid"}} }, "path of tai-khoan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := CallbackOptions{URL: "http://127.0.0.1:1/cb", Secret: testSecret, Interval: -1}
			tt.change(&o)
			err := New(Options{}).StartCallbacks(t.Context(), o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
	sim := New(Options{})
	o := CallbackOptions{URL: "http://127.0.0.1:1/cb", Secret: testSecret, Interval: -1}
	if err := sim.StartCallbacks(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if err := sim.StartCallbacks(t.Context(), o); err == nil {
		t.Error("second StartCallbacks succeeded")
	}
}

// TestCallbackPathsOverride gives one procedure its own path; the others keep Path. Both end
// at a final status: REJECTED (3) and WITHDRAWN (7), after which STOPPED is never sent.
func TestCallbackPathsOverride(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := newReceiver(t, h.clock.Now, nil)
	startCallbacks(t, h, r, func(o *CallbackOptions) {
		o.Path = []string{"REJECTED"}
		o.Paths = map[string][]string{"cam-ket-chi": {"WITHDRAWN", "STOPPED"}}
	})
	a := h.mustSend(request("G09.20-20260609-0000501"))
	b := h.mustSend(request("G09.20-20260609-0000502", set("procedure", "cam-ket-chi")))
	for range 3 {
		h.sim.TickCallbacks(t.Context())
	}
	if got := h.statusOf(a); got != "REJECTED" {
		t.Errorf("%s: %s, want REJECTED", a, got)
	}
	if got := h.statusOf(b); got != "WITHDRAWN" {
		t.Errorf("%s: %s, want WITHDRAWN", b, got)
	}
	if n := len(r.deliveries(t)); n != 2 {
		t.Errorf("%d deliveries, want 2", n)
	}
}

// tickAll ticks n times and returns the statuses the receiver got, in order.
func tickAll(t *testing.T, h *harness, r *receiver, n int) []string {
	t.Helper()
	for range n {
		h.clock.Advance(time.Minute)
		h.sim.TickCallbacks(t.Context())
	}
	var out []string
	for _, d := range r.deliveries(t) {
		out = append(out, d.Event.Status)
	}
	return out
}

// A document refused on demand after control (PROCESSING, then REJECTED: 8, final) is never
// walked on to PAID or RESULT_RETURNED by the timed path.
func TestCallbackPathStopsAtRefusal(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := newReceiver(t, h.clock.Now, nil)
	startCallbacks(t, h, r)
	doc := h.mustSend(request("G09.20-20260609-0000601"))
	for _, st := range []string{"PROCESSING", "REJECTED"} {
		if rec, err := h.sim.SendEvent(t.Context(), CallbackRequest{DocumentID: doc, Status: st}); err != nil || !rec.Delivered {
			t.Fatalf("%s on demand: %+v %v", st, rec, err)
		}
	}
	if got := tickAll(t, h, r, 5); !slices.Equal(got, []string{"PROCESSING", "REJECTED"}) {
		t.Fatalf("the receiver got %v, want only the on-demand PROCESSING and REJECTED", got)
	}
	if st := h.statusOf(doc); st != "REJECTED" {
		t.Fatalf("status %s, want REJECTED", st)
	}
}

// The timed path skips the steps the procedure's lifecycle does not allow from where the
// document is, and stops at a final status.
func TestCallbackPathFollowsLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := newReceiver(t, h.clock.Now, nil)
	startCallbacks(t, h, r, func(o *CallbackOptions) {
		o.Path = []string{"ACCEPTED", "PAID", "PROCESSING", "RESULT_RETURNED", "PAID", "RESULT_RETURNED", "PROCESSING"}
	})
	doc := h.mustSend(request("G09.20-20260609-0000602"))
	got := tickAll(t, h, r, 8)
	if want := []string{"ACCEPTED", "PROCESSING", "PAID", "RESULT_RETURNED"}; !slices.Equal(got, want) {
		t.Fatalf("the receiver got %v, want %v", got, want)
	}
	for i, d := range r.deliveries(t) {
		if d.Event.Sequence != i+1 {
			t.Errorf("event %d has sequence %d: a skipped step took a number", i+1, d.Event.Sequence)
		}
	}
	if st := h.statusOf(doc); st != "RESULT_RETURNED" {
		t.Fatalf("status %s", st)
	}
}

// A correction request stops a document's path, although the lifecycle would let PROCESSING
// resume it: the unit's resubmission is a new document (supplement 1) that goes through its
// own path.
func TestCallbackPathStopsAtCorrection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := newReceiver(t, h.clock.Now, nil)
	startCallbacks(t, h, r, func(o *CallbackOptions) {
		o.Path = []string{"PROCESSING", "CORRECTION_REQUIRED", "PROCESSING", "PAID", "RESULT_RETURNED"}
	})
	first := h.mustSend(request("G09.20-20260609-0000603"))
	if got := tickAll(t, h, r, 4); !slices.Equal(got, []string{"PROCESSING", "CORRECTION_REQUIRED"}) {
		t.Fatalf("the receiver got %v, want the path up to the correction request", got)
	}
	second := h.mustSend(request("G09.20-20260609-0000603", set("supplementNo", 1)))
	tickAll(t, h, r, 5)
	var firstSt, secondSt []string
	for _, d := range r.deliveries(t) {
		switch d.Event.DocumentID {
		case first:
			firstSt = append(firstSt, d.Event.Status)
		case second:
			if d.Event.SupplementNo != 1 {
				t.Errorf("supplement %d", d.Event.SupplementNo)
			}
			secondSt = append(secondSt, d.Event.Status)
		}
	}
	if !slices.Equal(firstSt, []string{"PROCESSING", "CORRECTION_REQUIRED"}) {
		t.Errorf("first document: %v", firstSt)
	}
	// From 1, CORRECTION_REQUIRED is allowed: the path asks again and stops there.
	if !slices.Equal(secondSt, []string{"PROCESSING", "CORRECTION_REQUIRED"}) {
		t.Errorf("the resubmission: %v", secondSt)
	}
}

// An on-demand status is sent whether or not the lifecycle allows it (a receiver must be
// testable with any event), but moves the document only when allowed.
func TestOnDemandStatusMovesOnlyWhenAllowed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := newReceiver(t, h.clock.Now, nil)
	startCallbacks(t, h, r)
	doc := h.mustSend(request("G09.20-20260609-0000604"))
	steps := []struct{ status, want string }{
		{"PAID", StatusReceived},          // not from 1
		{"PROCESSING", "PROCESSING"},      // 1 → 4
		{"RESULT_RETURNED", "PROCESSING"}, // not from 4
		{"STOPPED", "STOPPED"},            // 4 → 8, final
		{"PROCESSING", "STOPPED"},         // nothing leaves 8
		{"PAID", "STOPPED"},
		{"RESULT_RETURNED", "STOPPED"},
		{"CORRECTION_REQUIRED", "STOPPED"},
		{"STOPPED", "STOPPED"}, // no move to where it is either
	}
	for _, c := range steps {
		rec, err := h.sim.SendEvent(t.Context(), CallbackRequest{DocumentID: doc, Status: c.status})
		if err != nil || !rec.Delivered {
			t.Fatalf("%s on demand: %+v %v; want it sent", c.status, rec, err)
		}
		if st := h.statusOf(doc); st != c.want {
			t.Fatalf("after %s: status %s, want %s", c.status, st, c.want)
		}
	}
	if got := tickAll(t, h, r, 3); len(got) != len(steps) {
		t.Fatalf("%d events after the ticks, want the %d sent on demand and none from the path", len(got), len(steps))
	}
}

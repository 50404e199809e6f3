package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/sim/portalsim"
	"github.com/kbnn/dvc/adapter/sim/treasurysim"
	"github.com/kbnn/dvc/adapter/testkit/clock"
	"github.com/kbnn/dvc/adapter/webhook"
)

// statusEnv is an adapter wired to a treasury simulator that sends status
// callbacks only when told (manual mode) and to a portal simulator. Its
// delivery worker is never started: tests drive it with Poll.
type statusEnv struct {
	*env
	clock       *clock.Clock
	portal      *portalsim.Sim
	portalSrv   *httptest.Server
	secret      []byte
	callbackURL string

	mu sync.Mutex
	// lose is how many of the next portal writes are handled by the
	// portal but answered 502, as if the answer were lost on the way.
	lose int
	// onWrite, when set, runs after the portal handled each write (its
	// service name), before the answer goes back.
	onWrite func(service string)
}

// statusSchedule is a retry schedule short enough for a test: six attempts,
// the retries 10 ms apart (the portal simulator's Retry-After: 1 stretches
// them to a second while it is down).
var statusSchedule = []time.Duration{0, 10 * time.Millisecond, 10 * time.Millisecond,
	10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}

// startStatus starts the adapter (after edits) with the simulators.
func startStatus(t *testing.T, edits ...func(*config.Config)) *statusEnv {
	t.Helper()
	return startStatusOpts(t, Options{}, edits...)
}

// startStatusOpts is startStatus with o (its Clock and Log are the test's).
func startStatusOpts(t *testing.T, o Options, edits ...func(*config.Config)) *statusEnv {
	t.Helper()
	clk := clock.New(receipt)
	sim := treasurysim.New(treasurysim.Options{Clock: clk.Now, MaxBodyBytes: 64 << 20})
	seen := &captured{bodies: map[string][]byte{}}
	down, sendsDown, calls := &atomic.Bool{}, &atomic.Bool{}, &atomic.Int64{}
	ts := httptest.NewServer(outage(down, sendsDown, calls, seen.wrap(sim)))
	t.Cleanup(ts.Close)

	e := &statusEnv{clock: clk, portal: portalsim.New(portalsim.Options{Clock: clk.Now})}
	e.portalSrv = httptest.NewServer(http.HandlerFunc(e.servePortal))
	t.Cleanup(e.portalSrv.Close)

	cfg := testConfig(t, ts.URL)
	cfg.Portal.URL = e.portalSrv.URL + "/api"
	// The breaker's state follows the wall clock: keep it closed so that
	// only the outbox decides when to try again. Lookups are not retried
	// inside one attempt either (that would sleep).
	cfg.Portal.Resilience.MinRequests = 1 << 20
	cfg.Portal.Resilience.Retries = -1
	cfg.Delivery.Schedule = append([]time.Duration(nil), statusSchedule...)
	cfg.Delivery.MinSpan = -1
	// A write whose answer was lost waits delivery.uncertainWait before its
	// retry (TestTimedOutWriteWaitsBeforeItsRetry, statusflow): one drain
	// round here, so that these tests follow the retries themselves.
	cfg.Delivery.UncertainWait = time.Second
	for _, edit := range edits {
		edit(cfg)
	}
	o.Clock, o.Log = clk.Now, slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	seedTemplateFiles(t, a)
	as := httptest.NewServer(a.Handler)
	t.Cleanup(as.Close)
	adm := httptest.NewServer(a.Admin)
	t.Cleanup(adm.Close)
	e.env = &env{treasuryDown: down, sendsDown: sendsDown, documentCalls: calls, app: a, adapter: as, adminSrv: adm, treasury: ts, sim: sim, seen: seen}

	if e.secret, err = webhook.ParseSecret(cfg.Callbacks.Secrets[0].Reveal()); err != nil {
		t.Fatal(err)
	}
	e.callbackURL = as.URL + "/v1/callbacks/treasury/status"
	if err := sim.StartCallbacks(t.Context(), treasurysim.CallbackOptions{
		URL: e.callbackURL, Secret: e.secret, Interval: -1,
	}); err != nil {
		t.Fatal(err)
	}
	return e
}

// forEachStatusStore runs f over the memory store and Redis.
func forEachStatusStore(t *testing.T, f func(t *testing.T, e *statusEnv), edits ...func(*config.Config)) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			f(t, startStatus(t, append([]func(*config.Config){func(c *config.Config) { st.edit(t, c) }}, edits...)...))
		})
	}
}

// servePortal is the portal simulator, except that a write is answered 502
// after the simulator handled it while e.lose is set.
func (e *statusEnv) servePortal(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/api" && r.Method == http.MethodPost {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var head struct {
			Service string `json:"service"`
		}
		_ = json.Unmarshal(body, &head)
		if (head.Service == "DongBoHoSoMC" || head.Service == "CapNhatTienDoHoSoMC") && e.takeLoss() {
			e.portal.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "bad gateway (answer lost)", http.StatusBadGateway)
			return
		}
		e.mu.Lock()
		on := e.onWrite
		e.mu.Unlock()
		if on != nil {
			rec := httptest.NewRecorder()
			e.portal.ServeHTTP(rec, r)
			on(head.Service)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
	}
	e.portal.ServeHTTP(w, r)
}

func (e *statusEnv) loseAnswers(n int) {
	e.mu.Lock()
	e.lose = n
	e.mu.Unlock()
}

func (e *statusEnv) takeLoss() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lose == 0 {
		return false
	}
	e.lose--
	return true
}

// submit sends a valid fixture and returns its procedure and dossier code.
func (e *statusEnv) submit(t *testing.T, name string) (procedure, code string) {
	t.Helper()
	c := fx(t, name)
	a := e.send(t, c, "")
	if a.status != http.StatusAccepted {
		t.Fatalf("submit %s: %d %s", name, a.status, a.body)
	}
	code, _ = c.DossierCode()
	return strings.SplitN(name, "/", 2)[0], code
}

// tick runs one callback tick and checks that every event it sent was
// accepted with 202.
func (e *statusEnv) tick(t *testing.T) {
	t.Helper()
	before := len(e.sim.Callbacks())
	if n := e.sim.TickCallbacks(t.Context()); n == 0 {
		t.Fatal("the tick sent nothing")
	}
	for _, r := range e.sim.Callbacks()[before:] {
		if !r.Delivered || r.LastResponse != http.StatusAccepted {
			t.Fatalf("callback %s (%s): %d %s", r.EventID, r.Status, r.LastResponse, r.LastError)
		}
	}
}

// sendStatus has the treasury send one new event now and checks the 202.
func (e *statusEnv) sendStatus(t *testing.T, code, status string) treasurysim.CallbackRecord {
	t.Helper()
	r, err := e.sim.SendEvent(t.Context(), treasurysim.CallbackRequest{DossierCode: code, Status: status})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Delivered || r.LastResponse != http.StatusAccepted {
		t.Fatalf("callback %s (%s): %d %s", r.EventID, status, r.LastResponse, r.LastError)
	}
	return r
}

// build makes a signed event without sending it.
func (e *statusEnv) build(t *testing.T, req treasurysim.EventRequest) treasurysim.SignedEvent {
	t.Helper()
	ev, err := e.sim.BuildEvent(req)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// postCallback POSTs a body with the given headers to the callback route.
func (e *statusEnv) postCallback(t *testing.T, h http.Header, body []byte) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.callbackURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = append([]string(nil), v...)
	}
	req.Header.Set("Content-Type", "application/json")
	return exchange(t, req)
}

// poll runs one claim round of the delivery worker.
func (e *statusEnv) poll(t *testing.T) int {
	t.Helper()
	n, err := e.app.Delivery.Poll(t.Context())
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	return n
}

// drain delivers until nothing is due, moving the clock past every retry
// time (and the simulator's Retry-After) before each round.
func (e *statusEnv) drain(t *testing.T) {
	t.Helper()
	for range 100 {
		e.clock.Advance(2 * time.Second)
		if e.poll(t) == 0 {
			return
		}
	}
	t.Fatal("the outbox still had work after 100 rounds")
}

// view is GET /v1/procedures/{procedure}/dossiers/{code}.
func (e *statusEnv) view(t *testing.T, procedure, code string) dossier.Record {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.adapter.URL+"/v1/procedures/"+procedure+"/dossiers/"+code, nil)
	req.Header.Set("Authorization", "Bearer dev-portal-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var rec dossier.Record
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s/%s: %d %s", procedure, code, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// historyOf returns the view's history entry of an event.
func historyOf(t *testing.T, rec dossier.Record, eventID string) dossier.Event {
	t.Helper()
	var found []dossier.Event
	for _, h := range rec.History {
		if h.EventID == eventID {
			found = append(found, h)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d history entries for event %s: %+v", len(found), eventID, rec.History)
	}
	return found[0]
}

// received is GET /sim/received of the portal simulator, for one dossier.
func (e *statusEnv) received(t *testing.T, code string) []portalsim.Received {
	t.Helper()
	resp, err := http.Get(e.portalSrv.URL + "/sim/received")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var all []portalsim.Received
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		t.Fatal(err)
	}
	var out []portalsim.Received
	for _, r := range all {
		if r.MaHoSo == code {
			out = append(out, r)
		}
	}
	return out
}

// calls writes the portal calls the portal accepted as "Service" for a
// look-up and "Service:status" for a write.
func calls(recs []portalsim.Received) []string {
	var out []string
	for _, r := range recs {
		if r.ErrorCode != "" {
			continue
		}
		if r.Status == "" {
			out = append(out, r.Service)
		} else {
			out = append(out, r.Service+":"+r.Status)
		}
	}
	return out
}

// writes is calls without the look-ups.
func writes(recs []portalsim.Received) []string {
	var out []string
	for _, c := range calls(recs) {
		if strings.Contains(c, ":") {
			out = append(out, c)
		}
	}
	return out
}

// moves is the portal writes of a dossier's moves to codes, in order: the
// full dossier (DongBoHoSoMC) and then the progress (CapNhatTienDoHoSoMC)
// for each.
func moves(codes ...int) []string {
	var out []string
	for _, c := range codes {
		out = append(out, fmt.Sprintf("DongBoHoSoMC:%d", c), fmt.Sprintf("CapNhatTienDoHoSoMC:%d", c))
	}
	return out
}

// checkNoRepeat fails when the portal accepted the same write of a dossier
// twice in a row (one move sent twice), or was ever sent a status that moved
// its dossier backwards or out of a final status. A status may come back in
// a later move (4 after a correction round).
func checkNoRepeat(t *testing.T, recs []portalsim.Received) {
	t.Helper()
	last := map[string]string{}
	for _, r := range recs {
		if r.Backward {
			t.Errorf("the portal was sent a backward status: %+v", r)
		}
		if r.ErrorCode != "" || r.Status == "" {
			continue
		}
		k := r.Service + "|" + r.Status
		if last[r.MaHoSo] == k {
			t.Errorf("the portal got %s for %s twice in a row", k, r.MaHoSo)
		}
		last[r.MaHoSo] = k
	}
}

// problemBody is an application/problem+json answer.
type problemBody struct {
	Code   string
	Status int
	Errors []struct{ Path, Message string }
}

// problemOf decodes a problem+json answer, checking its content type.
func problemOf(t *testing.T, a answer) problemBody {
	t.Helper()
	var p problemBody
	if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q: %s", ct, a.body)
	}
	if err := json.Unmarshal(a.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != a.status {
		t.Fatalf("problem status %d in a %d answer", p.Status, a.status)
	}
	return p
}

// admin calls an admin route with token ("" for none).
func (e *statusEnv) admin(t *testing.T, method, path, token string) answer {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, e.adminSrv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return exchange(t, req)
}

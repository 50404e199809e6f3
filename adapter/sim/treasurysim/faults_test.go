package treasurysim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const loginBody = `{"clientId":"dvc-adapter","clientSecret":"dev-treasury-secret"}`

// sleepLog replaces Sim.sleep: it records every requested delay and returns at once, as if
// the delay (or HangMax) had passed.
type sleepLog struct {
	mu sync.Mutex
	ds []time.Duration
}

func (l *sleepLog) sleep(_ context.Context, d time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ds = append(l.ds, d)
	return nil
}

func (l *sleepLog) take() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	ds := l.ds
	l.ds = nil
	return ds
}

// serve runs one request through the simulator in process. aborted reports that the
// simulator ended the exchange without an answer (http.ErrAbortHandler, where a real server
// closes the connection).
func serve(s *Sim, req *http.Request) (rec *httptest.ResponseRecorder, aborted bool) {
	rec = httptest.NewRecorder()
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true
		}
	}()
	s.ServeHTTP(rec, req)
	return rec, false
}

// sendReq builds a SendDocument request for req under its own downstream key.
func sendReq(t testing.TB, token string, req map[string]any) *http.Request {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/api/v1/documents", strings.NewReader(string(body)))
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("Idempotency-Key", keyOf(req))
	r.Header.Set("Content-Type", "application/json")
	return r
}

const aborted = -1 // expected "status" of a call closed without an answer

func TestFaultsOnRoutes(t *testing.T) {
	t.Parallel()
	type want struct{ login, send, status, simDocs, admin int }
	normal := want{200, 201, 404, 200, 200}
	tests := []struct {
		name   string
		faults Faults
		want   want
		stored int             // documents after the send
		sleeps []time.Duration // delays requested by each /api/ call
	}{
		{"none", Faults{}, normal, 1, nil},
		{"latency", Faults{Latency: 250 * time.Millisecond}, normal, 1, []time.Duration{250 * time.Millisecond}},
		{"error rate 1", Faults{ErrorRate: 1}, want{200, 503, 503, 200, 200}, 0, nil},
		{"error rate 0", Faults{ErrorRate: 0, HangMax: time.Second}, normal, 1, nil},
		{"timeout rate 1", Faults{TimeoutRate: 1}, want{504, 504, 504, 200, 200}, 0, []time.Duration{DefaultHangMax}},
		{"timeout rate 1 with hang max", Faults{TimeoutRate: 1, HangMax: 2 * time.Second},
			want{504, 504, 504, 200, 200}, 0, []time.Duration{2 * time.Second}},
		{"timeout before error", Faults{TimeoutRate: 1, ErrorRate: 1}, want{504, 504, 504, 200, 200}, 0, []time.Duration{DefaultHangMax}},
		{"outage", Faults{Outage: true, Latency: time.Second, TimeoutRate: 1}, want{503, 503, 503, 200, 200}, 0, nil},
		{"outage 503", Faults{Outage: true, OutageMode: OutageUnavailable}, want{503, 503, 503, 200, 200}, 0, nil},
		{"outage refuse", Faults{Outage: true, OutageMode: OutageRefuse}, want{aborted, aborted, aborted, 200, 200}, 0, nil},
		{"refuse mode without outage", Faults{OutageMode: OutageRefuse}, normal, 1, nil},
		{"after accept drop", Faults{AfterAccept: AfterAcceptDrop}, want{200, aborted, 404, 200, 200}, 1, nil},
		{"after accept hang", Faults{AfterAccept: AfterAcceptHang, HangMax: time.Minute}, want{200, 504, 404, 200, 200}, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			var sl sleepLog
			h.sim.sleep = sl.sleep
			h.sim.SetFaults(tt.faults)
			if got := h.sim.Faults(); got != tt.faults {
				t.Fatalf("Faults() = %+v, want %+v", got, tt.faults)
			}
			get := func(target string) *http.Request {
				r := httptest.NewRequest("GET", target, nil)
				r.Header.Set("Authorization", "Bearer "+h.token)
				return r
			}
			calls := []struct {
				name   string
				req    *http.Request
				status int
				api    bool
			}{
				{"login", httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(loginBody)), tt.want.login, true},
				{"send", sendReq(t, h.token, request("F-1")), tt.want.send, true},
				{"status", get("/api/v1/documents/KB-2026-999999"), tt.want.status, true},
				{"sim documents", get("/sim/documents"), tt.want.simDocs, false},
				{"admin faults", get("/sim/admin/faults"), tt.want.admin, false},
			}
			for _, c := range calls {
				rec, ab := serve(h.sim, c.req)
				switch {
				case c.status == aborted && !ab:
					t.Errorf("%s: answered %d, want the connection closed", c.name, rec.Code)
				case c.status != aborted && ab:
					t.Errorf("%s: connection closed, want %d", c.name, c.status)
				case c.status != aborted && rec.Code != c.status:
					t.Errorf("%s: status = %d, want %d (%s)", c.name, rec.Code, c.status, rec.Body)
				}
				if !ab {
					checkInjected(t, c.name, rec)
				}
				sleeps := sl.take()
				wantSleeps := tt.sleeps
				if !c.api {
					wantSleeps = nil
				}
				if c.name == "send" && tt.faults.AfterAccept == AfterAcceptHang {
					wantSleeps = []time.Duration{tt.faults.HangMax}
				}
				if !slices.Equal(sleeps, wantSleeps) {
					t.Errorf("%s: delays %v, want %v", c.name, sleeps, wantSleeps)
				}
			}
			if n := len(h.sim.Documents()); n != tt.stored {
				t.Errorf("%d documents stored, want %d", n, tt.stored)
			}
		})
	}
}

// checkInjected checks the answers of injected failures: 503 with Retry-After and
// UNAVAILABLE, 504 with GATEWAY_TIMEOUT, and no Location on them.
func checkInjected(t *testing.T, call string, rec *httptest.ResponseRecorder) {
	t.Helper()
	switch rec.Code {
	case http.StatusServiceUnavailable:
		if got := reasonOf(t, rec); got != ReasonUnavailable {
			t.Errorf("%s: reasonCode = %q, want %s", call, got, ReasonUnavailable)
		}
		if rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", call)
		}
	case http.StatusGatewayTimeout:
		if got := reasonOf(t, rec); got != ReasonGatewayTimeout {
			t.Errorf("%s: reasonCode = %q, want %s", call, got, ReasonGatewayTimeout)
		}
		if rec.Header().Get("Location") != "" {
			t.Errorf("%s: 504 carries the held answer's Location", call)
		}
	}
}

// TestFaultsClientGivesUp: delays and hangs end when the request context does, and the call
// is then closed unanswered (never an empty 200), and not handled except after AfterAccept.
func TestFaultsClientGivesUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		faults Faults
		login  bool // call login instead of SendDocument
		stored int
	}{
		{"latency", Faults{Latency: time.Hour}, false, 0},
		{"jitter", Faults{Jitter: time.Hour}, false, 0},
		{"hang", Faults{TimeoutRate: 1, HangMax: time.Hour}, false, 0},
		{"hang on login", Faults{TimeoutRate: 1, HangMax: time.Hour}, true, 0},
		{"hang after accept", Faults{AfterAccept: AfterAcceptHang, HangMax: time.Hour}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.sim.SetFaults(tt.faults)
			req := sendReq(t, h.token, request("F-1"))
			if tt.login {
				req = httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(loginBody))
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // the client has given up
			rec, ab := serve(h.sim, req.WithContext(ctx))
			if !ab || rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
				t.Errorf("not closed after the client gave up: aborted %v, %d %q", ab, rec.Code, rec.Body)
			}
			if n := len(h.sim.Documents()); n != tt.stored {
				t.Errorf("%d documents stored, want %d", n, tt.stored)
			}
		})
	}
}

// wire drives a Sim over real HTTP.
type wire struct {
	t      *testing.T
	sim    *Sim
	url    string
	client *http.Client
	token  string
	done   chan struct{} // receives when a handler returns
}

func newWire(t *testing.T, opts Options, keepAlive bool) *wire {
	t.Helper()
	w := &wire{t: t, sim: New(opts), done: make(chan struct{}, 16)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		defer func() { w.done <- struct{}{} }()
		w.sim.ServeHTTP(rw, r)
	}))
	// Requests end with the test, so a failed test does not wait for a stuck handler.
	srv.Config.BaseContext = func(net.Listener) context.Context { return t.Context() }
	srv.Start()
	t.Cleanup(srv.Close)
	tr := &http.Transport{DisableKeepAlives: !keepAlive}
	t.Cleanup(tr.CloseIdleConnections)
	w.url, w.client = srv.URL, &http.Client{Transport: tr}
	status, body, err := w.call(context.Background(), "POST", "/api/v1/login", nil, loginBody)
	<-w.done
	if err != nil || status != 200 {
		t.Fatalf("login: %d %s %v", status, body, err)
	}
	var out struct {
		AccessToken string `json:"accessToken"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	w.token = out.AccessToken
	return w
}

func (w *wire) call(ctx context.Context, method, path string, header map[string]string, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, w.url+path, strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// send posts a document under its own key and waits until the handler has returned.
func (w *wire) send(ctx context.Context, req map[string]any) (int, []byte, error) {
	body, err := json.Marshal(req)
	if err != nil {
		w.t.Fatal(err)
	}
	status, b, err := w.call(ctx, "POST", "/api/v1/documents", map[string]string{
		"Authorization": "Bearer " + w.token, "Idempotency-Key": keyOf(req), "Content-Type": "application/json",
	}, string(body))
	w.handled()
	return status, b, err
}

// handled waits until a handler has returned. The bound only turns a hang that outlives its
// client into a failure instead of a stuck test; nothing is measured.
func (w *wire) handled() {
	w.t.Helper()
	select {
	case <-w.done:
	case <-time.After(time.Minute):
		w.t.Fatal("the handler still runs after its client gave up")
	}
}

func (w *wire) admin(method, body string) (int, []byte) {
	w.t.Helper()
	status, b, err := w.call(context.Background(), method, "/sim/admin/faults", nil, body)
	w.handled()
	if err != nil {
		w.t.Fatalf("%s /sim/admin/faults: %v", method, err)
	}
	return status, b
}

// TestFaultsHangOverHTTP: a client with a short deadline gives up on a hanging or delayed
// call; the server notices and stops (HangMax and Latency are an hour).
func TestFaultsHangOverHTTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		faults string
		stored int
	}{
		{"hang", `{"timeoutRate":1,"hangMax":"1h"}`, 0},
		{"latency", `{"latency":"1h"}`, 0},
		{"hang after accept", `{"afterAccept":"hang","hangMax":"1h"}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWire(t, Options{}, true)
			if status, b := w.admin("PUT", tt.faults); status != 200 {
				t.Fatalf("PUT faults: %d %s", status, b)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			status, _, err := w.send(ctx, request("F-1")) // returns once the handler has
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("send: status %d, error %v, want the client's deadline", status, err)
			}
			if n := len(w.sim.Documents()); n != tt.stored {
				t.Errorf("%d documents stored, want %d", n, tt.stored)
			}
		})
	}
}

// TestAfterAcceptDrop: the document is stored once, the client gets no answer, and a second
// send under the same Idempotency-Key returns the stored document: the adapter's recovery.
func TestAfterAcceptDrop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		keepAlive bool
		// firstErr: the client sees a transport error. On a reused connection net/http itself
		// sends a POST carrying Idempotency-Key again (Request.isReplayable), so the client
		// sees the replay's 200 and never learns of the drop.
		firstErr bool
	}{
		{"fresh connection", false, true},
		{"reused connection: net/http retries by itself", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWire(t, Options{}, tt.keepAlive)
			if status, b := w.admin("PUT", `{"afterAccept":"drop"}`); status != 200 {
				t.Fatalf("PUT faults: %d %s", status, b)
			}
			req := request("F-1")
			status, body, err := w.send(context.Background(), req)
			if tt.firstErr {
				if err == nil {
					t.Fatalf("first send answered %d %s, want a transport error", status, body)
				}
				if errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("first send: %v, want a closed connection, not a timeout", err)
				}
			} else {
				w.handled() // the transparent retry
				if err != nil || status != http.StatusOK {
					t.Fatalf("first send: %d %v, want 200 from net/http's own retry", status, err)
				}
			}
			docs := w.sim.Documents()
			if len(docs) != 1 {
				t.Fatalf("%d documents after the drop, want 1", len(docs))
			}
			// Recovery: the same key again (the fault is still on) gets the stored receipt.
			status, body, err = w.send(context.Background(), req)
			if err != nil || status != http.StatusOK {
				t.Fatalf("second send: %d %s %v, want 200", status, body, err)
			}
			var r receipt
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
			if r.DocumentID != docs[0].DocumentID || r.Reference != docs[0].Reference {
				t.Errorf("receipt %+v, want document %s %s", r, docs[0].DocumentID, docs[0].Reference)
			}
			docs = w.sim.Documents()
			wantReplays := 1
			if !tt.firstErr {
				wantReplays = 2
			}
			if len(docs) != 1 || docs[0].Replays != wantReplays {
				t.Errorf("%d documents, replays %d; want 1 document, %d replays", len(docs), docs[0].Replays, wantReplays)
			}
			status, _, err = w.call(context.Background(), "GET", "/api/v1/documents?idempotencyKey="+keyOf(req),
				map[string]string{"Authorization": "Bearer " + w.token}, "")
			w.handled()
			if err != nil || status != 200 {
				t.Errorf("find by key: %d %v", status, err)
			}
		})
	}
}

// TestOutageThenRecovery: during an outage every /api/ call fails while /sim/ answers; after
// DELETE /sim/admin/faults the treasury works again.
func TestOutageThenRecovery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode    string
		refused bool // transport error rather than 503
	}{
		{"", false},
		{"503", false},
		{"refuse", true},
	}
	for _, tt := range tests {
		t.Run("mode "+tt.mode, func(t *testing.T) {
			t.Parallel()
			w := newWire(t, Options{}, true)
			if status, b := w.admin("PUT", `{"outage":true,"outageMode":"`+tt.mode+`"}`); status != 200 {
				t.Fatalf("PUT faults: %d %s", status, b)
			}
			check := func(what string, status int, err error, want int) {
				t.Helper()
				switch {
				case tt.refused && want == 503:
					if err == nil {
						t.Errorf("%s: answered %d, want a transport error", what, status)
					}
				case err != nil || status != want:
					t.Errorf("%s: %d %v, want %d", what, status, err, want)
				}
			}
			status, _, err := w.send(context.Background(), request("F-1"))
			check("send during outage", status, err, 503)
			status, _, err = w.call(context.Background(), "POST", "/api/v1/login", nil, loginBody)
			w.handled()
			check("login during outage", status, err, 503)
			status, _, err = w.call(context.Background(), "GET", "/sim/documents", nil, "")
			w.handled()
			check("sim documents during outage", status, err, 200)
			if n := len(w.sim.Documents()); n != 0 {
				t.Errorf("%d documents stored during the outage", n)
			}

			if status, b := w.admin("DELETE", ""); status != 200 || !strings.Contains(string(b), `"outage":false`) {
				t.Fatalf("DELETE faults: %d %s", status, b)
			}
			status, _, err = w.send(context.Background(), request("F-1"))
			check("send after recovery", status, err, 201)
			if n := len(w.sim.Documents()); n != 1 {
				t.Errorf("%d documents after recovery, want 1", n)
			}
		})
	}
}

// TestFaultsRandomnessIsInjected: the same seed gives the same faults; rates in between
// give both outcomes; jitter stays in [Latency, Latency+Jitter).
func TestFaultsRandomnessIsInjected(t *testing.T) {
	t.Parallel()
	const n = 40
	f := Faults{Latency: 100 * time.Millisecond, Jitter: 50 * time.Millisecond, ErrorRate: 0.5, TimeoutRate: 0.2}
	run := func(seed uint64) (outcomes []int, delays []time.Duration) {
		clock := newFakeClock()
		h := &harness{t: t, clock: clock, sim: New(Options{Clock: clock.Now, Rand: rand.NewPCG(seed, seed)})}
		h.token = h.login()
		var sl sleepLog
		h.sim.sleep = sl.sleep
		h.sim.SetFaults(f)
		for i := range n {
			rec, _ := serve(h.sim, sendReq(t, h.token, request(fmt.Sprintf("F-%d", i))))
			outcomes = append(outcomes, rec.Code)
		}
		created := 0
		for _, c := range outcomes {
			if c == http.StatusCreated {
				created++
			}
		}
		if got := len(h.sim.Documents()); got != created {
			t.Errorf("seed %d: %d documents, %d answered 201", seed, got, created)
		}
		return outcomes, sl.take()
	}
	o1, d1 := run(1)
	o2, d2 := run(1)
	if !slices.Equal(o1, o2) || !slices.Equal(d1, d2) {
		t.Errorf("same seed, different faults:\n%v\n%v", o1, o2)
	}
	for _, code := range []int{201, 503, 504} {
		if !slices.Contains(o1, code) {
			t.Errorf("no %d in %d calls at rates %v/%v: %v", code, n, f.ErrorRate, f.TimeoutRate, o1)
		}
	}
	distinct := map[time.Duration]bool{}
	for _, d := range d1 {
		distinct[d] = true
		if d != DefaultHangMax && (d < f.Latency || d >= f.Latency+f.Jitter) {
			t.Errorf("delay %v outside [%v, %v)", d, f.Latency, f.Latency+f.Jitter)
		}
	}
	if len(distinct) < 3 {
		t.Errorf("delays %v: jitter not applied", d1)
	}
	if o3, _ := run(2); slices.Equal(o1, o3) {
		t.Errorf("seeds 1 and 2 gave the same %d outcomes: is the source used?", n)
	}
}

func TestSetFaultsPanicsOnInvalid(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("SetFaults accepted ErrorRate 2")
		}
	}()
	New(Options{}).SetFaults(Faults{ErrorRate: 2})
}

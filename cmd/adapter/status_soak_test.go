package main

// TestStatusSoak: the status path (treasury → adapter → portal) under load,
// crashes and a portal outage, end to end through real adapter processes
// (the crashtest build of fleet_test.go's harness).
//
// The test plays the treasury: 500 dossiers, 20 signed callbacks each
// (10,000), sent at least once (every POST repeated until 200 or 202, each
// attempt to the next instance, signed anew), each dossier's callbacks in
// its own order, all dossiers interleaved, 32 requests in flight. Each
// dossier lives one of five lives, as the procedures' lifecycles
// (mappings/<procedure>/status.yaml) allow them:
//
//   - resumed: 2, 4, 5 (correction requested), 4 (control resumes), 9, 10;
//   - a correction round: 2, 4, 5, then the resubmitted supplement 1
//     (a new treasury document, its sequence from 1 again): 2, 4, 9, 10;
//   - refused after control: 2, 4, REJECTED → 8, final;
//   - refused at intake: RECEIVED 2, REJECTED → 3, final;
//   - withdrawn: 2, 4, WITHDRAWN → 7 (the unit withdrew it), final.
//
// Besides its path, each dossier gets 7 older events under new ids, whose
// treasury supplement and sequence are older than the last step applied
// (recorded "stale" whatever their status; among them, in every dossier
// with a correction request, a PROCESSING older than it: only a newer one
// may take 5 → 4); newer events whose move the lifecycle does not allow
// from where the dossier is (recorded "not-allowed"; for the refused
// dossiers, three of them after the final status); and resends of events
// already acknowledged.
//
// Two adapter instances share one Redis; they are SIGKILLed 6 times (at
// 10, 25, 40, 60, 80 and 100 % of the callbacks acknowledged) and
// restarted, and the portal is down for 5 s from 30 % on. The portal is
// adapter/sim/portalsim served in-process behind a recorder that notes, for
// every status write the portal accepted, which treasury event it came
// from: every event's note is its event id, and the adapter passes the
// note on (GhiChu, NoiDungXuLy).
//
// With DVC_SOAK_KEEP=dir, a failing run leaves every problem and every
// adapter log in dir.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	view "github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/redisoutbox"
	"github.com/kbnn/dvc/adapter/sim/portalsim"
	"github.com/kbnn/dvc/adapter/statusmap"
	"github.com/kbnn/dvc/adapter/webhook"
	"github.com/kbnn/dvc/mappings"
	"github.com/kbnn/dvc/schemas"
)

// The soak's size: what the issue asks for, in full.
const (
	soakDossierCount = 500
	// soakTopologyDossiers is the size of the soak on a Cluster and on a
	// Sentinel set: the same paths and chaos, fewer dossiers.
	soakTopologyDossiers = 100
	soakSendsPerDossier  = 20 // the path (2 to 7 steps), 7 older events and 2 to 4 not allowed under new ids, resends
	soakStalePerDossier  = 7
	soakSendConcurrency  = 32
	soakWorkers          = 16 // delivery workers per instance
	// soakOutage is how long the portal is down. It is longer than the
	// retry schedule below lasts (the portal's Retry-After: 1 stretches
	// each of its 4 retries to a second), so events whose attempts run
	// out while the portal is down get their last attempt at soakMinSpan
	// after their first, as the contract's "never less than 72 h before a
	// dead letter" says in miniature: none may become a dead letter.
	soakOutage        = 5 * time.Second
	soakMinSpan       = 12 * time.Second
	soakLease         = 2 * time.Second
	soakUncertainWait = 300 * time.Millisecond
	soakSendTime      = 75 * time.Second // bound on the sending phase
	soakDrain         = 60 * time.Second // bound on the wait for the portal to catch up
	soakPoll          = 100 * time.Millisecond
)

// soakSchedule is the tiny retry schedule of the test configuration.
var soakSchedule = []string{"0s", "20ms", "50ms", "100ms", "200ms"}

// callbackSecret is configs/local.yaml's callbacks.secrets[0] (TEST ONLY).
const callbackSecret = "whsec_ZGV2LXRyZWFzdXJ5LWNhbGxiYWNrLXNlY3JldC0wMDAx"

// soakKind is the life a dossier of the soak lives.
type soakKind int

const (
	kindResumed             soakKind = iota // 2, 4, 5, 4, 9, 10
	kindRound                               // 2, 4, 5 | supplement 1: 2, 4, 9, 10
	kindRefusedAfterControl                 // 2, 4, 8
	kindRefusedAtIntake                     // 2, 3
	kindWithdrawn                           // 2, 4, 7: the unit withdrew it, the treasury agreed
	soakKinds
)

func (k soakKind) String() string {
	return [...]string{"resumed", "correction round", "refused after control", "refused at intake", "withdrawn"}[k]
}

// soakStep is one status of a dossier's path and the supplement whose
// document the treasury reports it for.
type soakStep struct {
	status     string
	supplement int
}

// soakPathOf is the path of a dossier of procedure that lives kind.
func soakPathOf(procedure string, kind soakKind) []soakStep {
	paid := "PAID"
	if procedure == "tai-khoan" {
		paid = "ACCOUNT_OPENED"
	}
	steps := func(sup int, statuses ...string) []soakStep {
		out := make([]soakStep, len(statuses))
		for i, st := range statuses {
			out[i] = soakStep{st, sup}
		}
		return out
	}
	switch kind {
	case kindResumed:
		return steps(0, "ACCEPTED", "PROCESSING", "CORRECTION_REQUIRED", "PROCESSING", paid, "RESULT_RETURNED")
	case kindRound:
		return append(steps(0, "ACCEPTED", "PROCESSING", "CORRECTION_REQUIRED"), steps(1, "RECEIVED", "PROCESSING", paid, "RESULT_RETURNED")...)
	case kindRefusedAfterControl:
		return steps(0, "ACCEPTED", "PROCESSING", "REJECTED")
	case kindWithdrawn:
		return steps(0, "ACCEPTED", "PROCESSING", "WITHDRAWN")
	default:
		return steps(0, "RECEIVED", "REJECTED")
	}
}

// Outcomes of an event, as the dossier's history records them.
const (
	outDelivered  = view.DeliveryDelivered
	outStale      = view.DeliveryStale
	outNotAllowed = view.DeliveryNotAllowed
)

// soakEvent is one treasury status event (one event id).
type soakEvent struct {
	id         string
	outcome    string // delivered (a path step), stale or not-allowed
	late       bool   // stale: a PROCESSING older than the CORRECTION_REQUIRED before it
	status     string
	supplement int
	code       int   // a path step's national code
	seq        int64 // the treasury's sequence within its supplement's document: path step k has 10(k+1)
	body       []byte
}

func (e *soakEvent) String() string {
	return fmt.Sprintf("%s (%s, %s → %d, supplement %d, sequence %d)", e.id, e.outcome, e.status, e.code, e.supplement, e.seq)
}

// soakSend is one event sent by the treasury: a first send or a resend of
// an event already acknowledged (same id, same body).
type soakSend struct {
	ev     *soakEvent
	repeat bool
}

// soakDossier is one dossier's plan.
type soakDossier struct {
	procedure, code string
	kind            soakKind
	lifecycle       *statusmap.Map
	final           int // the national code the dossier ends at
	sends           []soakSend
	path            []*soakEvent // the path, in order
	events          []*soakEvent // every distinct event, in first-send order
}

func (d *soakDossier) key() string { return d.procedure + "|" + d.code }

// soakLifecycles loads the shipped lifecycles of the soak's procedures.
func soakLifecycles(t testing.TB) map[string]*statusmap.Map {
	t.Helper()
	raw, err := fs.ReadFile(schemas.FS, "treasury/status-event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	statuses, err := statusmap.SchemaStatuses(raw)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*statusmap.Map{}
	for _, p := range procedures {
		if out[p], err = statusmap.Load(mappings.FS, p, statuses); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// soakStatuses is every treasury status, in a fixed order.
var soakStatuses = []string{"RECEIVED", "ACCEPTED", "PROCESSING", "CORRECTION_REQUIRED", "REJECTED", "PAID",
	"ACCOUNT_OPENED", "RESULT_RETURNED", "STOPPED", "WITHDRAWN"}

// planStatusSoak plans n dossiers of sends each: the path of the
// dossier's kind (the kinds take turns per procedure), and after each of its
// steps some of the extras (stale events, events not allowed, resends),
// mixed at random but the same for a seed. Every path step must be a move
// the procedure's lifecycle allows; the plan fails otherwise.
func planStatusSoak(t testing.TB, prefix string, n, sends, stale int, seed uint64) []*soakDossier {
	t.Helper()
	lifecycles := soakLifecycles(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x50a4))
	base := time.Date(2026, 6, 12, 1, 0, 0, 0, time.UTC)
	ds := make([]*soakDossier, n)
	for i := range n {
		proc := procedures[i%len(procedures)]
		kind := soakKind(i / len(procedures) % int(soakKinds))
		d := &soakDossier{procedure: proc, code: fmt.Sprintf("%s-20260612-%07d", prefix, i+1), kind: kind,
			lifecycle: lifecycles[proc]}
		path := soakPathOf(proc, kind)
		final := kind == kindRefusedAfterControl || kind == kindRefusedAtIntake || kind == kindWithdrawn
		notAllowed := 2
		if final {
			notAllowed = 4
		}
		// The extras: what each is, and after which step it comes.
		type extra struct {
			gap     int
			outcome string // stale, not-allowed, or "" for a resend
			late    bool
		}
		extras := make([]extra, sends-len(path))
		if len(extras) < stale+notAllowed {
			t.Fatalf("plan: %d sends leave no room for %d stale and %d not-allowed events after a path of %d", sends, stale, notAllowed, len(path))
		}
		for k := range extras {
			switch {
			case k < stale:
				extras[k].outcome = outStale
			case k < stale+notAllowed:
				extras[k].outcome = outNotAllowed
			}
		}
		rng.Shuffle(len(extras), func(a, b int) { extras[a], extras[b] = extras[b], extras[a] })
		afterFinal := 0
		for k := range extras {
			extras[k].gap = rng.IntN(len(path))
			if final && extras[k].outcome == outNotAllowed && afterFinal < 3 {
				extras[k].gap, afterFinal = len(path)-1, afterFinal+1
			}
		}
		if corr := slices.IndexFunc(path, func(s soakStep) bool { return s.status == "CORRECTION_REQUIRED" }); corr >= 0 {
			for k := range extras {
				if extras[k].outcome == outStale {
					extras[k].gap, extras[k].late = corr, true
					break
				}
			}
		}
		sort.SliceStable(extras, func(a, b int) bool { return extras[a].gap < extras[b].gap })
		newEvent := func(status string, sup int, seq int64, outcome string) *soakEvent {
			ev := &soakEvent{id: fmt.Sprintf("evt-%s-%d-%02d", prefix, i+1, len(d.events)), outcome: outcome,
				status: status, supplement: sup, seq: seq}
			ev.body = soakBody(d, ev, i+1, base.Add(time.Duration(10*sup)*time.Hour+time.Duration(seq)*time.Minute))
			d.events = append(d.events, ev)
			d.sends = append(d.sends, soakSend{ev: ev})
			return ev
		}
		code, x, stepInSup := statusmap.CodeRegistered, 0, 0
		var lastSup int
		var lastSeq int64
		for step, st := range path {
			if st.supplement != lastSup {
				stepInSup = 0
			}
			seq := int64(10 * (stepInSup + 1))
			stepInSup++
			tr, ok := d.lifecycle.Next(code, st.status)
			if !ok {
				t.Fatalf("plan: %s (%s): %s", d.key(), kind, d.lifecycle.Why(code, st.status))
			}
			ev := newEvent(st.status, st.supplement, seq, outDelivered)
			ev.code, code, lastSup, lastSeq = tr.To, tr.To, st.supplement, seq
			d.path = append(d.path, ev)
			for ; x < len(extras) && extras[x].gap == step; x++ {
				switch {
				case extras[x].outcome == "":
					prev := d.events[rng.IntN(len(d.events))]
					d.sends = append(d.sends, soakSend{ev: prev, repeat: true})
				case extras[x].late:
					newEvent("PROCESSING", lastSup, lastSeq-1-rng.Int64N(9), outStale).late = true
				case extras[x].outcome == outStale:
					sup, seq := lastSup, lastSeq-1-rng.Int64N(9) // after the step before, before this one
					if lastSup > 0 && rng.IntN(3) == 0 {
						sup, seq = lastSup-1, 1+rng.Int64N(40) // any event of an older supplement
					}
					newEvent(soakStatuses[rng.IntN(len(soakStatuses))], sup, seq, outStale)
				default:
					var cands []string
					for _, s := range soakStatuses {
						if _, ok := d.lifecycle.Next(code, s); !ok {
							cands = append(cands, s)
						}
					}
					// newer than this step, older than the next one
					newEvent(cands[rng.IntN(len(cands))], lastSup, lastSeq+1+rng.Int64N(8), outNotAllowed)
				}
			}
		}
		d.final = code
		ds[i] = d
	}
	return ds
}

// soakBody is the JSON event (schemas/treasury/status-event.schema.json).
// Its note is its event id, which the adapter passes on to the portal.
func soakBody(d *soakDossier, ev *soakEvent, n int, at time.Time) []byte {
	m := map[string]any{
		"eventId": ev.id, "dossierCode": d.code, "procedure": d.procedure, "supplementNo": ev.supplement,
		"documentId": fmt.Sprintf("KB-2026-%07d", 10*n+ev.supplement), "reference": fmt.Sprintf("KBNN-0011-2026-%07d", 10*n+ev.supplement),
		"status": ev.status, "sequence": ev.seq, "occurredAt": at.Format(time.RFC3339),
		"handler": "Nguyễn Văn B", "handlerTitle": "Kiểm soát viên", "department": "Phòng Kiểm soát chi",
		"note": ev.id, "dueAt": at.Add(48 * time.Hour).Format(time.RFC3339),
	}
	if ev.status == "RESULT_RETURNED" {
		m["resultDocuments"] = []map[string]string{{"name": "Kết quả", "url": "https://dvc.kbnn.gov.vn/ket-qua/" + d.code + ".pdf"}}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// portalCall is one status write the portal accepted.
type portalCall struct {
	Service string // DongBoHoSoMC or CapNhatTienDoHoSoMC
	MaHoSo  string
	Status  int
	EventID string // the note the adapter passed on
}

func (c portalCall) String() string { return fmt.Sprintf("%s:%d(%s)", c.Service, c.Status, c.EventID) }

// portalRecorder serves the simulator and records the status writes it
// accepts, in the order it handles them (writes are handled one at a
// time, so the order is the simulator's).
type portalRecorder struct {
	sim         *portalsim.Sim
	mu          sync.Mutex
	calls       []portalCall
	refused     []string     // writes answered with an error_code
	unavailable atomic.Int64 // protocol calls answered 503 (portal down)
	lookups     atomic.Int64
}

func (p *portalRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api" {
		p.sim.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req struct {
		Service string                       `json:"service"`
		Data    []map[string]json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(body, &req)
	write := req.Service == "DongBoHoSoMC" || req.Service == "CapNhatTienDoHoSoMC"
	if write {
		p.mu.Lock()
		defer p.mu.Unlock()
	}
	rec := httptest.NewRecorder()
	p.sim.ServeHTTP(rec, r)
	switch {
	case rec.Code == http.StatusServiceUnavailable:
		p.unavailable.Add(1)
	case rec.Code == http.StatusOK && req.Service == "TraCuuHoSo":
		p.lookups.Add(1)
	case rec.Code == http.StatusOK && write:
		var ans struct {
			ErrorCode json.RawMessage `json:"error_code"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &ans)
		ok := slices.Contains([]string{`0`, `"0"`, `"00"`}, string(ans.ErrorCode))
		for _, it := range req.Data {
			c := portalCall{Service: req.Service, MaHoSo: jsonString(it["MaHoSo"])}
			if req.Service == "DongBoHoSoMC" {
				c.Status, c.EventID = jsonInt(it["TrangThaiHoSo"]), jsonString(it["GhiChu"])
			} else {
				c.Status, c.EventID = jsonInt(it["TrangThai"]), jsonString(it["NoiDungXuLy"])
			}
			if ok {
				p.calls = append(p.calls, c)
			} else {
				p.refused = append(p.refused, fmt.Sprintf("%s %s refused with error_code %s", c.MaHoSo, c, ans.ErrorCode))
			}
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// snapshot returns the accepted writes, the refused ones and the
// simulator's own list, all at one moment.
func (p *portalRecorder) snapshot() ([]portalCall, []string, []portalsim.Received) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls), slices.Clone(p.refused), p.sim.Received()
}

func jsonString(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// jsonInt reads a number given as a JSON number or string (the portal's
// statuses are either).
func jsonInt(raw json.RawMessage) int {
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n
	}
	n, _ = strconv.Atoi(jsonString(raw))
	return n
}

// soakSender is the treasury: at least once, each event until it is
// answered 200 or 202, each attempt to the next instance, signed anew.
type soakSender struct {
	http   *http.Client
	secret []byte
	pick   func() string
	sem    chan struct{} // bounds the requests in flight

	acked atomic.Int64

	mu       sync.Mutex
	tally    map[string]int
	problems []string
}

func (s *soakSender) count(kind string) {
	s.mu.Lock()
	s.tally[kind]++
	s.mu.Unlock()
}

func (s *soakSender) problem(format string, args ...any) {
	s.mu.Lock()
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// send delivers one event and returns the final answer's status (200 or
// 202) and whether an earlier attempt may have been stored (it ended
// without an answer, or with a 5xx).
func (s *soakSender) send(ctx context.Context, ev *soakEvent) (status int, uncertain bool, err error) {
	backoff := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return 0, uncertain, fmt.Errorf("%w after %d attempts", context.Cause(ctx), attempt-1)
		}
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		code, body, err := s.post(ctx, s.pick(), ev)
		<-s.sem
		switch {
		case err != nil:
			s.count("transport error")
			uncertain = true
		case code == http.StatusAccepted || code == http.StatusOK:
			s.count(strconv.Itoa(code))
			return code, uncertain, nil
		case code >= 500 || code == http.StatusConflict || code == http.StatusTooManyRequests:
			s.count(strconv.Itoa(code))
			uncertain = uncertain || code >= 500
		default:
			s.count(strconv.Itoa(code))
			return code, uncertain, fmt.Errorf("answered %d: %s", code, bytes.TrimSpace(body))
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

func (s *soakSender) post(ctx context.Context, base string, ev *soakEvent) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/callbacks/treasury/status", bytes.NewReader(ev.body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range webhook.Headers(s.secret, ev.id, time.Now(), ev.body) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

// run sends every dossier's events, each dossier in its own order on its
// own goroutine, all dossiers at once within the concurrency bound.
func (s *soakSender) run(ctx context.Context, ds []*soakDossier) {
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Go(func() {
			for i, sd := range d.sends {
				code, uncertain, err := s.send(ctx, sd.ev)
				if err != nil {
					s.problem("SEND: dossier %s: send %d, event %s: %v (the dossier's later events were not sent)", d.key(), i+1, sd.ev, err)
					return
				}
				switch {
				case sd.repeat && code != http.StatusOK:
					s.problem("ANSWER: dossier %s: the resend of %s, already acknowledged, was answered %d, want 200 (stored twice?)", d.key(), sd.ev, code)
				case !sd.repeat && code == http.StatusOK && !uncertain:
					s.problem("ANSWER: dossier %s: the first send of %s was answered 200 (duplicate), want 202", d.key(), sd.ev)
				}
				s.acked.Add(1)
			}
		})
	}
	wg.Wait()
}

func (s *soakSender) tallyString() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	kinds := make([]string, 0, len(s.tally))
	for k := range s.tally {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return s.tally[kinds[i]] > s.tally[kinds[j]] })
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s ×%d", k, s.tally[k])
	}
	return strings.Join(parts, ", ")
}

// soakRun is the portal writes of one event that follow each other: the
// full dossier (DongBoHoSoMC), then the progress (CapNhatTienDoHoSoMC), a
// write retried after an uncertain attempt included.
type soakRun struct {
	ev    *soakEvent // nil for a write of no event the treasury sent
	id    string
	calls []portalCall
}

// statusSoakProblems checks what the portal accepted (calls, in arrival
// order) against the plan: for every dossier, each step of its path as one
// run of writes (the full dossier, then the progress), each step once and
// in order, each a move the lifecycle allows from the step before, never a
// stale or not-allowed event, nothing after the final status, ending at the
// dossier's final status. It also returns how many writes were repeats
// within a run: a progress write is sent again when an earlier one's
// outcome is unknown (at least once), which only a cut-short delivery
// explains. Each problem starts with its kind in capitals.
func statusSoakProblems(ds []*soakDossier, calls []portalCall) (problems []string, repeats int) {
	byCode := map[string][]portalCall{}
	for _, c := range calls {
		byCode[c.MaHoSo] = append(byCode[c.MaHoSo], c)
	}
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	known := map[string]bool{}
	for _, d := range ds {
		known[d.code] = true
		got := byCode[d.code]
		events := map[string]*soakEvent{}
		for _, ev := range d.events {
			events[ev.id] = ev
		}
		var runs []soakRun
		for _, c := range got {
			if len(runs) > 0 && runs[len(runs)-1].id == c.EventID {
				runs[len(runs)-1].calls = append(runs[len(runs)-1].calls, c)
				continue
			}
			runs = append(runs, soakRun{ev: events[c.EventID], id: c.EventID, calls: []portalCall{c}})
		}
		before := len(problems)
		seen := map[string]int{}
		var order []string
		code := statusmap.CodeRegistered
		for k, r := range runs {
			ev := r.ev
			switch {
			case ev == nil:
				add("UNKNOWN EVENT: dossier %s: run %d %v comes from no event the treasury sent", d.key(), k+1, r.calls)
				continue
			case ev.outcome == outStale:
				why := "sent before the latest step applied"
				if ev.late {
					why = "a PROCESSING older than the CORRECTION_REQUIRED before it"
				}
				add("STALE DELIVERED: dossier %s: %s, %s, reached the portal as run %d %v; the portal received %v",
					d.key(), ev, why, k+1, r.calls, got)
			case ev.outcome == outNotAllowed:
				add("NOT ALLOWED DELIVERED: dossier %s: %s, %s, reached the portal as run %d %v; the portal received %v",
					d.key(), ev, d.lifecycle.Why(code, ev.status), k+1, r.calls, got)
			}
			if d.lifecycle.Final(code) {
				add("AFTER FINAL: dossier %s: run %d %v came after the final status %d", d.key(), k+1, r.calls, code)
			}
			if tr, ok := d.lifecycle.Next(code, ev.status); ok && ev.outcome == outDelivered {
				code = tr.To
			}
			// One run: the full dossier once or more, then the progress once or more.
			progress := slices.IndexFunc(r.calls, func(c portalCall) bool { return c.Service == "CapNhatTienDoHoSoMC" })
			switch {
			case r.calls[0].Service != "DongBoHoSoMC":
				add("PROTOCOL: dossier %s: run %d %v does not start with the full dossier (DongBoHoSoMC)", d.key(), k+1, r.calls)
			case progress < 0:
				add("PROTOCOL: dossier %s: run %d %v has no progress (CapNhatTienDoHoSoMC)", d.key(), k+1, r.calls)
			case slices.ContainsFunc(r.calls[progress:], func(c portalCall) bool { return c.Service == "DongBoHoSoMC" }):
				add("DUPLICATE: dossier %s: run %d %v sends the full dossier again after its progress", d.key(), k+1, r.calls)
			}
			repeats += len(r.calls) - 2
			for _, c := range r.calls {
				if ev.outcome == outDelivered && c.Status != ev.code {
					add("MAPPING: dossier %s: %s reached the portal as status %d", d.key(), ev, c.Status)
				}
			}
			if ev.outcome == outDelivered {
				if seen[ev.id] == 0 {
					order = append(order, ev.id)
				}
				seen[ev.id]++
			}
		}
		var want []string
		for _, ev := range d.path {
			want = append(want, ev.id)
			switch n := seen[ev.id]; {
			case n == 0:
				add("LOST: dossier %s: %s never reached the portal; it received %v", d.key(), ev, got)
			case n > 1:
				add("DUPLICATE: dossier %s: %s reached the portal %d times, apart; it received %v", d.key(), ev, n, got)
			}
		}
		if len(order) == len(want) && !slices.Equal(order, want) {
			add("ORDER: dossier %s: the steps reached the portal as %v, want %v", d.key(), order, want)
		}
		last := 0
		if len(got) > 0 {
			last = got[len(got)-1].Status
		}
		if last != d.final {
			add("NOT FINAL: dossier %s (%s) ends at %d on the portal, want %d; it received %v", d.key(), d.kind, last, d.final, got)
		}
		if len(problems) == before {
			var codes, wantCodes []int
			for _, r := range runs {
				codes = append(codes, r.calls[0].Status)
			}
			for _, ev := range d.path {
				wantCodes = append(wantCodes, ev.code)
			}
			if !slices.Equal(codes, wantCodes) {
				add("SEQUENCE: dossier %s: the portal received %v, want statuses %v", d.key(), got, wantCodes)
			}
		}
	}
	var stray []string
	for code := range byCode {
		if !known[code] {
			stray = append(stray, code)
		}
	}
	sort.Strings(stray)
	for _, code := range stray {
		add("UNKNOWN DOSSIER: the portal received %v for %s, which the treasury never mentioned", byCode[code], code)
	}
	return problems, repeats
}

// soakViewProblems checks the adapter's own view of a dossier
// (GET /v1/procedures/{p}/dossiers/{code}): its final status, and every
// event in the history once, the path's steps "delivered", the others
// "stale" or "not-allowed" as planned.
func soakViewProblems(d *soakDossier, rec view.Record) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if rec.TrangThai != d.final || !rec.PortalSynced {
		add("VIEW: dossier %s: trangThai %d, portalSynced %v; want %d and true", d.key(), rec.TrangThai, rec.PortalSynced, d.final)
	}
	entries := map[string][]view.Event{}
	for _, h := range rec.History {
		entries[h.EventID] = append(entries[h.EventID], h)
	}
	planned := map[string]bool{}
	for _, ev := range d.events {
		planned[ev.id] = true
		switch hs := entries[ev.id]; {
		case len(hs) != 1:
			add("VIEW: dossier %s: %s is in the history %d times: %+v", d.key(), ev, len(hs), hs)
		case hs[0].Delivery != ev.outcome:
			add("VIEW: dossier %s: %s is recorded %q, want %q", d.key(), ev, hs[0].Delivery, ev.outcome)
		}
	}
	for id, hs := range entries {
		if id != "" && !planned[id] {
			add("VIEW: dossier %s: the history holds event %q, which the treasury never sent: %+v", d.key(), id, hs)
		}
	}
	return problems
}

// reportByKind reports the first n problems of each kind, kinds in the
// order they first appear.
func reportByKind(t testing.TB, problems []string, n int) {
	t.Helper()
	shown := map[string]int{}
	for _, p := range problems {
		kind, _, _ := strings.Cut(p, ":")
		if shown[kind] < n {
			t.Error(p)
		}
		shown[kind]++
	}
	for kind, k := range shown {
		if k > n {
			t.Errorf("... and %d more %s problems", k-n, kind)
		}
	}
}

// keepEvidence copies every problem and every adapter log into dir
// (DVC_SOAK_KEEP=dir), since the test's own directory goes with the test.
func keepEvidence(t testing.TB, dir string, problems, logs []string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("DVC_SOAK_KEEP: %v", err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, "problems.txt"), []byte(strings.Join(problems, "\n")+"\n"), 0o644); err != nil {
		t.Errorf("DVC_SOAK_KEEP: %v", err)
	}
	for _, l := range logs {
		if b, err := os.ReadFile(l); err == nil {
			_ = os.WriteFile(filepath.Join(dir, filepath.Base(l)), b, 0o644)
		}
	}
	t.Logf("problems and adapter logs kept in %s", dir)
}

// problemKinds counts problems by their leading kind.
func problemKinds(problems []string) map[string]int {
	m := map[string]int{}
	for _, p := range problems {
		kind, _, _ := strings.Cut(p, ":")
		m[kind]++
	}
	return m
}

// TestStatusSoak sends 10,000 signed status events for 500 dossiers through
// two adapter instances on one Redis while the instances are SIGKILLed and
// restarted 6 times and the portal is down for a while, then checks that
// the portal received every dossier's allowed path once, in order, and
// nothing else: no stale or not-allowed event, nothing after a final status.
func TestStatusSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test: skipped with -short")
	}
	runStatusSoak(t, singleRedis(), soakDossierCount, soakOptions{})
}

// TestStatusSoakCluster is the soak, smaller, with the instances on a
// Redis Cluster.
func TestStatusSoakCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test: skipped with -short")
	}
	runStatusSoak(t, clusterRedis(t), soakTopologyDossiers, soakOptions{})
}

// TestStatusSoakSentinel is the soak, smaller, with the instances on a
// Sentinel set.
func TestStatusSoakSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test: skipped with -short")
	}
	runStatusSoak(t, sentinelRedis(t), soakTopologyDossiers, soakOptions{})
}

// soakOptions changes the soak's chaos. The zero value is the soak as the
// comment of TestStatusSoak describes it.
type soakOptions struct {
	// noKills leaves the adapter instances alive.
	noKills bool
	// alongside runs beside the sending phase on the fleet and its key
	// prefix; the soak waits for it to return before it waits for the
	// portal to catch up. It returns how many status writes the portal may
	// see repeated on its account (attempts cut short, e.g. by a Redis
	// failover, besides those the adapter logs).
	// progress is the share of the soak's callbacks acknowledged so far.
	alongside func(ctx context.Context, f *fleet, keyPrefix string, progress func() float64) (repeats int)
}

// runStatusSoak runs the soak with n dossiers on the Redis target.
func runStatusSoak(t *testing.T, target redisTarget, n int, opts soakOptions) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (plan and kills), Redis %s", seed, target.name)
	prefix := batchPrefix(t, "soak")
	ds := planStatusSoak(t, prefix, n, soakSendsPerDossier, soakStalePerDossier, seed)
	total, distinct, staleN, lateN, notAllowedN := 0, 0, 0, 0, 0
	kinds := map[soakKind]int{}
	for _, d := range ds {
		total += len(d.sends)
		distinct += len(d.events)
		kinds[d.kind]++
		for _, ev := range d.events {
			switch ev.outcome {
			case outStale:
				staleN++
			case outNotAllowed:
				notAllowedN++
			}
			if ev.late {
				lateN++
			}
		}
	}

	// The portal, in-process.
	sim := portalsim.New(portalsim.Options{})
	rec := &portalRecorder{sim: sim}
	portalSrv := httptest.NewServer(rec)
	t.Cleanup(portalSrv.Close)
	setDown := func(down bool) {
		method, body := http.MethodDelete, ""
		if down {
			method, body = http.MethodPut, `{"down":true}`
		}
		req, _ := http.NewRequest(method, portalSrv.URL+"/sim/admin/faults", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("portal faults: %v", err)
			return
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("portal faults: %s %d", method, resp.StatusCode)
		}
	}

	keyPrefix := target.prefix(t)
	f := startFleetWith(t, 2, h.simURL, keyPrefix, func(c map[string]any) {
		target.configure(c, keyPrefix)
		p := section(c, "portal")
		p["transport"], p["url"], p["username"], p["password"] = "session", portalSrv.URL+"/api", "dvc-adapter", "dev-portal-secret"
		p["timeout"] = "1s"
		// A breaker that opened during the outage probes again soon; the
		// other breaker settings are the defaults.
		p["resilience"] = map[string]any{"openTimeout": "500ms", "window": "5s"}
		section(c, "delivery")["workers"] = soakWorkers
		section(c, "delivery")["lease"] = soakLease.String()
		section(c, "delivery")["schedule"] = soakSchedule
		section(c, "delivery")["minSpan"] = soakMinSpan.String()
		// A write whose outcome is unknown waits before its retry, in
		// proportion to the compressed schedule.
		section(c, "delivery")["uncertainWait"] = soakUncertainWait.String()
		section(c, "log")["level"] = "warn"
	})
	box := redisoutbox.New(target.client(t), keyPrefix, nil)

	secret, err := webhook.ParseSecret(callbackSecret)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	s := &soakSender{http: &http.Client{Transport: tr, Timeout: 5 * time.Second}, secret: secret, pick: f.pick,
		sem: make(chan struct{}, soakSendConcurrency), tally: map[string]int{}}
	defer tr.CloseIdleConnections()

	// The chaos: kills at set shares of the events acknowledged, the last
	// once every event is in; the portal down from 30 % on for soakOutage.
	killAt := []float64{0.10, 0.25, 0.40, 0.60, 0.80, 1.0}
	if opts.noKills {
		killAt = nil
	}
	const downAt = 0.30
	var kills, killsUnderLoad atomic.Int64
	var outageStart, outageEnd time.Time
	chaosCtx, stopChaos := context.WithTimeout(f.work, soakSendTime+soakOutage)
	defer stopChaos()
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		rng := rand.New(rand.NewPCG(seed, ^seed))
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		down := false
		defer func() {
			if down {
				setDown(false)
			}
		}()
		for {
			share := float64(s.acked.Load()) / float64(total)
			if k := int(kills.Load()); k < len(killAt) && share >= killAt[k] && f.killRandom(rng) {
				kills.Add(1)
				if share < 1 {
					killsUnderLoad.Add(1)
				}
			}
			if outageStart.IsZero() && share >= downAt {
				setDown(true)
				down, outageStart = true, time.Now()
			}
			if down && time.Since(outageStart) >= soakOutage {
				setDown(false)
				down, outageEnd = false, time.Now()
			}
			if int(kills.Load()) == len(killAt) && !outageEnd.IsZero() {
				return
			}
			select {
			case <-chaosCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	var alongside sync.WaitGroup
	allowedRepeats := 0
	if opts.alongside != nil {
		alongside.Go(func() {
			allowedRepeats = opts.alongside(f.work, f, keyPrefix, func() float64 {
				return float64(s.acked.Load()) / float64(total)
			})
		})
	}
	start := time.Now()
	sendCtx, cancelSend := context.WithTimeoutCause(f.work, soakSendTime, errors.New("the sending phase took too long"))
	s.run(sendCtx, ds)
	cancelSend()
	if s.acked.Load() < int64(total) {
		stopChaos() // the last kill waits for every event to be in: it will not come
	}
	sent := time.Since(start)
	<-chaosDone
	alongside.Wait()

	// Wait for the portal to catch up: every dossier at its final status and
	// nothing left in the outbox, or nothing left that can move: only dead
	// letters and the events they hold (a dead letter never leaves by itself).
	drainStart := time.Now()
	var st outbox.Stats
	var dead []outbox.DeadLetter
	notFinal, firstNotFinal := 0, ""
	for {
		var err error
		st, err = box.Stats(t.Context())
		if err != nil {
			t.Fatalf("outbox stats: %v", err)
		}
		notFinal, firstNotFinal = 0, ""
		for _, d := range ds {
			if code, _ := sim.Status(d.code); code != d.final {
				if notFinal == 0 {
					firstNotFinal = d.code
				}
				notFinal++
			}
		}
		if notFinal == 0 && st.Pending == 0 && st.InFlight == 0 {
			break
		}
		if st.Dead > 0 && st.InFlight == 0 && st.Waiting == 0 {
			if dead, err = allDeadLetters(t.Context(), box); err != nil {
				t.Fatalf("listing dead letters: %v", err)
			}
			if stuck := heldBy(dead); stuck == st.Pending {
				break
			}
		}
		if time.Since(drainStart) > soakDrain {
			break
		}
		time.Sleep(soakPoll)
	}
	drained := time.Since(drainStart)

	calls, refused, received := rec.snapshot()
	crashed, killed := f.deaths()
	failedAttempts := countInLogs(f.logs(), "status delivery failed")
	problems, repeats := statusSoakProblems(ds, calls)
	t.Logf("%d dossiers (%v), %d sends (%d distinct events, %d of them stale, %d of those a late PROCESSING after the correction request, "+
		"%d not allowed); sent in %v, portal caught up %v later; answers: %s; kills: %d (%d while events were still being sent), "+
		"supervisor saw %d killed, %d crashed; portal down %v: %d calls answered 503; portal accepted %d status writes (%d of them "+
		"repeats after an uncertain attempt), %d look-ups; outbox %+v; failed delivery attempts in the logs: %d",
		len(ds), kinds, total, distinct, staleN, lateN, notAllowedN,
		sent.Round(10*time.Millisecond), drained.Round(10*time.Millisecond), s.tallyString(),
		kills.Load(), killsUnderLoad.Load(), killed, crashed, outageEnd.Sub(outageStart).Round(10*time.Millisecond),
		rec.unavailable.Load(), len(calls), repeats, rec.lookups.Load(), st, failedAttempts)

	// Bugs first: what the portal received. A write is repeated only after
	// an attempt that failed (logged) or was cut short by a kill (at most
	// one per worker of the killed instance).
	if bound := failedAttempts + len(killAt)*soakWorkers + allowedRepeats; repeats > bound {
		problems = append(problems, fmt.Sprintf("REPEATS: %d writes repeated, more than the %d failed or cut-short attempts explain",
			repeats, bound))
	}
	problems = append(problems, s.problems...)
	for _, r := range refused {
		problems = append(problems, "REFUSED: the portal refused a status write: "+r)
	}
	problems = append(problems, simAgrees(ds, received, calls)...)
	if st.Dead > 0 {
		if dead == nil {
			var err error
			if dead, err = allDeadLetters(t.Context(), box); err != nil {
				t.Errorf("listing dead letters: %v", err)
			}
		}
		var dp []string
		for _, l := range dead {
			dp = append(dp, fmt.Sprintf("DEAD LETTER: %s event %s after %d attempts, %v after its first (MinSpan %v), holding %d later events: %s",
				l.Dossier, l.ID, l.Attempts, deadSpan(l), soakMinSpan, l.Held, l.Reason))
		}
		problems = append(dp, problems...) // the cause of the LOST and NOT FINAL of their dossiers
	}
	if notFinal > 0 {
		problems = append(problems, fmt.Sprintf("STUCK: %d dossiers not at their final status on the portal %v after the last send (first: %s); outbox %+v",
			notFinal, drained.Round(time.Second), firstNotFinal, st))
	}
	if notFinal == 0 && st.Pending == 0 {
		problems = append(problems, viewProblems(t, f, ds)...)
	}
	if len(problems) > 0 {
		t.Errorf("%d problems, by kind: %v", len(problems), problemKinds(problems))
		reportByKind(t, problems, 4)
		if dir := os.Getenv("DVC_SOAK_KEEP"); dir != "" {
			keepEvidence(t, dir, problems, f.logs())
		}
	}

	// The test must have done what it says.
	if int(kills.Load()) != len(killAt) || killed != len(killAt) {
		t.Errorf("%d kills planned, %d made, %d seen by the supervisors", len(killAt), kills.Load(), killed)
	}
	if len(killAt) > 0 && killsUnderLoad.Load() == 0 {
		t.Errorf("no instance was killed while events were being sent")
	}
	if outageEnd.IsZero() || rec.unavailable.Load() == 0 {
		t.Errorf("the portal outage did not happen or no delivery ran into it (%d calls answered 503)", rec.unavailable.Load())
	}
}

// allDeadLetters lists every dead letter of box.
func allDeadLetters(ctx context.Context, box outbox.Store) ([]outbox.DeadLetter, error) {
	var all []outbox.DeadLetter
	cursor := ""
	for {
		page, next, err := box.DeadLetters(ctx, cursor, 500)
		if err != nil {
			return all, err
		}
		all = append(all, page...)
		if next == "" {
			return all, nil
		}
		cursor = next
	}
}

// heldBy counts the events that dead letters keep from moving: themselves
// and the events behind them.
func heldBy(dead []outbox.DeadLetter) int64 {
	n := int64(0)
	for _, l := range dead {
		n += 1 + int64(l.Held)
	}
	return n
}

// deadSpan is how long after its first attempt a dead letter died, when
// its history says.
func deadSpan(l outbox.DeadLetter) time.Duration {
	if len(l.History) == 0 {
		return 0
	}
	return l.DeadAt.Sub(l.History[0].At).Round(10 * time.Millisecond)
}

// simAgrees checks the recorder against the simulator's own list: the same
// accepted writes per dossier, and no move the simulator saw as backward.
func simAgrees(ds []*soakDossier, recv []portalsim.Received, calls []portalCall) []string {
	sim := map[string][]int{}
	var problems []string
	for _, r := range recv {
		if r.Backward {
			problems = append(problems, fmt.Sprintf("NOT FORWARD: the portal simulator saw %s %s to %s as a backward move", r.Service, r.MaHoSo, r.Status))
		}
		if (r.Service == "DongBoHoSoMC" || r.Service == "CapNhatTienDoHoSoMC") && r.ErrorCode == "" {
			n, _ := strconv.Atoi(r.Status)
			sim[r.MaHoSo] = append(sim[r.MaHoSo], n)
		}
	}
	mine := map[string][]int{}
	for _, c := range calls {
		mine[c.MaHoSo] = append(mine[c.MaHoSo], c.Status)
	}
	for _, d := range ds {
		if !slices.Equal(sim[d.code], mine[d.code]) {
			problems = append(problems, fmt.Sprintf("HARNESS: dossier %s: the simulator lists %v, the recorder %v", d.key(), sim[d.code], mine[d.code]))
		}
	}
	return problems
}

// viewProblems reads every dossier's view from the adapter and checks it.
func viewProblems(t *testing.T, f *fleet, ds []*soakDossier) []string {
	t.Helper()
	cl := &http.Client{Timeout: 5 * time.Second}
	var problems []string
	for _, d := range ds {
		var rec view.Record
		var err error
		for range 20 { // an instance may be restarting
			if err = getView(cl, f.pick(), d, &rec); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("VIEW: dossier %s: %v", d.key(), err))
			continue
		}
		problems = append(problems, soakViewProblems(d, rec)...)
	}
	return problems
}

func getView(cl *http.Client, base string, d *soakDossier, rec *view.Record) error {
	req, err := http.NewRequest(http.MethodGet, base+"/v1/procedures/"+d.procedure+"/dossiers/"+d.code, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+portalToken)
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET view: %d %s", resp.StatusCode, body)
	}
	return json.Unmarshal(body, rec)
}

// TestStatusSoakChecks shows that the soak's checks catch each kind of
// violation when fed fabricated portal calls: a move sent twice, a full
// dossier sent again after its progress, a reordering, a stale event
// delivered (also the late PROCESSING that replaces the real one), an event
// not allowed delivered, a write after a final status, a lost step, a
// dossier that does not finish, a wrong service or a missing progress, a
// stray dossier; and a view that records a stale or not-allowed event as
// delivered. A faithful record yields no problem, and a progress write
// repeated in its run (at least once) is counted, not reported.
func TestStatusSoakChecks(t *testing.T) {
	const prefix = "chk.soak00"
	ds := planStatusSoak(t, prefix, 32, soakSendsPerDossier, soakStalePerDossier, 1)
	run := func(d *soakDossier, ev *soakEvent, code int) []portalCall {
		return []portalCall{{Service: "DongBoHoSoMC", MaHoSo: d.code, Status: code, EventID: ev.id},
			{Service: "CapNhatTienDoHoSoMC", MaHoSo: d.code, Status: code, EventID: ev.id}}
	}
	perfect := func(d *soakDossier) []portalCall {
		var out []portalCall
		for _, ev := range d.path {
			out = append(out, run(d, ev, ev.code)...)
		}
		return out
	}
	eventOf := func(d *soakDossier, outcome string, late bool) *soakEvent {
		for _, ev := range d.events {
			if ev.outcome == outcome && ev.late == late {
				return ev
			}
		}
		return nil
	}
	// of returns a dossier of the plan that is not used yet and has what a
	// mutation needs.
	checkSoakPlan(t, ds)
	used := map[*soakDossier]bool{}
	of := func(ok func(d *soakDossier) bool) *soakDossier {
		for _, d := range ds[:len(ds)-1] { // the last one stays untouched
			if !used[d] && ok(d) {
				used[d] = true
				return d
			}
		}
		t.Fatal("the plan has no dossier left for a mutation")
		return nil
	}
	any := func(*soakDossier) bool { return true }
	kind := func(k soakKind) func(d *soakDossier) bool { return func(d *soakDossier) bool { return d.kind == k } }
	hasLate := func(d *soakDossier) bool { return eventOf(d, outStale, true) != nil }

	var clean []portalCall
	for _, d := range ds {
		clean = append(clean, perfect(d)...)
	}
	if p, n := statusSoakProblems(ds, clean); len(p) != 0 || n != 0 {
		t.Fatalf("a faithful record reported problems (%d repeats): %q", n, p)
	}
	if p, _ := statusSoakProblems(ds, clean[:len(clean)-1]); len(p) == 0 {
		t.Fatal("a record missing the last progress reported nothing")
	}

	type mutation struct {
		name    string
		dossier func(d *soakDossier) bool
		want    []string // problem kinds that must be reported for the dossier
		mut     func(d *soakDossier, c []portalCall) []portalCall
	}
	muts := []mutation{
		{"a move twice", kind(kindResumed), []string{"DUPLICATE"}, func(_ *soakDossier, c []portalCall) []portalCall {
			return slices.Insert(c, 10, c[8:10]...) // 9 sent whole twice: 2 4 5 4 9 9 10
		}},
		{"a move again later", kind(kindResumed), []string{"DUPLICATE", "NOT FINAL"}, func(_ *soakDossier, c []portalCall) []portalCall {
			return append(c, c[8:10]...) // 2 4 5 4 9 10 9
		}},
		{"the correction's resumption twice", kind(kindResumed), []string{"DUPLICATE"}, func(_ *soakDossier, c []portalCall) []portalCall {
			return slices.Insert(c, 8, c[6:8]...) // the second PROCESSING twice
		}},
		{"full dossier again after the progress", kind(kindRound), []string{"DUPLICATE"}, func(_ *soakDossier, c []portalCall) []portalCall {
			return slices.Insert(c, 6, c[4]) // DongBo 5, CapNhat 5, DongBo 5
		}},
		{"reorder", kind(kindRound), []string{"ORDER"}, func(_ *soakDossier, c []portalCall) []portalCall {
			c[6], c[7], c[8], c[9] = c[8], c[9], c[6], c[7] // supplement 1: 4 before 2
			return c
		}},
		{"stale delivered", any, []string{"STALE DELIVERED"}, func(d *soakDossier, c []portalCall) []portalCall {
			ev := eventOf(d, outStale, false)
			return slices.Insert(c, 4, run(d, ev, 4)...)
		}},
		{"late PROCESSING instead of the real one", hasLate, []string{"STALE DELIVERED", "LOST"}, func(d *soakDossier, c []portalCall) []portalCall {
			ev := eventOf(d, outStale, true)
			c[6].EventID, c[7].EventID = ev.id, ev.id // same statuses, wrong event
			return c
		}},
		{"not allowed delivered", kind(kindRound), []string{"NOT ALLOWED DELIVERED"}, func(d *soakDossier, c []portalCall) []portalCall {
			ev := eventOf(d, outNotAllowed, false)
			return slices.Insert(c, 2, run(d, ev, 9)...)
		}},
		{"after a final status", kind(kindRefusedAfterControl), []string{"NOT ALLOWED DELIVERED", "AFTER FINAL", "NOT FINAL"}, func(d *soakDossier, c []portalCall) []portalCall {
			var after *soakEvent
			for _, ev := range d.events {
				if ev.outcome == outNotAllowed && ev.supplement == 0 && ev.seq > 30 {
					after = ev
				}
			}
			if after == nil {
				t.Fatalf("%s has no event after its final status", d.key())
			}
			return append(c, run(d, after, 9)...)
		}},
		{"lost", kind(kindResumed), []string{"LOST"}, func(_ *soakDossier, c []portalCall) []portalCall {
			return slices.Delete(c, 8, 10) // no 9
		}},
		{"not final", kind(kindRefusedAtIntake), []string{"LOST", "NOT FINAL"}, func(_ *soakDossier, c []portalCall) []portalCall {
			return c[:2]
		}},
		{"wrong service", any, []string{"PROTOCOL"}, func(_ *soakDossier, c []portalCall) []portalCall {
			c[0].Service = "CapNhatTienDoHoSoMC"
			return c
		}},
		{"no progress", any, []string{"PROTOCOL"}, func(_ *soakDossier, c []portalCall) []portalCall {
			return slices.Delete(c, 3, 4)
		}},
	}
	var calls []portalCall
	chosen := make([]*soakDossier, len(muts))
	mutated := map[*soakDossier]int{}
	for i, m := range muts {
		chosen[i] = of(m.dossier)
		mutated[chosen[i]] = i
	}
	var repeated *soakDossier
	for _, d := range ds {
		c := perfect(d)
		if i, ok := mutated[d]; ok {
			c = muts[i].mut(d, c)
		} else if repeated == nil && d != ds[len(ds)-1] {
			repeated = d
			c = slices.Insert(c, 2, c[1]) // the first progress sent again: at least once
		}
		calls = append(calls, c...)
	}
	calls = append(calls, portalCall{Service: "DongBoHoSoMC", MaHoSo: prefix + "-20260612-9999999", Status: 2, EventID: "x"})
	problems, repeats := statusSoakProblems(ds, calls)
	for i, m := range muts {
		key := chosen[i].key()
		kinds := map[string]bool{}
		for _, p := range problems {
			if strings.Contains(p, key+":") || strings.Contains(p, key+" ") {
				kind, _, _ := strings.Cut(p, ":")
				kinds[kind] = true
			}
		}
		for _, k := range m.want {
			if !kinds[k] {
				t.Errorf("%s: no %s problem reported for %s (%s); reported: %v", m.name, k, key, chosen[i].kind, kinds)
			}
		}
	}
	for _, d := range []*soakDossier{ds[len(ds)-1], repeated} {
		for _, p := range problems {
			if strings.Contains(p, d.key()) {
				t.Errorf("a dossier without a fault got a problem: %s", p)
			}
		}
	}
	if repeats < 1 {
		t.Errorf("%d repeats counted, want the repeated progress at least", repeats)
	}
	if k := problemKinds(problems); k["UNKNOWN DOSSIER"] != 1 {
		t.Errorf("the stray dossier was not reported: %v", k)
	}

	// The view: a faithful one passes; a stale event recorded as delivered,
	// a not-allowed one recorded stale, an event recorded twice and a wrong
	// current status fail.
	d := ds[0]
	good := view.Record{Procedure: d.procedure, MaHoSo: d.code, TrangThai: d.final, PortalSynced: true}
	for _, ev := range d.events {
		good.History = append(good.History, view.Event{EventID: ev.id, TrangThai: ev.code, Delivery: ev.outcome})
	}
	if p := soakViewProblems(d, good); len(p) != 0 {
		t.Fatalf("a faithful view reported problems: %q", p)
	}
	bad := good
	bad.History = slices.Clone(good.History)
	for _, f := range []struct{ from, to string }{{outStale, outDelivered}, {outNotAllowed, outStale}} {
		i := slices.IndexFunc(bad.History, func(h view.Event) bool { return h.Delivery == f.from })
		bad.History[i].Delivery = f.to
	}
	bad.History = append(bad.History, view.Event{EventID: d.path[0].id, Delivery: view.DeliveryPending})
	bad.TrangThai = 4
	if p := soakViewProblems(d, bad); len(p) != 4 {
		t.Errorf("a wrong view: %d problems, want 4 (stale recorded delivered, not-allowed recorded stale, an event twice, trangThai 4): %q", len(p), p)
	}
}

// TestStatusSoakPlan checks the soak's plans for a few seeds at full size.
// The plan is what the rules make of it: replaying each dossier's first
// sends, an event older than the last step applied is stale, a newer one is
// delivered when the lifecycle allows its move and not-allowed otherwise;
// every procedure lives every kind of life.
func TestStatusSoakPlan(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		checkSoakPlan(t, planStatusSoak(t, "chk.plan00", soakDossierCount, soakSendsPerDossier, soakStalePerDossier, seed))
	}
}

func checkSoakPlan(t *testing.T, ds []*soakDossier) {
	t.Helper()
	lives := map[string]bool{}
	for _, d := range ds {
		lives[d.procedure+" "+d.kind.String()] = true
		if len(d.sends) != soakSendsPerDossier {
			t.Errorf("%s: %d sends", d.key(), len(d.sends))
		}
		code, sup, seq := statusmap.CodeRegistered, 0, int64(0)
		for _, sd := range d.sends {
			if sd.repeat {
				continue
			}
			ev, want := sd.ev, outNotAllowed
			tr, ok := d.lifecycle.Next(code, ev.status)
			switch {
			case ev.supplement < sup || (ev.supplement == sup && ev.seq <= seq):
				want = outStale
			case ok:
				want, code, sup, seq = outDelivered, tr.To, ev.supplement, ev.seq
			}
			if ev.outcome != want {
				t.Errorf("%s: %s is planned %s; the rules make it %s", d.key(), ev, ev.outcome, want)
			}
		}
		if code != d.final {
			t.Errorf("%s: ends at %d, planned %d", d.key(), code, d.final)
		}
	}
	if len(lives) != len(procedures)*int(soakKinds) {
		t.Errorf("the plan's lives: %v", lives)
	}
}

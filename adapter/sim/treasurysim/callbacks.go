package treasurysim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/kbnn/dvc/adapter/webhook"
)

// Treasury statuses the simulator's default callback paths use. Every status of
// schemas/treasury/status-event.schema.json may be sent on demand.
const (
	StatusAccepted       = "ACCEPTED"
	StatusProcessing     = "PROCESSING"
	StatusPaid           = "PAID"
	StatusAccountOpened  = "ACCOUNT_OPENED"
	StatusResultReturned = "RESULT_RETURNED"
)

// StatusCorrectionRequired asks the unit to correct the dossier. Its event carries the new
// due date, counted from the request; the document's path stops there (the resubmission is a
// new document).
const StatusCorrectionRequired = "CORRECTION_REQUIRED"

// DefaultCallbackInterval is the time between two ticks when CallbackOptions.Interval is zero.
const DefaultCallbackInterval = 5 * time.Second

// ErrCallbacksOff is returned (and POST /sim/admin/callbacks answers 409 CALLBACKS_OFF) when
// an event is to be sent or signed before StartCallbacks was called.
var ErrCallbacksOff = errors.New("treasurysim: callbacks not started")

// ReasonCallbacksOff is the reasonCode of POST /sim/admin/callbacks before StartCallbacks.
const ReasonCallbacksOff = "CALLBACKS_OFF"

// CallbackOptions configures the status callbacks (see StartCallbacks).
type CallbackOptions struct {
	// URL receives every event as a POST, e.g.
	// http://127.0.0.1:8080/v1/callbacks/treasury/status. Required, http or https.
	URL string
	// Secret is the Standard Webhooks HMAC key (webhook.ParseSecret reads the "whsec_" form).
	// Required.
	Secret []byte
	// Path is the treasury statuses every document goes through, one per tick, after
	// RECEIVED. Zero (with Paths zero too): ACCEPTED, PROCESSING, PAID, RESULT_RETURNED, and
	// for tai-khoan ACCEPTED, PROCESSING, ACCOUNT_OPENED, RESULT_RETURNED.
	Path []string
	// Paths overrides Path for the procedures it names (procedure id → statuses).
	Paths map[string][]string
	// Interval is the time between two ticks. Zero: DefaultCallbackInterval. Negative: no
	// ticks at all; events go out only through TickCallbacks and POST /sim/admin/callbacks.
	Interval time.Duration
	// Client sends the events. Zero: an http.Client with a 10-second timeout.
	Client *http.Client
	// NewID returns a new unique event id (1..128 of [A-Za-z0-9._:-], starting with a letter
	// or digit). Zero: "evt-" followed by 26 random base32 characters.
	NewID func() string
}

// withDefaults checks o and fills its zero fields.
func (o CallbackOptions) withDefaults() (CallbackOptions, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, fmt.Errorf("treasurysim: callback URL %q is not an absolute http(s) URL", o.URL)
	}
	if len(o.Secret) == 0 {
		return o, errors.New("treasurysim: callback secret is empty")
	}
	if len(o.Path) == 0 && len(o.Paths) == 0 {
		o.Path = []string{StatusAccepted, StatusProcessing, StatusPaid, StatusResultReturned}
		o.Paths = map[string][]string{
			"tai-khoan": {StatusAccepted, StatusProcessing, StatusAccountOpened, StatusResultReturned},
		}
	}
	check := func(where string, path []string) error {
		for _, st := range path {
			if !eventStatuses()[st] {
				return fmt.Errorf("treasurysim: %s: %q is not a status of the status event schema", where, st)
			}
		}
		return nil
	}
	if err := check("callback path", o.Path); err != nil {
		return o, err
	}
	for p, path := range o.Paths {
		if err := check("callback path of "+p, path); err != nil {
			return o, err
		}
	}
	o.Secret = bytes.Clone(o.Secret)
	if o.Interval == 0 {
		o.Interval = DefaultCallbackInterval
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.NewID == nil {
		o.NewID = newEventID
	}
	return o, nil
}

// newEventID returns "evt-" and 26 random base32 characters (130 bits).
func newEventID() string { return "evt-" + rand.Text() }

// CallbackRecord is one event the simulator sent, as GET /sim/callbacks lists it.
type CallbackRecord struct {
	EventID     string `json:"eventId"`
	DocumentID  string `json:"documentId"`
	DossierCode string `json:"dossierCode"`
	Status      string `json:"status"`
	Sequence    int    `json:"sequence"`
	// Source is "tick" for events of the path, "admin" for POST /sim/admin/callbacks,
	// "withdrawal" for the WITHDRAWN event of a withdrawal.
	Source string `json:"source"`
	// Attempts counts the POSTs of this event (resends carry the same id and body).
	Attempts int `json:"attempts"`
	// Delivered is true once the receiver answered one attempt with 2xx.
	Delivered bool `json:"delivered"`
	// LastResponse is the HTTP status of the last attempt; 0 when it got no answer.
	LastResponse int `json:"lastResponse,omitempty"`
	// LastError says why the last attempt failed (transport error or non-2xx answer).
	LastError     string    `json:"lastError,omitempty"`
	LastAttemptAt time.Time `json:"lastAttemptAt,omitzero"`
	// Event is the exact body sent.
	Event json.RawMessage `json:"event"`
}

// docState is the callback state of one document.
type docState struct {
	seq     int      // last sequence number given to an event of the document
	step    int      // index in the path of the next status to send
	pending string   // id of the path event awaiting a 2xx, or ""
	queued  []string // ids of events to send, in order, once pending is delivered
	stopped bool     // the document was withdrawn: its path goes no further
	code    int      // the document's national status by its procedure's lifecycle; 0: registered
}

// emitter holds the callback configuration and state of a Sim. Its zero value is "not
// started".
type emitter struct {
	tick sync.Mutex // serialises ticks, so a document never has two path events in flight

	mu      sync.Mutex // guards everything below
	opts    CallbackOptions
	started bool
	docs    map[string]*docState
	records []*CallbackRecord // creation order
	byID    map[string]*CallbackRecord
}

// StartCallbacks configures the status callbacks and, unless opts.Interval is negative,
// starts a loop that ticks every Interval until ctx ends. On each tick every document the
// simulator holds (in arrival order) either resends its unacknowledged event or, when it has
// none, moves one step along its path: the document takes the new status and an event with a
// new id, the next sequence number and the sim clock's time is sent. The path follows the
// procedure's lifecycle (mappings/<procedure>/status.yaml, as the adapter does): a step the
// lifecycle does not allow from the document's national status is skipped, and a document at
// a final status or at a correction request (5; the resubmission is a new document) waits. An event that does not
// get a 2xx answer is resent on every later tick, with the same id and body and a fresh
// signature, until one does; the document moves no further meanwhile (at least once, in
// order). StartCallbacks can be called once per Sim.
func (s *Sim) StartCallbacks(ctx context.Context, opts CallbackOptions) error {
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	e := &s.cb
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errors.New("treasurysim: callbacks already started")
	}
	e.opts, e.started = o, true
	e.mu.Unlock()
	if o.Interval > 0 {
		go s.callbackLoop(ctx, o.Interval)
	}
	s.log.Info("treasury-sim: callbacks started", "url", o.URL, "interval", o.Interval.String())
	return nil
}

func (s *Sim) callbackLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.TickCallbacks(ctx)
		}
	}
}

// TickCallbacks runs one tick now (what the loop of StartCallbacks does every Interval) and
// returns how many sends it attempted. It does nothing before StartCallbacks.
func (s *Sim) TickCallbacks(ctx context.Context) int {
	e := &s.cb
	e.tick.Lock()
	defer e.tick.Unlock()
	n := 0
	for _, d := range s.store.list() {
		if ctx.Err() != nil {
			break
		}
		rec, err := s.nextPathEvent(d)
		if err != nil {
			s.log.Error("treasury-sim: cannot build callback", "documentId", d.DocumentID, "error", err.Error())
			continue
		}
		if rec != nil {
			s.deliver(ctx, rec)
			n++
		}
	}
	return n
}

// nextPathEvent returns the event a tick sends for d: its pending event, else its next
// queued event (a withdrawal's), else a new one for the next status of its path (moving the
// document to it) unless the document was withdrawn, or nil.
func (s *Sim) nextPathEvent(d Document) (*CallbackRecord, error) {
	e := &s.cb
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.started {
		return nil, nil
	}
	ds := e.doc(d.DocumentID)
	if ds.pending == "" && len(ds.queued) > 0 {
		ds.pending, ds.queued = ds.queued[0], ds.queued[1:]
	}
	if ds.pending != "" {
		return e.byID[ds.pending], nil
	}
	if ds.stopped || halted(d.Procedure, ds.code) {
		return nil, nil
	}
	path := e.pathOf(d.Procedure)
	for ds.step < len(path) {
		status := path[ds.step]
		if _, ok := move(d.Procedure, ds.code, status); !ok {
			ds.step++ // not a move the lifecycle allows from here: the treasury would not make it
			continue
		}
		rec, err := s.newRecordLocked(d, status, "", "tick")
		if err != nil {
			return nil, err
		}
		ds.step++
		ds.pending = rec.EventID
		return rec, nil
	}
	return nil, nil
}

// newRecordLocked builds a new event for d in status, moves the document to that status when
// its procedure's lifecycle allows the move, and records the event (unsent). An on-demand
// event the lifecycle does not allow is still sent, so that a receiver can be tested with it,
// but leaves the document as it was. e.mu is held.
func (s *Sim) newRecordLocked(d Document, status, id, source string, note ...string) (*CallbackRecord, error) {
	e := &s.cb
	if id == "" {
		id = e.opts.NewID()
	}
	if _, dup := e.byID[id]; dup {
		return nil, fmt.Errorf("%w: event id %q already used", errRequest, id)
	}
	now := s.now()
	ds := e.doc(d.DocumentID)
	ev := newEvent(d, id, status, ds.seq+1, now)
	if len(note) > 0 && note[0] != "" {
		ev.Note = note[0]
	}
	body, err := ev.encode()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errRequest, err)
	}
	ds.seq++
	if code, ok := move(d.Procedure, ds.code, status); ok {
		ds.code = code
		if path := e.pathOf(d.Procedure); source != "tick" && ds.step < len(path) {
			if i := slices.Index(path[ds.step:], status); i >= 0 {
				ds.step += i + 1 // an on-demand status still ahead on the path: go on from there
			}
		}
		s.store.setStatus(d.DocumentID, status, now)
	}
	rec := &CallbackRecord{EventID: id, DocumentID: d.DocumentID, DossierCode: d.DossierCode,
		Status: status, Sequence: ev.Sequence, Source: source, Event: body}
	e.records = append(e.records, rec)
	if e.byID == nil {
		e.byID = map[string]*CallbackRecord{}
	}
	e.byID[id] = rec
	return rec, nil
}

// pathOf returns the statuses the documents of a procedure go through. e.mu is held.
func (e *emitter) pathOf(procedure string) []string {
	if p, ok := e.opts.Paths[procedure]; ok {
		return p
	}
	return e.opts.Path
}

// doc returns the state of a document, creating it. e.mu is held.
func (e *emitter) doc(id string) *docState {
	if e.docs == nil {
		e.docs = map[string]*docState{}
	}
	ds, ok := e.docs[id]
	if !ok {
		ds = &docState{}
		e.docs[id] = ds
	}
	return ds
}

// deliver POSTs rec's event, signed now, and records the outcome. A 2xx answer clears the
// document's pending event if it was this one.
func (s *Sim) deliver(ctx context.Context, rec *CallbackRecord) CallbackRecord {
	e := &s.cb
	e.mu.Lock()
	o, body := e.opts, rec.Event
	e.mu.Unlock()
	now := s.now()
	code, err := post(ctx, o, rec.EventID, now, body)
	e.mu.Lock()
	defer e.mu.Unlock()
	rec.Attempts++
	rec.LastAttemptAt = now.In(ict).Truncate(time.Millisecond)
	rec.LastResponse, rec.LastError = code, ""
	if err != nil {
		rec.LastError = err.Error()
		s.log.Info("treasury-sim: callback failed", "eventId", rec.EventID, "documentId", rec.DocumentID,
			"status", rec.Status, "attempt", rec.Attempts, "error", rec.LastError)
		return *rec
	}
	rec.Delivered = true
	if ds := e.docs[rec.DocumentID]; ds != nil && ds.pending == rec.EventID {
		ds.pending = ""
	}
	s.log.Info("treasury-sim: callback delivered", "eventId", rec.EventID, "documentId", rec.DocumentID,
		"status", rec.Status, "attempt", rec.Attempts)
	return *rec
}

// post sends one signed event and returns the answer's status; err is set unless it is 2xx.
func post(ctx context.Context, o CallbackOptions, id string, ts time.Time, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range webhook.Headers(o.Secret, id, ts, body) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kbnn-treasury-sim")
	resp, err := o.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// Callbacks returns every event sent so far, in the order they were made (what GET
// /sim/callbacks lists).
func (s *Sim) Callbacks() []CallbackRecord {
	e := &s.cb
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]CallbackRecord, len(e.records))
	for i, r := range e.records {
		out[i] = *r
	}
	return out
}

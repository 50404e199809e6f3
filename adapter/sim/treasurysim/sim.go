// Package treasurysim owns the treasury simulator: an http.Handler that honours the adapter →
// treasury contract of schemas/treasury (login, SendDocument, CheckDocumentStatus) so the
// adapter can be run and tested end to end without the real treasury.
//
// The simulator validates every SendDocument body against the embedded schema (400
// INVALID_REQUEST), checks that the Idempotency-Key is the document's downstream key
// (hex SHA-256 of "<procedure>|<dossierCode>|<supplementNo>"), answers a repeated key with the
// first document's receipt (200, no new document), and applies business rules from the
// embedded allotments.yaml: unknown budget unit DVQHNS_KHONG_TON_TAI, unknown treasury office
// KBNN_KHONG_TON_TAI, a line without allotment KHONG_CO_DU_TOAN, a line over what remains of
// its allotment VUOT_DU_TOAN (all 422). Accepted documents deduct their lines.
//
// Withdrawal (POST /api/v1/documents/{documentId}/withdrawal, withdrawal.go): the body is
// validated against its schema and must name the document's procedure, dossier code and
// supplement number under the withdrawal key of that identity (400 otherwise); an unknown
// document is 404; a document PAID or RESULT_RETURNED is refused 422 DA_THANH_TOAN,
// ACCOUNT_OPENED DA_XU_LY_XONG, REJECTED, STOPPED or WITHDRAWN HO_SO_DA_KET_THUC, another
// unit's DVQHNS_KHONG_KHOP. A withdrawn document gives its lines back, its timed status path
// stops, and a WITHDRAWN status event is sent on the next tick; a repeated key answers 200
// with the first answer.
//
// Attachments (attachments.go): PUT /api/v1/attachments/{sha256} stores a file, idempotent by
// its hash (422 ATTACHMENT_HASH_MISMATCH when the body does not hash to the path); a document
// that references an attachment never uploaded is refused 422 TEP_DINH_KEM_KHONG_TON_TAI.
// GET /sim/attachments lists the files and GET /sim/attachments/{sha256} returns one.
//
// Besides the contract's routes, GET /sim/documents lists every accepted document in arrival
// order, for tests and testers, and /sim/admin/faults reads, replaces and clears the injected
// faults (see Faults and faults.go, admin.go).
//
// Status callbacks: once StartCallbacks is called, the simulator moves its documents along a
// path of treasury statuses and POSTs a status event
// (schemas/treasury/status-event.schema.json), signed with Standard Webhooks headers, to the
// callback URL for each step; POST /sim/admin/callbacks sends one event on demand and GET
// /sim/callbacks lists what was sent (callbacks.go, callbacks_event.go, callbacks_admin.go).
package treasurysim

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"regexp"
	"time"

	"github.com/kbnn/dvc/adapter/sim/simkit"
)

// Options configures a Sim. The zero value is usable.
type Options struct {
	// ClientID and ClientSecret are the only credentials POST /api/v1/login accepts.
	// Zero: "dvc-adapter" and "dev-treasury-secret".
	ClientID     string
	ClientSecret string
	// Clock returns the current time; it decides token expiry and receipt times.
	// Zero: time.Now.
	Clock func() time.Time
	// TokenTTL is the lifetime of issued access tokens, at least one second.
	// Zero: 15 minutes.
	TokenTTL time.Duration
	// MaxBodyBytes bounds request bodies; larger ones get 400 INVALID_REQUEST.
	// Zero: 1 MiB.
	MaxBodyBytes int64
	// Logger receives a record for every accepted, replayed or refused document.
	// Zero: records are discarded.
	Logger *slog.Logger
	// Rand drives the injected faults (ErrorRate, TimeoutRate, Jitter); give a seeded source
	// (rand.NewPCG(seed, seed)) for repeatable runs. The Sim serialises its use.
	// Zero: a randomly seeded source.
	Rand rand.Source
	// MaxAttachmentBytes bounds one uploaded attachment. Zero: 64 MiB.
	MaxAttachmentBytes int64
	// UnlimitedAllotments keeps every allotment whole: documents are still
	// refused for an unknown unit, office or allotment, never for exceeding
	// what remains, and nothing is deducted. For load runs, whose thousands
	// of dossiers would exhaust the embedded allotments.
	UnlimitedAllotments bool
	// KeepRequests is how many of the latest documents keep their request
	// body (Document.Request, GET /sim/documents/{id}/original); older ones
	// keep the rest of their record. Zero: DefaultKeepRequests. Negative:
	// every document keeps it, and a long load run grows the simulator by
	// the size of each request.
	KeepRequests int
}

// DefaultKeepRequests is the KeepRequests of a zero Options: about 200 MB of
// the requests a load run sends.
const DefaultKeepRequests = 10_000

// Sim is the treasury simulator. It is safe for concurrent use.
type Sim struct {
	opts      Options
	log       *slog.Logger
	validator *validator
	tokens    *tokens
	store     *store
	files     *files // uploaded attachments (attachments.go)
	handler   http.Handler

	faults simkit.Switch[Faults]
	rng    *simkit.Rand
	// sleep waits for d unless ctx ends first (then it returns ctx's error); tests replace it.
	sleep func(ctx context.Context, d time.Duration) error

	cb emitter // status callbacks (callbacks.go); zero until StartCallbacks
}

// New returns a simulator with the embedded reference data and fresh allotments. It panics
// only if the embedded schemas or allotments.yaml are broken, which the package tests rule out.
func New(opts Options) *Sim {
	if opts.ClientID == "" {
		opts.ClientID = "dvc-adapter"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "dev-treasury-secret"
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	switch {
	case opts.TokenTTL == 0:
		opts.TokenTTL = 15 * time.Minute
	case opts.TokenTTL < time.Second:
		opts.TokenTTL = time.Second
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.MaxAttachmentBytes <= 0 {
		opts.MaxAttachmentBytes = defaultMaxAttachmentBytes
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	v, err := newValidator()
	if err != nil {
		panic("treasurysim: " + err.Error())
	}
	l, err := parseLedger(allotmentsYAML)
	if l != nil {
		l.unlimited = opts.UnlimitedAllotments
	}
	if err != nil {
		panic("treasurysim: " + err.Error())
	}
	s := &Sim{opts: opts, log: log, validator: v, tokens: newTokens(), store: newStore(l, keepRequests(opts.KeepRequests)), files: newFiles(),
		rng: simkit.NewRand(opts.Rand), sleep: simkit.Sleep}
	s.handler = s.withFaults(s.routes())
	return s
}

func keepRequests(n int) int {
	if n == 0 {
		return DefaultKeepRequests
	}
	return n
}

// routes maps the contract's routes to their handlers. Cross-cutting behaviour (faults,
// latency, callbacks on status changes) belongs around this handler or in the store, not in
// the route handlers.
func (s *Sim) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/login", s.login)
	mux.HandleFunc("POST /api/v1/documents", s.authenticated(s.sendDocument))
	mux.HandleFunc("GET /api/v1/documents", s.authenticated(s.findByKey))
	mux.HandleFunc("GET /api/v1/documents/{documentId}", s.authenticated(s.documentStatus))
	mux.HandleFunc("POST /api/v1/documents/{documentId}/withdrawal", s.authenticated(s.withdrawDocument))
	mux.HandleFunc("GET /sim/documents", s.listDocuments)
	mux.HandleFunc("PUT /api/v1/attachments/{sha256}", s.authenticated(s.putAttachment))
	mux.HandleFunc("GET /sim/attachments", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Attachments()) })
	mux.HandleFunc("GET /sim/attachments/{sha256}", s.getAttachment)
	mux.HandleFunc("GET /sim/documents/{documentId}/original", s.documentOriginal)
	s.adminRoutes(mux)
	s.callbackRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeRefusal(w, &refusal{status: http.StatusNotFound, ReasonCode: ReasonNotFound,
			Message: "no route " + r.Method + " " + r.URL.Path})
	})
	return mux
}

// ServeHTTP serves the contract's routes, with the injected faults, and the /sim/ routes.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Documents returns every accepted document in arrival order (what GET /sim/documents lists).
func (s *Sim) Documents() []Document { return s.store.list() }

// InvalidateTokens forgets every issued access token, as a treasury restart would: the next
// call with an old token gets 401 INVALID_TOKEN.
func (s *Sim) InvalidateTokens() { s.tokens.reset() }

var statusPattern = regexp.MustCompile(`^[A-Z][A-Z_]{1,31}$`)

// SetStatus moves a document to another treasury status (e.g. "PROCESSING") and stamps its
// update time. It reports false when the document does not exist or the status is malformed.
func (s *Sim) SetStatus(documentID, status string) bool {
	if !statusPattern.MatchString(status) {
		return false
	}
	return s.store.setStatus(documentID, status, s.now())
}

// Remaining reports what remains of a budget unit's allotment for (chapter, item), and
// whether that allotment exists.
func (s *Sim) Remaining(budgetUnitCode, chapter, item string) (int64, bool) {
	return s.store.remaining(budgetUnitCode, chapter, item)
}

func (s *Sim) now() time.Time { return s.opts.Clock() }

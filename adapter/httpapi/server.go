// Package httpapi owns the adapter's HTTP surface: routes, caller
// authentication, request ids, body limits, the HTTP metrics, the one place
// where every error becomes a problem+json response, and the one place
// (conclude) where every refusal is logged once and every submission and
// withdrawal counted, whether the refusal is an error or a final answer the
// intake rendered and stored for replays.
package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/intake"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/adapter/tlsconf"
)

// Caller is one accepted bearer credential.
type Caller struct {
	Name  string
	Token string
	// Units, for a portal caller, are the budget units (maDVQHNS) whose
	// dossiers it may submit, withdraw, list and read; empty means every
	// unit. A client certificate caller of the same name takes them too.
	Units []string
}

// Options wire a server.
type Options struct {
	Intake       *intake.Service
	Callers      []Caller
	MaxBodyBytes int64
	Clock        func() time.Time
	Log          *slog.Logger
	// Metrics are the HTTP series the server updates; nil means new ones.
	Metrics *Metrics
	// Gatherer is what GET /metrics serves; nil means a registry holding
	// Metrics alone.
	Gatherer prometheus.Gatherer
	Ready    func() error // nil means always ready
	// Callbacks takes treasury status callbacks; nil leaves the route out.
	Callbacks CallbackReceiver
	// DeadLetters, with AdminCallers, serves /v1/admin/dead-letters.
	DeadLetters  DeadLetters
	AdminCallers []Caller
	// Dossiers serves GET /v1/dossiers to Callers and AdminCallers; nil
	// leaves the route out.
	Dossiers DossierFinder
	// Signers, with AdminCallers, serves /v1/admin/signers; nil leaves the
	// routes out.
	Signers signers.Store
	// Attachments bound the files of a multipart/related submission and of
	// an upload (PUT /v1/attachments/{sha256}).
	Attachments AttachmentLimits
	// Evidence appends the leaves of submissions, withdrawals and callbacks
	// (nil: none); Audit serves /v1/audit/* to Callers (nil leaves the
	// routes out).
	Evidence *intake.Recorder
	Audit    AuditReader
	// Modes are the route groups' authentication modes (bearer tokens,
	// client certificates, either or both); ClientCerts map verified client
	// certificates to callers of a group.
	Modes       Modes
	ClientCerts []ClientCert
	// LargeBodies cap the submissions and validations with a large body
	// handled at once (zero: no cap).
	LargeBodies LargeBodyLimits
}

type server struct {
	Options
	largeGate  *largeGate // nil: no cap
	uploadGate *largeGate // nil: no cap
	// certDNs are the ClientCerts' subjects, parsed once: certDNs[i] is
	// ClientCerts[i]'s, nil for one given by URI or that does not parse
	// (config refuses such a subject at start; here it matches nothing).
	certDNs []*tlsconf.DN
}

const (
	ctxRequestID = "requestID"
	ctxCaller    = "caller"
	ctxUnits     = "units"
	ctxProcedure = "procedure"
	ctxCode      = "maHoSo"
)

// New returns the handler of the public listener (server.addr): what the
// portal and the treasury call, and /healthz and /readyz. Operators' routes
// are on NewAdmin's handler only.
func New(o Options) *echo.Echo {
	s, e := newServer(o)
	// Middleware per route, not per group: a group with middleware makes
	// echo answer 404 instead of 405 for a wrong method under it.
	auth := s.authenticate("dvc-adapter", access{GroupSubmissions, s.Callers})
	e.POST(submitRoute, s.submit, auth, s.capLargeBodies)
	e.GET("/v1/procedures/:procedure/dossiers/:maHoSo", s.dossierStatus, auth)
	e.POST(withdrawRoute, s.withdraw, auth, s.capLargeBodies) // verified as a submission is
	e.POST(validateRoute, s.validate, auth, s.capLargeBodies)
	s.routesAttachments(e, auth)
	s.routesCallbacks(e)
	s.routesDossiers(e)
	s.routesAudit(e, auth)
	return e
}

// NewAdmin returns the handler of the admin listener (server.adminAddr):
// /metrics, /debug/pprof/ (operators only, like the dead letters and the
// registered signers), the dead letters and the registered signers,
// and /healthz and /readyz as on the public listener. Nothing here is
// served on the public listener.
func NewAdmin(o Options) *echo.Echo {
	s, e := newServer(o)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{})))
	routesPprof(e, s.authenticate("dvc-adapter-admin", access{GroupAdmin, s.AdminCallers}))
	s.routesDeadLetters(e)
	s.routesSigners(e)
	return e
}

// newServer fills o's defaults and returns an echo with the middleware and
// the health routes every listener has.
func newServer(o Options) (*server, *echo.Echo) {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.Gatherer == nil {
		reg := prometheus.NewRegistry()
		reg.MustRegister(o.Metrics) // a new registry: nothing to collide with
		o.Gatherer = reg
	}
	s := &server{Options: o, largeGate: newLargeGate(o.LargeBodies, o.LargeBodies.Concurrency),
		uploadGate: newLargeGate(o.LargeBodies, o.LargeBodies.Uploads), certDNs: parseSubjects(o.ClientCerts)}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.requestID, s.recover, s.observe)
	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "alive"}) })
	e.GET("/readyz", s.readyz)
	return s, e
}

// routesPprof serves net/http/pprof: the index at /debug/pprof/, and
// /debug/pprof/{profile} for a named profile (goroutine, heap, ...), the
// command line, the symbol lookup, and the CPU profile and execution trace
// (which take ?seconds=), to operators only (admin): the command line and
// heap show configuration and secrets, and a CPU profile or trace costs the
// instance while it runs.
func routesPprof(e *echo.Echo, admin echo.MiddlewareFunc) {
	e.GET("/debug/pprof/", echo.WrapHandler(http.HandlerFunc(pprof.Index)), admin)
	e.GET("/debug/pprof/:profile", func(c echo.Context) error {
		h := pprof.Index // a named profile; Index reads its name from the path
		switch c.Param("profile") {
		case "cmdline":
			h = pprof.Cmdline
		case "profile":
			h = pprof.Profile
		case "symbol":
			h = pprof.Symbol
		case "trace":
			h = pprof.Trace
		}
		h(c.Response(), c.Request())
		return nil
	}, admin)
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

func (s *server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get("X-Request-Id")
		if !requestIDPattern.MatchString(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Set(ctxRequestID, id)
		c.Response().Header().Set("X-Request-Id", id)
		return next(c)
	}
}

// recover turns a panic into an internal error whose cause, for the log
// only, carries the panic value and the stack where it happened.
func (s *server) recover(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = problem.Wrap(problem.Internal, fmt.Errorf("panic: %v\n%s", r, debug.Stack()), "")
			}
		}()
		return next(c)
	}
}

func (s *server) readyz(c echo.Context) error {
	if s.Ready != nil {
		if err := s.Ready(); err != nil {
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

func (s *server) submit(c echo.Context) error {
	req := c.Request()
	procedure := c.Param("procedure")
	c.Set(ctxProcedure, procedure)
	if s.Intake.Procedure(procedure) == nil {
		return problem.New(problem.UnknownProcedure, "No procedure "+procedure+".").VI("Không có thủ tục " + procedure + ".")
	}
	sub, err := s.readSubmission(c, procedure)
	if err != nil {
		return err
	}
	resp, err := s.Intake.Submit(req.Context(), sub)
	if err != nil {
		return err
	}
	return s.answer(c, resp)
}

// readSubmission reads a submitted dossier: the body itself, or the first
// part of a multipart/related body with the files of the other parts.
func (s *server) readSubmission(c echo.Context, procedure string) (intake.Submission, error) {
	if attachment.IsRelated(c.Request().Header.Get("Content-Type")) {
		root, files, err := s.readRelated(c)
		// The evidence of a multipart/related submission is its signed
		// dossier part, the bytes the signature covers and a verifier
		// re-checks (the files are bound to it by their listed SHA-256),
		// not the envelope: a refusal's leaf names it too, once it was
		// read whole.
		if root.Data != nil {
			c.Set(ctxBody, root.Data)
		}
		if err != nil {
			return intake.Submission{}, err
		}
		sub := s.submission(c, procedure, root.Data)
		sub.ContentType, sub.Files = root.ContentType, files
		return sub, nil
	}
	body, err := s.readBody(c)
	if err != nil {
		return intake.Submission{}, err
	}
	return s.submission(c, procedure, body), nil
}

// withdraw serves a unit's withdrawal of a dossier: the same reading, the
// same answers and the same accounting as a submission.
func (s *server) withdraw(c echo.Context) error {
	req := c.Request()
	procedure, code := c.Param("procedure"), c.Param("maHoSo")
	c.Set(ctxProcedure, procedure)
	c.Set(ctxCode, code)
	if s.Intake.Procedure(procedure) == nil {
		return problem.New(problem.UnknownProcedure, "No procedure "+procedure+".").VI("Không có thủ tục " + procedure + ".")
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	resp, err := s.Intake.Withdraw(req.Context(), intake.WithdrawalRequest{
		Submission: s.submission(c, procedure, body), MaHoSo: code})
	if err != nil {
		return err
	}
	return s.answer(c, resp)
}

// validate serves a dossier's whole check without storing or sending
// anything: 200 with the report of every reason (intake.Report), in the
// request's language.
func (s *server) validate(c echo.Context) error {
	procedure := c.Param("procedure")
	c.Set(ctxProcedure, procedure)
	if s.Intake.Procedure(procedure) == nil {
		return problem.New(problem.UnknownProcedure, "No procedure "+procedure+".").VI("Không có thủ tục " + procedure + ".")
	}
	sub, err := s.readSubmission(c, procedure)
	if err != nil {
		return err
	}
	rep, err := s.Intake.Validate(c.Request().Context(), sub)
	if err != nil {
		return err
	}
	if rep.MaHoSo != "" {
		c.Set(ctxCode, rep.MaHoSo)
	}
	out, err := problem.Encode(rep)
	if err != nil {
		return problem.Wrap(problem.Internal, err, "")
	}
	c.Response().Header().Set("Content-Language", string(sub.Lang))
	return c.Blob(http.StatusOK, "application/json", out)
}

// readBody reads at most MaxBodyBytes of the request body.
func (s *server) readBody(c echo.Context) ([]byte, error) {
	req := c.Request()
	body, err := readSized(http.MaxBytesReader(c.Response(), req.Body, s.MaxBodyBytes), min(req.ContentLength, s.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, problem.New(problem.BodyTooLarge, "The body exceeds the configured limit.")
		}
		if errors.Is(err, errBusy) {
			return nil, busyProblem()
		}
		return nil, problem.Wrap(problem.MalformedBody, err, "The body could not be read.")
	}
	c.Set(ctxBody, body)
	return body, nil
}

// presize bounds the buffer readSized allocates before the first byte:
// what a Content-Length claims is not taken on trust beyond it. 64 KB
// holds a dossier of a few hundred lines at once, and is what a request
// that sends nothing can pin; a larger body grows as its bytes come, as
// io.ReadAll's does (bodies over limits.largeBodyBytes also take a slot
// of the large-body gate).
const presize = 64 << 10

// readSized is io.ReadAll for a body that says it has n bytes (n < 0:
// unknown): one buffer of n+1 bytes (the extra byte lets the read that
// finds the end need no larger one), up to presize, instead of io.ReadAll's
// doublings from 512 bytes (about three times a 9 KB dossier allocated,
// and copied). Past the buffer it grows as io.ReadAll does.
func readSized(r io.Reader, n int64) ([]byte, error) {
	size := int64(512) // where io.ReadAll starts
	if n >= 0 {
		size = min(n, presize-1) + 1
	}
	b := make([]byte, 0, size)
	for {
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err != nil {
			if err == io.EOF {
				return b, nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// submission is the signed document of a request, as intake takes it.
func (s *server) submission(c echo.Context, procedure string, body []byte) intake.Submission {
	req := c.Request()
	id, _ := c.Get(ctxRequestID).(string)
	tr, at := &intake.Trace{}, s.Clock()
	c.Set(ctxTrace, tr)
	c.Set(ctxReceived, at)
	return intake.Submission{
		RequestID:      id,
		Procedure:      procedure,
		IdempotencyKey: req.Header.Get("Idempotency-Key"),
		ContentType:    req.Header.Get("Content-Type"),
		Body:           body,
		JWSSignature:   req.Header.Get("X-JWS-Signature"),
		Caller:         c.Get(ctxCaller).(string),
		Units:          callerUnits(c),
		ReceivedAt:     at,
		Lang:           problem.ParseLang(req.Header.Get("Accept-Language")),
		Trace:          tr,
		FileSlot:       s.fileSlot,
	}
}

// answer writes a final answer of the intake, fresh or replayed, after its
// leaf is in the evidence log and conclude has logged and counted it.
func (s *server) answer(c echo.Context, resp *intake.Response) error {
	if err := s.logOutcome(c, resp.Status, resp.Code, resp.Replayed, resp.Body); err != nil {
		return err
	}
	s.conclude(c, outcome{code: resp.Code, status: resp.Status, replayed: resp.Replayed, cause: resp.Cause})
	h := c.Response().Header()
	for k, v := range resp.Header {
		h.Set(k, v)
	}
	if resp.Replayed {
		h.Set("Idempotent-Replayed", "true")
	}
	c.Response().WriteHeader(resp.Status)
	_, err := c.Response().Write(resp.Body)
	return err
}

func (s *server) dossierStatus(c echo.Context) error {
	procedure, code := c.Param("procedure"), c.Param("maHoSo")
	c.Set(ctxProcedure, procedure)
	if s.Intake.Procedure(procedure) == nil {
		return problem.New(problem.UnknownProcedure, "No procedure "+procedure+".").VI("Không có thủ tục " + procedure + ".")
	}
	rec, ok, err := s.Intake.Dossier(c.Request().Context(), procedure, code)
	if err != nil {
		return problem.Wrap(problem.Internal, err, "")
	}
	// Another unit's dossier is not found, as if it did not exist: a
	// caller restricted to units learns nothing of the others'.
	if !ok || !intake.UnitAllowed(callerUnits(c), rec.Unit) {
		return problem.New(problem.NotFound, "No dossier "+code+" is known for "+procedure+".").
			VI("Không có hồ sơ " + code + " của thủ tục " + procedure + ".")
	}
	c.Set(ctxCode, code)
	return c.JSON(http.StatusOK, rec)
}

// handleError is the one place where errors become responses; conclude
// logs and counts them.
func (s *server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			err = problem.New(problem.NotFound, "No such resource.")
		case http.StatusMethodNotAllowed:
			err = problem.New(problem.MethodNotAllowed, "")
		default:
			err = problem.Wrap(problem.Internal, err, "")
		}
	}
	pe := problem.From(err)
	if aerr := s.logOutcome(c, pe.Kind.Status(), pe.Kind.Code(), false, nil); aerr != nil {
		s.Log.Error("refusal not answered: its leaf could not be appended", "request_id", c.Get(ctxRequestID),
			"code", pe.Kind.Code(), "err", aerr)
		pe = problem.From(aerr)
	}
	s.conclude(c, outcome{code: pe.Kind.Code(), status: pe.Kind.Status(), cause: pe.Cause})
	id, _ := c.Get(ctxRequestID).(string)
	status, h, body := pe.RenderIn(problem.ParseLang(c.Request().Header.Get("Accept-Language")), id)
	for k, v := range h {
		c.Response().Header().Set(k, v)
	}
	c.Response().WriteHeader(status)
	if c.Request().Method != http.MethodHead {
		_, _ = c.Response().Write(body)
	}
}

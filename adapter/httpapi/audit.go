package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kbnn/dvc/adapter/auditlog"
	"github.com/kbnn/dvc/adapter/intake"
	"github.com/kbnn/dvc/adapter/problem"
)

// AuditReader is what the audit routes read of the evidence log
// (*auditlog.Log is one).
type AuditReader interface {
	Checkpoint() []byte
	Entry(i uint64) ([]byte, error)
	Proof(i uint64) ([]byte, error)
}

// CallbackRoute is the route a callback's leaf names.
const CallbackRoute = "POST /v1/callbacks/treasury/status"

const (
	ctxBody     = "body"
	ctxTrace    = "trace"
	ctxReceived = "receivedAt"
	// ctxSender: a callback's sender was authenticated (its signature or
	// its client certificate).
	ctxSender = "senderAuthenticated"
)

func (s *server) routesAudit(e *echo.Echo, auth echo.MiddlewareFunc) {
	if s.Audit == nil {
		return
	}
	e.GET("/v1/audit/checkpoint", s.auditCheckpoint, auth)
	e.GET("/v1/audit/entries/:index", s.auditEntry, auth)
	e.GET("/v1/audit/proof/:index", s.auditProof, auth)
}

func (s *server) auditCheckpoint(c echo.Context) error {
	cp := s.Audit.Checkpoint()
	if cp == nil {
		return problem.New(problem.NotFound, "The evidence log has published no checkpoint yet.")
	}
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", cp)
}

func (s *server) auditEntry(c echo.Context) error {
	i, err := auditlog.ParseIndex(c.Param("index"))
	if err != nil {
		return problem.New(problem.NotFound, "No such entry.")
	}
	leaf, err := s.Audit.Entry(i)
	if err != nil {
		return auditErr(err)
	}
	if !s.entryVisible(c, leaf) {
		return problem.New(problem.NotFound, "No such entry.")
	}
	return c.Blob(http.StatusOK, "application/json", leaf)
}

// entryVisible reports whether the caller may read a leaf: every caller
// without units may; one restricted to units only its own requests' leaves
// and those of its units' dossiers, so that another unit's dossier codes do
// not leak through the log (others are not found, as in the status view).
func (s *server) entryVisible(c echo.Context, leaf []byte) bool {
	units := callerUnits(c)
	if len(units) == 0 {
		return true
	}
	rec, err := auditlog.ParseLeaf(leaf)
	if err != nil {
		return false
	}
	if caller, _ := c.Get(ctxCaller).(string); rec.Caller == caller {
		return true
	}
	if rec.MaHoSo == "" || s.Intake == nil || s.Intake.Procedure(rec.Procedure) == nil {
		return false
	}
	d, ok, err := s.Intake.Dossier(c.Request().Context(), rec.Procedure, rec.MaHoSo)
	return err == nil && ok && intake.UnitAllowed(units, d.Unit)
}

func (s *server) auditProof(c echo.Context) error {
	i, err := auditlog.ParseIndex(c.Param("index"))
	if err != nil {
		return problem.New(problem.NotFound, "No such entry.")
	}
	p, err := s.Audit.Proof(i)
	if err != nil {
		return auditErr(err)
	}
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", p)
}

func auditErr(err error) error {
	switch {
	case errors.Is(err, auditlog.ErrNotFound):
		return problem.New(problem.NotFound, "No such entry.")
	case errors.Is(err, auditlog.ErrNotCovered):
		return problem.New(problem.NotFound, "No checkpoint covers this entry yet; retry within the checkpoint interval.")
	case errors.Is(err, auditlog.ErrRemoved):
		return problem.New(problem.NotFound, "This entry's segment was moved to the archive.")
	}
	return problem.Wrap(problem.Internal, err, "")
}

// auditRoute is the route a leaf names for the request's matched route, or
// "" for a route whose requests are not logged.
func auditRoute(path string) string {
	switch path {
	case submitRoute:
		return intake.SubmitRoute
	case withdrawRoute:
		return intake.WithdrawRoute
	case callbackRoute:
		return CallbackRoute
	}
	return ""
}

// logged tells which answers get a leaf: not those to requests no caller
// credential vouches for (no credential, a wrong method, a body over the
// limit: anyone could fill the log with them), nor audit-unavailable
// itself.
var logged = func() map[string]bool {
	m := map[string]bool{"": true}
	for _, k := range problem.Kinds() {
		m[k.Code()] = true
	}
	for _, k := range []problem.Kind{problem.Unauthorized, problem.MethodNotAllowed, problem.BodyTooLarge, problem.AuditUnavailable} {
		delete(m, k.Code())
	}
	return m
}()

// logOutcome appends the leaf of a logged route's answer, unless the
// intake already did (an accepted submission) or the caller was never
// authenticated (anyone could fill the log). Its error is audit-unavailable:
// the answer is then 503 instead, so the sender retries.
func (s *server) logOutcome(c echo.Context, status int, code string, replayed bool, answer []byte) error {
	route := auditRoute(c.Path())
	if route == "" || !s.Evidence.Enabled() || !logged[code] {
		return nil
	}
	// Only what a credential vouches for is logged: anyone could fill the
	// log with the rest. A callback's sender is authenticated inside
	// Receive (ctxSender); a body that cannot even be read is not.
	caller, _ := c.Get(ctxCaller).(string)
	if route == CallbackRoute {
		if ok, _ := c.Get(ctxSender).(bool); !ok {
			return nil
		}
		caller = "treasury"
	} else if caller == "" {
		return nil
	}
	tr, _ := c.Get(ctxTrace).(*intake.Trace)
	if tr != nil && tr.Logged && !replayed {
		return nil
	}
	body, _ := c.Get(ctxBody).([]byte)
	at, ok := c.Get(ctxReceived).(time.Time)
	if !ok {
		at = s.Clock()
	}
	rec := auditlog.Record{Time: at, Caller: caller, Route: route, Status: status, Code: code, Replayed: replayed}
	if s.Intake != nil && s.Intake.Procedure(c.Param("procedure")) != nil {
		rec.Procedure = c.Param("procedure")
	}
	rec.MaHoSo = c.Param("maHoSo")
	if tr != nil && tr.MaHoSo != "" {
		rec.MaHoSo, rec.SoBoSung = tr.MaHoSo, tr.SoBoSung
	}
	if status < 300 && len(answer) > 0 {
		var a struct {
			TreasuryReference string `json:"treasuryReference"`
		}
		_ = json.Unmarshal(answer, &a)
		rec.TreasuryReference = a.TreasuryReference
	}
	if route == CallbackRoute {
		callbackIdentity(&rec, body)
		if s.Intake == nil || s.Intake.Procedure(rec.Procedure) == nil {
			rec.Procedure = ""
		}
		if id := c.Request().Header.Get("webhook-id"); rec.EventID == "" && len(id) <= 128 {
			rec.EventID = id
		}
	}
	_, err := s.Evidence.Append(c.Request().Context(), rec, body)
	return err
}

// callbackIdentity reads a status event's own identity into rec, leniently:
// a refused event may be anything, and whatever it holds becomes JSON
// strings of the leaf.
func callbackIdentity(rec *auditlog.Record, body []byte) {
	var ev struct {
		EventID      string `json:"eventId"`
		DossierCode  string `json:"dossierCode"`
		Procedure    string `json:"procedure"`
		SupplementNo int    `json:"supplementNo"`
		Reference    string `json:"reference"`
	}
	_ = json.Unmarshal(body, &ev)
	rec.EventID, rec.MaHoSo, rec.SoBoSung, rec.TreasuryReference, rec.Procedure =
		ev.EventID, ev.DossierCode, ev.SupplementNo, ev.Reference, ev.Procedure
}

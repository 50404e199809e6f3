package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/signers"
)

// maxSignersBytes bounds a list of registrations an operator loads.
const maxSignersBytes = 1 << 20

// routesSigners serves the registered signers to admin callers:
// list a unit's, load one or several (idempotent), revoke one serial.
func (s *server) routesSigners(e *echo.Echo) {
	if s.Signers == nil {
		return
	}
	admin := s.authenticate("dvc-adapter-admin", access{GroupAdmin, s.AdminCallers})
	e.GET("/v1/admin/signers", s.listSigners, admin)
	e.POST("/v1/admin/signers", s.loadSigners, admin)
	e.PUT("/v1/admin/signers/:unit", s.loadSigners, admin)
	e.DELETE("/v1/admin/signers/:unit/:serial", s.revokeSigner, admin)
}

func signersStoreDown(err error) error {
	return &problem.Error{Kind: problem.StoreUnavailable, Cause: err, RetryAfter: 5}
}

func (s *server) listSigners(c echo.Context) error {
	q := c.QueryParams()
	unit := strings.TrimSpace(q.Get("unit"))
	if len(q["unit"]) != 1 || unit == "" || len(q) != 1 {
		return problem.New(problem.InvalidQuery, "Give exactly one query parameter, unit (the maDVQHNS).").
			VI("Cần đúng một tham số truy vấn unit (mã ĐVQHNS).")
	}
	regs, err := s.Signers.List(c.Request().Context(), unit)
	if err != nil {
		return signersStoreDown(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"unit": unit, "signers": regs})
}

// loadSigners loads registrations: PUT /v1/admin/signers/{unit} for one
// unit (entries without unit, or with the path's), POST /v1/admin/signers
// for any units (each entry names its unit). Registrations already there
// are kept as they were; the answer counts the new ones.
func (s *server) loadSigners(c echo.Context) error {
	raw, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, maxSignersBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return problem.New(problem.BodyTooLarge, "A list of signers is at most 1 MiB.")
		}
		return problem.Wrap(problem.MalformedBody, err, "The body could not be read.")
	}
	var body struct {
		Signers []signers.Registration `json:"signers"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || dec.More() {
		return problem.Wrap(problem.MalformedBody, err, `The body must be one JSON object {"signers": [{"unit", "role", "serial", "issuer"}]}.`)
	}
	pathUnit := c.Param("unit")
	now := s.Clock()
	var fields []problem.FieldError
	regs := make([]signers.Registration, 0, len(body.Signers))
	for i, r := range body.Signers {
		if pathUnit != "" {
			if r.Unit != "" && r.Unit != pathUnit {
				fields = append(fields, problem.FieldError{Path: fmt.Sprintf("/signers/%d/unit", i), Message: "must be the path's unit " + pathUnit + " or absent"})
				continue
			}
			r.Unit = pathUnit
		}
		r.RegisteredAt, r.Source = now, signers.SourceOperator
		n, err := signers.Normalize(r)
		if err != nil {
			fields = append(fields, problem.FieldError{Path: fmt.Sprintf("/signers/%d", i), Message: err.Error()})
			continue
		}
		regs = append(regs, n)
	}
	if len(body.Signers) == 0 {
		fields = append(fields, problem.FieldError{Path: "/signers", Message: "at least one registration"})
	}
	if len(fields) > 0 {
		e := problem.New(problem.SchemaViolation, "Some registrations are invalid; nothing was loaded.")
		e.Fields = fields
		return e
	}
	added, err := s.Signers.Put(c.Request().Context(), regs...)
	if err != nil {
		return signersStoreDown(err)
	}
	s.Log.Info("signers loaded", "count", len(regs), "new", added, "operator", c.Get(ctxCaller))
	return c.JSON(http.StatusOK, map[string]any{"loaded": len(regs), "added": added})
}

func (s *server) revokeSigner(c echo.Context) error {
	unit := c.Param("unit")
	serial, err := signers.CanonicalSerial(c.Param("serial"))
	if err != nil {
		return problem.New(problem.NotFound, "No registration with this serial.").VI("Không có đăng ký với số hiệu chứng thư này.")
	}
	n, err := s.Signers.Revoke(c.Request().Context(), unit, serial)
	if err != nil {
		return signersStoreDown(err)
	}
	if n == 0 {
		return problem.New(problem.NotFound, "No registration with this serial for this unit.").VI("Đơn vị không có đăng ký với số hiệu chứng thư này.")
	}
	s.Log.Warn("signer registration revoked", "unit", unit, "serial", serial, "registrations", n, "operator", c.Get(ctxCaller))
	return c.JSON(http.StatusOK, map[string]any{"revoked": n})
}

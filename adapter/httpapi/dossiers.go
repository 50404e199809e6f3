package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/intake"
	"github.com/kbnn/dvc/adapter/problem"
)

// DossierFinder lists dossiers (intake.Service.FindDossiers).
type DossierFinder interface {
	FindDossiers(ctx context.Context, q dossier.Query) ([]dossier.Item, string, error)
}

// dossiersRoute is GET /v1/dossiers.
const dossiersRoute = "/v1/dossiers"

// routesDossiers serves the dossier listing to the portal's callers and to
// operators alike, under the portal's realm. A portal caller restricted to
// units sees only their dossiers: a unit filter naming another unit gives
// an empty page, as a unit without dossiers does.
func (s *server) routesDossiers(e *echo.Echo) {
	if s.Dossiers == nil {
		return
	}
	e.GET(dossiersRoute, s.findDossiers, s.authenticate("dvc-adapter",
		access{GroupSubmissions, s.Callers}, access{GroupAdmin, s.AdminCallers}))
}

func (s *server) findDossiers(c echo.Context) error {
	// A caller restricted to units lists its units only; the filters are
	// narrowed before the cursor is checked, for the listing bound the
	// cursor it gave to the narrowed ones.
	units, other := callerUnits(c), false
	q, err := dossier.ParseQueryNarrowed(c.QueryParams(), func(q *dossier.Query) {
		switch {
		case len(units) == 0:
		case q.Unit != "" && !intake.UnitAllowed(units, q.Unit):
			other = true
		case q.Unit == "" && len(units) == 1:
			q.Unit = units[0] // the unit's own index
		case q.Unit == "":
			q.Units = units
		}
	})
	if other {
		// Another unit's dossiers do not exist for this caller.
		return c.JSON(http.StatusOK, map[string]any{"dossiers": []dossier.Item{}, "next": ""})
	}
	if err != nil {
		return queryErr(err)
	}
	if q.Procedure != "" {
		c.Set(ctxProcedure, q.Procedure)
	}
	items, next, err := s.Dossiers.FindDossiers(c.Request().Context(), q)
	if err != nil {
		var pe *problem.Error
		switch {
		case errors.As(err, &pe):
			return pe
		case errors.Is(err, dossier.ErrInvalidQuery):
			return queryErr(err)
		}
		return &problem.Error{Kind: problem.StoreUnavailable, Cause: err, RetryAfter: 5}
	}
	return c.JSON(http.StatusOK, map[string]any{"dossiers": items, "next": next})
}

// queryErr names the parameter at fault in the detail.
func queryErr(err error) error {
	var qe *dossier.QueryError
	if errors.As(err, &qe) {
		return problem.Wrap(problem.InvalidQuery, err, "Query parameter "+qe.Param+": "+qe.Reason+".")
	}
	return problem.Wrap(problem.InvalidQuery, err, "The query is malformed.")
}

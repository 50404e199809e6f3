package intake

import (
	"context"
	"fmt"
	"slices"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/schema"
)

// Unit is the budget unit code (maDVQHNS) of the verified dossier, read at
// its procedure's UnitPath; "" when it has none.
func (v *Verified) Unit() string {
	return schema.StringAt(v.Value, unitPath(v.Procedure))
}

// unitPath is where p's dossiers name their budget unit.
func unitPath(p *Procedure) string {
	if p.UnitPath == "" {
		return "maDVQHNS"
	}
	return p.UnitPath
}

// unitNotAllowed refuses a request for a unit outside the caller's units,
// naming the field (a JSON pointer) that holds the unit.
func unitNotAllowed(unit, field string) *problem.Error {
	e := problem.New(problem.UnitNotAllowed, fmt.Sprintf("The caller may not act for budget unit %q.", unit)).
		VI(fmt.Sprintf("Bên gọi không được gửi hoặc rút hồ sơ của đơn vị %q.", unit))
	e.Fields = []problem.FieldError{{Path: field, Message: "must be one of the caller's units"}}
	return e
}

// FindDossiers lists the dossiers the adapter registered that match q
// (GET /v1/dossiers). A malformed query or cursor, and a procedure filter
// naming a procedure that is not configured (a query parameter, not the
// resource: the listing itself exists), is an error wrapping
// dossier.ErrInvalidQuery; any other error is the store's.
func (s *Service) FindDossiers(ctx context.Context, q dossier.Query) ([]dossier.Item, string, error) {
	if q.Procedure != "" && s.procedures[q.Procedure] == nil {
		return nil, "", &dossier.QueryError{Param: "procedure", Reason: fmt.Sprintf("%q is not a configured procedure", q.Procedure)}
	}
	return s.dossiers.List(ctx, q)
}

// UnitAllowed reports whether a caller restricted to units (none: every
// unit) may see or act on a dossier of unit; a dossier without a unit is
// only for unrestricted callers.
func UnitAllowed(units []string, unit string) bool {
	return len(units) == 0 || (unit != "" && slices.Contains(units, unit))
}

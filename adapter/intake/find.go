package intake

import (
	"context"
	"fmt"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/schema"
)

// Unit is the budget unit code (maDVQHNS) of the verified dossier, read at
// its procedure's UnitPath; "" when it has none.
func (v *Verified) Unit() string {
	path := v.Procedure.UnitPath
	if path == "" {
		path = "maDVQHNS"
	}
	return schema.StringAt(v.Value, path)
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

package mapping

import (
	"fmt"

	"github.com/kbnn/dvc/adapter/yamlfile"
)

// LoadError is a mistake in the mapping data, found by Load. It names the file (as a path under
// mappings/) and, when known, the line.
type LoadError = yamlfile.Error

// root names the mapping files in errors.
const root yamlfile.Root = "mappings"

func loadErr(file string, line int, format string, args ...any) *LoadError {
	return root.Errorf(file, line, format, args...)
}

// ApplyError is a dossier value a mapping cannot turn into a request value: a wrong type, an
// amount that is not a non-negative integer, a malformed date, a code missing from its table.
type ApplyError struct {
	Procedure string
	To        string // request path of the rule, e.g. "lines[].amount"
	From      string // where in the dossier, with indices, e.g. "taiLieu[0]/dongChiTiet[3]/soTien"
	Err       error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("mapping %s: %s from %s: %v", e.Procedure, e.To, e.From, e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }

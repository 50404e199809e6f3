package mapping

import "fmt"

// LoadError is a mistake in the mapping data, found by Load. It names the file (as a path under
// mappings/) and, when known, the line.
type LoadError struct {
	File string // path inside the mappings folder, e.g. "chi-thuong-xuyen/mapping.yaml"
	Line int    // 1-based; 0 when the mistake is about the whole file
	Err  error
}

func (e *LoadError) Error() string {
	name := "mappings/" + e.File
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", name, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", name, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }

func loadErr(file string, line int, format string, args ...any) *LoadError {
	return &LoadError{File: file, Line: line, Err: fmt.Errorf(format, args...)}
}

// ApplyError is a dossier value a mapping cannot turn into a request value: a wrong type, an
// amount that is not a non-negative integer, a malformed date, a code missing from its table.
type ApplyError struct {
	Procedure string
	To        string // request path of the rule, e.g. "lines[].amount"
	From      string // where in the dossier, with indices, e.g. "chungTu/dongChiTiet[3]/soTien"
	Err       error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("mapping %s: %s from %s: %v", e.Procedure, e.To, e.From, e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }

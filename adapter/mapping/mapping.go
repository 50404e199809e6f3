// Package mapping turns a verified dossier into the treasury's SendDocument request, driven by
// mapping data: mappings/<procedure>/mapping.yaml lists, for every request field, the dossier
// field it comes from (or a constant) and one of a closed set of named transforms (copy,
// amount, int, date, datetime, code, upper, trim); code tables live in mappings/codes/.
//
// Load checks a mapping strictly against the dossier schema of its procedure and the treasury
// request schema, so a typo stops start-up with the file and line instead of failing on a live
// dossier. Apply is then pure: no I/O, no clock, safe for concurrent use, and it never panics,
// whatever the input.
package mapping

// Context is what a mapping may use besides the dossier, as "@procedure" and "@procedureCode".
type Context struct {
	Procedure     string // adapter procedure id, e.g. "chi-thuong-xuyen"
	ProcedureCode string // national procedure code (mã TTHC) from configuration
}

// Mapping is the loaded, checked mapping of one procedure. It is immutable.
type Mapping struct {
	procedure string
	rules     []rule
}

// Procedure returns the procedure id the mapping was loaded for.
func (m *Mapping) Procedure() string { return m.procedure }

// rule is one compiled line of a mapping file.
type rule struct {
	line     int
	to       path
	toText   string
	from     path                 // dossier path; nil for const and context rules
	fromText string               // as written in the file
	ctx      func(Context) string // context source, or nil
	isConst  bool
	value    any // const value (string, int64 or bool)
	fn       func(any, *codeTable) (any, error)
	table    *codeTable
	def      any // default, already transformed
	hasDef   bool
	// omitEmpty: to is a declared, optional field of the request, which is left out rather
	// than sent as an empty string.
	omitEmpty bool
}

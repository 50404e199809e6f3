package schema

import (
	"encoding/json"
	"math/big"
	"regexp"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// quick is a compiled definition read again for the common case, a valid
// document, without the library's per-value bookkeeping (locations, scopes,
// error values: about six hundred allocations for a two-line dossier). It
// decides a document valid only where the library's validator would; on
// anything else (a violation, or a value it does not decide exactly, such as
// the integer 1.0) it says no, and the library validates and reports. So it
// changes no answer, only the cost of the valid ones. The keywords it knows
// are the ones the procedures' definitions use, with the library's own
// pattern and format objects; a definition with any other keyword gets no
// quick form at all.
type quick struct {
	types    qtypes
	enum     []any
	hasConst bool
	konst    any
	format   *jsonschema.Format
	ref      *quick

	required   []string
	props      map[string]*quick
	closed     bool   // additionalProperties: false
	additional *quick // additionalProperties: a schema

	items              *quick
	minItems, maxItems int // -1: none

	minLength, maxLength int // -1: none
	pattern              jsonschema.Regexp
	runs                 runs // pattern's, when it has their shape
	hasRuns, greedy      bool // runs is set; it matches greedily

	min, max       *big.Rat
	minInt, maxInt int64 // min and max, when they are 64-bit integers
	minOK, maxOK   bool  // minInt, maxInt hold min, max
}

// qtypes is the set of JSON types a schema's "type" allows (0: any).
type qtypes uint8

const (
	tNull qtypes = 1 << iota
	tBoolean
	tNumber
	tInteger
	tString
	tArray
	tObject
)

// typeNames are the names "type" gives the types.
var typeNames = map[string]qtypes{"null": tNull, "boolean": tBoolean, "number": tNumber,
	"integer": tInteger, "string": tString, "array": tArray, "object": tObject}

// compileQuick returns the quick form of s, or nil when s uses a keyword
// the quick form does not decide.
func compileQuick(s *jsonschema.Schema) *quick {
	c := quickCompiler{done: map[*jsonschema.Schema]*quick{}}
	q := c.compile(s, nil)
	if c.unsupported {
		return nil
	}
	return q
}

type quickCompiler struct {
	done        map[*jsonschema.Schema]*quick
	unsupported bool
}

// compile compiles s; refs is the chain of $ref that led to s without
// descending into a value (a cycle there never ends, so it is refused).
func (c *quickCompiler) compile(s *jsonschema.Schema, refs []*jsonschema.Schema) *quick {
	if q, ok := c.done[s]; ok {
		for _, r := range refs {
			if r == s {
				c.unsupported = true
			}
		}
		return q
	}
	if !quickable(s) {
		c.unsupported = true
		return &quick{}
	}
	q := &quick{minItems: -1, maxItems: -1, minLength: -1, maxLength: -1}
	c.done[s] = q
	if s.Types != nil {
		for _, t := range s.Types.ToStrings() {
			q.types |= typeNames[t]
		}
	}
	if s.Enum != nil {
		q.enum = s.Enum.Values
		if q.enum == nil {
			q.enum = []any{}
		}
	}
	if s.Const != nil {
		q.hasConst, q.konst = true, *s.Const
	}
	q.format = s.Format
	if s.Ref != nil {
		q.ref = c.compile(s.Ref, append(refs, s))
	}
	q.required = s.Required
	if len(s.Properties) > 0 {
		q.props = make(map[string]*quick, len(s.Properties))
		for name, p := range s.Properties {
			q.props[name] = c.compile(p, nil)
		}
	}
	switch a := s.AdditionalProperties.(type) {
	case bool:
		q.closed = !a
	case *jsonschema.Schema:
		q.additional = c.compile(a, nil)
	}
	if s.Items2020 != nil {
		q.items = c.compile(s.Items2020, nil)
	}
	if s.MinItems != nil {
		q.minItems = *s.MinItems
	}
	if s.MaxItems != nil {
		q.maxItems = *s.MaxItems
	}
	if s.MinLength != nil {
		q.minLength = *s.MinLength
	}
	if s.MaxLength != nil {
		q.maxLength = *s.MaxLength
	}
	q.pattern = s.Pattern
	if re, ok := s.Pattern.(*regexp.Regexp); ok {
		q.runs, q.hasRuns = runsOf(re)
		q.greedy = q.hasRuns && q.runs.greedy()
	}
	q.min, q.max = s.Minimum, s.Maximum
	q.minInt, q.minOK = ratInt64(s.Minimum)
	q.maxInt, q.maxOK = ratInt64(s.Maximum)
	return q
}

// quickable reports whether every keyword s uses is one the quick form
// decides as the library does.
func quickable(s *jsonschema.Schema) bool {
	if s.DraftVersion < 2020 || s.Bool != nil || s.RecursiveRef != nil || s.DynamicRef != nil ||
		s.Not != nil || len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0 || s.If != nil || s.Then != nil || s.Else != nil {
		return false
	}
	if s.MaxProperties != nil || s.MinProperties != nil || s.PropertyNames != nil || len(s.PatternProperties) > 0 ||
		len(s.Dependencies) > 0 || len(s.DependentRequired) > 0 || len(s.DependentSchemas) > 0 ||
		s.UnevaluatedProperties != nil {
		return false
	}
	if s.UniqueItems || s.Contains != nil || s.MinContains != nil || s.MaxContains != nil || s.Items != nil ||
		s.AdditionalItems != nil || len(s.PrefixItems) > 0 || s.UnevaluatedItems != nil {
		return false
	}
	if s.ContentEncoding != nil || s.ContentMediaType != nil || s.ContentSchema != nil ||
		s.ExclusiveMaximum != nil || s.ExclusiveMinimum != nil || s.MultipleOf != nil || len(s.Extensions) > 0 {
		return false
	}
	return s.Format == nil || (s.Format.Name != "regex" && s.Format.Validate != nil)
}

func ratInt64(r *big.Rat) (int64, bool) {
	if r == nil || !r.IsInt() || !r.Num().IsInt64() {
		return 0, false
	}
	return r.Num().Int64(), true
}

// valid reports whether v is valid against the schema for certain; false
// means a violation or a value it does not decide. A nil quick decides
// nothing.
func (q *quick) valid(v any) bool {
	if q == nil {
		return false
	}
	t, num, ok := typeOfValue(v)
	if !ok {
		return false
	}
	if q.types != 0 && q.types&t == 0 {
		return false
	}
	if q.hasConst && !sameValue(v, q.konst) {
		return false
	}
	if q.enum != nil && !inEnum(v, q.enum) {
		return false
	}
	if q.format != nil && q.format.Validate(v) != nil {
		return false
	}
	if q.ref != nil && !q.ref.valid(v) {
		return false
	}
	switch x := v.(type) {
	case map[string]any:
		return q.validObject(x)
	case []any:
		if (q.minItems >= 0 && len(x) < q.minItems) || (q.maxItems >= 0 && len(x) > q.maxItems) {
			return false
		}
		if q.items != nil {
			for _, e := range x {
				if !q.items.valid(e) {
					return false
				}
			}
		}
	case string:
		if q.minLength >= 0 || q.maxLength >= 0 {
			n := utf8.RuneCountInString(x)
			if (q.minLength >= 0 && n < q.minLength) || (q.maxLength >= 0 && n > q.maxLength) {
				return false
			}
		}
		if q.pattern != nil && !q.matchPattern(x) {
			return false
		}
	case json.Number:
		if q.min != nil && (!q.minOK || num < q.minInt) {
			return false
		}
		if q.max != nil && (!q.maxOK || num > q.maxInt) {
			return false
		}
	}
	return true
}

func (q *quick) validObject(obj map[string]any) bool {
	for _, name := range q.required {
		if _, ok := obj[name]; !ok {
			return false
		}
	}
	for name, val := range obj {
		if p, ok := q.props[name]; ok {
			if !p.valid(val) {
				return false
			}
			continue
		}
		if q.closed || (q.additional != nil && !q.additional.valid(val)) {
			return false
		}
	}
	return true
}

// typeOfValue is the JSON type of a decoded value, as the library sees it
// (a number is also an integer when it is one), and a number's value. It
// decides only the values the decoders make; a number only when it is
// written as a plain integer that fits 64 bits.
func typeOfValue(v any) (t qtypes, num int64, ok bool) {
	switch x := v.(type) {
	case nil:
		return tNull, 0, true
	case bool:
		return tBoolean, 0, true
	case string:
		return tString, 0, true
	case []any:
		return tArray, 0, true
	case map[string]any:
		return tObject, 0, true
	case json.Number:
		n, ok := plainInt(string(x))
		return tNumber | tInteger, n, ok
	}
	return 0, 0, false
}

// plainInt parses an integer written -?(0|[1-9][0-9]*) that fits 64 bits.
func plainInt(s string) (int64, bool) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	if s == "" || len(s) > 18 || (len(s) > 1 && s[0] == '0') {
		return 0, false // more than 18 digits may not fit; the library decides
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// sameValue reports whether v equals c for certain: the same string, the
// same boolean, null, or the same plain integer.
func sameValue(v, c any) bool {
	switch x := v.(type) {
	case nil:
		return c == nil
	case bool:
		b, ok := c.(bool)
		return ok && b == x
	case string:
		s, ok := c.(string)
		return ok && s == x
	case json.Number:
		n, ok := c.(json.Number)
		if !ok {
			return false
		}
		a, okA := plainInt(string(x))
		b, okB := plainInt(string(n))
		return okA && okB && a == b
	}
	return false
}

func inEnum(v any, values []any) bool {
	for _, e := range values {
		if sameValue(v, e) {
			return true
		}
	}
	return false
}

// Validator checks values against a compiled schema: its quick form
// decides the valid ones, the library everything else, and reports.
type Validator struct {
	schema *jsonschema.Schema
	quick  *quick
}

// NewValidator returns the Validator of s.
func NewValidator(s *jsonschema.Schema) *Validator {
	return &Validator{schema: s, quick: compileQuick(s)}
}

// Validate is s.Validate(v) (the library's error when v is not valid).
func (v *Validator) Validate(x any) error {
	if v.quick.valid(x) {
		return nil
	}
	return v.schema.Validate(x)
}

// HasQuickForm reports whether the schema has a quick form (uses only the
// keywords it decides).
func (v *Validator) HasQuickForm() bool { return v.quick != nil }

// matchPattern reports whether x matches the pattern, by its runs when it
// has them.
func (q *quick) matchPattern(x string) bool {
	if q.greedy {
		return q.runs.matchGreedy(x)
	}
	if q.hasRuns {
		if m, ok := q.runs.match(x); ok {
			return m
		}
	}
	return q.pattern.MatchString(x)
}

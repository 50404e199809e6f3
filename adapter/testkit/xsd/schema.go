package xsd

import (
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// node is one schema object after $ref resolution, checked against the supported subset.
type node struct {
	ptr  string   // where its keywords are (the $defs entry when reached through $ref)
	docs []string // titles and descriptions, those beside a $ref first
	typ  string   // object, array, string or integer

	props    []member // object
	required map[string]bool

	items              *value // array
	minItems, maxItems int64  // maxItems -1: unbounded

	base   string  // simple types: xs:string, xs:long, xs:date or xs:dateTime
	facets []facet // in output order
}

type facet struct{ name, value string }

// keywords lists, for each supported type, the keywords that apply to it.
var keywords = map[string][]string{
	"object":  {"properties", "required", "additionalProperties"},
	"array":   {"items", "minItems", "maxItems"},
	"string":  {"pattern", "minLength", "maxLength", "format", "enum", "const"},
	"integer": {"minimum", "maximum", "enum", "const"},
}

// formats maps the supported string formats to an XSD type and a pattern narrowing it to
// the RFC 3339 forms the JSON validator accepts (XSD also allows a time zone on a date,
// years beyond 9999 and hour 24).
var formats = map[string]facet{
	"date":      {"xs:date", `[0-9]{4}-[0-9]{2}-[0-9]{2}`},
	"date-time": {"xs:dateTime", `[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+\-][0-9]{2}:[0-9]{2})`},
}

var annotationKeywords = []string{"title", "description", "$comment"}

// load resolves v (at ptr) through $ref and checks its keywords. stack holds the $defs
// names being expanded, to refuse recursion, which anonymous XSD types cannot express.
func (g *generator) load(v *value, ptr string, stack []string) (*node, []string, error) {
	if v.kind != kindObject {
		return nil, nil, &Error{Pointer: ptr, Reason: "a schema must be a JSON object here (boolean schemas are not supported)"}
	}
	docs, err := annotations(v, ptr)
	if err != nil {
		return nil, nil, err
	}
	if ref := v.get("$ref"); ref != nil {
		for _, m := range v.members {
			rootOnly := ptr == "" && (m.key == "$schema" || m.key == "$id" || m.key == "$defs")
			if m.key != "$ref" && !rootOnly && !slices.Contains(annotationKeywords, m.key) {
				return nil, nil, &Error{Pointer: ptr, Keyword: m.key, Reason: "only title, description and $comment may stand beside $ref"}
			}
		}
		token, ok := strings.CutPrefix(ref.str, "#/$defs/")
		name := unescapePointer(token)
		if ref.kind != kindString || !ok || strings.Contains(token, "/") || g.defs[name] == nil {
			return nil, nil, &Error{Pointer: ptr, Keyword: "$ref", Reason: "must be \"#/$defs/<name>\" naming an entry of the root $defs"}
		}
		if slices.Contains(stack, name) {
			return nil, nil, &Error{Pointer: ptr, Keyword: "$ref", Reason: "recursive reference to $defs/" + name + " cannot be expressed with anonymous XSD types"}
		}
		n, stack, err := g.load(g.defs[name], "/$defs/"+escapePointer(name), append(slices.Clip(stack), name))
		if err != nil {
			return nil, nil, err
		}
		n.docs = append(docs, n.docs...)
		return n, stack, nil
	}

	for _, m := range v.members {
		if !known(m.key) {
			return nil, nil, &Error{Pointer: ptr, Keyword: m.key, Reason: "not in the subset of JSON Schema that has an XSD equivalent"}
		}
	}
	n := &node{ptr: ptr, docs: docs}
	t := v.get("type")
	if t == nil || t.kind != kindString || keywords[t.str] == nil {
		return nil, nil, &Error{Pointer: ptr, Keyword: "type", Reason: "must be one of object, array, string, integer (a single type; amounts are integers)"}
	}
	n.typ = t.str
	for _, m := range v.members {
		if err := checkKeyword(m.key, n.typ, ptr); err != nil {
			return nil, nil, err
		}
	}
	switch n.typ {
	case "object":
		err = n.object(v)
	case "array":
		err = n.array(v)
	case "string":
		err = n.string(v)
	case "integer":
		err = n.integer(v)
	}
	return n, stack, err
}

// known reports whether key is in the supported subset at all.
func known(key string) bool {
	if key == "type" || key == "$schema" || key == "$id" || key == "$defs" || slices.Contains(annotationKeywords, key) {
		return true
	}
	for _, list := range keywords {
		if slices.Contains(list, key) {
			return true
		}
	}
	return false
}

// checkKeyword checks that a known keyword applies where it stands.
func checkKeyword(key, typ, ptr string) error {
	switch {
	case key == "type" || slices.Contains(annotationKeywords, key) || slices.Contains(keywords[typ], key):
		return nil
	case key == "$schema" || key == "$id" || key == "$defs":
		if ptr == "" {
			return nil
		}
		return &Error{Pointer: ptr, Keyword: key, Reason: "supported only at the root of the document"}
	}
	for _, other := range []string{"object", "array", "string", "integer"} {
		if slices.Contains(keywords[other], key) {
			return &Error{Pointer: ptr, Keyword: key, Reason: "applies to type " + other + ", not " + typ}
		}
	}
	return &Error{Pointer: ptr, Keyword: key, Reason: "not in the subset of JSON Schema that has an XSD equivalent"}
}

func annotations(v *value, ptr string) ([]string, error) {
	var docs []string
	for _, key := range []string{"title", "description"} {
		d := v.get(key)
		if d == nil {
			continue
		}
		if d.kind != kindString || !isXMLText(d.str) {
			return nil, &Error{Pointer: ptr, Keyword: key, Reason: "must be a string of characters XML 1.0 can carry"}
		}
		docs = append(docs, d.str)
	}
	return docs, nil
}

func (n *node) object(v *value) error {
	if ap := v.get("additionalProperties"); ap == nil || ap.kind != kindBool || ap.bool {
		return &Error{Pointer: n.ptr, Keyword: "additionalProperties", Reason: "must be false: an XSD sequence does not accept undeclared elements"}
	}
	if props := v.get("properties"); props != nil {
		if props.kind != kindObject {
			return &Error{Pointer: n.ptr, Keyword: "properties", Reason: "must be an object"}
		}
		for _, m := range props.members {
			if !isNCName(m.key) {
				return &Error{Pointer: n.ptr, Keyword: "properties", Reason: "property name " + strconv.Quote(m.key) + " is not an XML element name"}
			}
		}
		n.props = props.members
	}
	n.required = map[string]bool{}
	req := v.get("required")
	if req == nil {
		return nil
	}
	if req.kind != kindArray {
		return &Error{Pointer: n.ptr, Keyword: "required", Reason: "must be an array of property names"}
	}
	for _, r := range req.items {
		if r.kind != kindString || n.required[r.str] || !slices.ContainsFunc(n.props, func(m member) bool { return m.key == r.str }) {
			return &Error{Pointer: n.ptr, Keyword: "required", Reason: "must list distinct names of declared properties"}
		}
		n.required[r.str] = true
	}
	return nil
}

func (n *node) array(v *value) error {
	n.items = v.get("items")
	if n.items == nil {
		return &Error{Pointer: n.ptr, Keyword: "items", Reason: "an array must declare its items"}
	}
	var err error
	if n.minItems, err = count(v, n.ptr, "minItems", 0); err != nil {
		return err
	}
	if n.maxItems, err = count(v, n.ptr, "maxItems", -1); err != nil {
		return err
	}
	if n.maxItems >= 0 && n.minItems > n.maxItems {
		return &Error{Pointer: n.ptr, Keyword: "minItems", Reason: "exceeds maxItems"}
	}
	return nil
}

func (n *node) string(v *value) error {
	n.base = "xs:string"
	minLength, err := count(v, n.ptr, "minLength", -1)
	if err != nil {
		return err
	}
	maxLength, err := count(v, n.ptr, "maxLength", -1)
	if err != nil {
		return err
	}
	if f := v.get("format"); f != nil {
		format, ok := formats[f.str]
		if f.kind != kindString || !ok {
			return &Error{Pointer: n.ptr, Keyword: "format", Reason: "only date and date-time are supported"}
		}
		for _, k := range []string{"pattern", "minLength", "maxLength"} {
			if v.get(k) != nil {
				return &Error{Pointer: n.ptr, Keyword: k, Reason: "cannot be combined with format"}
			}
		}
		n.base = format.name
		n.facets = append(n.facets, facet{"pattern", format.value})
	}
	if minLength >= 0 {
		n.facets = append(n.facets, facet{"minLength", strconv.FormatInt(minLength, 10)})
	}
	if maxLength >= 0 {
		if minLength > maxLength {
			return &Error{Pointer: n.ptr, Keyword: "minLength", Reason: "exceeds maxLength"}
		}
		n.facets = append(n.facets, facet{"maxLength", strconv.FormatInt(maxLength, 10)})
	}
	if p := v.get("pattern"); p != nil {
		if p.kind != kindString {
			return &Error{Pointer: n.ptr, Keyword: "pattern", Reason: "must be a string"}
		}
		translated, err := translatePattern(p.str)
		if err != nil {
			return &Error{Pointer: n.ptr, Keyword: "pattern", Reason: err.Error()}
		}
		n.facets = append(n.facets, facet{"pattern", translated})
	}
	return n.enumeration(v, kindString, func(e *value) (string, bool) { return e.str, isXMLText(e.str) })
}

func (n *node) integer(v *value) error {
	n.base = "xs:long"
	var bounds [2]*int64
	for i, k := range []string{"minimum", "maximum"} {
		b := v.get(k)
		if b == nil {
			continue
		}
		x, ok := int64Of(b)
		if !ok {
			return &Error{Pointer: n.ptr, Keyword: k, Reason: "must be an integer within the range of xs:long"}
		}
		bounds[i] = &x
		n.facets = append(n.facets, facet{[]string{"minInclusive", "maxInclusive"}[i], strconv.FormatInt(x, 10)})
	}
	if bounds[0] != nil && bounds[1] != nil && *bounds[0] > *bounds[1] {
		return &Error{Pointer: n.ptr, Keyword: "minimum", Reason: "exceeds maximum"}
	}
	return n.enumeration(v, kindNumber, func(e *value) (string, bool) {
		x, ok := int64Of(e)
		return strconv.FormatInt(x, 10), ok
	})
}

// enumeration adds an enumeration facet for each value of enum or for const; text renders
// a value of kind k in XSD lexical form.
func (n *node) enumeration(v *value, k kind, text func(*value) (string, bool)) error {
	enum, cnst := v.get("enum"), v.get("const")
	var values []*value
	switch {
	case enum != nil && cnst != nil:
		return &Error{Pointer: n.ptr, Keyword: "const", Reason: "cannot be combined with enum"}
	case cnst != nil:
		values = []*value{cnst}
	case enum != nil:
		if enum.kind != kindArray || len(enum.items) == 0 {
			return &Error{Pointer: n.ptr, Keyword: "enum", Reason: "must be a non-empty array"}
		}
		values = enum.items
	}
	keyword := "enum"
	if cnst != nil {
		keyword = "const"
	}
	for _, e := range values {
		s, ok := text(e)
		if e.kind != k || !ok {
			return &Error{Pointer: n.ptr, Keyword: keyword, Reason: "values must be of type " + n.typ + ", in characters XML 1.0 can carry"}
		}
		n.facets = append(n.facets, facet{"enumeration", s})
	}
	return nil
}

// count reads a non-negative integer keyword, or returns def when it is absent.
func count(v *value, ptr, keyword string, def int64) (int64, error) {
	c := v.get(keyword)
	if c == nil {
		return def, nil
	}
	x, ok := int64Of(c)
	if !ok || x < 0 {
		return 0, &Error{Pointer: ptr, Keyword: keyword, Reason: "must be a non-negative integer"}
	}
	return x, nil
}

// int64Of returns the value of a JSON number that is an integer within int64 (1e3 and 5.0
// count as integers, as in JSON Schema).
func int64Of(v *value) (int64, bool) {
	if v.kind != kindNumber || len(v.number) > 40 {
		return 0, false
	}
	r, ok := new(big.Rat).SetString(string(v.number))
	if !ok || !r.IsInt() || !r.Num().IsInt64() {
		return 0, false
	}
	return r.Num().Int64(), true
}

// isXMLText reports whether every character of s can appear in an XML document.
func isXMLText(s string) bool {
	for _, r := range s {
		if !isXMLChar(r) {
			return false
		}
	}
	return true
}

// isNCName reports whether s can be an unprefixed XML element name.
func isNCName(s string) bool {
	for i, r := range s {
		switch {
		case unicode.IsLetter(r) || r == '_':
		case i > 0 && (unicode.IsDigit(r) || r == '-' || r == '.' || unicode.Is(unicode.Mn, r)):
		default:
			return false
		}
	}
	return s != "" && !strings.HasPrefix(strings.ToLower(s), "xml")
}

package schema

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/beevik/etree"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kbnn/dvc/adapter/problem"
)

// RootElement is the root element of every dossier's XML form.
const RootElement = "HoSo"

// WithdrawalRootElement is the root element of a withdrawal request's XML
// form ("yêu cầu rút hồ sơ"): a signed dossier can never pass for one.
const WithdrawalRootElement = "YeuCauRutHoSo"

// FromXML turns the verified root element (it must be the definition's
// Root) into the document's value and validates it, reporting every failing field at once. Elements
// map to properties of the same name, a repeated element to an array,
// element text to strings or integers as the definition says. Anything the
// definition does not know (elements, attributes other than the root's Id,
// namespaced elements, mixed text) is a schema violation, so nothing of the
// document is silently dropped.
func (d *Definition) FromXML(root *etree.Element) (any, error) {
	var fields []problem.FieldError
	want := d.Root
	if want == "" {
		want = RootElement
	}
	if root.Tag != want || root.Space != "" {
		fields = append(fields, problem.FieldError{Path: "", Message: "root element must be " + want})
		return nil, violation(fields, errors.New("wrong root element"))
	}
	for _, a := range root.Attr {
		if a.Space == "xmlns" || (a.Space == "" && (a.Key == "Id" || a.Key == "xmlns")) {
			continue
		}
		fields = append(fields, problem.FieldError{Path: "/@" + attrName(a), Message: "attribute is not part of the definition"})
	}
	r := reader{fields: &fields, path: make([]segment, 0, 8)}
	v := r.object(root, d.shape)
	if err := d.validator.Validate(v); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return nil, problem.Wrap(problem.Internal, err, "")
		}
		collect(ve, &fields)
	} else if len(fields) == 0 && d.forms != nil {
		fields = d.forms.check(v)
	}
	if len(fields) > 0 {
		return nil, violation(fields, errors.New("xml form does not match the definition"))
	}
	return v, nil
}

func attrName(a etree.Attr) string {
	if a.Space != "" {
		return a.Space + ":" + a.Key
	}
	return a.Key
}

// xmlSpace is XML's white space (the S production: space, tab, CR, LF).
const xmlSpace = " \t\r\n"

// reader walks an XML form into its value, with the path of the element
// it is in as segments (a field error spells it as a JSON pointer,
// "/taiLieu/0/soTien"; the walk of a valid document builds no string).
type reader struct {
	fields *[]problem.FieldError
	path   []segment
}

type segment struct {
	name  string
	index int // the array index after name, or -1
}

// fail records a field error at the current path, with suffix after it.
func (r *reader) fail(suffix, msg string) {
	var b strings.Builder
	for _, s := range r.path {
		b.WriteByte('/')
		b.WriteString(s.name)
		if s.index >= 0 {
			b.WriteByte('/')
			b.WriteString(strconv.Itoa(s.index))
		}
	}
	b.WriteString(suffix)
	*r.fields = append(*r.fields, problem.FieldError{Path: b.String(), Message: msg})
}

func (r *reader) object(el *etree.Element, sh *shape) map[string]any {
	n := 0
	for _, tok := range el.Child {
		if _, ok := tok.(*etree.Element); ok {
			n++
		}
	}
	obj := make(map[string]any, min(n, len(sh.props))) // no growth on the way
	var lists []list                                   // the object's arrays, put in obj once read whole
	for _, tok := range el.Child {
		switch t := tok.(type) {
		case *etree.CharData:
			if strings.Trim(t.Data, xmlSpace) != "" { // element-only content: XML whitespace only
				r.fail("", "text is not allowed here")
			}
		case *etree.ProcInst, *etree.Directive:
			r.fail("", "processing instructions and declarations are not allowed")
		case *etree.Element:
			name := t.Tag
			r.path = append(r.path, segment{name, -1})
			lists = r.element(obj, lists, t, sh)
			r.path = r.path[:len(r.path)-1]
		}
	}
	for _, l := range lists {
		obj[l.name] = l.items
	}
	return obj
}

// list is an array of an object being read.
type list struct {
	name  string
	items []any
}

// element reads child element t of an object of shape sh into obj, or
// into its array among lists; the path ends with its segment.
func (r *reader) element(obj map[string]any, lists []list, t *etree.Element, sh *shape) []list {
	name := t.Tag
	child, ok := sh.props[name]
	if !ok || t.Space != "" {
		if t.Space != "" {
			r.path[len(r.path)-1].name = t.Space + ":" + name
		}
		r.fail("", "element is not part of the definition")
		return lists
	}
	for _, a := range t.Attr {
		r.fail("/@"+attrName(a), "attribute is not part of the definition")
	}
	if child.kind == "array" {
		i := slices.IndexFunc(lists, func(l list) bool { return l.name == name })
		if i < 0 {
			i, lists = len(lists), append(lists, list{name: name})
		}
		r.path[len(r.path)-1].index = len(lists[i].items)
		v := r.value(t, child.items)
		lists[i].items = append(lists[i].items, v)
		return lists
	}
	if _, dup := obj[name]; dup {
		r.fail("", "element appears more than once")
		return lists
	}
	obj[name] = r.value(t, child)
	return lists
}

func (r *reader) value(el *etree.Element, sh *shape) any {
	if sh.kind == "object" {
		return r.object(el, sh)
	}
	// The value is all of the element's character data. Comments (kept
	// when the signature's canonicalization keeps them) are skipped;
	// anything else inside a value is refused rather than half read. A
	// value of one piece of text is that text, not a copy: it may share
	// the parsed body's memory (as the tree's tags do), so a value kept
	// beyond the request should be cloned.
	var text string
	var more strings.Builder
	pieces := 0
	for _, tok := range el.Child {
		switch t := tok.(type) {
		case *etree.CharData:
			switch pieces {
			case 0:
				text = t.Data
			case 1:
				more.WriteString(text)
				fallthrough
			default:
				more.WriteString(t.Data)
			}
			pieces++
		case *etree.Comment:
		default:
			r.fail("", "a value element can only hold text")
			return nil
		}
	}
	if pieces > 1 {
		text = more.String()
	}
	if sh.kind == "integer" {
		// xs:long collapses XML whitespace only (space, tab, CR, LF); strings.TrimSpace would
		// also take a no-break or em space, which no XSD validator accepts.
		digits := strings.Trim(text, xmlSpace)
		if n, err := strconv.ParseInt(digits, 10, 64); err == nil {
			if canonicalInt(digits) {
				return json.Number(digits)
			}
			return json.Number(strconv.FormatInt(n, 10))
		}
		// left as a string: the schema reports the type mismatch at this path
	}
	return text
}

// canonicalInt reports whether s, which strconv.ParseInt reads in base 10,
// is written as strconv.FormatInt writes its value: no sign but a minus,
// no leading zero, no "-0".
func canonicalInt(s string) bool {
	if s[0] == '+' {
		return false
	}
	d := strings.TrimPrefix(s, "-")
	if d == "0" {
		return d == s
	}
	return d[0] != '0'
}

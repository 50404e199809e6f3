package schema

import (
	"encoding/json"
	"errors"
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
	v := readObject(root, d.shape, nil, &fields)
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

// pos is where an element of the document is, as a JSON pointer
// ("/taiLieu/0/soTien") spelt only for a field error: the walk of a valid
// document builds no path.
type pos struct {
	up    *pos
	name  string
	index int // the array index after name, or -1
}

func (p *pos) String() string {
	if p == nil {
		return ""
	}
	s := p.up.String() + "/" + p.name
	if p.index >= 0 {
		s += "/" + strconv.Itoa(p.index)
	}
	return s
}

func readObject(el *etree.Element, sh *shape, at *pos, fields *[]problem.FieldError) map[string]any {
	obj := map[string]any{}
	for _, tok := range el.Child {
		switch t := tok.(type) {
		case *etree.CharData:
			if strings.Trim(t.Data, xmlSpace) != "" { // element-only content: XML whitespace only
				*fields = append(*fields, problem.FieldError{Path: at.String(), Message: "text is not allowed here"})
			}
		case *etree.ProcInst, *etree.Directive:
			*fields = append(*fields, problem.FieldError{Path: at.String(), Message: "processing instructions and declarations are not allowed"})
		case *etree.Element:
			name := t.Tag
			here := pos{up: at, name: name, index: -1}
			child, ok := sh.props[name]
			if !ok || t.Space != "" {
				if t.Space != "" {
					here.name = t.Space + ":" + name
				}
				*fields = append(*fields, problem.FieldError{Path: here.String(), Message: "element is not part of the definition"})
				continue
			}
			for _, a := range t.Attr {
				*fields = append(*fields, problem.FieldError{Path: here.String() + "/@" + attrName(a), Message: "attribute is not part of the definition"})
			}
			if child.kind == "array" {
				arr, _ := obj[name].([]any)
				here.index = len(arr)
				obj[name] = append(arr, readValue(t, child.items, &here, fields))
				continue
			}
			if _, dup := obj[name]; dup {
				*fields = append(*fields, problem.FieldError{Path: here.String(), Message: "element appears more than once"})
				continue
			}
			obj[name] = readValue(t, child, &here, fields)
		}
	}
	return obj
}

func readValue(el *etree.Element, sh *shape, at *pos, fields *[]problem.FieldError) any {
	if sh.kind == "object" {
		return readObject(el, sh, at, fields)
	}
	// The value is all of the element's character data. Comments (kept
	// when the signature's canonicalization keeps them) are skipped;
	// anything else inside a value is refused rather than half read. A
	// value of one piece of text is that text, not a copy.
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
			*fields = append(*fields, problem.FieldError{Path: at.String(), Message: "a value element can only hold text"})
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

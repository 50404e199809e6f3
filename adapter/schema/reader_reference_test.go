package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/kbnn/dvc/adapter/problem"
)

// The XML form's reader as it was before it kept its path as segments
// (d85bba2): the reference the reader is held to, value and field errors
// alike, in order.

func referenceObject(el *etree.Element, sh *shape, at string, fields *[]problem.FieldError) map[string]any {
	obj := map[string]any{}
	for _, tok := range el.Child {
		switch t := tok.(type) {
		case *etree.CharData:
			if strings.Trim(t.Data, xmlSpace) != "" { // element-only content: XML whitespace only
				*fields = append(*fields, problem.FieldError{Path: at, Message: "text is not allowed here"})
			}
		case *etree.ProcInst, *etree.Directive:
			*fields = append(*fields, problem.FieldError{Path: at, Message: "processing instructions and declarations are not allowed"})
		case *etree.Element:
			name := t.Tag
			path := at + "/" + name
			child, ok := sh.props[name]
			if !ok || t.Space != "" {
				if t.Space != "" {
					path = at + "/" + t.Space + ":" + name
				}
				*fields = append(*fields, problem.FieldError{Path: path, Message: "element is not part of the definition"})
				continue
			}
			for _, a := range t.Attr {
				*fields = append(*fields, problem.FieldError{Path: path + "/@" + attrName(a), Message: "attribute is not part of the definition"})
			}
			if child.kind == "array" {
				arr, _ := obj[name].([]any)
				ip := path + "/" + strconv.Itoa(len(arr))
				obj[name] = append(arr, referenceValue(t, child.items, ip, fields))
				continue
			}
			if _, dup := obj[name]; dup {
				*fields = append(*fields, problem.FieldError{Path: path, Message: "element appears more than once"})
				continue
			}
			obj[name] = referenceValue(t, child, path, fields)
		}
	}
	return obj
}

func referenceValue(el *etree.Element, sh *shape, at string, fields *[]problem.FieldError) any {
	if sh.kind == "object" {
		return referenceObject(el, sh, at, fields)
	}
	// The value is all of the element's character data. Comments (kept
	// when the signature's canonicalization keeps them) are skipped;
	// anything else inside a value is refused rather than half read.
	var text strings.Builder
	for _, tok := range el.Child {
		switch t := tok.(type) {
		case *etree.CharData:
			text.WriteString(t.Data)
		case *etree.Comment:
		default:
			*fields = append(*fields, problem.FieldError{Path: at, Message: "a value element can only hold text"})
			return nil
		}
	}
	if sh.kind == "integer" {
		// xs:long collapses XML whitespace only (space, tab, CR, LF); strings.TrimSpace would
		// also take a no-break or em space, which no XSD validator accepts.
		if n, err := strconv.ParseInt(strings.Trim(text.String(), xmlSpace), 10, 64); err == nil {
			return json.Number(strconv.FormatInt(n, 10))
		}
		// left as a string: the schema reports the type mismatch at this path
	}
	return text.String()
}

// readBoth reads the document's root with the reader and with the
// reference, and fails the test where they differ.
func readBoth(t *testing.T, d *Definition, body []byte) {
	t.Helper()
	doc := etree.NewDocument()
	if doc.ReadFromBytes(body) != nil || doc.Root() == nil {
		return
	}
	var got, want []problem.FieldError
	r := reader{fields: &got, path: make([]segment, 0, 8)}
	gv := r.object(doc.Root(), d.shape)
	wv := referenceObject(doc.Root(), d.shape, "", &want)
	if !reflect.DeepEqual(gv, wv) || fmt.Sprintf("%#v", gv) != fmt.Sprintf("%#v", wv) {
		t.Fatalf("value of %q:\n%#v\nreference:\n%#v", body, gv, wv)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("field errors of %q:\n%v\nreference:\n%v", body, got, want)
	}
}

// Every template, and documents with what the reader treats apart (arrays,
// integers in every spelling ParseInt takes, text split by comments,
// unknown and namespaced elements, attributes, stray text), read the same
// as the reference.
func TestReaderMatchesReference(t *testing.T) {
	for _, p := range procedures {
		d := load(t, p)
		readBoth(t, d, readTemplate(t, p, "dossier.xml"))
	}
	d := load(t, "chi-thuong-xuyen")
	for _, b := range readerSeeds(t) {
		readBoth(t, d, b)
	}
}

func readerSeeds(t testing.TB) [][]byte {
	base := string(readTemplate(t, "chi-thuong-xuyen", "dossier.xml"))
	var out [][]byte
	for _, n := range []string{"", "-", "+", "+0", "-0", "00", "-00", "007", "-007", " 42\n", "&#xA0;1",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808", "09223372036854775807",
		"0x10", "1_000", "1e3", "1<!--c-->2", "<b/>", "<![CDATA[12]]>"} {
		out = append(out, []byte(strings.Replace(base, "<soTien>12500000</soTien>", "<soTien>"+n+"</soTien>", 1)))
	}
	for _, r := range [][2]string{
		{"<nienDo>2026</nienDo>", "<nienDo>2026</nienDo><nienDo>2027</nienDo>"},
		{"<nienDo>2026</nienDo>", `<nienDo>2026</nienDo><x:y xmlns:x="urn:x"><z/></x:y>text<?pi x?>`},
		{"<soTien>12500000</soTien>", `<soTien a="1" x:b="2" xmlns:x="urn:x">1</soTien>`},
		{"<maKBNN>0011</maKBNN>", "<maKBNN>00<!--a-->11</maKBNN><maKBNN/>"},
		{"<nienDo>2026</nienDo>", "<nienDo>2026</nienDo>&#xA0;&#x2003;\t"},
		{"<soTien>12500000</soTien>", "<soTien>12500000</soTien>\r\n <!--c--> "},
	} {
		out = append(out, []byte(strings.Replace(base, r[0], r[1], 1)))
	}
	out = append(out, []byte(`<HoSo Id="x"><taiLieu><dongChiTiet><soTien>1</soTien></dongChiTiet><dongChiTiet/></taiLieu><taiLieu/><nienDo>x</nienDo></HoSo>`))
	return out
}

func FuzzReaderMatchesReference(f *testing.F) {
	d := load(f, "chi-thuong-xuyen")
	for _, b := range readerSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { readBoth(t, d, b) })
}

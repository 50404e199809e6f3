package schema

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/kbnn/dvc/adapter/problem"
)

var procedures = []string{"chi-thuong-xuyen", "von-dau-tu", "tai-khoan", "cam-ket-chi"}

func load(t testing.TB, p string) *Definition {
	t.Helper()
	d, err := Load(os.DirFS("../../schemas"), p)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func readTemplate(t testing.TB, p, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../testdata/templates", p, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func xmlValue(t testing.TB, d *Definition, body []byte) (any, error) {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(body); err != nil {
		t.Fatal(err)
	}
	return d.FromXML(doc.Root())
}

// The XML and JSON forms of each template are the same dossier.
func TestXMLAndJSONFormsAgree(t *testing.T) {
	for _, p := range procedures {
		t.Run(p, func(t *testing.T) {
			d := load(t, p)
			jv, err := DecodeJSON(readTemplate(t, p, "dossier.json"))
			if err != nil {
				t.Fatal(err)
			}
			xv, err := xmlValue(t, d, readTemplate(t, p, "dossier.xml"))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(jv, xv) {
				t.Fatalf("forms differ:\njson %v\nxml  %v", jv, xv)
			}
			if err := d.Validate(jv); err != nil {
				t.Fatalf("template invalid: %v", err)
			}
		})
	}
}

func fieldPaths(t *testing.T, err error) []string {
	t.Helper()
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Kind.Code() != "schema-violation" {
		t.Fatalf("want schema-violation, got %v", err)
	}
	var out []string
	for _, f := range pe.Fields {
		out = append(out, f.Path)
	}
	return out
}

func TestXMLViolationsNamePaths(t *testing.T) {
	d := load(t, "chi-thuong-xuyen")
	base := string(readTemplate(t, "chi-thuong-xuyen", "dossier.xml"))
	cases := []struct {
		name, from, to string
		want           []string
	}{
		{"bad unit code", "<maDVQHNS>1012345</maDVQHNS>", "<maDVQHNS>12AB</maDVQHNS>", []string{"/maDVQHNS"}},
		{"amount not integer", "<tongSoTien>187500000</tongSoTien>", "<tongSoTien>1.5e8</tongSoTien>", []string{"/taiLieu/0/tongSoTien"}},
		{"negative line amount", "<soTien>12500000</soTien>", "<soTien>-1</soTien>", []string{"/taiLieu/0/dongChiTiet/0/soTien"}},
		{"unknown element", "<nienDo>2026</nienDo>", "<nienDo>2026</nienDo><ghiChu>x</ghiChu>", []string{"/ghiChu"}},
		{"namespaced element", "<nienDo>2026</nienDo>", `<nienDo>2026</nienDo><x:soTien xmlns:x="urn:x">1</x:soTien>`, []string{"/x:soTien"}},
		{"repeated scalar", "<nienDo>2026</nienDo>", "<nienDo>2026</nienDo><nienDo>2027</nienDo>", []string{"/nienDo"}},
		{"attribute on child", "<maKBNN>0011</maKBNN>", `<maKBNN kind="x">0011</maKBNN>`, []string{"/maKBNN/@kind"}},
		{"missing required", "<maKBNN>0011</maKBNN>", "", []string{"/maKBNN"}},
		{"stray text", "<nienDo>2026</nienDo>", "<nienDo>2026</nienDo>hello", []string{""}},
		{"two violations", "<maKBNN>0011</maKBNN>", "<maKBNN>11</maKBNN><soBoSung>x</soBoSung>", []string{"/maKBNN", "/soBoSung"}},
		{"amount with a no-break space", "<tongSoTien>187500000</tongSoTien>", "<tongSoTien>&#xA0;187500000</tongSoTien>", []string{"/taiLieu/0/tongSoTien"}},
		{"no-break space between elements", "<nienDo>2026</nienDo>", "<nienDo>2026</nienDo>&#xA0;", []string{""}},
		{"amount with an em space", "<tongSoTien>187500000</tongSoTien>", "<tongSoTien>187500000&#x2003;</tongSoTien>", []string{"/taiLieu/0/tongSoTien"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(base, c.from) {
				t.Fatalf("template lacks %q", c.from)
			}
			body := strings.Replace(base, c.from, c.to, 1)
			_, err := xmlValue(t, d, []byte(body))
			got := fieldPaths(t, err)
			for _, w := range c.want {
				found := false
				for _, g := range got {
					found = found || g == w
				}
				if !found {
					t.Errorf("paths %v lack %q", got, w)
				}
			}
		})
	}
}

func TestDecodeJSONRefuses(t *testing.T) {
	for name, c := range map[string]struct{ body, code string }{
		"duplicate key": {`{"a":1,"a":2}`, "malformed-body"},
		"trailing":      {`{"a":1} {}`, "malformed-body"},
		"truncated":     {`{"a":`, "malformed-body"},
		"deep":          {strings.Repeat("[", MaxJSONDepth+2) + strings.Repeat("]", MaxJSONDepth+2), "limit-exceeded"},
		"deep objects":  {strings.Repeat(`{"a":`, MaxJSONDepth+2) + "1" + strings.Repeat("}", MaxJSONDepth+2), "limit-exceeded"},
		"empty":         {``, "malformed-body"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeJSON([]byte(c.body))
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Kind.Code() != c.code {
				t.Fatalf("got %v, want %s", err, c.code)
			}
		})
	}
}

func TestIntegersNeverBecomeFloats(t *testing.T) {
	v, err := DecodeJSON([]byte(`{"soTien": 999999999999999}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := reflect.TypeOf(v.(map[string]any)["soTien"]).String(); got != "json.Number" {
		t.Fatalf("amount decoded as %s", got)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"a":[1,2,{"b":"c"}]}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeJSON(b)
		if err == nil && v == nil && string(b) != "null" && strings.TrimSpace(string(b)) != "null" {
			t.Fatalf("nil value without error for %q", b)
		}
	})
}

func FuzzFromXML(f *testing.F) {
	d := load(f, "chi-thuong-xuyen")
	f.Add(readTemplate(f, "chi-thuong-xuyen", "dossier.xml"))
	f.Add([]byte(`<HoSo Id="x"><taiLieu><dongChiTiet><soTien>1</soTien></dongChiTiet></taiLieu><taiLieu/></HoSo>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc := etree.NewDocument()
		if doc.ReadFromBytes(b) != nil || doc.Root() == nil {
			return
		}
		v, err := d.FromXML(doc.Root())
		if err == nil && v == nil {
			t.Fatal("nil value without error")
		}
	})
}

// A value element's text is read as it was before the walk stopped
// building paths: integers as strconv.FormatInt writes them, text split by
// comments joined, XML white space around an integer dropped.
func TestXMLValues(t *testing.T) {
	integer, str := &shape{kind: "integer"}, &shape{kind: "string"}
	for _, c := range []struct {
		xml  string
		sh   *shape
		want any
	}{
		{"<v>1500000</v>", integer, json.Number("1500000")},
		{"<v> 42\n</v>", integer, json.Number("42")},
		{"<v>007</v>", integer, json.Number("7")},
		{"<v>+5</v>", integer, json.Number("5")},
		{"<v>-0</v>", integer, json.Number("0")},
		{"<v>0</v>", integer, json.Number("0")},
		{"<v>-12</v>", integer, json.Number("-12")},
		{"<v>-012</v>", integer, json.Number("-12")},
		{"<v>1<!--c-->2</v>", integer, json.Number("12")},
		{"<v>1.5</v>", integer, "1.5"},
		{"<v>&#xA0;1</v>", integer, "\u00a01"},
		{"<v>Chi <!--c-->thường<!--d--> xuyên</v>", str, "Chi thường xuyên"},
		{"<v>a</v>", str, "a"},
		{"<v/>", str, ""},
	} {
		doc := etree.NewDocument()
		if err := doc.ReadFromString(c.xml); err != nil {
			t.Fatal(err)
		}
		var fields []problem.FieldError
		r := reader{fields: &fields}
		if got := r.value(doc.Root(), c.sh); got != c.want || len(fields) > 0 {
			t.Errorf("%s as %s = %#v (%v), want %#v", c.xml, c.sh.kind, got, fields, c.want)
		}
	}
}

// Paths in field errors name array indexes and attributes under them, and
// a value element that holds an element.
func TestXMLViolationPathsInArrays(t *testing.T) {
	d := load(t, "chi-thuong-xuyen")
	base := string(readTemplate(t, "chi-thuong-xuyen", "dossier.xml"))
	for _, c := range []struct{ from, to, want string }{
		{"<soTien>12500000</soTien>", `<soTien x="1">12500000</soTien>`, "/taiLieu/0/dongChiTiet/0/soTien/@x"},
		{"<soTien>12500000</soTien>", `<soTien><b/></soTien>`, "/taiLieu/0/dongChiTiet/0/soTien"},
		{"<soTien>12500000</soTien>", `<soTien>12500000</soTien><y:z xmlns:y="urn:y"/>`, "/taiLieu/0/dongChiTiet/0/y:z"},
	} {
		if !strings.Contains(base, c.from) {
			t.Fatalf("template lacks %q", c.from)
		}
		_, err := xmlValue(t, d, []byte(strings.Replace(base, c.from, c.to, 1)))
		if got := fieldPaths(t, err); !slices.Contains(got, c.want) {
			t.Errorf("%s: paths %v lack %q", c.to, got, c.want)
		}
	}
}

// BenchmarkFromXML reads each procedure's template dossier into its value
// and validates it, as a verified XML submission is, and the
// chi-thuong-xuyen template with its first line repeated to 5,000.
func BenchmarkFromXML(b *testing.B) {
	type bench struct{ name, procedure, body string }
	base := string(readTemplate(b, "chi-thuong-xuyen", "dossier.xml"))
	i := strings.Index(base, "<dongChiTiet>")
	j := i + strings.Index(base[i:], "</dongChiTiet>") + len("</dongChiTiet>")
	benches := []bench{{"chi-thuong-xuyen/lines=5000", "chi-thuong-xuyen", base[:i] + strings.Repeat(base[i:j], 5000) + base[j:]}}
	for _, p := range procedures {
		benches = append(benches, bench{p, p, string(readTemplate(b, p, "dossier.xml"))})
	}
	for _, bc := range benches {
		d := load(b, bc.procedure)
		doc := etree.NewDocument()
		if err := doc.ReadFromString(bc.body); err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.FromXML(doc.Root()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package rules

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/beevik/etree"

	"github.com/kbnn/dvc/adapter/schema"
	"github.com/kbnn/dvc/adapter/yamlfile"
	"github.com/kbnn/dvc/schemas"
)

// testSchema is a small dossier definition of the current shape: a list of documents with a
// form code, lines, and fields at the root.
const testSchema = `{
  "type": "object",
  "properties": {
    "nienDo": {"type": "integer"},
    "thoiGianNop": {"type": "string", "format": "date-time"},
    "hanMuc": {"$ref": "#/$defs/soTien"},
    "taiLieu": {"type": "array", "items": {"type": "object", "properties": {
      "mauSo": {"type": "string", "enum": ["A", "B", "C"]},
      "ngay": {"type": "string", "format": "date"},
      "ten": {"type": "string"},
      "tong": {"$ref": "#/$defs/soTien"},
      "bangChu": {"type": "string"},
      "daTra": {"$ref": "#/$defs/soTien"},
      "dong": {"type": "array", "items": {"type": "object", "properties": {
        "soTien": {"$ref": "#/$defs/soTien"},
        "nam": {"type": "integer"}
      }}}
    }}}
  },
  "$defs": {"soTien": {"type": "integer", "minimum": 0}}
}`

func load(file string) (*Set, error) {
	return Load(fstest.MapFS{"thu/rules.yaml": {Data: []byte(file)}}, "thu", []byte(testSchema))
}

func mustLoad(t *testing.T, file string) *Set {
	t.Helper()
	s, err := load(file)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func value(t *testing.T, s string) any {
	t.Helper()
	v, err := schema.DecodeJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const allKinds = `formCode: mauSo
rules:
  - id: tong
    each: /taiLieu
    forms: [A, B]
    kind: sum
    total: tong
    items: ["dong[]/soTien"]
    message: total
    messageVi: tổng
  - id: chu
    each: /taiLieu
    kind: words
    words: bangChu
    amount: tong
    message: words
    messageVi: chữ
  - id: da-tra
    each: /taiLieu
    forms: [A]
    kind: lte
    left: [daTra, tong]
    right: [/hanMuc]
    message: limit
    messageVi: hạn mức
  - id: thu-hoi
    kind: lte
    left: [{each: /taiLieu, forms: [C], path: tong}]
    right: [{each: /taiLieu, forms: [A], path: daTra}]
    message: recovery
    messageVi: thu hồi
  - id: ngay
    each: /taiLieu
    kind: dateInYear
    dates: [ngay]
    year: /nienDo
    message: date
    messageVi: ngày
  - id: nam
    each: /taiLieu
    kind: sameYear
    values: ["dong[]/nam"]
    year: /nienDo
    message: year
    messageVi: năm
  - id: thu-tu
    each: /taiLieu
    kind: dateOrder
    dates: [ngay, /thoiGianNop]
    message: order
    messageVi: thứ tự
  - id: mot-a
    each: /taiLieu
    forms: [A]
    kind: count
    max: 1
    message: one A
    messageVi: một A
  - id: co-c
    each: /taiLieu
    forms: [C]
    kind: count
    min: 1
    message: a C
    messageVi: có C
  - id: chinh
    each: /taiLieu
    forms: [A, B]
    kind: first
    message: main
    messageVi: chính
`

const good = `{"nienDo": 2026, "thoiGianNop": "2026-03-01T23:00:00+07:00", "hanMuc": 300000000,
 "taiLieu": [
  {"mauSo": "A", "ngay": "2026-03-01", "tong": 187500000, "daTra": 112500000,
   "bangChu": "Một trăm tám mươi bảy triệu năm trăm ngàn đồng chẵn",
   "dong": [{"soTien": 12500000, "nam": 2026}, {"soTien": 175000000, "nam": 2026}]},
  {"mauSo": "B", "ngay": "2026-01-01", "tong": 105000, "bangChu": "Một trăm linh năm nghìn đồng",
   "dong": [{"soTien": 105000}]},
  {"mauSo": "C", "ngay": "2026-02-01", "tong": 100000000, "bangChu": "Một trăm triệu đồng"}
 ]}`

func ids(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.ID+"@"+strings.Join(v.Paths, ","))
	}
	return out
}

func TestEveryKind(t *testing.T) {
	s := mustLoad(t, allKinds)
	if vs := s.Check(value(t, good)); len(vs) != 0 {
		t.Fatalf("a good dossier fails %v", ids(vs))
	}
	for _, c := range []struct {
		name, from, to string
		want           []string
	}{
		{"wrong total", `"tong": 187500000`, `"tong": 987500000`,
			[]string{"tong@/taiLieu/0/tong", "chu@/taiLieu/0/bangChu", "da-tra@/taiLieu/0/daTra,/taiLieu/0/tong"}},
		{"total of the second document", `"tong": 105000`, `"tong": 105001`,
			[]string{"tong@/taiLieu/1/tong", "chu@/taiLieu/1/bangChu"}},
		{"words", `năm trăm ngàn đồng chẵn`, `năm trăm ngàn lẻ một đồng`, []string{"chu@/taiLieu/0/bangChu"}},
		{"words not a number", `Một trăm linh năm nghìn đồng`, `một trăm nghìn euro`, []string{"chu@/taiLieu/1/bangChu"}},
		{"lte", `"daTra": 112500000`, `"daTra": 112500001`, []string{"da-tra@/taiLieu/0/daTra,/taiLieu/0/tong"}},
		{"lte across documents", `"tong": 100000000, "bangChu": "Một trăm triệu đồng"`, `"tong": 112500001, "bangChu": "Một trăm mười hai triệu năm trăm nghìn không trăm linh một đồng"`,
			[]string{"thu-hoi@/taiLieu/2/tong"}},
		{"date in year", `"ngay": "2026-01-01"`, `"ngay": "2025-12-31"`, []string{"ngay@/taiLieu/1/ngay"}},
		{"same year", `{"soTien": 12500000, "nam": 2026}`, `{"soTien": 12500000, "nam": 2025}`, []string{"nam@/taiLieu/0/dong/0/nam"}},
		{"date order", `"ngay": "2026-03-01"`, `"ngay": "2026-03-02"`, []string{"thu-tu@/taiLieu/0/ngay,/thoiGianNop"}},
		{"total not an integer", `"tong": 105000`, `"tong": 105000.5`,
			[]string{"tong@/taiLieu/1/tong", "chu@/taiLieu/1/bangChu"}},
		{"count: one too many", `{"mauSo": "B", "ngay": "2026-01-01"`, `{"mauSo": "A", "ngay": "2026-01-01"`,
			[]string{"mot-a@/taiLieu/1"}},
		{"count: too few", `{"mauSo": "C", "ngay"`, `{"mauSo": "B", "ngay"`,
			[]string{"tong@/taiLieu/2/tong", "co-c@/taiLieu"}},
		{"first: not a main form", `{"mauSo": "A", "ngay": "2026-03-01"`, `{"mauSo": "C", "ngay": "2026-03-01"`,
			[]string{"chinh@/taiLieu/0/mauSo"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(good, c.from, c.to, 1)
			if doc == good {
				t.Fatalf("%q not in the dossier", c.from)
			}
			if got := ids(s.Check(value(t, doc))); !slices.Equal(got, c.want) {
				t.Errorf("failing %v, want %v", got, c.want)
			}
		})
	}
}

// A rule on absent optional fields has nothing to compare; an integral number written with
// a fraction or an exponent is the integer the definition accepts.
func TestAbsentAndIntegral(t *testing.T) {
	s := mustLoad(t, allKinds)
	doc := `{"nienDo": 2026, "taiLieu": [{"mauSo": "A", "tong": 1.875e8, "bangChu": "Một trăm tám mươi bảy triệu năm trăm nghìn đồng",
	  "dong": [{"soTien": 187500000.0}]}, {"mauSo": "C"}]}`
	if vs := s.Check(value(t, doc)); len(vs) != 0 {
		t.Fatalf("fails %v", ids(vs))
	}
	if (*Set)(nil).Check(value(t, doc)) != nil {
		t.Error("a nil set fails a dossier")
	}
}

// Sums never overflow: lines adding up past int64 fail the rule instead of wrapping around.
func TestSumOverflow(t *testing.T) {
	s := mustLoad(t, allKinds)
	doc := `{"nienDo": 2026, "taiLieu": [{"mauSo": "B", "tong": 1,
	  "dong": [{"soTien": 9223372036854775807}, {"soTien": 2}]}, {"mauSo": "C"}]}`
	if got := ids(s.Check(value(t, doc))); !slices.Equal(got, []string{"tong@/taiLieu/0/tong"}) {
		t.Errorf("failing %v", got)
	}
	if _, err := add(1<<62, 1<<62); !errors.Is(err, errOverflow) {
		t.Error("add overflows silently")
	}
}

func TestLoadRefuses(t *testing.T) {
	rule := func(body string) string {
		return "formCode: mauSo\nrules:\n  - id: r\n    message: m\n    messageVi: v\n" + body
	}
	for _, c := range []struct{ name, file, want string }{
		{"unknown field", rule("    each: /taiLieu\n    kind: sum\n    total: tongTien\n    items: [\"dong[]/soTien\"]\n"), `thu/rules.yaml:8: rule r: total: the definition has no field "tongTien"`},
		{"unknown field at the root", rule("    each: /taiLieu\n    kind: dateInYear\n    dates: [ngay]\n    year: /namNS\n"), `:9: rule r: year: the definition has no field "/namNS"`},
		{"unknown kind", rule("    kind: total\n"), `:6: rule r: unknown kind "total"`},
		{"each not a list", rule("    each: /nienDo\n    kind: sum\n    total: tong\n    items: [tong]\n"), `:6: rule r: each: "/nienDo" is integer, want a list of objects`},
		{"each relative", rule("    each: taiLieu\n    kind: sum\n    total: tong\n    items: [tong]\n"), `:6: rule r: each: "taiLieu" must name one list`},
		{"each missing list", rule("    each: /chungTu\n    kind: sum\n    total: tong\n    items: [tong]\n"), `:6: rule r: each: the definition has no field "/chungTu"`},
		{"forms without each", rule("    forms: [A]\n    kind: sum\n    total: tong\n    items: [tong]\n"), `:6: rule r: forms without each`},
		{"unknown form", rule("    each: /taiLieu\n    forms: [A, X]\n    kind: sum\n    total: tong\n    items: [tong]\n"), `:7: rule r: forms: "X" is not a form code`},
		{"forms without formCode", strings.Replace(rule("    each: /taiLieu\n    forms: [A]\n    kind: sum\n    total: tong\n    items: [tong]\n"), "formCode: mauSo\n", "", 1), `forms: the file names no formCode`},
		{"formCode not a code", strings.Replace(rule("    each: /taiLieu\n    forms: [A]\n    kind: sum\n    total: tong\n    items: [tong]\n"), "formCode: mauSo", "formCode: ten", 1), `formCode "ten" is not a string field`},
		{"wrong type", rule("    each: /taiLieu\n    kind: words\n    words: tong\n    amount: tong\n"), `rule r: words: "tong" is integer, want a string`},
		{"list without []", rule("    each: /taiLieu\n    kind: sum\n    total: tong\n    items: [dong/soTien]\n"), `"dong" is a list in the definition: write dong[]`},
		{"single with []", rule("    each: /taiLieu\n    kind: sum\n    total: \"dong[]/soTien\"\n    items: [tong]\n"), `must name one value (no [])`},
		{"missing parameter", rule("    each: /taiLieu\n    kind: sum\n    total: tong\n"), `kind sum needs "items"`},
		{"extra parameter", rule("    each: /taiLieu\n    kind: sum\n    total: tong\n    items: [tong]\n    year: /nienDo\n"), `kind sum takes no "year"`},
		{"term with an absolute path", rule("    kind: lte\n    left: [{each: /taiLieu, path: /nienDo}]\n    right: [/hanMuc]\n"), `write it without a leading /`},
		{"term unknown key", rule("    kind: lte\n    left: [{each: /taiLieu, path: tong, when: x}]\n    right: [/hanMuc]\n"), `unknown key "when"`},
		{"empty message", "rules:\n  - id: r\n    kind: sum\n    total: tong\n    items: [tong]\n    message: \" \"\n    messageVi: v\n", `message: empty`},
		{"bad id", "rules:\n  - id: R_1\n    kind: sum\n", `id "R_1"`},
		{"duplicate id", "rules:\n  - {id: r, kind: dateInYear, dates: [/thoiGianNop], year: /nienDo, message: m, messageVi: v}\n  - {id: r, kind: dateInYear, dates: [/thoiGianNop], year: /nienDo, message: m, messageVi: v}\n", `:3: rule id "r" already used at line 2`},
		{"no rules key", "formCode: mauSo\n", `missing "rules"`},
		{"count without each", rule("    kind: count\n    max: 1\n"), `kind count needs each`},
		{"count without bounds", rule("    each: /taiLieu\n    kind: count\n"), `kind count needs min or max`},
		{"count max below min", rule("    each: /taiLieu\n    kind: count\n    min: 2\n    max: 1\n"), `want 0 <= min <= max`},
		{"count negative", rule("    each: /taiLieu\n    kind: count\n    min: -1\n"), `want 0 <= min <= max`},
		{"first without forms", rule("    each: /taiLieu\n    kind: first\n"), `kind first needs forms`},
		{"order without after", rule("    each: /taiLieu\n    forms: [A]\n    kind: order\n"), `kind order needs after`},
		{"order with an unknown form after", rule("    each: /taiLieu\n    forms: [A]\n    kind: order\n    after: [X]\n"), `after: "X" is not a form code`},
		{"order with a form both ways", rule("    each: /taiLieu\n    forms: [A, C]\n    kind: order\n    after: [C]\n"), `"C" is in forms too`},
		{"after on another kind", rule("    each: /taiLieu\n    forms: [A]\n    kind: first\n    after: [C]\n"), `kind first takes no "after"`},
		{"max on another kind", rule("    each: /taiLieu\n    kind: sum\n    total: tong\n    items: [tong]\n    max: 1\n"), `kind sum takes no "max"`},
		{"count with a path", rule("    each: /taiLieu\n    kind: count\n    max: 1\n    total: tong\n"), `kind count takes no "total"`},
		{"unknown key", "rule: []\n", `rule`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(c.file)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			var ye *yamlfile.Error
			if !errors.As(err, &ye) || ye.File != "schemas/thu/rules.yaml" {
				t.Errorf("err = %#v, want a yamlfile.Error naming schemas/thu/rules.yaml", err)
			}
		})
	}
	if _, err := Load(fstest.MapFS{}, "thu", []byte(testSchema)); err == nil {
		t.Error("a missing rule file loads")
	}
}

var procedures = []string{"chi-thuong-xuyen", "von-dau-tu", "tai-khoan", "cam-ket-chi"}

// The shipped rule files load against the shipped definitions, and the valid templates keep
// every rule in both forms.
func TestShippedRulesKeepTemplates(t *testing.T) {
	for _, p := range procedures {
		t.Run(p, func(t *testing.T) {
			def, err := schema.Load(schemas.FS, p)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Load(schemas.FS, p, def.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Rules) == 0 {
				t.Fatal("no rules")
			}
			dir := filepath.Join("..", "..", "testdata", "templates", p)
			raw, err := os.ReadFile(filepath.Join(dir, "dossier.json"))
			if err != nil {
				t.Fatal(err)
			}
			v, err := def.FromJSON(raw)
			if err != nil {
				t.Fatal(err)
			}
			if vs := s.Check(v); len(vs) != 0 {
				t.Errorf("dossier.json fails %v", ids(vs))
			}
			doc := etree.NewDocument()
			if err := doc.ReadFromFile(filepath.Join(dir, "dossier.xml")); err != nil {
				t.Fatal(err)
			}
			xv, err := def.FromXML(doc.Root())
			if err != nil {
				t.Fatal(err)
			}
			if vs := s.Check(xv); len(vs) != 0 {
				t.Errorf("dossier.xml fails %v", ids(vs))
			}
		})
	}
}

// Every shipped rule has an id, both messages and a comment saying where it comes from.
func TestShippedRulesSayTheirSource(t *testing.T) {
	for _, p := range procedures {
		raw, err := os.ReadFile(filepath.Join("..", "..", "schemas", p, File))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(raw), "\n")
		for i, l := range lines {
			if !strings.HasPrefix(strings.TrimSpace(l), "- id:") {
				continue
			}
			j := i - 1
			for j >= 0 && strings.HasPrefix(strings.TrimSpace(lines[j]), "#") && !strings.Contains(lines[j], "Source:") {
				j--
			}
			if j < 0 || !strings.Contains(lines[j], "Source:") {
				t.Errorf("schemas/%s/%s:%d: rule without a '# Source:' comment", p, File, i+1)
			}
		}
	}
}

func TestProblemBody(t *testing.T) {
	vs := []Violation{
		{ID: "tong", Kind: "sum", Paths: []string{"/taiLieu/0/tong"}, Message: "total", MessageVi: "tổng"},
		{ID: "tong", Kind: "sum", Paths: []string{"/taiLieu/2/tong"}, Message: "total", MessageVi: "tổng"},
		{ID: "chu", Kind: "words", Paths: []string{"/taiLieu/0/bangChu"}, Message: "words", MessageVi: "chữ"},
	}
	e := Problem(vs)
	_, _, en := e.RenderIn("en", "req-1")
	_, _, vi := e.RenderIn("vi", "req-1")
	var b struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
		Errors []struct{ Path, Message, Rule string }
		Rules  []Broken `json:"rules"`
	}
	if err := json.Unmarshal(en, &b); err != nil {
		t.Fatal(err)
	}
	if b.Code != "business-rule-violation" || len(b.Rules) != 3 || b.Rules[1].Paths[0] != "/taiLieu/2/tong" ||
		b.Rules[0].Message != "total" || len(b.Errors) != 3 || b.Errors[2].Rule != "chu" ||
		b.Detail != "The dossier breaks 2 business rule(s): tong, chu." {
		t.Errorf("english body %s", en)
	}
	if err := json.Unmarshal(vi, &b); err != nil {
		t.Fatal(err)
	}
	if b.Rules[2].Message != "chữ" || b.Errors[0].Message != "tổng" || b.Errors[0].Path != "/taiLieu/0/tong" {
		t.Errorf("vietnamese body %s", vi)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(allKinds)
	f.Add("rules: []\n")
	f.Add("formCode: mauSo\nrules:\n  - {id: r, each: /taiLieu, forms: [A], kind: sum, total: tong, items: [tong], message: m, messageVi: v}\n")
	for _, p := range procedures {
		if raw, err := os.ReadFile(filepath.Join("..", "..", "schemas", p, File)); err == nil {
			f.Add(string(raw))
		}
	}
	doc, err := schema.DecodeJSON([]byte(good))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, file string) {
		s, err := load(file)
		if err != nil {
			var ye *yamlfile.Error
			if !errors.As(err, &ye) {
				t.Fatalf("error %v is not a yamlfile.Error", err)
			}
			return
		}
		for _, v := range s.Check(doc) { // a loaded set runs on any valid dossier
			if v.ID == "" || len(v.Paths) == 0 {
				t.Fatalf("violation %+v without id or paths", v)
			}
		}
	})
}

// BenchmarkCheck reports the cost of the shipped chi-thuong-xuyen rules on its template with
// 5,000 payroll lines in the first document.
func BenchmarkCheck(b *testing.B) {
	def, err := schema.Load(schemas.FS, "chi-thuong-xuyen")
	if err != nil {
		b.Fatal(err)
	}
	s, err := Load(schemas.FS, "chi-thuong-xuyen", def.Raw)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "templates", "chi-thuong-xuyen", "dossier.json"))
	if err != nil {
		b.Fatal(err)
	}
	v, err := def.FromJSON(raw)
	if err != nil {
		b.Fatal(err)
	}
	first := v.(map[string]any)["taiLieu"].([]any)[0].(map[string]any)
	line := first["dongChiTiet"].([]any)[0]
	lines := make([]any, 5000)
	for i := range lines {
		lines[i] = line
	}
	first["dongChiTiet"] = lines
	first["tongSoTien"] = json.Number("62500000000")
	first["soTienBangChu"] = Words(62_500_000_000)
	if vs := s.Check(v); len(vs) != 0 {
		b.Fatalf("fails %v", ids(vs))
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Check(v)
	}
}

// The shipped rules bind the dossier as a whole, not only each document: the main document
// comes first, one request of a kind per dossier, and the payments and the commitment stay
// within the contract across documents.
func TestShippedRulesBindTheWholeDossier(t *testing.T) {
	docs := func(v any) []any { return v.(map[string]any)["taiLieu"].([]any) }
	setDocs := func(v any, d []any) { v.(map[string]any)["taiLieu"] = d }
	copyOf := func(m any) map[string]any {
		out := map[string]any{}
		for k, x := range m.(map[string]any) {
			out[k] = x
		}
		return out
	}
	withdrawalSlip := func(amount, words string) func(v any) {
		return func(v any) {
			d := copyOf(docs(v)[0])
			d["mauSo"], d["soChungTu"] = "05.a/TT", "20/2026/GRV"
			d["tongSoTien"], d["soTienBangChu"] = json.Number(amount), words
			line := copyOf(d["mucLucNganSach"])
			line["soTien"] = json.Number(amount)
			d["mucLucNganSach"] = line
			delete(d, "soTienTamUng")
			delete(d, "soTienThanhToan")
			delete(d, "luyKeDaThanhToan")
			all := docs(v)
			setDocs(v, append([]any{all[0], d}, all[1:]...)) // a payment, before the recovery
		}
	}
	for _, c := range []struct {
		name, procedure string
		change          func(v any)
		want            []string // rule ids that must fail; none: the dossier keeps every rule
	}{
		{"a voucher list first", "chi-thuong-xuyen", func(v any) {
			d := docs(v)
			setDocs(v, append([]any{d[len(d)-1]}, d[:len(d)-1]...))
		}, []string{"tai-lieu-chinh-dau-tien"}},
		{"a second payment request", "von-dau-tu", func(v any) {
			d := copyOf(docs(v)[0])
			d["soChungTu"] = "19/2026/ĐNTT"
			all := docs(v)
			setDocs(v, append([]any{all[0], d}, all[1:]...))
		}, []string{"mot-de-nghi-thanh-toan", "luy-ke-khong-vuot-gia-tri-hop-dong"}},
		// 2.1 bn paid to date and the slip, against a contract of 4.85 bn.
		{"a withdrawal slip within the contract", "von-dau-tu", withdrawalSlip("2750000000", "Hai tỷ bảy trăm năm mươi triệu đồng"), nil},
		{"a withdrawal slip past the contract", "von-dau-tu", withdrawalSlip("2750000001", "Hai tỷ bảy trăm năm mươi triệu không trăm linh một đồng"),
			[]string{"rut-von-khong-vuot-gia-tri-hop-dong"}},
		// The slip draws the money the request asks for: 3 bn paid to date, 1.25 bn asked and
		// withdrawn is 4.25 bn, within 4.85 bn, not 5.5 bn.
		{"a withdrawal slip for the payment asked", "von-dau-tu", func(v any) {
			docs(v)[0].(map[string]any)["luyKeDaThanhToan"] = json.Number("3000000000")
			withdrawalSlip("1250000000", "Một tỷ hai trăm năm mươi triệu đồng")(v)
		}, nil},
		{"a recovery before the payment request", "von-dau-tu", func(v any) {
			d := docs(v)
			setDocs(v, []any{d[2], d[0], d[1]})
		}, []string{"thanh-toan-truoc-thu-hoi"}},
		{"the volume statement first", "von-dau-tu", func(v any) {
			d := docs(v)
			setDocs(v, []any{d[1], d[0], d[2]})
		}, []string{"tai-lieu-chinh-dau-tien"}},
		{"a commitment past the contract sent with it", "cam-ket-chi", func(v any) {
			hd := copyOf(docs(v)[1])
			c := copyOf(hd["hopDong"])
			c["giaTriHopDong"], hd["tongSoTien"] = json.Number("639999999"), json.Number("639999999")
			hd["hopDong"] = c
			setDocs(v, []any{docs(v)[0], hd})
		}, []string{"cam-ket-khong-vuot-hop-dong-kem-theo"}},
		{"the contract first", "cam-ket-chi", func(v any) {
			d := docs(v)
			setDocs(v, []any{d[1], d[0]})
		}, []string{"tai-lieu-chinh-dau-tien"}},
		{"two commitment requests", "cam-ket-chi", func(v any) {
			d := docs(v)
			setDocs(v, []any{d[0], d[0], d[1]})
		}, []string{"mot-de-nghi-cam-ket", "cam-ket-khong-vuot-hop-dong-kem-theo"}},
		{"the specimen first", "tai-khoan", func(v any) {
			d := docs(v)
			setDocs(v, []any{d[1], d[0]})
		}, []string{"tai-lieu-chinh-dau-tien"}},
	} {
		t.Run(c.procedure+"/"+c.name, func(t *testing.T) {
			def, err := schema.Load(schemas.FS, c.procedure)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Load(schemas.FS, c.procedure, def.Raw)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "templates", c.procedure, "dossier.json"))
			if err != nil {
				t.Fatal(err)
			}
			v, err := def.FromJSON(raw)
			if err != nil {
				t.Fatal(err)
			}
			c.change(v)
			var got []string
			for _, vi := range s.Check(v) {
				if !slices.Contains(got, vi.ID) {
					got = append(got, vi.ID)
				}
			}
			slices.Sort(got)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("failing %v, want %v", got, want)
			}
		})
	}
}

// order: no document of the rule's forms after one of the forms in after.
func TestOrder(t *testing.T) {
	s := mustLoad(t, `formCode: mauSo
rules:
  - id: a-truoc-c
    each: /taiLieu
    forms: [A]
    kind: order
    after: [C]
    message: A before C
    messageVi: A trước C
`)
	for _, c := range []struct {
		forms string
		want  []string
	}{
		{`"A", "B", "C"`, nil},
		{`"B", "A", "C", "C"`, nil},
		{`"C", "B"`, nil},
		{`"A"`, nil},
		{`"C", "A"`, []string{"a-truoc-c@/taiLieu/1/mauSo"}},
		{`"A", "C", "B", "A", "A"`, []string{"a-truoc-c@/taiLieu/3/mauSo,/taiLieu/4/mauSo"}},
	} {
		var docs []string
		for _, f := range strings.Split(c.forms, ", ") {
			docs = append(docs, `{"mauSo": `+f+`}`)
		}
		v := value(t, `{"taiLieu": [`+strings.Join(docs, ", ")+`]}`)
		if got := ids(s.Check(v)); !slices.Equal(got, c.want) {
			t.Errorf("%s: failing %v, want %v", c.forms, got, c.want)
		}
	}
}

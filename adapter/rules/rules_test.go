package rules

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kbnn/dvc/schemas"
)

const testSchema = `{
  "type": "object",
  "properties": {
    "nienDo": {"type": "integer"},
    "ngay": {"type": "string", "format": "date"},
    "luc": {"type": "string", "format": "date-time"},
    "ten": {"type": "string"},
    "tong": {"$ref": "#/$defs/soTien"},
    "bangChu": {"type": "string"},
    "hanMuc": {"$ref": "#/$defs/soTien"},
    "daTra": {"$ref": "#/$defs/soTien"},
    "dong": {"type": "array", "items": {"type": "object", "properties": {
      "soTien": {"$ref": "#/$defs/soTien"},
      "nam": {"type": "integer"},
      "ngay": {"type": "string", "format": "date"}
    }}}
  },
  "$defs": {"soTien": {"type": "integer", "minimum": 0}}
}`

func load(t *testing.T, file string) (*Set, error) {
	t.Helper()
	return Load(fstest.MapFS{"thu/rules.yaml": {Data: []byte(file)}}, "thu", []byte(testSchema))
}

func mustLoad(t *testing.T, file string) *Set {
	t.Helper()
	s, err := load(t, file)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func value(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

const allKinds = `rules:
  - id: tong
    kind: sum
    total: tong
    items: ["dong[]/soTien"]
    message: total
    messageVi: tổng
  - id: chu
    kind: words
    words: bangChu
    amount: tong
    message: words
    messageVi: chữ
  - id: han-muc
    kind: lte
    left: [daTra, tong]
    right: [hanMuc]
    message: limit
    messageVi: hạn mức
  - id: ngay
    kind: dateInYear
    dates: [ngay, "dong[]/ngay"]
    year: nienDo
    message: date
    messageVi: ngày
  - id: nam
    kind: sameYear
    values: ["dong[]/nam"]
    year: nienDo
    message: year
    messageVi: năm
  - id: thu-tu
    kind: dateOrder
    dates: [ngay, luc]
    message: order
    messageVi: thứ tự
`

const good = `{"nienDo": 2026, "ngay": "2026-03-01", "luc": "2026-03-01T23:00:00+07:00",
  "tong": 187500000, "bangChu": "Một trăm tám mươi bảy triệu năm trăm ngàn đồng chẵn",
  "hanMuc": 300000000, "daTra": 112500000,
  "dong": [{"soTien": 12500000, "nam": 2026, "ngay": "2026-01-01"},
           {"soTien": 175000000, "nam": 2026, "ngay": "2026-12-31"}]}`

func failing(vs []Violation) []string {
	var ids []string
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	return ids
}

func TestEveryKind(t *testing.T) {
	s := mustLoad(t, allKinds)
	if vs := s.Check(value(t, good)); len(vs) != 0 {
		t.Fatalf("a good dossier fails %v", vs)
	}
	for _, c := range []struct {
		name, from, to string
		want           []string
	}{
		{"wrong total", `"tong": 187500000`, `"tong": 987500000`, []string{"tong", "chu", "han-muc"}},
		{"wrong line", `"soTien": 12500000`, `"soTien": 12500001`, []string{"tong"}},
		{"wrong words", `năm trăm ngàn`, `năm trăm linh năm`, []string{"chu"}},
		{"words not a number", `Một trăm tám mươi bảy triệu năm trăm ngàn đồng chẵn`, `theo bảng kê`, []string{"chu"}},
		{"over the limit by one", `"daTra": 112500000`, `"daTra": 112500001`, []string{"han-muc"}},
		{"at the limit", `"daTra": 112500000`, `"daTra": 112500000`, nil},
		{"date in another year", `"ngay": "2026-03-01"`, `"ngay": "2025-12-31"`, []string{"ngay"}},
		{"line date in another year", `"2026-12-31"`, `"2027-01-01"`, []string{"ngay"}},
		{"line of another year", `"nam": 2026, "ngay": "2026-12-31"`, `"nam": 2025, "ngay": "2026-12-31"`, []string{"nam"}},
		{"dates out of order", `"luc": "2026-03-01T23:00:00+07:00"`, `"luc": "2026-02-28T23:00:00+07:00"`, []string{"thu-tu"}},
		{"total written 187500000.0", `"tong": 187500000`, `"tong": 187500000.0`, nil},
		{"total written 1.875e8", `"tong": 187500000`, `"tong": 1.875e8`, nil},
		{"total with a fraction", `"tong": 187500000`, `"tong": 187500000.5`, []string{"tong", "chu", "han-muc"}},
		{"total with a huge exponent", `"tong": 187500000`, `"tong": 1e999999999`, []string{"tong", "chu", "han-muc"}},
		{"lines missing", `"dong": [`, `"khac": [`, []string{"tong"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(good, c.from, c.to, 1)
			if doc == good && c.from != c.to {
				t.Fatal("edit did not apply")
			}
			if got := failing(s.Check(value(t, doc))); !slices.Equal(got, c.want) {
				t.Errorf("failing %v, want %v", got, c.want)
			}
		})
	}
}

func TestViolationPaths(t *testing.T) {
	s := mustLoad(t, allKinds)
	doc := strings.Replace(good, `"nam": 2026, "ngay": "2026-12-31"`, `"nam": 2025, "ngay": "2026-12-31"`, 1)
	doc = strings.Replace(doc, `"tong": 187500000`, `"tong": 187500001`, 1)
	vs := s.Check(value(t, doc))
	got := map[string][]string{}
	for _, v := range vs {
		got[v.ID] = v.Paths
		if v.Message == "" || v.MessageVi == "" || v.Kind == "" {
			t.Errorf("violation %+v lacks a message or kind", v)
		}
	}
	if !slices.Equal(got["tong"], []string{"tong", "dong[]/soTien"}) {
		t.Errorf("sum paths %v", got["tong"])
	}
	if !slices.Equal(got["nam"], []string{"/dong/1/nam"}) {
		t.Errorf("sameYear paths %v", got["nam"])
	}
}

// TestAbsentOptionalFields: a rule whose compared value is absent does not fail; an absent
// addend counts as zero.
func TestAbsentOptionalFields(t *testing.T) {
	s := mustLoad(t, allKinds)
	doc := value(t, `{"nienDo": 2026, "tong": 5, "dong": [{"soTien": 5}], "hanMuc": 5}`)
	if vs := s.Check(doc); len(vs) != 0 {
		t.Errorf("failing %v", failing(vs))
	}
}

func TestLoadRefuses(t *testing.T) {
	rule := func(body string) string {
		return "rules:\n  - id: r\n    message: m\n    messageVi: v\n" + body
	}
	for _, c := range []struct {
		name, file, want string
	}{
		{"unknown field", rule("    kind: sum\n    total: tongTien\n    items: [\"dong[]/soTien\"]\n"), `rules.yaml:6: rule r: total: the definition has no field "tongTien"`},
		{"unknown nested field", rule("    kind: sum\n    total: tong\n    items: [\"dong[]/tien\"]\n"), `rules.yaml:7: rule r: items: the definition has no field "dong[]/tien"`},
		{"list without []", rule("    kind: sum\n    total: tong\n    items: [dong/soTien]\n"), `"dong" is a list in the definition`},
		{"[] on a non-list", rule("    kind: sum\n    total: tong\n    items: [\"tong[]\"]\n"), `"tong[]" is not a list`},
		{"unknown kind", rule("    kind: between\n"), `rules.yaml:5: rule r: unknown kind "between"`},
		{"missing parameter", rule("    kind: sum\n    total: tong\n"), `kind sum needs "items"`},
		{"foreign parameter", rule("    kind: sum\n    total: tong\n    items: [\"dong[]/soTien\"]\n    year: nienDo\n"), `rules.yaml:8: rule r: kind sum takes no "year"`},
		{"wrong type", rule("    kind: sum\n    total: ten\n    items: [\"dong[]/soTien\"]\n"), `total: "ten" is string, want an integer`},
		{"words not a string", rule("    kind: words\n    words: tong\n    amount: tong\n"), `want a string`},
		{"date not a date", rule("    kind: dateInYear\n    dates: [ten]\n    year: nienDo\n"), `want a date or date-time string`},
		{"many where one", rule("    kind: sum\n    total: dong[]/soTien\n    items: [\"dong[]/soTien\"]\n"), `must name one value`},
		{"empty list", rule("    kind: lte\n    left: []\n    right: [tong]\n"), `left: want at least 1 paths`},
		{"one date to order", rule("    kind: dateOrder\n    dates: [ngay]\n"), `want at least 2 paths`},
		{"unknown key", rule("    kind: sum\n    totl: tong\n"), `rules.yaml:6: unknown key "totl"`},
		{"bad path", rule("    kind: sum\n    total: tong/\n    items: [\"dong[]/soTien\"]\n"), `bad field name`},
		{"no message", "rules:\n  - id: r\n    kind: sum\n    messageVi: v\n", `message: empty`},
		{"no Vietnamese message", "rules:\n  - id: r\n    kind: sum\n    message: m\n", `messageVi: empty`},
		{"bad id", "rules:\n  - id: Rule 1\n    kind: sum\n", `rules.yaml:2: id "Rule 1"`},
		{"duplicate id", "rules:\n" + strings.Repeat("  - {id: r, kind: dateOrder, dates: [ngay, luc], message: m, messageVi: v}\n", 2), `rules.yaml:3: rule id "r" already used at line 2`},
		{"no rules key", "other: 1\n", `unknown key "other"`},
		{"empty file", "", `empty file`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, c.file)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "schemas/thu/rules.yaml") {
				t.Errorf("error %v does not name the file", err)
			}
		})
	}
	if _, err := Load(fstest.MapFS{}, "thu", []byte(testSchema)); err == nil {
		t.Error("a missing rule file is accepted")
	}
	if s := mustLoad(t, "rules: []\n"); len(s.Rules) != 0 {
		t.Error("rules: [] gives rules")
	}
}

// TestShippedRules loads every procedure's rule file against its definition, and the
// procedure's templates (the valid fixtures' content) keep every rule.
func TestShippedRules(t *testing.T) {
	procs, err := filepath.Glob("../../schemas/*/rules.yaml")
	if err != nil || len(procs) < 4 {
		t.Fatalf("rule files: %v %v", procs, err)
	}
	for _, f := range procs {
		proc := filepath.Base(filepath.Dir(f))
		def, err := os.ReadFile(filepath.Join("../../schemas", proc, "dossier.schema.json"))
		if err != nil {
			t.Fatal(err)
		}
		set, err := Load(schemas.FS, proc, def)
		if err != nil {
			t.Fatal(err)
		}
		if len(set.Rules) == 0 {
			t.Errorf("%s: no rules", proc)
		}
		raw, err := os.ReadFile(filepath.Join("../../testdata/templates", proc, "dossier.json"))
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if vs := set.Check(v); len(vs) != 0 {
			t.Errorf("%s: the template fails %v", proc, failing(vs))
		}
	}
}

// TestKindsDocumented keeps the kinds, the README's table and the OpenAPI enum in step.
func TestKindsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	api, err := os.ReadFile("../../schemas/adapter/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	enum := "kind: {type: string, enum: [" + strings.Join(Kinds(), ", ") + "]}"
	if !strings.Contains(string(api), enum) {
		t.Errorf("schemas/adapter/openapi.yaml RuleViolation.kind is not %q", enum)
	}
	for _, k := range Kinds() {
		if !strings.Contains(string(readme), "| `"+k+"` |") {
			t.Errorf("kind %s has no row in the README's Business rules table", k)
		}
	}
}

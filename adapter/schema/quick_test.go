package schema

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// definitions is every definition the adapter loads: each procedure's
// dossier and the withdrawal request.
func definitions(t testing.TB) map[string]*Definition {
	t.Helper()
	out := map[string]*Definition{}
	for _, p := range procedures {
		out[p] = load(t, p)
	}
	w, err := LoadForm(os.DirFS("../../schemas"), WithdrawalFolder, Withdrawal)
	if err != nil {
		t.Fatal(err)
	}
	out[WithdrawalFolder] = w
	return out
}

// templateValues are the templates' values (JSON and XML forms) of every
// definition.
func templateValues(t testing.TB, defs map[string]*Definition) map[string][]any {
	t.Helper()
	out := map[string][]any{}
	for _, p := range procedures {
		for _, name := range []string{"dossier.json", "withdrawal.json"} {
			v, err := DecodeJSON(readTemplate(t, p, name))
			if err != nil {
				t.Fatal(err)
			}
			def := p
			if name == "withdrawal.json" {
				def = WithdrawalFolder
			}
			out[def] = append(out[def], v)
		}
		xv, err := xmlValue(t, defs[p], readTemplate(t, p, "dossier.xml"))
		if err != nil {
			t.Fatal(err)
		}
		out[p] = append(out[p], xv)
	}
	return out
}

// Every definition has a quick form, and it decides every template valid,
// as the library does: the quick form is what valid documents go through.
func TestQuickFormDecidesTheTemplates(t *testing.T) {
	defs := definitions(t)
	for name, vals := range templateValues(t, defs) {
		d := defs[name]
		if d.validator.quick == nil {
			t.Fatalf("%s: no quick form", name)
		}
		for i, v := range vals {
			if err := d.validator.schema.Validate(v); err != nil {
				t.Fatalf("%s #%d: the library refuses the template: %v", name, i, err)
			}
			if !d.validator.quick.valid(v) {
				t.Errorf("%s #%d: the quick form does not decide the template valid", name, i)
			}
		}
	}
}

// cloneValue deep-copies a decoded value.
func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneValue(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = cloneValue(e)
		}
		return l
	}
	return v
}

// The quick form says no to a violation of each keyword the definitions
// use (the library then reports it), and decides exactly only what it
// can: a value the library accepts but the quick form does not decide
// (the integer 1.0) still passes Validate.
func TestQuickFormSaysNoToViolations(t *testing.T) {
	d := load(t, "chi-thuong-xuyen")
	base, err := DecodeJSON(readTemplate(t, "chi-thuong-xuyen", "dossier.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc0 := func(m map[string]any) map[string]any { return m["taiLieu"].([]any)[0].(map[string]any) }
	line0 := func(m map[string]any) map[string]any { return doc0(m)["dongChiTiet"].([]any)[0].(map[string]any) }
	cases := []struct {
		name   string
		change func(m map[string]any)
		valid  bool // the library accepts the changed value
		quick  bool // the quick form decides it valid
	}{
		{"required missing", func(m map[string]any) { delete(m, "maHoSo") }, false, false},
		{"additional property", func(m map[string]any) { m["extra"] = "x" }, false, false},
		{"nested additional property", func(m map[string]any) { line0(m)["extra"] = "x" }, false, false},
		{"const", func(m map[string]any) { m["thuTuc"] = "von-dau-tu" }, false, false},
		{"type", func(m map[string]any) { m["soBoSung"] = "1" }, false, false},
		{"null", func(m map[string]any) { m["maTTHC"] = nil }, false, false},
		{"maximum", func(m map[string]any) { m["soBoSung"] = json.Number("100") }, false, false},
		{"minimum", func(m map[string]any) { m["soBoSung"] = json.Number("-1") }, false, false},
		{"at the maximum", func(m map[string]any) { m["soBoSung"] = json.Number("99") }, true, true},
		{"integer written 1.0", func(m map[string]any) { m["soBoSung"] = json.Number("1.0") }, true, false},
		{"integer written 1e1", func(m map[string]any) { m["soBoSung"] = json.Number("1e1") }, true, false},
		{"not an integer", func(m map[string]any) { m["soBoSung"] = json.Number("1.5") }, false, false},
		{"huge integer", func(m map[string]any) { m["nienDo"] = json.Number("99999999999999999999") }, false, false},
		{"minLength", func(m map[string]any) { m["maTTHC"] = "" }, false, false},
		{"maxLength counts characters", func(m map[string]any) { m["maTTHC"] = strings.Repeat("ạ", 30) }, true, true},
		{"maxLength", func(m map[string]any) { m["maTTHC"] = strings.Repeat("ạ", 31) }, false, false},
		{"format date-time", func(m map[string]any) { m["thoiGianNop"] = "2026-13-01T00:00:00Z" }, false, false},
		{"format date", func(m map[string]any) { doc0(m)["ngayChungTu"] = "2026-02-30" }, false, false},
		{"minItems", func(m map[string]any) { m["taiLieu"] = []any{} }, false, false},
		{"items", func(m map[string]any) { m["taiLieu"] = []any{"x"} }, false, false},
		{"enum", func(m map[string]any) { doc0(m)["mauSo"] = "X" }, false, false},
		{"integer enum", func(m map[string]any) { doc0(m)["loaiDuToan"] = json.Number("2") }, false, false},
		{"integer enum member", func(m map[string]any) { doc0(m)["loaiDuToan"] = json.Number("1") }, true, true},
		{"pattern", func(m map[string]any) { line0(m)["maNDKT"] = "12a4" }, false, false},
		{"ref", func(m map[string]any) { m["maDVQHNS"] = "12" }, false, false},
		{"a Go float", func(m map[string]any) { m["soBoSung"] = 1.0 }, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := cloneValue(base).(map[string]any)
			c.change(v)
			if err := d.validator.schema.Validate(v); (err == nil) != c.valid {
				t.Fatalf("library: %v; the case expects valid=%v", err, c.valid)
			}
			if got := d.validator.quick.valid(v); got != c.quick {
				t.Fatalf("quick form decides valid=%v, want %v", got, c.quick)
			}
			if err := d.Validate(v); (err == nil) != c.valid {
				t.Fatalf("Validate: %v; want valid=%v", err, c.valid)
			}
		})
	}
}

// A definition with a keyword the quick form does not decide, or a $ref
// cycle, gets no quick form.
func TestQuickFormRefusesOtherKeywords(t *testing.T) {
	for name, raw := range map[string]string{
		"oneOf":             `{"type":"object","properties":{"a":{"oneOf":[{"type":"string"},{"type":"integer"}]}}}`,
		"patternProperties": `{"type":"object","patternProperties":{"^x":{"type":"string"}}}`,
		"uniqueItems":       `{"type":"array","uniqueItems":true}`,
		"multipleOf":        `{"type":"integer","multipleOf":3}`,
		"older draft":       `{"$schema":"http://json-schema.org/draft-07/schema#","type":"string"}`,
		"ref cycle":         `{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"properties":{"x":{"$ref":"#/$defs/a"}}}`,
	} {
		s, err := Compile([]byte(raw), "test/"+strings.ReplaceAll(name, " ", "-")+".json")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if q := compileQuick(s); q != nil {
			t.Errorf("%s: has a quick form", name)
		}
	}
	s, err := Compile([]byte(`{"$defs":{"n":{"type":"object","properties":{"next":{"$ref":"#/$defs/n"}}}},"$ref":"#/$defs/n"}`), "test/list.json")
	if err != nil {
		t.Fatal(err)
	}
	q := compileQuick(s)
	if q == nil {
		t.Fatal("a recursive definition through a property has no quick form")
	}
	v, _ := DecodeJSON([]byte(`{"next":{"next":{"next":{}}}}`))
	if !q.valid(v) {
		t.Fatal("the recursive definition is not decided")
	}
	if v, _ := DecodeJSON([]byte(`{"next":{"next":"x"}}`)); q.valid(v) {
		t.Fatal("a violation deep in the recursion is decided valid")
	}
}

// FuzzQuickNeverAcceptsMore: whatever the document, if the quick form
// decides it valid, the library accepts it. Each input is a JSON body
// (decoded as the adapter decodes bodies), or, read as edits, a template
// changed at fuzzed places to fuzzed values.
func FuzzQuickNeverAcceptsMore(f *testing.F) {
	defs := definitions(f)
	templates := templateValues(f, defs)
	names := []string{"chi-thuong-xuyen", "von-dau-tu", "tai-khoan", "cam-ket-chi", WithdrawalFolder}
	for _, p := range procedures {
		f.Add(readTemplate(f, p, "dossier.json"), "")
		f.Add(readTemplate(f, p, "withdrawal.json"), "")
	}
	f.Add([]byte{0, 3, 1, 7, 2, 9, 4, 4}, "ạạ")
	f.Add([]byte{1, 200, 5, 17, 3, 2}, "2026-02-29")
	f.Add([]byte{2, 33, 6, 1, 1, 0}, "1.0")
	f.Fuzz(func(t *testing.T, data []byte, s string) {
		check := func(v any) {
			for _, n := range names {
				if defs[n].validator.quick.valid(v) {
					if err := defs[n].validator.schema.Validate(v); err != nil {
						t.Fatalf("%s: the quick form decides valid what the library refuses: %v", n, err)
					}
				}
			}
		}
		if v, err := DecodeJSON(data); err == nil {
			check(v)
		}
		if len(data) < 2 {
			return
		}
		vals := templates[names[int(data[0])%len(names)]]
		v := cloneValue(vals[int(data[1])%len(vals)])
		candidates := []any{s, nil, true, json.Number(s), json.Number("0"), json.Number("-1"), json.Number("100"),
			json.Number("1.0"), json.Number("99999999999999999999"), "", strings.Repeat("9", 40), []any{}, []any{s},
			map[string]any{}, map[string]any{s: s}, "2026-06-09", "2026-06-09T08:30:00+07:00", "0011", "C2-02a/NS"}
		for i := 2; i+1 < len(data); i += 2 {
			v = edit(v, int(data[i]), cloneValue(candidates[int(data[i+1])%len(candidates)]), s)
		}
		check(v)
	})
}

// edit replaces the n-th value of v (in a walk of its tree, n taken
// modulo the count) with r; replacing a member with the marker value s
// deletes it instead when s is "-".
func edit(v any, n int, r any, s string) any {
	var places []func(any)
	var walk func(x any, set func(any))
	walk = func(x any, set func(any)) {
		places = append(places, set)
		switch c := x.(type) {
		case map[string]any:
			for k, e := range c {
				walk(e, func(nv any) {
					if s == "-" {
						delete(c, k)
						return
					}
					c[k] = nv
				})
			}
		case []any:
			for i, e := range c {
				walk(e, func(nv any) { c[i] = nv })
			}
		}
	}
	root := v
	walk(v, func(nv any) { root = nv })
	places[n%len(places)](r)
	return root
}

// A Validator answers as the library: nil for a valid value, the library's
// own error for another.
func TestValidator(t *testing.T) {
	d := load(t, "tai-khoan")
	v := d.validator
	if !v.HasQuickForm() {
		t.Fatal("no quick form")
	}
	good, err := DecodeJSON(readTemplate(t, "tai-khoan", "dossier.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(good); err != nil {
		t.Fatal(err)
	}
	bad := cloneValue(good).(map[string]any)
	delete(bad, "maHoSo")
	var ve *jsonschema.ValidationError
	if err := v.Validate(bad); !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want the library's validation error", err)
	}
}

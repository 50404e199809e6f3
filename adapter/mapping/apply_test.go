package mapping

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
)

const testDoc = `{"ma": "X1", "tien": 1000, "ngay": "2026-06-09", "luc": "2026-06-09T01:30:00Z", "loai": "b",
 "dong": [{"soTien": 600, "ma": "A", "con": [{"x": "p"}, {"x": "q"}]}, {"soTien": 400}],
 "khac": [{"soTien": 5}], "nhom": {"ten": "not sent"}}`

func applyTest(t *testing.T, mapping, doc string) (map[string]any, error) {
	t.Helper()
	fsys := testFS()
	fsys["p/mapping.yaml"].Data = []byte(mapping)
	m, err := loadTest(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return m.Apply(decode(t, []byte(doc)), Context{Procedure: "p", ProcedureCode: "1.0"})
}

func TestApply(t *testing.T) {
	withDefault := strings.Replace(testMapping, `from: "dong[]/ma"}`, `from: "dong[]/ma", default: "-"}`, 1)
	tests := []struct {
		name, mapping, doc, want string
	}{
		{"every rule", testMapping, testDoc,
			`{"code":"X1","content":{"at":"2026-06-09T08:30:00+07:00","kind":"B","other":[{"amount":5}]},"day":"2026-06-09",` +
				`"lines":[{"amount":600,"code":"A","nested":[{"x":"p"},{"x":"q"}]},{"amount":400}],"total":1000}`},
		{"absent fields are left out", testMapping, `{"ma": "X1"}`, `{"code":"X1"}`},
		{"null is absent", testMapping, `{"ma": null, "tien": 7, "dong": null}`, `{"total":7}`},
		{"empty array gives an empty array", testMapping, `{"dong": []}`, `{"lines":[]}`},
		{"elements stay aligned", testMapping, `{"dong": [{"ma": "A"}, {"soTien": 2}, {}, {"ma": "D", "soTien": 4}]}`,
			`{"lines":[{"code":"A"},{"amount":2},{},{"amount":4,"code":"D"}]}`},
		{"default fills an absent element field", withDefault, `{"dong": [{"ma": "A"}, {"soTien": 2}]}`,
			`{"lines":[{"code":"A"},{"amount":2,"code":"-"}]}`},
		{"default not used when the array is absent", withDefault, `{}`, `{}`},
		{"nested arrays", testMapping, `{"dong": [{"con": []}, {"con": [{"x": "a"}, {}, {"x": "c"}]}]}`,
			`{"lines":[{"nested":[]},{"nested":[{"x":"a"},{},{"x":"c"}]}]}`},
		{"unknown dossier fields are ignored", testMapping, `{"ma": "X", "extra": {"deep": [1, 2]}}`, `{"code":"X"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := applyTest(t, tt.mapping, tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			checkOutputTypes(t, "request", out)
			got, err := json.Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// An empty string for a field the request schema declares optional is left out, as an absent
// dossier field is; for a required field, or under a free-form object, it is sent as it is.
func TestApplyEmptyStrings(t *testing.T) {
	mapping := strings.Replace(testMapping, "unmapped:\n  - {path: nhom/ten, reason: kept for the test}\n",
		"  - {to: content.name, from: nhom/ten}\n", 1)
	const doc = `{"ma": "", "dong": [{"ma": "", "soTien": 1}], "nhom": {"ten": ""}}`
	tests := []struct {
		name, request, want string
	}{
		{"optional fields", testRequestSchema, `{"content":{"name":""},"lines":[{"amount":1}]}`},
		{"required field", strings.Replace(testRequestSchema, `"type": "object",`, `"type": "object", "required": ["code"],`, 1),
			`{"code":"","content":{"name":""},"lines":[{"amount":1}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := testFS()
			fsys["p/mapping.yaml"].Data = []byte(mapping)
			m, err := Load(fsys, "p", []byte(testDossierSchema), []byte(tt.request))
			if err != nil {
				t.Fatal(err)
			}
			out, err := m.Apply(decode(t, []byte(doc)), Context{Procedure: "p", ProcedureCode: "1.0"})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := json.Marshal(out); string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestApplyRefuses(t *testing.T) {
	tests := []struct {
		name, doc, to, from, want string
	}{
		{"float amount", `{"dong": [{"soTien": 1}, {"soTien": 2.5}]}`, "lines[].amount", "dong[1]/soTien", "not a non-negative integer"},
		{"negative amount", `{"tien": -5}`, "total", "tien", "not a non-negative integer"},
		{"string amount", `{"tien": "5"}`, "total", "tien", "got string"},
		{"bad date", `{"ngay": "2026-13-01"}`, "day", "ngay", "not a yyyy-MM-dd date"},
		{"unknown code", `{"loai": "c"}`, "content.kind", "loai", "table t has no code \"c\""},
		{"object where a value is expected", `{"ma": {"x": 1}}`, "code", "ma", "got an object"},
		{"array is an object", `{"dong": {"soTien": 1}}`, "lines[].amount", "dong[]/soTien", "dong: want an array, got an object"},
		{"element is not an object", `{"dong": [{"soTien": 1}, "x"]}`, "lines[].amount", "dong[1]/soTien", "soTien: want an object, got string"},
		{"inner array is a string", `{"dong": [{"con": "x"}]}`, "lines[].nested[].x", "dong[0]/con[]/x", "con: want an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := applyTest(t, testMapping, tt.doc)
			var ae *ApplyError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v, want *ApplyError", err)
			}
			if ae.To != tt.to || ae.From != tt.from || ae.Procedure != "p" || !strings.Contains(ae.Err.Error(), tt.want) {
				t.Errorf("got %v\nwant to %s, from %s, containing %q", err, tt.to, tt.from, tt.want)
			}
		})
	}
}

func TestApplyContext(t *testing.T) {
	m := loadProcedure(t, "chi-thuong-xuyen")
	doc := template(t, "chi-thuong-xuyen")
	tests := []struct {
		name string
		doc  any
		ctx  Context
		want string
	}{
		{"other procedure", doc, Context{Procedure: "von-dau-tu", ProcedureCode: "x"}, `context is for procedure "von-dau-tu"`},
		{"no procedure code", doc, Context{Procedure: "chi-thuong-xuyen"}, "procedureCode from @procedureCode: the context value is empty"},
		{"dossier not an object", []any{doc}, Context{Procedure: "chi-thuong-xuyen", ProcedureCode: "x"}, "dossier is an array, not an object"},
		{"nil dossier", nil, Context{Procedure: "chi-thuong-xuyen", ProcedureCode: "x"}, "dossier is null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := m.Apply(tt.doc, tt.ctx); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestApplyLargeDossier checks that 5,000 dossier lines give 5,000 request lines in order.
func TestApplyLargeDossier(t *testing.T) {
	const n = 5000
	m := loadProcedure(t, "chi-thuong-xuyen")
	doc := largeDossier(t, n)
	out, err := m.Apply(doc, contextFor("chi-thuong-xuyen", doc))
	if err != nil {
		t.Fatal(err)
	}
	lines := out["lines"].([]any)
	if len(lines) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	var sum int64
	for i, l := range lines {
		amount := l.(map[string]any)["amount"].(int64)
		if amount != int64(1000+i) {
			t.Fatalf("line %d: amount %d, want %d", i, amount, 1000+i)
		}
		sum += amount
	}
	if sum != out["totalAmount"].(int64) {
		t.Errorf("lines sum to %d, total is %d", sum, out["totalAmount"])
	}
}

// TestApplyConcurrent runs one Mapping from many goroutines (meaningful under -race) and checks
// that results do not share state.
func TestApplyConcurrent(t *testing.T) {
	m := loadProcedure(t, "von-dau-tu")
	doc := template(t, "von-dau-tu")
	want, err := m.Apply(doc, contextFor("von-dau-tu", doc))
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	want["content"].(map[string]any)["project"].(map[string]any)["code"] = "changed"
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				out, err := m.Apply(doc, contextFor("von-dau-tu", doc))
				if err != nil {
					t.Error(err)
					return
				}
				if got, _ := json.Marshal(out); string(got) != string(wantJSON) {
					t.Errorf("concurrent result differs:\n%s", got)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestApplyDocuments checks that every document of the dossier reaches documents[] in order,
// with its own lines, tax lines and voucher lines, and that the envelope repeats the first one.
func TestApplyDocuments(t *testing.T) {
	m := loadProcedure(t, "chi-thuong-xuyen")
	doc := template(t, "chi-thuong-xuyen")
	out, err := m.Apply(doc, contextFor("chi-thuong-xuyen", doc))
	if err != nil {
		t.Fatal(err)
	}
	docs := out["documents"].([]any)
	if len(docs) != 3 {
		t.Fatalf("%d documents, want 3", len(docs))
	}
	want := []struct {
		typ, kind            string
		total                int64
		lines, tax, vouchers int
	}{
		{"C2-02a/NS", "PAYMENT", 187500000, 2, 0, 0},
		{"C2-02b/NS", "PAYMENT", 55000000, 1, 1, 0},
		{"BK-CTTT", "VOUCHER_LIST", 187500000, 0, 0, 2},
	}
	count := func(d map[string]any, key string) int {
		l, _ := d[key].([]any)
		return len(l)
	}
	for i, w := range want {
		d := docs[i].(map[string]any)
		if d["type"] != w.typ || d["kind"] != w.kind || d["totalAmount"] != w.total ||
			count(d, "lines") != w.lines || count(d, "taxLines") != w.tax || count(d, "voucherLines") != w.vouchers {
			t.Errorf("document %d: %v, want %+v", i, d, w)
		}
	}
	if out["documentType"] != "C2-02a/NS" || out["totalAmount"] != int64(187500000) || len(out["lines"].([]any)) != 2 {
		t.Errorf("envelope does not repeat the first document: %v %v", out["documentType"], out["totalAmount"])
	}
	tax := docs[1].(map[string]any)["taxLines"].([]any)[0].(map[string]any)
	if tax["amount"] != int64(5000000) || tax["item"] != "1701" {
		t.Errorf("tax line %v", tax)
	}
}

// TestApplyIndexedSource checks that a source path with a fixed index reads that element only,
// and that a missing element leaves the field out.
func TestApplyIndexedSource(t *testing.T) {
	m := loadProcedure(t, "chi-thuong-xuyen")
	doc := template(t, "chi-thuong-xuyen")
	docs := doc["taiLieu"].([]any)
	docs[0], docs[1] = docs[1], docs[0]
	out, err := m.Apply(doc, contextFor("chi-thuong-xuyen", doc))
	if err != nil {
		t.Fatal(err)
	}
	if out["documentType"] != "C2-02b/NS" || out["totalAmount"] != int64(55000000) {
		t.Errorf("envelope %v %v, want the new first document", out["documentType"], out["totalAmount"])
	}
}

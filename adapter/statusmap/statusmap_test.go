package statusmap

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kbnn/dvc/schemas"
)

// schemaStatuses is the enum of the shipped status event schema.
func schemaStatuses(t testing.TB) []string {
	t.Helper()
	raw, err := fs.ReadFile(schemas.FS, "treasury/status-event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	st, err := SchemaStatuses(raw)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSchemaStatuses(t *testing.T) {
	t.Parallel()
	want := []string{"RECEIVED", "ACCEPTED", "PROCESSING", "CORRECTION_REQUIRED", "REJECTED", "PAID",
		"ACCOUNT_OPENED", "RESULT_RETURNED", "STOPPED", "WITHDRAWN"}
	if got := schemaStatuses(t); !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	inline := `{"properties":{"status":{"enum":["A","B"]}}}`
	if got, err := SchemaStatuses([]byte(inline)); err != nil || !slices.Equal(got, []string{"A", "B"}) {
		t.Errorf("inline enum = %v, %v", got, err)
	}
	for _, bad := range []string{
		`{`, `{"properties":{}}`, `{"properties":{"status":{"type":"string"}}}`,
		`{"properties":{"status":{"$ref":"other.json#/x"}}}`,
		`{"properties":{"status":{"$ref":"#/$defs/missing"}},"$defs":{}}`,
		`{"properties":{"status":{"enum":[1,2]}}}`,
	} {
		if _, err := SchemaStatuses([]byte(bad)); err == nil {
			t.Errorf("SchemaStatuses(%s) succeeded", bad)
		}
	}
}

// move is one allowed move in a test's expectation of a whole lifecycle.
type move struct {
	to      int
	refusal bool
}

// shippedLifecycle is the lifecycle every shipped procedure has, written out as a reviewer
// reads it: treasury status → current code → the move. paidStatus is the status that means
// "processed" (PAID, or ACCOUNT_OPENED for tai-khoan).
func shippedLifecycle(paidStatus string) map[string]map[int]move {
	from := func(to int, refusal bool, codes ...int) map[int]move {
		m := map[int]move{}
		for _, c := range codes {
			m[c] = move{to, refusal}
		}
		return m
	}
	rejected := from(3, true, 1, 2)
	for c, mv := range from(8, true, 4, 5) {
		rejected[c] = mv
	}
	return map[string]map[int]move{
		"RECEIVED":            from(2, false, 1, 5),
		"ACCEPTED":            from(2, false, 1, 5),
		"PROCESSING":          from(4, false, 1, 2, 5),
		"CORRECTION_REQUIRED": from(5, false, 1, 2, 4),
		"REJECTED":            rejected,
		"WITHDRAWN":           from(7, false, 1, 2, 4, 5),
		"STOPPED":             from(8, false, 1, 2, 4, 5),
		paidStatus:            from(9, false, 4),
		"RESULT_RETURNED":     from(10, false, 9),
	}
}

// TestShippedFiles loads every shipped status.yaml against the shipped schema and checks the
// whole lifecycle, every (current code, treasury status) pair, as a reviewer would read it.
func TestShippedFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		procedure, paid, notDelivered string
	}{
		{"chi-thuong-xuyen", "PAID", "ACCOUNT_OPENED"},
		{"von-dau-tu", "PAID", "ACCOUNT_OPENED"},
		{"cam-ket-chi", "PAID", "ACCOUNT_OPENED"},
		{"tai-khoan", "ACCOUNT_OPENED", "PAID"},
	}
	fsys := os.DirFS("../../mappings")
	statuses := schemaStatuses(t)
	for _, tt := range tests {
		t.Run(tt.procedure, func(t *testing.T) {
			t.Parallel()
			m, err := Load(fsys, tt.procedure, statuses)
			if err != nil {
				t.Fatal(err)
			}
			if m.Procedure() != tt.procedure || m.File() != "mappings/"+tt.procedure+"/status.yaml" {
				t.Errorf("Procedure() = %q, File() = %q", m.Procedure(), m.File())
			}
			want := shippedLifecycle(tt.paid)
			for _, s := range statuses {
				if !m.Known(s) {
					t.Errorf("Known(%s) = false", s)
				}
				for current := 0; current <= 10; current++ {
					mv, allowed := want[s][max(current, 1)]
					got, ok := m.Next(current, s)
					if ok != allowed || (ok && (got.To != mv.to || got.Refusal != mv.refusal || got.From != max(current, 1) ||
						got.Status != s || got.Final != slices.Contains([]int{3, 7, 8, 10}, mv.to))) {
						t.Errorf("Next(%d, %s) = %v, %v; want %v, %v", current, s, got, ok, mv, allowed)
					}
				}
			}
			for c := 1; c <= 10; c++ {
				if m.Final(c) != slices.Contains([]int{3, 7, 8, 10}, c) {
					t.Errorf("Final(%d) = %v", c, m.Final(c))
				}
			}
			if reason, ok := m.NotDelivered(tt.notDelivered); !ok || reason == "" {
				t.Errorf("NotDelivered(%s) = %q, %v", tt.notDelivered, reason, ok)
			}
			if _, ok := m.Next(1, "SHIPPED"); ok || m.Known("SHIPPED") {
				t.Error("an unknown status moves a dossier")
			}
			if code, ok := m.Nominal("REJECTED"); !ok || code != 3 {
				t.Errorf("Nominal(REJECTED) = %d, %v; want 3 (the first rule)", code, ok)
			}
		})
	}
}

// validFile is a small lifecycle: 1 -A-> 2 -B-> 4 -C-> 10, and B refuses at 1 (3, final).
const validFile = `procedure: tp
description: test
statuses:
  A:
    - {from: [1], to: 2}
  B:
    - {from: [2], to: 4}
    - {from: [1], to: 3, refusal: true}
  C:
    - {from: [4], to: 10}
final: [3, 10]
notDelivered:
  - {status: D, reason: "not for p"}
`

var testStatuses = []string{"A", "B", "C", "D"}

func loadValid(t *testing.T) *Map {
	t.Helper()
	m, err := Load(fstest.MapFS{"tp/status.yaml": {Data: []byte(validFile)}}, "tp", testStatuses)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoadValid(t *testing.T) {
	t.Parallel()
	_, err := Load(fstest.MapFS{"tp/status.yaml": {Data: []byte(validFile)}}, "tp1", testStatuses)
	if err == nil || !strings.Contains(err.Error(), "open tp1/status.yaml") {
		t.Errorf("missing file: error = %v", err)
	}
	m := loadValid(t)
	if _, ok := m.Next(1, "D"); ok {
		t.Error("D moves a dossier")
	}
	if r, ok := m.NotDelivered("D"); !ok || r != "not for p" {
		t.Errorf("NotDelivered(D) = %q, %v", r, ok)
	}
	if got := m.Rules("B"); len(got) != 2 || got[0].From != 2 || got[0].To != 4 || got[1].From != 1 ||
		got[1].To != 3 || !got[1].Refusal || !got[1].Final || got[1].Line != 8 {
		t.Errorf("Rules(B) = %v", got)
	}
}

// TestNext spells out the decision of the small lifecycle for every current code.
func TestNext(t *testing.T) {
	t.Parallel()
	m := loadValid(t)
	tests := []struct {
		current int
		status  string
		want    string // Transition.String(), "" for not allowed
	}{
		{0, "A", "A: 1 → 2"}, // unknown to the portal counts as registered
		{1, "A", "A: 1 → 2"},
		{2, "A", ""},
		{1, "B", "B: 1 → 3 (refusal, final)"},
		{2, "B", "B: 2 → 4"},
		{4, "B", ""},
		{4, "C", "C: 4 → 10 (final)"},
		{10, "C", ""}, // final
		{3, "A", ""},  // final
		{1, "C", ""},
		{1, "D", ""}, // not delivered
		{1, "Z", ""}, // unknown
		{-1, "A", ""},
		{11, "A", ""},
	}
	for _, tt := range tests {
		got, ok := m.Next(tt.current, tt.status)
		if ok != (tt.want != "") || (ok && got.String() != tt.want) {
			t.Errorf("Next(%d, %s) = %v, %v; want %q", tt.current, tt.status, got, ok, tt.want)
		}
	}
	for _, tt := range []struct {
		current int
		status  string
		want    string
	}{
		{2, "A", "A moves a dossier only from 1, not from 2 (mappings/tp/status.yaml)"},
		{10, "C", "C does not move a dossier at 10, a final status (mappings/tp/status.yaml)"},
		{1, "D", "D is not reported for tp: not for p"},
		{1, "Z", "Z is not in mappings/tp/status.yaml"},
	} {
		if got := m.Why(tt.current, tt.status); got != tt.want {
			t.Errorf("Why(%d, %s) = %q, want %q", tt.current, tt.status, got, tt.want)
		}
	}
}

// TestLoadRefuses changes the valid file in one place each and checks the message, file and
// line included.
func TestLoadRefuses(t *testing.T) {
	t.Parallel()
	const f = "mappings/tp/status.yaml:"
	tests := []struct {
		name, old, new, want string
	}{
		// form
		{"unknown status", "final:", "  E:\n    - {from: [1], to: 2}\nfinal:", f + `11: unknown treasury status "E"`},
		{"lower-case status", "  A:\n", "  a:\n", f + `4: unknown treasury status "a"`},
		{"to 0", "{from: [1], to: 2}", "{from: [1], to: 0}", f + "5: A: to: national code 0 outside 1..10"},
		{"from 11", "{from: [4], to: 10}", "{from: [11], to: 10}", f + "10: C: from: national code 11 outside 1..10"},
		{"negative code", "{from: [4], to: 10}", "{from: [4], to: -3}", f + "10: C: to: national code -3 outside 1..10"},
		{"code as text", "{from: [1], to: 2}", `{from: [1], to: "2"}`, f + `5: A: to: national code "2" must be a plain integer`},
		{"code in hex", "{from: [1], to: 2}", "{from: [1], to: 0x2}", f + `5: A: to: national code "0x2" must be a plain integer`},
		{"code fraction", "{from: [1], to: 2}", "{from: [1.5], to: 2}", f + `5: A: from: national code "1.5" must be a plain integer`},
		{"code a word", "{from: [1], to: 2}", "{from: [one], to: 2}", f + `5: A: from: national code "one" must be a plain integer`},
		{"from not a list", "{from: [1], to: 2}", "{from: 1, to: 2}", f + "5: A: from: want a list of national codes"},
		{"from empty", "{from: [1], to: 2}", "{from: [], to: 2}", f + "5: A: from: want a list of national codes"},
		{"from twice", "{from: [1], to: 2}", "{from: [1, 1], to: 2}", f + "5: A: from: 1 listed twice"},
		{"to missing", "{from: [1], to: 2}", "{from: [1]}", f + "5: A: to: missing"},
		{"unknown rule key", "{from: [1], to: 2}", "{form: [1], to: 2}", f + `5: unknown key "form"`},
		{"old form", "  A:\n    - {from: [1], to: 2}\n", "  A: 2\n", f + "4: wrong kind of value: an integer where a list is expected"},
		{"no rules", "  A:\n    - {from: [1], to: 2}\n", "  A: []\n", f + "4: A: no rules; list a status that moves no dossier under notDelivered"},
		{"duplicate status", "  C:\n", "  B:\n", f + `9: mapping key "B" already defined at line 6`},
		{"unknown top key", "description: test", "descripton: test", f + `2: unknown key "descripton"`},
		{"unknown item key", `reason: "not for p"`, `why: "not for p"`, f + `13: unknown key "why"`},
		{"missing status", "  C:\n    - {from: [4], to: 10}\n", "", f + "1: treasury status C neither has rules under statuses nor is listed under notDelivered"},
		{"not delivered unknown", "status: D", "status: E", f + `13: notDelivered: unknown treasury status "E"`},
		{"not delivered no reason", `reason: "not for p"`, `reason: " "`, f + "13: notDelivered: D has no reason"},
		{"not delivered with rules", "{status: D", "{status: A", f + "13: notDelivered: A also has rules under statuses"},
		{"not delivered twice", "not for p\"}\n", "not for p\"}\n  - {status: D, reason: again}\n", f + "14: notDelivered: D listed twice"},
		{"wrong procedure", "procedure: tp", "procedure: tq", f + `1: procedure: is "tq", want "tp"`},
		{"statuses empty", "statuses:\n", "statuses: {}\nx:\n", f + `4: unknown key "x"`},
		{"statuses a list", "statuses:\n", "statuses:\n  - A\nx:\n", f + "4: wrong kind of value: a list where a mapping is expected"},
		{"final missing", "final: [3, 10]\n", "", f + "1: final: want the list of final national codes"},
		{"final empty", "final: [3, 10]", "final: []", f + "11: final: want the list of final national codes"},
		{"final twice", "final: [3, 10]", "final: [3, 10, 3]", f + "11: final: 3 listed twice"},
		{"final out of range", "final: [3, 10]", "final: [3, 0]", f + "11: final: national code 0 outside 1..10"},
		{"not YAML", "statuses:", "statuses: [", f},
		{"two documents", "description: test\n", "description: test\n---\nprocedure: tp\n", "more than one YAML document"},
		{"empty file", validFile, "", "mappings/tp/status.yaml: empty file"},
		{"top level list", validFile, "- a\n", f + "1: want a mapping of keys at the top level"},

		// contradictions
		{"overlapping rules", "{from: [1], to: 3, refusal: true}", "{from: [1, 2], to: 3, refusal: true}",
			f + "8: B: from 2 is also in the rule at line 7: one status, one move from each code"},
		{"moves nowhere", "{from: [2], to: 4}", "{from: [2, 4], to: 4}", f + "7: B: moves a dossier from 4 to 4, where it already is"},
		{"leaves a final status", "{from: [4], to: 10}", "{from: [4, 3], to: 10}",
			f + "10: C: moves a dossier from 3, a final status: nothing leaves a final status"},
		{"final reached by no rule", "final: [3, 10]", "final: [3, 10, 7]", f + "11: final: no rule leads to 7"},

		// unreachable
		{"from a code nothing leads to", "{from: [4], to: 10}", "{from: [4, 6], to: 10}",
			f + "10: C: moves a dossier from 6, which no chain of rules from 1 reaches"},
		{"a cycle nothing leads to", "{from: [1], to: 2}", "{from: [4], to: 2}",
			f + "5: A: moves a dossier from 4, which no chain of rules from 1 reaches"},

		// stuck
		{"no way to a final status", "  C:\n    - {from: [4], to: 10}\nfinal: [3, 10]",
			"  C:\n    - {from: [4], to: 5}\nfinal: [3]",
			f + "5: no final status can be reached from 2: a dossier there would never end"},
		{"a dead end", "    - {from: [1], to: 2}\n", "    - {from: [1], to: 2}\n    - {from: [4], to: 5}\n",
			f + "6: no final status can be reached from 5: a dossier there would never end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := strings.Replace(validFile, tt.old, tt.new, 1)
			if body == validFile {
				t.Fatalf("replacement %q not applied", tt.old)
			}
			_, err := Load(fstest.MapFS{"tp/status.yaml": {Data: []byte(body)}}, "tp", testStatuses)
			if err == nil {
				t.Fatalf("Load succeeded:\n%s", body)
			}
			if _, ok := errors.AsType[*LoadError](err); !ok {
				t.Errorf("error %T is not a *LoadError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadArguments(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{"tp/status.yaml": {Data: []byte(validFile)}}
	if _, err := Load(fsys, "../p", testStatuses); err == nil {
		t.Error("bad procedure id accepted")
	}
	if _, err := Load(fsys, "tp", nil); err == nil {
		t.Error("no statuses accepted")
	}
}

// A lifecycle that Load accepts has no move out of a final status, reaches every code it
// moves from, and lets every code it reaches end: FuzzLoad checks these of whatever loads.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(validFile))
	f.Add([]byte("procedure: tp\nstatuses: {A: [{from: [1], to: 2}], B: [{from: [2], to: 3}], C: [{from: [3], to: 4}]}\nfinal: [4]\nnotDelivered: [{status: D, reason: x}]\n"))
	f.Add([]byte("procedure: tp\nstatuses:\n  A: [{from: [99999999999999999999], to: 2}]\n"))
	f.Add([]byte("procedure: tp\nnotDelivered: [{status: A}, {}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Load(fstest.MapFS{"tp/status.yaml": {Data: data}}, "tp", testStatuses)
		if err != nil {
			if _, ok := errors.AsType[*LoadError](err); !ok {
				t.Fatalf("error %T is not a *LoadError: %v", err, err)
			}
			return
		}
		reached := map[int]bool{1: true}
		for _, s := range testStatuses {
			if !m.Known(s) {
				t.Fatalf("loaded without %s", s)
			}
			for _, tr := range m.Rules(s) {
				if m.Final(tr.From) || tr.From == tr.To || tr.To < MinCode || tr.To > MaxCode {
					t.Fatalf("loaded a bad move %v", tr)
				}
				reached[tr.To] = true
			}
		}
		for c := range reached {
			if !m.Final(c) && !canEnd(m, c, map[int]bool{}) {
				t.Fatalf("loaded a lifecycle that never ends from %d", c)
			}
		}
	})
}

func canEnd(m *Map, c int, seen map[int]bool) bool {
	if m.Final(c) {
		return true
	}
	if seen[c] {
		return false
	}
	seen[c] = true
	for _, s := range testStatuses {
		if tr, ok := m.Next(c, s); ok && canEnd(m, tr.To, seen) {
			return true
		}
	}
	return false
}

func ExampleMap_Next() {
	m, err := Load(fstest.MapFS{"tp/status.yaml": {Data: []byte(validFile)}}, "tp", testStatuses)
	if err != nil {
		panic(err)
	}
	for _, step := range []struct {
		current int
		status  string
	}{{0, "A"}, {2, "B"}, {4, "B"}, {4, "C"}, {10, "A"}} {
		if tr, ok := m.Next(step.current, step.status); ok {
			fmt.Println(tr)
		} else {
			fmt.Println(m.Why(step.current, step.status))
		}
	}
	// Output:
	// A: 1 → 2
	// B: 2 → 4
	// B moves a dossier only from 2, 1, not from 4 (mappings/tp/status.yaml)
	// C: 4 → 10 (final)
	// A does not move a dossier at 10, a final status (mappings/tp/status.yaml)
}

func TestLater(t *testing.T) {
	m, err := Load(os.DirFS("../../mappings"), "chi-thuong-xuyen", schemaStatuses(t))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		current int
		status  string
		want    bool
	}{
		{2, "PAID", true},              // 2 → 4 → 9 allowed later
		{4, "RESULT_RETURNED", true},   // after 9
		{9, "STOPPED", false},          // nothing leads back from 9 to where STOPPED applies
		{8, "PROCESSING", false},       // final
		{1, "RESULT_RETURNED", true},   // the whole way
		{10, "RESULT_RETURNED", false}, // final
	}
	for _, c := range cases {
		if got := m.Later(c.current, c.status); got != c.want {
			t.Errorf("Later(%d, %s) = %v, want %v", c.current, c.status, got, c.want)
		}
	}
}

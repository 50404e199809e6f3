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

// TestAdvancesEveryPair spells out the rule for every (current, next) pair of national codes:
// row = current, column = next. 1 means next is delivered as the current status.
func TestAdvancesEveryPair(t *testing.T) {
	t.Parallel()
	want := [11][11]int{
		//  next: 1  2  3  4  5  6  7  8  9 10
		0:  {0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, // unknown: anything
		1:  {0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1},
		2:  {0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
		3:  {0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1},
		4:  {0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1},
		5:  {0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1}, // correction arrived: 5 → 4
		6:  {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1},
		7:  {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1},
		8:  {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1},
		9:  {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
		10: {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	}
	for current := 0; current <= 10; current++ {
		for next := 1; next <= 10; next++ {
			t.Run(fmt.Sprintf("%d→%d", current, next), func(t *testing.T) {
				if got := Advances(current, next); got != (want[current][next] == 1) {
					t.Errorf("Advances(%d, %d) = %v", current, next, got)
				}
			})
		}
	}
}

func TestAdvancesOutOfRange(t *testing.T) {
	t.Parallel()
	tests := []struct{ current, next int }{
		{0, 0}, {0, 11}, {0, -1}, {4, 0}, {4, 11}, {5, 0}, {11, 12}, {-1, 4}, {-1, 1}, {99, 100},
	}
	for _, tt := range tests {
		if Advances(tt.current, tt.next) {
			t.Errorf("Advances(%d, %d) = true", tt.current, tt.next)
		}
	}
}

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

// TestShippedFiles loads every shipped status.yaml against the shipped schema and checks the
// whole table, as a reviewer would read it.
func TestShippedFiles(t *testing.T) {
	t.Parallel()
	common := map[string]int{
		"RECEIVED": 2, "ACCEPTED": 2, "REJECTED": 3, "PROCESSING": 4, "CORRECTION_REQUIRED": 5,
		"WITHDRAWN": 7, "STOPPED": 8, "RESULT_RETURNED": 10,
	}
	with := func(status string, code int) map[string]int {
		m := map[string]int{status: code}
		for k, v := range common {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		procedure   string
		want        map[string]int
		notDelivers string
	}{
		{"chi-thuong-xuyen", with("PAID", 9), "ACCOUNT_OPENED"},
		{"von-dau-tu", with("PAID", 9), "ACCOUNT_OPENED"},
		{"cam-ket-chi", with("PAID", 9), "ACCOUNT_OPENED"},
		{"tai-khoan", with("ACCOUNT_OPENED", 9), "PAID"},
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
			if m.Procedure() != tt.procedure {
				t.Errorf("Procedure() = %q", m.Procedure())
			}
			for _, s := range statuses {
				code, ok := m.National(s)
				if want, mapped := tt.want[s]; ok != mapped || code != want {
					t.Errorf("National(%s) = %d, %v; want %d, %v", s, code, ok, want, mapped)
				}
				if !m.Known(s) {
					t.Errorf("Known(%s) = false", s)
				}
			}
			if reason, ok := m.NotDelivered(tt.notDelivers); !ok || reason == "" {
				t.Errorf("NotDelivered(%s) = %q, %v", tt.notDelivers, reason, ok)
			}
			if _, ok := m.National("SHIPPED"); ok || m.Known("SHIPPED") {
				t.Error("an unknown status is mapped")
			}
		})
	}
}

const validFile = `procedure: tp
description: test
statuses:
  A: 2
  B: 4
  C: 10
notDelivered:
  - {status: D, reason: "not for p"}
`

var testStatuses = []string{"A", "B", "C", "D"}

func TestLoadValid(t *testing.T) {
	t.Parallel()
	_, err := Load(fstest.MapFS{"tp/status.yaml": {Data: []byte(validFile)}}, "tp1", testStatuses)
	if err == nil || !strings.Contains(err.Error(), "open tp1/status.yaml") {
		t.Errorf("missing file: error = %v", err)
	}
	m, err := Load(fstest.MapFS{"tp/status.yaml": {Data: []byte(validFile)}}, "tp", testStatuses)
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]int{"A": 2, "B": 4, "C": 10} {
		if got, ok := m.National(s); !ok || got != want {
			t.Errorf("National(%s) = %d, %v", s, got, ok)
		}
	}
	if _, ok := m.National("D"); ok {
		t.Error("D is mapped")
	}
	if r, ok := m.NotDelivered("D"); !ok || r != "not for p" {
		t.Errorf("NotDelivered(D) = %q, %v", r, ok)
	}
}

// TestLoadRefuses changes the valid file in one place each and checks the message, file and
// line included.
func TestLoadRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown status", "  C: 10\n", "  C: 10\n  E: 9\n", "mappings/tp/status.yaml:7: unknown treasury status \"E\""},
		{"lower-case status", "  A: 2", "  a: 2", "mappings/tp/status.yaml:4: unknown treasury status \"a\""},
		{"code 0", "B: 4", "B: 0", "mappings/tp/status.yaml:5: B: national code 0 outside 1..10"},
		{"code 11", "C: 10", "C: 11", "mappings/tp/status.yaml:6: C: national code 11 outside 1..10"},
		{"negative code", "C: 10", "C: -3", "mappings/tp/status.yaml:6: C: national code -3 outside 1..10"},
		{"code as text", "B: 4", `B: "4"`, "mappings/tp/status.yaml:5: B: national code \"4\" must be a plain integer"},
		{"code in hex", "B: 4", "B: 0x4", "mappings/tp/status.yaml:5: B: national code \"0x4\" must be a plain integer"},
		{"code fraction", "B: 4", "B: 4.5", "mappings/tp/status.yaml:5: B: national code \"4.5\" must be a plain integer"},
		{"code a list", "B: 4", "B: [4]", "mappings/tp/status.yaml:5: B: national code"},
		{"code missing", "B: 4", "B:", "mappings/tp/status.yaml:5: B: national code"},
		{"code word", "B: 4", "B: four", "mappings/tp/status.yaml:5: B: national code \"four\" must be a plain integer"},
		{"duplicate status", "  B: 4\n", "  B: 4\n  B: 5\n", "mappings/tp/status.yaml:6: mapping key \"B\" already defined at line 5"},
		{"unknown top key", "description: test", "descripton: test", "mappings/tp/status.yaml:2: unknown key \"descripton\""},
		{"unknown item key", "reason: \"not for p\"", "why: \"not for p\"", "mappings/tp/status.yaml:8: unknown key \"why\""},
		{"missing status", "  C: 10\n", "", "mappings/tp/status.yaml:1: treasury status C neither mapped under statuses nor listed under notDelivered"},
		{"missing two", "  B: 4\n  C: 10\n", "", "treasury status B, C neither mapped"},
		{"not delivered unknown", "status: D", "status: E", "mappings/tp/status.yaml:8: notDelivered: unknown treasury status \"E\""},
		{"not delivered no reason", `reason: "not for p"`, `reason: " "`, "mappings/tp/status.yaml:8: notDelivered: D has no reason"},
		{"not delivered and mapped", "  C: 10\n", "  C: 10\n  D: 9\n", "mappings/tp/status.yaml:9: notDelivered: D is also mapped under statuses"},
		{"not delivered twice", "not for p\"}\n", "not for p\"}\n  - {status: D, reason: again}\n", "mappings/tp/status.yaml:9: notDelivered: D listed twice"},
		{"wrong procedure", "procedure: tp", "procedure: tq", "mappings/tp/status.yaml:1: procedure: is \"tq\", want \"tp\""},
		{"statuses empty", "  A: 2\n  B: 4\n  C: 10\n", "  {}\n", "mappings/tp/status.yaml:3: statuses: want a mapping"},
		{"statuses a list", "  A: 2\n  B: 4\n  C: 10\n", "  - A\n", "mappings/tp/status.yaml:4: wrong kind of value: a list where a mapping is expected"},
		{"not YAML", "statuses:", "statuses: [", "mappings/tp/status.yaml:"},
		{"two documents", "description: test\n", "description: test\n---\nprocedure: tp\n", "more than one YAML document"},
		{"empty file", validFile, "", "mappings/tp/status.yaml: empty file"},
		{"top level list", validFile, "- a\n", "mappings/tp/status.yaml:1: want a mapping of keys at the top level"},
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

func FuzzLoad(f *testing.F) {
	f.Add([]byte(validFile))
	f.Add([]byte("procedure: tp\nstatuses: {A: 1, B: 2, C: 3, D: 4}\n"))
	f.Add([]byte("procedure: tp\nstatuses:\n  A: 99999999999999999999\n"))
	f.Add([]byte("procedure: tp\nnotDelivered: [{status: A}, {}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Load(fstest.MapFS{"tp/status.yaml": {Data: data}}, "tp", testStatuses)
		if err != nil {
			if _, ok := errors.AsType[*LoadError](err); !ok {
				t.Fatalf("error %T is not a *LoadError: %v", err, err)
			}
			return
		}
		for _, s := range testStatuses {
			if !m.Known(s) {
				t.Fatalf("loaded without %s", s)
			}
			if code, ok := m.National(s); ok && (code < MinCode || code > MaxCode) {
				t.Fatalf("%s mapped to %d", s, code)
			}
		}
	})
}

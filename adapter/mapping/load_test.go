package mapping

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

const testDossierSchema = `{
  "type": "object", "additionalProperties": false,
  "properties": {
    "ma": {"type": "string"},
    "ngay": {"type": "string", "format": "date"},
    "luc": {"type": "string", "format": "date-time"},
    "tien": {"$ref": "#/$defs/soTien"},
    "loai": {"type": "string", "enum": ["a", "b"]},
    "dong": {"type": "array", "items": {"type": "object", "properties": {
      "soTien": {"$ref": "#/$defs/soTien"},
      "ma": {"type": "string"},
      "con": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "string"}}}}
    }}},
    "khac": {"type": "array", "items": {"type": "object", "properties": {"soTien": {"$ref": "#/$defs/soTien"}}}},
    "nhom": {"type": "object", "properties": {"ten": {"type": "string"}}}
  },
  "$defs": {"soTien": {"type": "integer", "minimum": 0}}
}`

const testRequestSchema = `{
  "type": "object", "additionalProperties": false,
  "properties": {
    "code": {"type": "string"},
    "total": {"$ref": "#/$defs/amount"},
    "day": {"type": "string"},
    "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}},
    "content": {"type": "object"}
  },
  "$defs": {
    "amount": {"type": "integer", "minimum": 0},
    "line": {"type": "object", "additionalProperties": false, "properties": {
      "amount": {"$ref": "#/$defs/amount"},
      "code": {"type": "string"},
      "nested": {"type": "array", "items": {"type": "object", "additionalProperties": false,
        "properties": {"x": {"type": "string"}}}}
    }}
  }
}`

// testMapping covers every field of testDossierSchema; the line numbers matter to the tests.
const testMapping = `procedure: p
fields:
  - {to: code, from: ma}
  - {to: total, from: tien, transform: amount}
  - {to: day, from: ngay, transform: date}
  - {to: content.at, from: luc, transform: datetime}
  - {to: content.kind, from: loai, transform: code, table: t}
  - {to: "lines[].amount", from: "dong[]/soTien", transform: amount}
  - {to: "lines[].code", from: "dong[]/ma"}
  - {to: "lines[].nested[].x", from: "dong[]/con[]/x"}
  - {to: "content.other[].amount", from: "khac[]/soTien", transform: amount}
unmapped:
  - {path: nhom/ten, reason: kept for the test}
`

const testTable = `table: t
codes:
  a: A
  b: B
`

func testFS() fstest.MapFS {
	return fstest.MapFS{
		"p/mapping.yaml": {Data: []byte(testMapping)},
		"codes/t.yaml":   {Data: []byte(testTable)},
	}
}

func loadTest(fsys fstest.MapFS) (*Mapping, error) {
	return Load(fsys, "p", []byte(testDossierSchema), []byte(testRequestSchema))
}

func TestLoadAccepts(t *testing.T) {
	if _, err := loadTest(testFS()); err != nil {
		t.Fatal(err)
	}
	for _, p := range procedures {
		t.Run(p, func(t *testing.T) { loadProcedure(t, p) })
	}
}

// TestLoadRefuses breaks the test mapping one way at a time; each must fail at start-up with
// the file and line of the mistake.
func TestLoadRefuses(t *testing.T) {
	const m, tb = "p/mapping.yaml", "codes/t.yaml"
	const add = "unmapped:" // a new rule inserted here lands on line 12
	tests := []struct {
		name, file, old, new, want string
	}{
		{"unknown top-level key", m, "fields:", "field: 1\nfields:", "mapping.yaml:2: unknown key \"field\""},
		{"unknown rule key", m, "transform: date}", "transform: date, tranform: x}", "mapping.yaml:5: unknown key \"tranform\""},
		{"yaml syntax", m, "{to: day,", "{to: day,,[", "mapping.yaml:5: "},
		{"rules not a list", m, "unmapped:", "  - oops\nunmapped:", "mapping.yaml:12: wrong kind of value"},
		{"two documents", m, "", "---\n", "more than one YAML document"},
		{"wrong procedure", m, "procedure: p", "procedure: q", "mapping.yaml:1: procedure: is \"q\", want \"p\""},
		{"no rules", m, testMapping, "procedure: p\nfields: []\n", "mapping.yaml:1: fields: no rules"},
		{"unknown transform", m, "from: tien, transform: amount", "from: tien, transform: amout", "mapping.yaml:4: unknown transform \"amout\""},
		{"unknown code table", m, "table: t}", "table: tt}", "mapping.yaml:7: unknown code table \"tt\""},
		{"code without table", m, ", table: t}", "}", "mapping.yaml:7: transform code needs a table"},
		{"table without code", m, "{to: code, from: ma}", "{to: code, from: ma, table: t}", "mapping.yaml:3: table \"t\" is only used by transform code"},
		{"from not in dossier schema", m, "from: ma}", "from: maa}", "mapping.yaml:3: from \"maa\" is not in the dossier schema"},
		{"from under a $ref", m, "\"dong[]/soTien\"", "\"dong[]/soTien/x\"", "mapping.yaml:8: from \"dong[]/soTien/x\" is not in the dossier schema"},
		{"from is an object", m, "{to: code, from: ma}", "{to: code, from: nhom}", "mapping.yaml:3: from \"nhom\" is an object or array"},
		{"array without []", m, "\"dong[]/ma\"", "\"dong/ma\"", "mapping.yaml:9: from \"dong/ma\" is not in the dossier schema: \"dong\" is an array: write dong[]"},
		{"to not in request schema", m, "{to: code,", "{to: kode,", "mapping.yaml:3: to \"kode\" is not in the request schema"},
		{"to not in closed line", m, "\"lines[].code\"", "\"lines[].cod\"", "mapping.yaml:9: to \"lines[].cod\" is not in the request schema"},
		{"to is an object", m, "{to: code, from: ma}", "{to: content, from: ma}", "mapping.yaml:3: to \"content\" is an object or array"},
		{"bad to syntax", m, "\"lines[].code\"", "\"lines[x].code\"", "mapping.yaml:9: to: path \"lines[x].code\": bad index"},
		{"[] level mismatch", m, "from: \"dong[]/ma\"", "from: ma", "mapping.yaml:9: from \"ma\" has 0 [] level(s) but to \"lines[].code\" has 1"},
		{"duplicate to", m, add, "  - {to: code, from: ma}\n" + add, "mapping.yaml:12: to \"code\" is already written at line 3"},
		{"to inside a value", m, add, "  - {to: content.at.x, from: ma}\n" + add, "mapping.yaml:12: to \"content.at.x\" writes inside \"content.at\", which line 6 sets"},
		{"one array from two", m, add, "  - {to: \"content.other[].code\", from: \"dong[]/ma\"}\n" + add, "mapping.yaml:12: to \"content.other[].code\": content.other[] is filled from dong[] here but from khac[] at line 11"},
		{"[] and [N] mixed", m, add, "  - {to: \"content.other[0].code\", from: ma}\n" + add, "mapping.yaml:12: to \"content.other[0].code\": content.other[] is used with []"},
		{"from and const", m, "{to: code, from: ma}", "{to: code, from: ma, const: x}", "mapping.yaml:3: from and const are exclusive"},
		{"neither from nor const", m, "{to: code, from: ma}", "{to: code}", "mapping.yaml:3: rule for \"code\" needs from or const"},
		{"const with transform", m, add, "  - {to: content.c, const: 1, transform: int}\n" + add, "mapping.yaml:12: a const rule takes no transform"},
		{"const into []", m, add, "  - {to: \"content.other[].c\", const: 1}\n" + add, "mapping.yaml:12: const cannot write into"},
		{"float const", m, add, "  - {to: content.c, const: 1.5}\n" + add, "mapping.yaml:12: const: value \"1.5\": only strings, integers and booleans"},
		{"const of wrong type", m, "{to: code, from: ma}", "{to: code, from: ma}\n  - {to: day, const: 3}", "mapping.yaml:4: to \"day\" wants string, the rule gives a integer"},
		{"unknown context value", m, add, "  - {to: content.c, from: \"@proc\"}\n" + add, "mapping.yaml:12: unknown context value \"@proc\""},
		{"default on context", m, add, "  - {to: content.c, from: \"@procedure\", default: x}\n" + add, "mapping.yaml:12: @procedure always has a value"},
		{"transform on wrong type", m, "{to: code, from: ma}", "{to: content.c, from: ma, transform: amount}", "mapping.yaml:3: from \"ma\": transform amount needs a field of type integer, this one is string"},
		{"date on a date-time", m, "from: luc, transform: datetime", "from: luc, transform: date", "mapping.yaml:6: from \"luc\": transform date needs format \"date\", the field declares \"date-time\""},
		{"target type", m, "{to: total, from: tien, transform: amount}", "{to: total, from: ma}", "mapping.yaml:4: to \"total\" wants integer, the rule gives a string"},
		{"bad default", m, "from: tien, transform: amount}", "from: tien, transform: amount, default: -1}", "mapping.yaml:4: default: amount: \"-1\" is not a non-negative integer"},
		{"default of wrong kind", m, "from: ngay, transform: date}", "from: ngay, transform: date, default: 20260101}", "mapping.yaml:5: default: date: want a string"},
		{"default not in code table", m, "table: t}", "table: t, default: z}", "mapping.yaml:7: default: code: table t has no code \"z\""},
		{"field not covered", m, "  - {path: nhom/ten, reason: kept for the test}\n", "", "mapping.yaml: dossier fields neither mapped nor listed under unmapped: nhom/ten"},
		{"unmapped unknown", m, "path: nhom/ten,", "path: nhom/tn,", "mapping.yaml:13: unmapped: \"nhom/tn\" is not a value"},
		{"unmapped without reason", m, "reason: kept for the test", "reason: \" \"", "mapping.yaml:13: unmapped: \"nhom/ten\" needs a reason"},
		{"unmapped but mapped", m, "path: nhom/ten,", "path: ma,", "mapping.yaml:13: unmapped: \"ma\" is mapped at line 3"},
		{"unmapped unknown key", m, "reason: kept", "why: kept", "mapping.yaml:13: unknown key \"why\""},
		{"table lacks a schema enum value", tb, "  b: B\n", "", "mapping.yaml:7: from \"loai\": code table t has no entry for \"b\""},
		{"table name", tb, "table: t", "table: u", "mappings/codes/t.yaml:1: table: is \"u\", want \"t\""},
		{"table unknown key", tb, "codes:", "kodes: {}\ncodes:", "mappings/codes/t.yaml:2: unknown key \"kodes\""},
		{"table duplicate code", tb, "  b: B\n", "  b: B\n  \"a\": C\n", "mappings/codes/t.yaml:5: code \"a\" already defined at line 3"},
		{"table int and string code", tb, "  b: B\n", "  b: B\n  7: X\n  \"7\": Y\n", "mappings/codes/t.yaml:6: code \"7\" already defined at line 5"},
		{"table value not a string", tb, "b: B", "b: 2", "mappings/codes/t.yaml:4: treasury code must be a non-empty string"},
		{"table empty", tb, "  a: A\n  b: B\n", "  {}\n", "mappings/codes/t.yaml:1: codes: want a non-empty mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := testFS()
			text := string(fsys[tt.file].Data)
			if !strings.Contains(text, tt.old) {
				t.Fatalf("test setup: %q not in %s", tt.old, tt.file)
			}
			fsys[tt.file] = &fstest.MapFile{Data: []byte(strings.Replace(text, tt.old, tt.new, 1))}
			if tt.name == "two documents" {
				fsys[tt.file] = &fstest.MapFile{Data: []byte(text + tt.new + text)}
			}
			_, err := loadTest(fsys)
			if err == nil {
				t.Fatalf("loaded; want error %q", tt.want)
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %v is %T, want *LoadError", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
		})
	}
}

func TestLoadRefusesBadInputs(t *testing.T) {
	tests := []struct {
		name             string
		fsys             fstest.MapFS
		procedure        string
		dossier, request string
		want             string
	}{
		{"missing file", testFS(), "q", testDossierSchema, testRequestSchema, "mappings/q/mapping.yaml: open q/mapping.yaml"},
		{"bad procedure id", testFS(), "../p", testDossierSchema, testRequestSchema, "bad procedure id"},
		{"bad dossier schema", testFS(), "p", "[", testRequestSchema, "mapping p: dossier schema"},
		{"bad request schema", testFS(), "p", testDossierSchema, "null", "mapping p: request schema: not a JSON object"},
		{"remote $ref", testFS(), "p", strings.Replace(testDossierSchema, "#/$defs/soTien", "https://x/s.json", 1), testRequestSchema,
			"only local references"},
		{"empty file", fstest.MapFS{"p/mapping.yaml": {Data: []byte("# nothing\n")}}, "p", testDossierSchema, testRequestSchema,
			"mappings/p/mapping.yaml: empty file"},
		{"copy of a field of no single type", testFS(), "p",
			strings.Replace(testDossierSchema, `"ma": {"type": "string"}`, `"ma": {"type": ["string", "integer"]}`, 1), testRequestSchema,
			"mapping.yaml:3: to \"code\" wants string, the rule may give any type"},
		{"copy of an untyped field", testFS(), "p",
			strings.Replace(testDossierSchema, `"ma": {"type": "string"}`, `"ma": {}`, 1), testRequestSchema,
			"mapping.yaml:3: to \"code\" wants string, the rule may give any type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.fsys, tt.procedure, []byte(tt.dossier), []byte(tt.request))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

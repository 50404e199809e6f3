package mapping

import (
	"slices"
	"strings"
	"testing"
)

const walkSchema = `{
  "type": "object",
  "properties": {
    "a": {"allOf": [{"$ref": "#/$defs/withX"}, {"properties": {"y": {"type": ["integer", "null"]}}}]},
    "b": {"type": "object", "additionalProperties": {"$ref": "#/$defs/leaf"}},
    "c": {"type": "object", "additionalProperties": false, "properties": {"k": {"const": "v"}}},
    "d": {"type": "array"},
    "e": true,
    "f": {"$ref": "#/$defs/a~1b"},
    "g": {"$ref": "#/$defs/loop"},
    "h": {"type": "string"},
    "i": {"oneOf": [{"type": "object", "properties": {"p": {"type": "string"}}}, {"type": "object", "properties": {"q": {"type": "string"}}}]}
  },
  "$defs": {
    "withX": {"type": "object", "properties": {"x": {"type": "string", "enum": ["m", "n"]}}},
    "leaf": {"type": "integer"},
    "a/b": {"type": "boolean"},
    "loop": {"$ref": "#/$defs/loop"}
  }
}`

func TestSchemaLookup(t *testing.T) {
	d, err := parseSchema([]byte(walkSchema))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path  string
		types string // declared types joined by ",", or "free"
		err   string
	}{
		{"a/x", "string", ""},
		{"a/y", "integer,null", ""},
		{"a/z", "", `"z" is not declared`},
		{"b/anything", "integer", ""},
		{"c/k", "", ""},
		{"c/other", "", `"other" is not declared`},
		{"d[]", "free", ""},
		{"d[]/deep/er", "free", ""},
		{"d/x", "", `"d" is an array: write d[]`},
		{"e/whatever", "free", ""},
		{"f", "boolean", ""},
		{"g", "", "nested too deep"},
		{"h/x", "", `"x" is looked up in a value that is not an object`},
		{"h[]", "", `"h" is not an array`},
		{"i/p", "string", ""},
		{"i/q", "string", ""},
		{"missing", "", `"missing" is not declared`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p, err := parseSource(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			n, err := d.lookup(p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(n.types(), ",")
			if n.free {
				got = "free"
			}
			if got != tt.types {
				t.Errorf("types %q, want %q", got, tt.types)
			}
		})
	}
}

func TestSchemaLeaves(t *testing.T) {
	d, err := parseSchema([]byte(testDossierSchema))
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.leaves()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"dong[]/con[]/x", "dong[]/ma", "dong[]/soTien", "khac[]/soTien", "loai", "luc", "ma", "ngay", "nhom/ten", "tien"}
	if !slices.Equal(got, want) {
		t.Errorf("leaves\n  %v\nwant\n  %v", got, want)
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		in, err string
		target  bool
	}{
		{in: "a/b[]/c"},
		{in: "a.b[].c[3].d", target: true},
		{in: "", err: "empty path"},
		{in: "a//b", err: `bad field name ""`},
		{in: "a/b[0]/c"},
		{in: "a/b[0]", err: "must end with a field name"},
		{in: "a/b[x]/c", err: "bad index"},
		{in: "a.b[01].c", target: true, err: "bad index"},
		{in: "a.b[-1].c", target: true, err: "bad index"},
		{in: "a.b[]", target: true, err: "must end with a field name"},
		{in: "a.b c", target: true, err: "bad field name"},
		{in: "a/b]", err: "bad field name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var err error
			if tt.target {
				_, err = parseTarget(tt.in)
			} else {
				_, err = parseSource(tt.in)
			}
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("error %v, want %q", err, tt.err)
			}
		})
	}
}

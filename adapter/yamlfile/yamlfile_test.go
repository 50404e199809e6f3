package yamlfile

import (
	"errors"
	"testing"
	"testing/fstest"
)

type testFile struct {
	Name  string            `yaml:"name"`
	Codes map[string]string `yaml:"codes"`
	List  []string          `yaml:"list"`
}

// One wording for each YAML mistake, whichever data file it is in.
func TestReadNamesFileAndLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body, want string
	}{
		{"missing", "", "data/x.yaml: open x.yaml: file does not exist"},
		{"empty", "# nothing\n", "data/x.yaml: empty file"},
		{"top level list", "- a\n", "data/x.yaml:1: want a mapping of keys at the top level"},
		{"unknown key", "name: a\nnope: 1\n", `data/x.yaml:2: unknown key "nope"`},
		{"duplicate key", "name: a\nname: b\n", `data/x.yaml:2: mapping key "name" already defined at line 1`},
		{"list for mapping", "codes:\n  - a\n", "data/x.yaml:2: wrong kind of value: a list where a mapping is expected"},
		{"mapping for string", "name:\n  a: b\n", "data/x.yaml:2: wrong kind of value: a mapping where a string is expected"},
		{"mapping for list", "list:\n  a: b\n", "data/x.yaml:2: wrong kind of value: a mapping where a list is expected"},
		{"parser line is 1-based", "name: a\ncodes: [a, b\n", "data/x.yaml:2: did not find expected ',' or ']'"},
		{"two documents", "name: a\n---\nname: b\n", "data/x.yaml:2: more than one YAML document"},
		{"several mistakes", "nope: 1\nnada: 2\n", `data/x.yaml:1: unknown key "nope" (and 1 more)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fsys := fstest.MapFS{}
			if c.name != "missing" {
				fsys["x.yaml"] = &fstest.MapFile{Data: []byte(c.body)}
			}
			var out testFile
			_, err := Root("data").Read(fsys, "x.yaml", &out)
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			if err.Error() != c.want {
				t.Fatalf("error = %q\n       want %q", err.Error(), c.want)
			}
		})
	}
}

func TestReadReturnsTopNode(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{"x.yaml": {Data: []byte("name: a\n\ncodes:\n  K: v\n")}}
	var out testFile
	top, err := Root("").Read(fsys, "x.yaml", &out)
	if err != nil {
		t.Fatal(err)
	}
	if out.Name != "a" || out.Codes["K"] != "v" {
		t.Fatalf("decoded %+v", out)
	}
	if got := LineOf(top, "codes", 0); got != 3 {
		t.Fatalf("LineOf(codes) = %d, want 3", got)
	}
	if got := LineOf(top, "absent", 42); got != 42 {
		t.Fatalf("LineOf(absent) = %d, want the default", got)
	}
	if e := Root("").Errorf("x.yaml", 0, "bad"); e.Error() != "x.yaml: bad" {
		t.Fatalf("no root: %q", e.Error())
	}
}

package schema

import (
	"strings"
	"testing"
)

// Every procedure names the budget unit at maDVQHNS, a required 7-digit
// string; other paths are refused with the reason.
func TestRequiredString(t *testing.T) {
	for _, p := range procedures {
		d := load(t, p)
		if err := d.RequiredString("maDVQHNS"); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		v, err := DecodeJSON(readTemplate(t, p, "dossier.json"))
		if err != nil {
			t.Fatal(err)
		}
		if got := StringAt(v, "maDVQHNS"); got != "1012345" {
			t.Errorf("%s: unit %q in the template", p, got)
		}
	}
	d := load(t, "chi-thuong-xuyen")
	for path, want := range map[string]string{
		"":                           "empty",
		"maDVQHNSx":                  "no property",
		"soBoSung":                   "not required",
		"nienDo":                     "not a string",
		"taiLieu":                    "not a string",
		"maHoSo":                     "",
		"maKBNN":                     "",
		"taiLieu/dongChiTiet/maNDKT": "no property",
		"maDVQHNS/x":                 "no property",
	} {
		err := d.RequiredString(path)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", path, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: %v, want %q", path, err, want)
		}
	}
	v := map[string]any{"a": map[string]any{"b": "x"}, "n": 1}
	for path, want := range map[string]string{"a/b": "x", "a": "", "n": "", "a/b/c": "", "z": ""} {
		if got := StringAt(v, path); got != want {
			t.Errorf("StringAt(%q) = %q, want %q", path, got, want)
		}
	}
}

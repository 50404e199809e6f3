package schema

import (
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// Each document is checked against the parts its form requires and forbids, in both forms.
func TestFormsCheckDocuments(t *testing.T) {
	d := load(t, "chi-thuong-xuyen")
	tests := []struct {
		name, from, to, want string
	}{
		{"C2-02b/NS without its tax part", "<thue>", "<thueX>", "/taiLieu/1/thue"},
		{"bảng kê with lines", "<mauSo>BK-CTTT</mauSo>", "<mauSo>C2-02a/NS</mauSo>", "/taiLieu/2/dongChiTiet"},
		{"C2-02a/NS with a tax part", "<mauSo>C2-02b/NS</mauSo>", "<mauSo>C2-02a/NS</mauSo>", "/taiLieu/1/thue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := string(readTemplate(t, "chi-thuong-xuyen", "dossier.xml"))
			edited := strings.Replace(body, tt.from, tt.to, 1)
			if tt.from == "<thue>" {
				edited = strings.Replace(edited, "</thue>", "</thueX>", 1)
				edited = cutElement(edited, "thueX")
			}
			if edited == body {
				t.Fatal("the edit changed nothing")
			}
			_, err := xmlValue(t, d, []byte(edited))
			if paths := fieldPaths(t, err); !slices.Contains(paths, tt.want) {
				t.Errorf("paths %v lack %q", paths, tt.want)
			}
		})
	}
	v, err := DecodeJSON(readTemplate(t, "chi-thuong-xuyen", "dossier.json"))
	if err != nil {
		t.Fatal(err)
	}
	docs := v.(map[string]any)["taiLieu"].([]any)
	doc := docs[2].(map[string]any)
	doc["thue"] = docs[1].(map[string]any)["thue"]
	delete(doc, "bangKe")
	err = d.Validate(v)
	if paths := fieldPaths(t, err); !slices.Equal(paths, []string{"/taiLieu/2/bangKe", "/taiLieu/2/thue"}) {
		t.Errorf("JSON: paths %v, want /taiLieu/2/bangKe and /taiLieu/2/thue", paths)
	}
}

func cutElement(s, name string) string {
	i := strings.Index(s, "<"+name+">")
	j := strings.Index(s, "</"+name+">")
	if i < 0 || j < 0 {
		return s
	}
	return s[:i] + s[j+len("</"+name+">"):]
}

// A forms file that disagrees with the definition stops loading.
func TestFormsFileRefused(t *testing.T) {
	def, err := os.ReadFile("../../schemas/tai-khoan/dossier.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, forms, want string }{
		{"form without rule", "list: taiLieu\ncode: mauSo\nforms:\n  DK-TK: {requires: [deNghiDangKy]}\n", `form DK-MCK has no rule`},
		{"unknown form", "list: taiLieu\ncode: mauSo\nforms:\n  DK-TK: {}\n  DK-MCK: {}\n  X: {}\n", `form "X" is not a code`},
		{"unknown part", "list: taiLieu\ncode: mauSo\nforms:\n  DK-TK: {requires: [khong]}\n  DK-MCK: {}\n", `"khong" is not a field`},
		{"required anyway", "list: taiLieu\ncode: mauSo\nforms:\n  DK-TK: {requires: [soChungTu]}\n  DK-MCK: {}\n", "required of every document already"},
		{"both", "list: taiLieu\ncode: mauSo\nforms:\n  DK-TK: {requires: [mauChuKy], forbids: [mauChuKy]}\n  DK-MCK: {}\n", "both required and forbidden"},
		{"not a list", "list: maHoSo\ncode: mauSo\nforms: {}\n", "not an array of objects"},
		{"unknown key", "list: taiLieu\ncode: mauSo\nforms: {}\nextra: 1\n", "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"p/dossier.schema.json": {Data: def},
				"p/forms.yaml":          {Data: []byte(tt.forms)},
			}
			_, err := Load(fsys, "p")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

package problem

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEveryKindHasVietnamese(t *testing.T) {
	t.Parallel()
	for _, k := range Kinds() {
		v, ok := vi[k]
		if !ok || v.title == "" || v.detail == "" {
			t.Errorf("%s has no Vietnamese title and detail", k)
		}
		if v.title == k.Title() {
			t.Errorf("%s: the Vietnamese title is the English one", k)
		}
	}
	for k := range vi {
		if k.Status() == 500 && k != Internal {
			t.Errorf("vi lists %s, which is not a kind", k)
		}
	}
}

func TestParseLang(t *testing.T) {
	t.Parallel()
	cases := map[string]Lang{
		"":                        English,
		"vi":                      Vietnamese,
		"vi-VN":                   Vietnamese,
		"vi-VN,vi;q=0.9,en;q=0.8": Vietnamese,
		"en-US,en;q=0.9,vi;q=0.8": English,
		"fr":                      English,
		"*":                       English,
		"fr,vi;q=0.5":             Vietnamese,
		"not a header;;;":         English,
	}
	for h, want := range cases {
		if got := ParseLang(h); got != want {
			t.Errorf("ParseLang(%q) = %s, want %s", h, got, want)
		}
	}
}

func TestRenderInVietnamese(t *testing.T) {
	t.Parallel()
	body := func(e *Error, lang Lang) map[string]any {
		_, h, raw := e.RenderIn(lang, "r1")
		if h["Content-Language"] != string(lang) {
			t.Errorf("Content-Language = %q, want %s", h["Content-Language"], lang)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	// a fixed detail has a fixed Vietnamese detail
	m := body(Wrap(SignatureInvalid, nil, "digest mismatch"), Vietnamese)
	if m["title"] != "Chữ ký số không hợp lệ" || m["detail"] != vi[SignatureInvalid].detail || m["code"] != "signature-invalid" {
		t.Errorf("fixed kind in Vietnamese: %v", m)
	}
	// the raiser's Vietnamese detail wins over the general one
	e := New(UnknownProcedure, "No procedure x.")
	e.DetailVI = "Không có thủ tục x."
	if m := body(e, Vietnamese); m["detail"] != "Không có thủ tục x." {
		t.Errorf("raiser's Vietnamese detail: %v", m)
	}
	if m := body(e, English); m["detail"] != "No procedure x." || m["title"] != "Unknown procedure" {
		t.Errorf("English: %v", m)
	}
	// without one, the general Vietnamese detail; field paths are kept
	e = New(SchemaViolation, "2 fields are invalid.")
	e.Fields = []FieldError{{Path: "/maDVQHNS", Message: "does not match pattern"}}
	m = body(e, Vietnamese)
	if m["detail"] != vi[SchemaViolation].detail || !strings.Contains(toJSON(t, m["errors"]), "/maDVQHNS") {
		t.Errorf("general Vietnamese detail: %v", m)
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

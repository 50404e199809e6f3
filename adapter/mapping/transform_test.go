package mapping

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTransforms(t *testing.T) {
	table := &codeTable{name: "tinh-chat", codes: map[string]string{"thuc-chi": "ACTUAL", "0": "OFFICIAL"}}
	tests := []struct {
		transform string
		in        any
		want      any    // when err is ""
		err       string // substring of the error
	}{
		{"copy", "abc", "abc", ""},
		{"copy", true, true, ""},
		{"copy", json.Number("42"), int64(42), ""},
		{"copy", json.Number("4.2"), nil, "not a 64-bit integer"},
		{"copy", 4.2, nil, "a floating-point number"},
		{"copy", map[string]any{}, nil, "want a single value, got an object"},
		{"copy", []any{"x"}, nil, "got an array"},
		{"copy", nil, nil, "got null"},

		{"amount", json.Number("0"), int64(0), ""},
		{"amount", json.Number("187500000"), int64(187500000), ""},
		{"amount", json.Number("999999999999999999"), int64(999999999999999999), ""},
		{"amount", json.Number("9999999999999999999"), nil, "at most 18 digits"},
		{"amount", json.Number("-1"), nil, "not a non-negative integer"},
		{"amount", json.Number("-0"), nil, "not a non-negative integer"},
		{"amount", json.Number("12.5"), nil, "not a non-negative integer"},
		{"amount", json.Number("1e3"), nil, "not a non-negative integer"},
		{"amount", json.Number("+5"), nil, "not a non-negative integer"},
		{"amount", json.Number(""), nil, "not a non-negative integer"},
		{"amount", 1000.0, nil, "got a floating-point number"},
		{"amount", int64(1000), nil, "want an integer number of VND, got a int64"},
		{"amount", "1000", nil, "got string \"1000\""},

		{"int", json.Number("2026"), int64(2026), ""},
		{"int", json.Number("-3"), int64(-3), ""},
		{"int", json.Number("2026.0"), nil, "not a 64-bit integer"},
		{"int", json.Number("99999999999999999999"), nil, "not a 64-bit integer"},
		{"int", "2026", nil, "want an integer"},

		{"date", "2026-06-09", "2026-06-09", ""},
		{"date", "2024-02-29", "2024-02-29", ""},
		{"date", "2026-02-29", nil, "not a yyyy-MM-dd date"},
		{"date", "2026-6-9", nil, "not a yyyy-MM-dd date"},
		{"date", "09/06/2026", nil, "not a yyyy-MM-dd date"},
		{"date", "2026-06-09T00:00:00Z", nil, "not a yyyy-MM-dd date"},
		{"date", json.Number("20260609"), nil, "want a string"},

		{"datetime", "2026-06-09T08:30:00+07:00", "2026-06-09T08:30:00+07:00", ""},
		{"datetime", "2026-06-09T01:30:00Z", "2026-06-09T08:30:00+07:00", ""},
		{"datetime", "2026-06-08T23:30:00-02:00", "2026-06-09T08:30:00+07:00", ""},
		{"datetime", "2026-06-09T01:30:00.250Z", "2026-06-09T08:30:00.25+07:00", ""},
		{"datetime", "2026-06-09t01:30:00z", "2026-06-09T08:30:00+07:00", ""},
		{"datetime", "2026-06-09T01:30:00.123456789Z", "2026-06-09T08:30:00.123456789+07:00", ""},
		{"datetime", "2026-06-09T01:30:00.1234567891Z", nil, "more than 9 digits of a second"},
		{"datetime", "2026-06-09 08:30:00", nil, "not an RFC 3339 timestamp"},
		{"datetime", "2026-06-09T08:30:00", nil, "not an RFC 3339 timestamp"},
		{"datetime", "20260609083000", nil, "not an RFC 3339 timestamp"},
		{"datetime", false, nil, "want a string"},

		{"code", "thuc-chi", "ACTUAL", ""},
		{"code", json.Number("0"), "OFFICIAL", ""},
		{"code", "tam-ung", nil, "table tinh-chat has no code \"tam-ung\""},
		{"code", "THUC-CHI", nil, "has no code"},
		{"code", true, nil, "want a string or integer code"},

		{"upper", "540101a1b2", "540101A1B2", ""},
		{"upper", "đà nẵng", "ĐÀ NẴNG", ""},
		{"upper", json.Number("1"), nil, "want a string"},

		{"trim", "  Hà Nội \t\n", "Hà Nội", ""},
		{"trim", []any{}, nil, "want a string"},
	}
	for _, tt := range tests {
		t.Run(tt.transform+"/"+describe(tt.in), func(t *testing.T) {
			tr, ok := transforms[tt.transform]
			if !ok {
				t.Fatalf("no transform %q", tt.transform)
			}
			got, err := tr.fn(tt.in, table)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, %v; want error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

// TestTransformSetIsClosed keeps the README and the code in step: a transform added here must
// be documented there.
func TestTransformSetIsClosed(t *testing.T) {
	readme := string(readRepoFile(t, "mappings", "README.md"))
	for name := range transforms {
		if !strings.Contains(readme, "`"+name+"`") {
			t.Errorf("transform %s is not described in mappings/README.md", name)
		}
	}
	if len(transforms) != 8 {
		t.Errorf("%d transforms; update this test and the README together", len(transforms))
	}
}

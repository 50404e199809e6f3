package portal

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 9, 2, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"1", time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"999999999999", maxRetryAfter, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(72 * time.Hour).Format(http.TimeFormat), maxRetryAfter, true},
		{"tomorrow", 0, false},
	} {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestTokenTTL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		``: DefaultTokenTTL, `null`: DefaultTokenTTL, `3600`: time.Hour, `"600"`: 10 * time.Minute,
		`0`: DefaultTokenTTL, `-5`: DefaultTokenTTL, `36.5`: DefaultTokenTTL, `"x"`: DefaultTokenTTL,
		`99999999`: maxTokenTTL,
	} {
		if got := tokenTTL(json.RawMessage(in)); got != want {
			t.Errorf("tokenTTL(%s) = %v, want %v", in, got, want)
		}
	}
}

// FuzzDecodeAnswer feeds arbitrary bodies to the answer decoder and the look-up reader: they
// may refuse them but must not panic, and what they accept must be consistent.
func FuzzDecodeAnswer(f *testing.F) {
	for _, seed := range []string{
		`{"error_code":0,"session":"abc"}`,
		`{"error_code":"00","data":[{"MaHoSo":"D1","TrangThaiHoSo":"4"}]}`,
		`{"error_code":"0","result":{"MaHoSo":"D1","TrangThaiHoSo":9}}`,
		`{"error_code":-1,"message":"session expired"}`,
		`{"error_code":1e400}`,
		`{"error_code":"00","data":[null,1,"x",{"MaHoSo":["D1"]}]}`,
		`{"error_code":"00","data":[{"MaHoSo":"D1","TrangThaiHoSo":"99999999999999999999"}]}`,
		`[]`, `null`, `"00"`, ``, `{`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := DecodeAnswer(body)
		if err != nil {
			return
		}
		if a.Code == "" {
			t.Fatalf("accepted an answer without a code: %q", body)
		}
		if a.Success() != (a.Code == "0" || a.Code == "00") {
			t.Fatalf("Success() disagrees with Code %q", a.Code)
		}
		d, found, err := findDossier(a.Data, "D1")
		if err == nil && found && (d.Item == nil || !strings.EqualFold(strings.TrimSpace(d.MaHoSo), "D1")) {
			t.Fatalf("found %+v in %q", d, body)
		}
	})
}

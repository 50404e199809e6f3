package dossier

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseQuery(t *testing.T) {
	day := time.Date(2026, 6, 9, 0, 0, 0, 0, ict)
	tests := []struct {
		raw  string
		want Query
	}{
		{"", Query{Limit: DefaultLimit}},
		{"unit=1012345&procedure=tai-khoan&limit=200", Query{Unit: "1012345", Procedure: "tai-khoan", Limit: 200}},
		{"unit=&procedure=&status=&from=&to=&cursor=&limit=", Query{Limit: DefaultLimit}},
		{"status=4", Query{Statuses: []int{4}, Limit: DefaultLimit}},
		{"status=10,2,4,2", Query{Statuses: []int{2, 4, 10}, Limit: DefaultLimit}},
		{"status=5&status=1,%201", Query{Statuses: []int{1, 5}, Limit: DefaultLimit}},
		{"from=2026-06-09&to=2026-06-09", Query{From: day, To: day.Add(24*time.Hour - time.Millisecond), Limit: DefaultLimit}},
		{"from=2026-06-09T08:30:00%2B07:00", Query{From: day.Add(8*time.Hour + 30*time.Minute), Limit: DefaultLimit}},
		{"from=2026-06-09T08:30:00+07:00", Query{From: day.Add(8*time.Hour + 30*time.Minute), Limit: DefaultLimit}}, // "+" read as a space
		{"to=2026-06-09T01:30:00.25Z", Query{To: day.Add(8*time.Hour + 30*time.Minute + 250*time.Millisecond), Limit: DefaultLimit}},
	}
	for _, tt := range tests {
		v, err := url.ParseQuery(tt.raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseQuery(v)
		if err != nil {
			t.Errorf("%q: %v", tt.raw, err)
			continue
		}
		if !got.From.Equal(tt.want.From) || !got.To.Equal(tt.want.To) {
			t.Errorf("%q: from %v to %v, want %v %v", tt.raw, got.From, got.To, tt.want.From, tt.want.To)
		}
		got.From, got.To, tt.want.From, tt.want.To = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if got.Unit != tt.want.Unit || got.Procedure != tt.want.Procedure || got.Limit != tt.want.Limit ||
			!slices.Equal(got.Statuses, tt.want.Statuses) || got.Cursor != "" {
			t.Errorf("%q: %+v, want %+v", tt.raw, got, tt.want)
		}
	}
}

func TestParseQueryRefuses(t *testing.T) {
	key := Query{Limit: DefaultLimit}.filterKey()
	good := encodeCursor(Position{At: 1781000000000, Member: "tai-khoan|G09.20-20260609-0000101"}, key)
	tests := []struct{ raw, param string }{
		{"unit=101234", "unit"},
		{"unit=10123456", "unit"},
		{"unit=a012345", "unit"},
		{"unit=1012345&unit=1012346", "unit"},
		{"procedure=Tai-Khoan", "procedure"},
		{"procedure=tai_khoan", "procedure"},
		{"procedure=" + strings.Repeat("a", 65), "procedure"},
		{"status=0", "status"},
		{"status=11", "status"},
		{"status=04", "status"},
		{"status=%2B4", "status"},
		{"status=4,", "status"},
		{"status=four", "status"},
		{"from=2026-13-01", "from"},
		{"from=2026-02-30", "from"},
		{"from=09/06/2026", "from"},
		{"to=2026-06-09T08:30:00", "to"},
		{"to=2026-06-09T25:00:00Z", "to"},
		{"from=2026-06-10&to=2026-06-09", "from"},
		{"limit=0", "limit"},
		{"limit=201", "limit"},
		{"limit=-1", "limit"},
		{"limit=1e2", "limit"},
		{"limit=050", "limit"},
		{"limit=10&limit=20", "limit"},
		{"cursor=%20", "cursor"},
		{"cursor=x", "cursor"},
		{"cursor=" + good + "A", "cursor"},
		{"cursor=" + good[:len(good)-1], "cursor"},
		{"cursor=" + good + "&unit=1012345", "cursor"},
		{"cursor=" + good + "&status=1", "cursor"},
		{"cursor=" + good + "&to=2026-06-09", "cursor"},
		{"unti=1012345", `"unti"`},
		{"page=2", `"page"`},
		{"=1", `""`},
	}
	for _, tt := range tests {
		v, err := url.ParseQuery(tt.raw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseQuery(v)
		var qe *QueryError
		if !errors.As(err, &qe) || !errors.Is(err, ErrInvalidQuery) || qe.Param != tt.param {
			t.Errorf("%q: %v, want a QueryError on %s", tt.raw, err, tt.param)
		}
	}
	// the same cursor with its own filters and another limit is fine
	if _, err := ParseQuery(url.Values{"cursor": {good}, "limit": {"7"}}); err != nil {
		t.Errorf("good cursor: %v", err)
	}
}

func TestCursorRoundTripAndTamper(t *testing.T) {
	key := Query{Unit: "1012345", Statuses: []int{4}}.filterKey()
	p := Position{At: 1781000000123, Member: "chi-thuong-xuyen|G09.20-20260609-0000101"}
	c := encodeCursor(p, key)
	got, err := decodeCursor(c, key)
	if err != nil || got != p {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if _, err := decodeCursor(c, Query{Unit: "1012345"}.filterKey()); err == nil {
		t.Error("a cursor is accepted with other filters")
	}
	raw := []byte(c)
	for i := range raw {
		for _, ch := range []byte("AQgw-_") {
			if ch == c[i] {
				continue
			}
			mut := append([]byte(nil), raw...)
			mut[i] = ch
			if q, err := decodeCursor(string(mut), key); err == nil {
				t.Errorf("byte %d changed to %q: accepted as %+v", i, ch, q)
			}
		}
	}
}

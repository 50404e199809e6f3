package calendar

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kbnn/dvc/configs"
)

func ictDate(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, ict) }

func TestEmbeddedHolidaysLoad(t *testing.T) {
	t.Parallel()
	c, err := Load(configs.Holidays(), "configs/holidays")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Covers(ictDate(2026, 6, 1, 9)) || !c.Covers(ictDate(2027, 6, 1, 9)) {
		t.Fatal("2026 and 2027 must be covered")
	}
	if name, ok := c.Holiday(ictDate(2026, 2, 17, 9)); !ok || !strings.Contains(name, "Tết") {
		t.Fatalf("17/2/2026 is Tết: %q %v", name, ok)
	}
}

func TestAddWorkingDays(t *testing.T) {
	t.Parallel()
	c, err := Load(configs.Holidays(), "configs/holidays")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		from time.Time
		n    int
		want time.Time
	}{
		{"plain week", ictDate(2026, 6, 9, 9), 2, ictDate(2026, 6, 11, 9)},
		{"over a weekend", ictDate(2026, 6, 12, 9), 1, ictDate(2026, 6, 15, 9)},
		// Friday 13/2 before Tết: nine days off, then Monday 23/2.
		{"over Tết", ictDate(2026, 2, 13, 9), 1, ictDate(2026, 2, 23, 9)},
		{"received during Tết", ictDate(2026, 2, 16, 9), 2, ictDate(2026, 2, 24, 9)},
		// Wednesday 29/4: 30/4 and 1/5 are off, 2-3/5 a weekend.
		{"30/4 and 1/5", ictDate(2026, 4, 29, 9), 1, ictDate(2026, 5, 4, 9)},
		// 23:30 UTC on 8/6 is 06:30 on 9/6 in Vietnam.
		{"counted in Vietnam's time", time.Date(2026, 6, 8, 23, 30, 0, 0, time.UTC), 1, ictDate(2026, 6, 10, 6).Add(30 * time.Minute)},
		{"zero days", ictDate(2026, 6, 9, 9), 0, ictDate(2026, 6, 9, 9)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := c.AddWorkingDays(tc.from, tc.n); !got.Equal(tc.want) {
				t.Fatalf("AddWorkingDays(%v, %d) = %v, want %v", tc.from, tc.n, got, tc.want)
			}
		})
	}
	var none *Calendar
	if got := none.AddWorkingDays(ictDate(2026, 2, 13, 9), 1); !got.Equal(ictDate(2026, 2, 16, 9)) {
		t.Fatalf("a nil calendar knows weekends only: %v", got)
	}
}

func TestWorkedWeekendCounts(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{"2026.yaml": {Data: []byte("year: 2026\nholidays:\n  - {date: 2026-06-15, name: Bridge}\nworkdays: [2026-06-13]\n")}}
	c, err := Load(fsys, "h")
	if err != nil {
		t.Fatal(err)
	}
	// Friday 12/6 + 1: Saturday 13/6 is worked.
	if got := c.AddWorkingDays(ictDate(2026, 6, 12, 9), 1); !got.Equal(ictDate(2026, 6, 13, 9)) {
		t.Fatalf("worked Saturday: %v", got)
	}
	if c.Working(ictDate(2026, 6, 15, 9)) {
		t.Fatal("the bridge day is off")
	}
}

func TestLoadRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, file, body, want string }{
		{"wrong year", "2026.yaml", "year: 2025\nholidays: []\n", "h/2026.yaml:1: year: is 2025"},
		{"date outside the year", "2026.yaml", "year: 2026\nholidays:\n  - {date: 2027-01-01, name: X}\n", "not in 2026"},
		{"malformed date", "2026.yaml", "year: 2026\nholidays:\n  - {date: 2026-13-01, name: X}\n", "is not a date"},
		{"date and range", "2026.yaml", "year: 2026\nholidays:\n  - {date: 2026-01-01, from: 2026-01-01, to: 2026-01-02, name: X}\n", "not both"},
		{"reversed range", "2026.yaml", "year: 2026\nholidays:\n  - {from: 2026-01-03, to: 2026-01-02, name: X}\n", "before from"},
		{"no name", "2026.yaml", "year: 2026\nholidays:\n  - {date: 2026-01-01}\n", "name is required"},
		{"worked weekday", "2026.yaml", "year: 2026\nworkdays: [2026-06-10]\n", "is a weekday already"},
		{"unknown key", "2026.yaml", "year: 2026\nholiday: []\n", `unknown key "holiday"`},
		{"file not a year", "next.yaml", "year: 2026\n", "want the year the file is named after"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(fstest.MapFS{tc.file: {Data: []byte(tc.body)}}, "h")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

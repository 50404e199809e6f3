package outbox

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestNextAttempt(t *testing.T) {
	t0 := time.Date(2026, 6, 9, 2, 0, 0, 0, time.UTC)
	now := t0.Add(3 * time.Hour)
	sched := StandardSchedule()
	at := func(d time.Duration) time.Time { return now.Add(d) }
	tests := []struct {
		name    string
		attempt int
		jitter  float64
		minSpan time.Duration
		hint    time.Duration
		hinted  bool
		r       float64
		want    time.Time
		ok      bool
	}{
		{"second attempt after 5 s", 1, 0.2, 72 * time.Hour, 0, false, 0.5, at(5 * time.Second), true},
		{"shortest jitter", 4, 0.2, 72 * time.Hour, 0, false, 0, at(96 * time.Minute), true},
		{"jitter +10%", 4, 0.2, 72 * time.Hour, 0, false, 0.75, at(132 * time.Minute), true},
		{"no jitter", 4, -1, 72 * time.Hour, 0, false, 0, at(2 * time.Hour), true},
		{"longer hint wins", 1, 0.2, 72 * time.Hour, time.Minute, true, 0.5, at(time.Minute), true},
		{"shorter hint loses", 2, 0.2, 72 * time.Hour, time.Minute, true, 0.5, at(5 * time.Minute), true},
		{"hint capped", 1, 0.2, 72 * time.Hour, 1000 * time.Hour, true, 0.5, at(24 * time.Hour), true},
		{"past the schedule, before MinSpan", 10, 0.2, 72 * time.Hour, 0, false, 0.5, t0.Add(72 * time.Hour), true},
		{"past the schedule, a longer hint than MinSpan's end", 10, 0.2, 3*time.Hour + time.Minute, 2 * time.Minute, true, 0.5, at(2 * time.Minute), true},
		{"past the schedule, a shorter hint than MinSpan's end", 10, 0.2, 3*time.Hour + time.Minute, 30 * time.Second, true, 0.5, at(time.Minute), true},
		{"past the schedule and MinSpan", 10, 0.2, 2 * time.Hour, 0, false, 0.5, time.Time{}, false},
		{"past the schedule, no MinSpan", 10, 0.2, -1, 0, false, 0.5, time.Time{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Delivery{Attempt: tc.attempt, FirstAttempt: t0}
			got, ok := nextAttempt(sched, tc.jitter, tc.minSpan, 24*time.Hour, d, tc.hint, tc.hinted, tc.r, now)
			if ok != tc.ok || (ok && got.Sub(tc.want).Abs() > time.Millisecond) {
				t.Fatalf("= %v %v, want %v %v", got, ok, tc.want, tc.ok)
			}
			if ok && got.Sub(got.Truncate(time.Millisecond)) != 0 {
				t.Fatalf("%v is not a whole millisecond", got)
			}
		})
	}
}

func TestStandardScheduleSpansMoreThan72Hours(t *testing.T) {
	var total time.Duration
	for _, d := range StandardSchedule() {
		total += d
	}
	if total < 75*time.Hour || total > 76*time.Hour {
		t.Fatalf("the schedule spans %v", total)
	}
	s := StandardSchedule()
	s[1] = 0
	if StandardSchedule()[1] != 5*time.Second {
		t.Fatal("StandardSchedule shares its slice")
	}
}

func TestErrorMarks(t *testing.T) {
	base := errors.New("portal: 422")
	p := Permanent(base)
	if !IsPermanent(p) || !errors.Is(p, base) || p.Error() != base.Error() || IsPermanent(base) || Permanent(nil) != nil {
		t.Fatal("Permanent")
	}
	r := RetryAfter(Permanent(base), time.Minute)
	if d, ok := RetryAfterOf(r); !ok || d != time.Minute || !IsPermanent(r) || RetryAfter(nil, time.Second) != nil {
		t.Fatal("RetryAfter")
	}
	if _, ok := RetryAfterOf(base); ok {
		t.Fatal("a hint out of nothing")
	}
}

func TestReasonIsBounded(t *testing.T) {
	long := strings.Repeat("é", maxReason) // two bytes each
	got := reason("x: ", errors.New(long))
	if len(got) > maxReason || !utf8.ValidString(got) || !strings.HasPrefix(got, "x: é") {
		t.Fatalf("%d bytes, valid %v", len(got), utf8.ValidString(got))
	}
	if got := reason("p: ", errors.New("short")); got != "p: short" {
		t.Fatal(got)
	}
}

func TestDeadKeyOrderAndCursor(t *testing.T) {
	t0 := time.UnixMilli(1781000000000)
	keys := []string{DeadKey(t0, "b", "1"), DeadKey(t0.Add(time.Millisecond), "a", "1"), DeadKey(t0.Add(time.Second), "a|x", "{}")}
	for i := 1; i < len(keys); i++ {
		if keys[i-1] >= keys[i] {
			t.Fatalf("%q sorts after %q", keys[i-1], keys[i])
		}
	}
	at, d, id, ok := ParseDeadKey(keys[2])
	if !ok || !at.Equal(t0.Add(time.Second)) || d != "a|x" || id != "{}" {
		t.Fatalf("parsed %v %q %q %v", at, d, id, ok)
	}
	c := EncodeCursor(keys[2])
	if k, err := DecodeCursor(c); err != nil || k != keys[2] {
		t.Fatalf("cursor round trip: %q %v", k, err)
	}
	for _, bad := range []string{"!!", EncodeCursor("garbage"), EncodeCursor("1|9|ab")} {
		if _, err := DecodeCursor(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("cursor %q: %v", bad, err)
		}
	}
}

package intake

import (
	"strings"
	"testing"
	"time"
)

// A withdrawal's signed request date must be the receipt day or at most
// maxAgeDays before it (Asia/Ho_Chi_Minh), never after it beyond a small
// clock skew; -1 lifts the age limit only.
func TestCheckRequestDate(t *testing.T) {
	morning := time.Date(2026, 6, 9, 9, 0, 0, 0, ict)
	lateUTC := time.Date(2026, 6, 9, 16, 58, 0, 0, time.UTC) // 23:58 in Hà Nội
	for _, tt := range []struct {
		name     string
		date     string
		received time.Time
		maxAge   int
		ok       bool
		reason   string
	}{
		{"the receipt day", "2026-06-09", morning, 30, true, ""},
		{"maxAge days before", "2026-05-10", morning, 30, true, ""},
		{"one day too old", "2026-05-09", morning, 30, false, "at most 30 days before"},
		{"months old", "2026-01-02", morning, 30, false, "at most 30 days before"},
		{"no age limit", "2025-01-02", morning, -1, true, ""},
		{"zero days: the day itself", "2026-06-09", morning, 0, true, ""},
		{"zero days: the day before", "2026-06-08", morning, 0, false, "at most 0 days"},
		{"tomorrow", "2026-06-10", morning, 30, false, "must not be after"},
		{"tomorrow without age limit", "2026-06-10", morning, -1, false, "must not be after"},
		{"tomorrow two minutes before midnight, the unit's clock ahead", "2026-06-10", lateUTC, 30, true, ""},
		{"the day after tomorrow just before midnight", "2026-06-11", lateUTC, 30, false, "must not be after"},
		{"receipt day in Hà Nội, not in UTC", "2026-06-09", time.Date(2026, 6, 8, 18, 0, 0, 0, time.UTC), 0, true, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fe, ok := checkRequestDate(tt.date, tt.received, tt.maxAge)
			if ok != tt.ok {
				t.Fatalf("ok = %v (%+v), want %v", ok, fe, tt.ok)
			}
			if !ok && (fe.Path != "/ngayYeuCau" || !strings.Contains(fe.Message, tt.reason)) {
				t.Fatalf("field error %+v, want /ngayYeuCau with %q", fe, tt.reason)
			}
		})
	}
}

// Whatever the signed date, the check answers without panicking, and a date
// it takes lies within the window: not after the receipt day (plus the
// skew), not more than maxAge days before it.
func FuzzCheckRequestDate(f *testing.F) {
	for _, s := range []string{"2026-06-09", "2026-02-30", "2026-6-9", "", "9999-12-31", "0000-01-01", "2026-06-09T00:00:00Z"} {
		f.Add(s, int64(0), 30)
	}
	f.Fuzz(func(t *testing.T, date string, offset int64, maxAge int) {
		received := time.Date(2026, 6, 9, 9, 0, 0, 0, ict).Add(time.Duration(offset%(400*24)) * time.Hour)
		maxAge = maxAge%400 - 1 // -1 (no limit) to 398
		fe, ok := checkRequestDate(date, received, maxAge)
		if !ok {
			if fe.Path != "/ngayYeuCau" || fe.Message == "" {
				t.Fatalf("refusal %+v", fe)
			}
			return
		}
		d, err := time.ParseInLocation(time.DateOnly, date, ict)
		if err != nil {
			t.Fatalf("took %q, which is not a date", date)
		}
		if d.After(received.Add(requestDateSkew)) {
			t.Fatalf("took %s, after the receipt %s", date, received)
		}
		if maxAge >= 0 && received.Sub(d) > time.Duration(maxAge+1)*24*time.Hour {
			t.Fatalf("took %s, more than %d days before %s", date, maxAge, received)
		}
	})
}

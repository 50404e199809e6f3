package attachment

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestMemoryPutGet(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: time.Date(2026, 6, 9, 1, 0, 0, 0, time.UTC)}
	m := NewMemory(Limits{MaxFileBytes: 10, MaxTotalBytes: 15 + 2*FileOverhead, Retention: time.Hour}, clk.now)
	a, b := []byte("hop dong"), []byte("bien ban")
	if created, err := m.Put(ctx, Sum(a), a); err != nil || !created {
		t.Fatalf("first put: %v %v", created, err)
	}
	if created, err := m.Put(ctx, Sum(a), a); err != nil || created {
		t.Fatalf("second put of the same file: created %v, err %v; want an idempotent success", created, err)
	}
	if got, err := m.Get(ctx, Sum(a)); err != nil || string(got) != string(a) {
		t.Fatalf("get: %q %v", got, err)
	}
	tests := []struct {
		name string
		sum  string
		data []byte
		want error
	}{
		{"bytes that do not hash to the name", Sum(a), b, ErrMismatch},
		{"upper-case hash", strings.ToUpper(Sum(b)), b, ErrBadHash},
		{"short hash", Sum(b)[:10], b, ErrBadHash},
		{"file over the per-file limit", Sum([]byte("12345678901")), []byte("12345678901"), ErrTooLarge},
		{"store over the total limit", Sum(b), b, ErrFull},
	}
	for _, tt := range tests {
		if _, err := m.Put(ctx, tt.sum, tt.data); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := m.Get(ctx, Sum(b)); !errors.Is(err, ErrNotFound) {
		t.Errorf("refused file is stored: %v", err)
	}
	clk.t = clk.t.Add(time.Hour)
	if _, err := m.Get(ctx, Sum(a)); !errors.Is(err, ErrNotFound) {
		t.Errorf("file kept past its retention: %v", err)
	}
	if created, err := m.Put(ctx, Sum(b), b); err != nil || !created {
		t.Errorf("expired file still counts against the total: %v %v", created, err)
	}
}

// The store never keeps a copy the caller can change.
func TestMemoryCopies(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(Limits{Retention: time.Hour}, nil)
	data := []byte("scan")
	sum := Sum(data)
	if _, err := m.Put(ctx, sum, data); err != nil {
		t.Fatal(err)
	}
	data[0] = 'X'
	got, _ := m.Get(ctx, sum)
	got[1] = 'Y'
	if again, _ := m.Get(ctx, sum); string(again) != "scan" {
		t.Errorf("stored bytes changed to %q", again)
	}
}

// FuzzPut: whatever the name and the bytes, a Put succeeds only when the bytes hash to the name,
// and what Get returns then hashes to it too.
func FuzzPut(f *testing.F) {
	f.Add("", []byte(nil))
	f.Add(Sum([]byte("x")), []byte("x"))
	f.Add(Sum([]byte("x")), []byte("y"))
	f.Fuzz(func(t *testing.T, sum string, data []byte) {
		ctx := context.Background()
		m := NewMemory(Limits{MaxFileBytes: 1 << 16, Retention: time.Hour}, nil)
		_, err := m.Put(ctx, sum, data)
		if err != nil {
			return
		}
		if sum != Sum(data) {
			t.Fatalf("stored %d bytes under %q, which they do not hash to", len(data), sum)
		}
		got, err := m.Get(ctx, sum)
		if err != nil || Sum(got) != sum {
			t.Fatalf("get: %v", err)
		}
	})
}

// Expiry follows the last Put of each file, and the memory store keeps one
// expiry entry per file however often a file is stored again.
func TestMemoryExpiryFollowsRenewals(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: time.Date(2026, 6, 9, 1, 0, 0, 0, time.UTC)}
	m := NewMemory(Limits{MaxFileBytes: 10, MaxTotalBytes: 10 * Charge(10), Retention: time.Hour}, clk.now)
	a, b := []byte("hop dong"), []byte("bien ban")
	for _, f := range [][]byte{a, b} {
		if _, err := m.Put(ctx, Sum(f), f); err != nil {
			t.Fatal(err)
		}
	}
	for range 1000 {
		clk.t = clk.t.Add(time.Second)
		if _, err := m.Put(ctx, Sum(a), a); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.expiry.Len(); n != 2 {
		t.Fatalf("%d expiry entries for 2 files", n)
	}
	clk.t = clk.t.Add(time.Hour - 1000*time.Second) // b's hour has passed, not a's
	if _, err := m.Get(ctx, Sum(b)); err != ErrNotFound {
		t.Fatalf("b after its retention: %v", err)
	}
	if _, err := m.Get(ctx, Sum(a)); err != nil {
		t.Fatalf("a, renewed, before its retention: %v", err)
	}
	if m.total != Charge(len(a)) {
		t.Fatalf("total %d, want %d", m.total, Charge(len(a)))
	}
	clk.t = clk.t.Add(1000 * time.Second)
	if _, err := m.Get(ctx, Sum(a)); err != ErrNotFound || m.total != 0 || m.expiry.Len() != 0 {
		t.Fatalf("a after its retention: %v, total %d, %d entries", err, m.total, m.expiry.Len())
	}
}

package redisstore

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/testkit/clock"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
	"github.com/kbnn/dvc/adapter/testkit/storetest"
)

func TestAttachmentsConformance(t *testing.T) {
	storetest.RunAttachments(t, func(t *testing.T, l attachment.Limits) attachment.Store {
		return NewAttachments(redistest.Client(t), redistest.Prefix(t), l, nil)
	})
}

// A file is kept for the retention (its Redis TTL), renewed by each put,
// under a key whose hash tag is the file's hash.
func TestAttachmentsRetention(t *testing.T) {
	ctx := context.Background()
	c, prefix := redistest.Client(t), redistest.Prefix(t)
	s := NewAttachments(c, prefix, attachment.Limits{Retention: time.Hour}, nil)
	data := []byte("bien ban nghiem thu")
	sum := attachment.Sum(data)
	if _, err := s.Put(ctx, sum, data); err != nil {
		t.Fatal(err)
	}
	key := prefix + "att:{" + sum + "}"
	if err := c.Expire(ctx, key, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if created, err := s.Put(ctx, sum, data); err != nil || created {
		t.Fatalf("second put: %v %v", created, err)
	}
	ttl, err := c.PTTL(ctx, key).Result()
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("TTL after a second put %v (%v), want the retention renewed to 1h", ttl, err)
	}
	if err := c.Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, sum); err != attachment.ErrNotFound {
		t.Fatalf("get after expiry: %v", err)
	}
}

// The ledger gives back a file's bytes once its retention has passed (on
// the store's clock), so that new files fit again; a refused put stores
// nothing and counts nothing.
func TestAttachmentsLedgerFollowsExpiry(t *testing.T) {
	ctx := context.Background()
	c, prefix := redistest.Client(t), redistest.Prefix(t)
	clk := clock.New(time.Date(2026, 6, 9, 8, 0, 0, 0, time.UTC))
	s := NewAttachments(c, prefix, attachment.Limits{MaxFileBytes: 16, MaxTotalBytes: 20 + 2*attachment.FileOverhead, Retention: time.Hour}, clk.Now)
	a, b := []byte("hop dong so 15"), []byte("bien ban")
	if _, err := s.Put(ctx, attachment.Sum(a), a); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Minute)
	if _, err := s.Put(ctx, attachment.Sum(b), b); !errors.Is(err, attachment.ErrFull) {
		t.Fatalf("put over the total: %v, want ErrFull", err)
	}
	if n, err := s.Stored(ctx); err != nil || n != attachment.Charge(len(a)) {
		t.Fatalf("stored %d (%v), want %d", n, err, attachment.Charge(len(a)))
	}
	if _, err := s.Put(ctx, attachment.Sum(a), a); err != nil { // renewed: now kept until 9:30
		t.Fatal(err)
	}
	clk.Advance(45 * time.Minute) // past the first expiry, not the renewed one
	if _, err := s.Put(ctx, attachment.Sum(b), b); !errors.Is(err, attachment.ErrFull) {
		t.Fatalf("put before the renewed file expires: %v, want ErrFull", err)
	}
	clk.Advance(time.Hour)
	if created, err := s.Put(ctx, attachment.Sum(b), b); err != nil || !created {
		t.Fatalf("put once the first file expired: created %v, err %v", created, err)
	}
	if n, err := s.Stored(ctx); err != nil || n != attachment.Charge(len(b)) {
		t.Fatalf("stored %d (%v), want %d", n, err, attachment.Charge(len(b)))
	}
}

// A Redis out of memory (maxmemory reached, noeviction) refuses the write
// with attachment.ErrFull, which the adapter answers 507, not 500.
func TestAttachmentsRedisOutOfMemory(t *testing.T) {
	ctx := context.Background()
	c := redistest.StartServer(t, "--maxmemory", "4mb", "--maxmemory-policy", "noeviction")
	for _, limit := range []int64{0, 1 << 30} { // without the ledger, and with a ledger that allows it
		s := NewAttachments(c, "oom:"+strconv.FormatInt(limit, 10)+":", attachment.Limits{MaxFileBytes: 2 << 20, MaxTotalBytes: limit, Retention: time.Hour}, nil)
		var err error
		for i := 0; i < 8 && err == nil; i++ {
			data := bytes.Repeat([]byte{byte(i), byte(limit >> 20)}, 1<<20)
			_, err = s.Put(ctx, attachment.Sum(data), data)
		}
		if !errors.Is(err, attachment.ErrFull) {
			t.Fatalf("limit %d: putting 16 MiB into a 4 MiB Redis: %v, want ErrFull", limit, err)
		}
		if err := c.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// A key of another type under the empty file's hash is an error for Sizes,
// as for Get, not an empty file held.
func TestAttachmentsSizesOfAKeyOfAnotherType(t *testing.T) {
	ctx := context.Background()
	c, prefix := redistest.Client(t), redistest.Prefix(t)
	s := NewAttachments(c, prefix, attachment.Limits{}, nil)
	empty := attachment.Sum(nil)
	if err := c.HSet(ctx, prefix+"att:{"+empty+"}", "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Sizes(ctx, []string{empty}); err == nil {
		t.Fatalf("Sizes of a hash-type key: %v, no error", m)
	}
}

package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
	"github.com/kbnn/dvc/adapter/testkit/storetest"
)

func TestAttachmentsConformance(t *testing.T) {
	storetest.RunAttachments(t, func(t *testing.T, l attachment.Limits) attachment.Store {
		return NewAttachments(redistest.Client(t), redistest.Prefix(t), l)
	})
}

// A file is kept for the retention (its Redis TTL), renewed by each put,
// under a key whose hash tag is the file's hash.
func TestAttachmentsRetention(t *testing.T) {
	ctx := context.Background()
	c, prefix := redistest.Client(t), redistest.Prefix(t)
	s := NewAttachments(c, prefix, attachment.Limits{Retention: time.Hour})
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

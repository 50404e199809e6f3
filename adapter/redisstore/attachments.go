package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/attachment"
)

// Attachments is the Redis attachment.Store: each file is one string key,
//
//	<prefix>att:{<sha256 hex>}   the file's bytes, with a Redis TTL of the retention
//
// The name is the file's own hash, already a fixed-length hex digest, so it is
// the hash tag as it is. Storing a file again only renews its TTL. The
// store-wide total (Limits.MaxTotalBytes) is not enforced here: Redis's own
// maxmemory bounds it; the per-file limit and the hash are checked before
// anything is written.
type Attachments struct {
	c      redis.UniversalClient
	prefix string
	limits attachment.Limits
}

var _ attachment.Store = (*Attachments)(nil)

// NewAttachments returns the store on client with every key under prefix.
// A zero Retention keeps files 24 hours.
func NewAttachments(client redis.UniversalClient, prefix string, l attachment.Limits) *Attachments {
	if l.Retention <= 0 {
		l.Retention = 24 * time.Hour
	}
	return &Attachments{c: client, prefix: prefix, limits: l}
}

func (a *Attachments) key(sum string) string { return a.prefix + "att:{" + sum + "}" }

// Put implements attachment.Store.
func (a *Attachments) Put(ctx context.Context, sum string, data []byte) (bool, error) {
	if err := attachment.Check(a.limits, sum, data); err != nil {
		return false, err
	}
	k := a.key(sum)
	created, err := a.c.SetNX(ctx, k, data, a.limits.Retention).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: attachment %s: %w", sum, err)
	}
	if created {
		return true, nil
	}
	// Already there: renew the retention. Had it expired in between,
	// store it again.
	ok, err := a.c.Expire(ctx, k, a.limits.Retention).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: attachment %s: %w", sum, err)
	}
	if !ok {
		if err := a.c.Set(ctx, k, data, a.limits.Retention).Err(); err != nil {
			return false, fmt.Errorf("redisstore: attachment %s: %w", sum, err)
		}
		return true, nil
	}
	return false, nil
}

// Get implements attachment.Store.
func (a *Attachments) Get(ctx context.Context, sum string) ([]byte, error) {
	if !attachment.ValidSum(sum) {
		return nil, attachment.ErrBadHash
	}
	b, err := a.c.Get(ctx, a.key(sum)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, attachment.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: attachment %s: %w", sum, err)
	}
	return b, nil
}

package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Anchors keeps, outside each evidence log's directory, the latest
// checkpoint that log published: one hash per log origin,
//
//	<prefix>evidence-anchor:{sha256hex(origin)}   size → tree size, checkpoint → the signed note
//
// so that an instance restarted on a directory restored from an older
// copy, or cut back, or on another process's directory under the same
// key, is found out at start-up instead of signing a tree that conflicts
// with checkpoints already handed out. The anchor only moves forward; it
// has no TTL.
type Anchors struct {
	s *Store
}

// NewAnchors returns the anchors on client under prefix.
func NewAnchors(client redis.UniversalClient, prefix string) *Anchors {
	return &Anchors{s: New(client, prefix, time.Now)}
}

// Key is the anchor's Redis key for origin (an operator who starts a log
// anew under the same origin deletes it).
func (a *Anchors) Key(origin string) string { return a.s.name("evidence-anchor:{", origin) }

// Latest returns the anchored checkpoint of origin, nil when there is none.
func (a *Anchors) Latest(ctx context.Context, origin string) ([]byte, error) {
	b, err := a.s.c.HGet(ctx, a.Key(origin), "checkpoint").Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redis evidence anchor: %w", err)
	}
	return b, nil
}

// advanceScript: KEYS[1] the anchor; ARGV[1] the size, ARGV[2] the signed
// checkpoint. It stores them unless the anchor is already at that size or
// beyond, and returns the anchor's size afterwards, as stored (Lua's
// tostring of a large number would not be an integer).
var advanceScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'size')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return cur end
redis.call('HSET', KEYS[1], 'size', ARGV[1], 'checkpoint', ARGV[2])
return ARGV[1]
`)

// Advance anchors the checkpoint signed of size records unless the anchor
// is already at that size or beyond. It returns the anchor's size
// afterwards: more than size means another writer anchored a longer tree
// under this origin.
func (a *Anchors) Advance(ctx context.Context, origin string, size uint64, signed []byte) (uint64, error) {
	s, err := advanceScript.Run(ctx, a.s.c, []string{a.Key(origin)}, strconv.FormatUint(size, 10), signed).Text()
	if err != nil {
		return 0, fmt.Errorf("redis evidence anchor: %w", err)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redis evidence anchor: size %q: %w", s, err)
	}
	return n, nil
}

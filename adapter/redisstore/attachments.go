package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
// per-file limit and the hash are checked before anything is written.
//
// The store-wide total (Limits.MaxTotalBytes, attachments.maxStoredBytes) is
// kept in a ledger beside the files, three keys in one hash slot:
//
//	<prefix>att:{ledger}:expiry   sorted set: sha256 → when its file expires (ms)
//	<prefix>att:{ledger}:size     hash: sha256 → what it counts (attachment.Charge: its size and a per-file overhead)
//	<prefix>att:{ledger}:total    the sizes added up (INCRBY / DECRBY)
//
// A Put reserves the file's size in the ledger (one script: it first drops
// the entries whose expiry has passed, subtracting their sizes, then refuses
// with attachment.ErrFull if the new file would take the total over the
// limit) and only then writes the file; a put of a file the ledger holds
// renews its expiry and counts nothing. Redis expires the file keys by
// itself, and the ledger follows on the next Put, from the store's clock:
// the total is an approximation that errs towards counting too much, never
// too little: a file evicted or deleted out of band, or one whose write
// failed after its reservation and whose release failed too, counts until
// its retention has passed; a file whose key outlives its ledger entry by
// the clock skew between the adapter and Redis is briefly not counted.
type Attachments struct {
	c      redis.UniversalClient
	prefix string
	limits attachment.Limits
	now    func() time.Time
}

var _ attachment.Store = (*Attachments)(nil)

// NewAttachments returns the store on client with every key under prefix;
// now is the clock of the ledger (nil: time.Now). A zero Retention keeps
// files 24 hours; a zero MaxTotalBytes keeps no ledger and bounds nothing
// (Redis's maxmemory then does).
func NewAttachments(client redis.UniversalClient, prefix string, l attachment.Limits, now func() time.Time) *Attachments {
	if l.Retention <= 0 {
		l.Retention = 24 * time.Hour
	}
	if now == nil {
		now = time.Now
	}
	return &Attachments{c: client, prefix: prefix, limits: l, now: now}
}

func (a *Attachments) key(sum string) string { return a.prefix + "att:{" + sum + "}" }

func (a *Attachments) ledger() []string {
	p := a.prefix + "att:{ledger}:"
	return []string{p + "expiry", p + "size", p + "total"}
}

// reserveAttachmentScript: KEYS expiry, size, total; ARGV now (ms), sha256, size,
// expires (ms), limit. Replies 1 (reserved: a new file), 0 (renewed: the
// ledger holds it), -1 (full).
var reserveAttachmentScript = redis.NewScript(`
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 512)
for _, m in ipairs(gone) do
  local sz = redis.call('HGET', KEYS[2], m)
  redis.call('ZREM', KEYS[1], m)
  if sz then
    redis.call('HDEL', KEYS[2], m)
    redis.call('DECRBY', KEYS[3], sz)
  end
end
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
  return 0
end
local total = tonumber(redis.call('GET', KEYS[3]) or '0')
if total + tonumber(ARGV[3]) > tonumber(ARGV[5]) then
  return -1
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('INCRBY', KEYS[3], ARGV[3])
return 1
`)

// releaseAttachmentScript: KEYS expiry, size, total; ARGV sha256. Gives back a
// reservation whose file was not written.
var releaseAttachmentScript = redis.NewScript(`
local sz = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
if sz then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('DECRBY', KEYS[3], sz)
end
return 0
`)

// Put implements attachment.Store.
func (a *Attachments) Put(ctx context.Context, sum string, data []byte) (bool, error) {
	if err := attachment.Check(a.limits, sum, data); err != nil {
		return false, err
	}
	if a.limits.MaxTotalBytes <= 0 {
		return a.put(ctx, sum, data)
	}
	now := a.now()
	res, err := reserveAttachmentScript.Run(ctx, a.c, a.ledger(), now.UnixMilli(), sum, attachment.Charge(len(data)),
		now.Add(a.limits.Retention).UnixMilli(), a.limits.MaxTotalBytes).Int()
	if err != nil {
		return false, a.wrap(sum, err)
	}
	switch res {
	case -1:
		return false, fmt.Errorf("%w (%d bytes held at most)", attachment.ErrFull, a.limits.MaxTotalBytes)
	case 0:
		_, err := a.put(ctx, sum, data)
		return false, err
	}
	if err := a.c.Set(ctx, a.key(sum), data, a.limits.Retention).Err(); err != nil {
		if rerr := releaseAttachmentScript.Run(context.WithoutCancel(ctx), a.c, a.ledger(), sum).Err(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("releasing its reservation: %w", rerr))
		}
		return false, a.wrap(sum, err)
	}
	return true, nil
}

// put writes the file unless it is there, else renews its TTL.
func (a *Attachments) put(ctx context.Context, sum string, data []byte) (bool, error) {
	k := a.key(sum)
	created, err := a.c.SetNX(ctx, k, data, a.limits.Retention).Result()
	if err != nil {
		return false, a.wrap(sum, err)
	}
	if created {
		return true, nil
	}
	// Already there: renew the retention. Had it expired in between,
	// store it again.
	ok, err := a.c.Expire(ctx, k, a.limits.Retention).Result()
	if err != nil {
		return false, a.wrap(sum, err)
	}
	if !ok {
		if err := a.c.Set(ctx, k, data, a.limits.Retention).Err(); err != nil {
			return false, a.wrap(sum, err)
		}
		return true, nil
	}
	return false, nil
}

// wrap names the file in err; a Redis out of memory (maxmemory reached,
// "OOM command not allowed …") is attachment.ErrFull as well.
func (a *Attachments) wrap(sum string, err error) error {
	if isOOM(err) {
		return fmt.Errorf("redisstore: attachment %s: %w: %w", sum, attachment.ErrFull, err)
	}
	return fmt.Errorf("redisstore: attachment %s: %w", sum, err)
}

// isOOM reports whether err is Redis's refusal of a write at maxmemory:
// the OOM error reply, or a script's error that carries it
// (https://redis.io/docs/latest/develop/reference/eviction/).
func isOOM(err error) bool {
	return redis.IsOOMError(err) || strings.Contains(err.Error(), "OOM command not allowed")
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

// GetCapped implements attachment.Store: one pipeline of GETRANGE 0..size
// (in a Cluster, one per primary), so that no file is read past one byte
// more than wanted. A file is stored under its own SHA-256, so nothing read
// under another hash than the empty file's is absent; under the empty
// file's, EXISTS tells the empty file from absent (as in Sizes).
func (a *Attachments) GetCapped(ctx context.Context, want map[string]int64) (map[string][]byte, error) {
	for sum := range want {
		if !attachment.ValidSum(sum) {
			return nil, attachment.ErrBadHash
		}
	}
	out := make(map[string][]byte, len(want))
	if len(want) == 0 {
		return out, nil
	}
	empty := attachment.Sum(nil)
	cmds := make(map[string]*redis.StringCmd, len(want))
	var emptyExists *redis.IntCmd
	_, _ = a.c.Pipelined(ctx, func(p redis.Pipeliner) error { // each command's error is read below
		for sum, size := range want {
			// GETRANGE's end is inclusive, and a negative one counts from
			// the end: 0..size reads at most size+1 bytes.
			cmds[sum] = p.GetRange(ctx, a.key(sum), 0, max(size, 0)) // a key of another type: WRONGTYPE, an error
			if sum == empty {
				emptyExists = p.Exists(ctx, a.key(sum))
			}
		}
		return nil
	})
	for sum, c := range cmds {
		b, err := c.Bytes()
		if err != nil {
			return nil, fmt.Errorf("redisstore: attachment %s: %w", sum, err)
		}
		if sum == empty {
			n, err := emptyExists.Result()
			if err != nil {
				return nil, fmt.Errorf("redisstore: attachment %s: %w", sum, err)
			}
			if n == 1 {
				out[sum] = []byte{}
			}
			continue
		}
		if len(b) > 0 {
			out[sum] = b
		}
	}
	return out, nil
}

// Sizes implements attachment.Store: one pipeline of STRLEN, no file read.
// A file is stored under its own SHA-256, so a length of 0 is the empty
// file only under the empty file's hash (for which EXISTS, after STRLEN,
// tells it apart from absent); under any other it is absent. One command
// per file: no file reads as present and empty, or absent, because it came
// or went between two (the empty file aside).
func (a *Attachments) Sizes(ctx context.Context, sums []string) (map[string]int64, error) {
	for _, sum := range sums {
		if !attachment.ValidSum(sum) {
			return nil, attachment.ErrBadHash
		}
	}
	out := make(map[string]int64, len(sums))
	if len(sums) == 0 {
		return out, nil
	}
	empty := attachment.Sum(nil)
	lens := make([]*redis.IntCmd, len(sums))
	var emptyExists *redis.IntCmd
	_, _ = a.c.Pipelined(ctx, func(p redis.Pipeliner) error { // each command's error is read below
		for i, sum := range sums {
			lens[i] = p.StrLen(ctx, a.key(sum)) // a key of another type: WRONGTYPE, an error
			if sum == empty && emptyExists == nil {
				emptyExists = p.Exists(ctx, a.key(sum))
			}
		}
		return nil
	})
	for i, sum := range sums {
		n, err := lens[i].Result()
		if err == nil && sum == empty {
			n, err = emptyExists.Result() // 1: the empty file is held
			n--
		}
		if err != nil {
			return nil, fmt.Errorf("redisstore: attachment %s: %w", sum, err)
		}
		switch {
		case sum == empty && n == 0:
			out[sum] = 0
		case sum != empty && n > 0:
			out[sum] = n
		}
	}
	return out, nil
}

// Stored returns what the ledger counts (attachment.Charge of each file;
// zero without a limit).
func (a *Attachments) Stored(ctx context.Context) (int64, error) {
	n, err := a.c.Get(ctx, a.ledger()[2]).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

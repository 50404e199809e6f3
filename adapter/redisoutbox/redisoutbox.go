// Package redisoutbox owns the Redis outbox.Store that several adapter
// instances share: the same model as outbox.Memory (see package outbox),
// kept in Redis so that it survives restarts and crashes.
//
// # Layout
//
// Dossiers are spread over Shards shards (FNV-1a of the dossier name). A
// shard's keys all carry the hash tag {s<n>}, so every operation is one Lua
// script on one hash slot: atomic on a single server, Sentinel and Cluster
// alike, with no step that a crash could leave half done. Per shard
// (P = <prefix>outbox:{s<n>}:):
//
//	P turns        stream, consumer group "outbox": one entry per dossier
//	               whose head is due (a "turn"); a worker's Claim reads
//	               turns with XREADGROUP (its name is the consumer), the
//	               entry stays pending while leased, and Ack, Retry and
//	               DeadLetter XACK and XDEL it. A crashed worker's pending
//	               turn is XCLAIMed by the next Claim once the lease ended.
//	P leases       zset dossier → lease end (ms): how Claim finds ended leases
//	P waiting      zset dossier → retry time (ms); Claim moves due ones to turns
//	P dead         zset of DeadKeys (score 0, listed BYLEX): the dead letters
//	P stats        hash: pending (undelivered events, kept by the scripts)
//	P dossier:<D>, P queue:<D>, P events:<D>, P ids:<D>   one dossier (see scripts.go)
//
// At most one turn per dossier exists, and only the queue's head is leased,
// so a dossier is in flight on one worker at a time and its events reach
// the portal in order. A dossier waiting for its retry time holds no turn,
// so it blocks nothing else.
//
// Lease ends are tracked on the store's clock in the leases set, not with
// XAUTOCLAIM's idle time, which runs on the Redis server's clock: leases
// follow the injected clock (deterministic tests), and XCLAIM still moves
// the pending entry to the new consumer, so XPENDING shows who holds what.
// A lease written on one instance's clock is read on another's: instances
// must agree on the time to well within Lease minus the delivery timeout
// (the adapter's readiness compares its clock with the Redis server's,
// store.redis.maxClockSkew).
//
// Claim visits the shards in turn from a rotating start until it has max
// deliveries. Consumers left by stopped workers (no pending entries, idle
// an hour) are deleted by an occasional Claim.
//
// # Requirements, durability and retention
//
// Redis 6.2 or later (ZRANGE BYLEX … LIMIT); tested on 7.0, single server
// and a three-master Cluster.
//
// Append returns once Redis has executed the script; run Redis with AOF
// (appendfsync everysec or always) and maxmemory-policy noeviction, or a
// crash of Redis itself can lose acknowledged events; with replicas,
// WithReplicaWait makes Append wait until replicas hold the event, or a
// failover can lose it. An idle dossier's
// keys get a Redis TTL of the retention plus TTLSlack; the logical expiry
// is checked on the store's clock. The shard count is part of the layout:
// Ping records it on first use and fails if an instance disagrees.
package redisoutbox

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/redisha"
)

// DefaultShards is the shard count unless WithShards says otherwise.
const DefaultShards = 16

// TTLSlack is how long Redis keeps an idle dossier beyond its retention.
const TTLSlack = 10 * time.Minute

// tidyEvery is how many Claims of a store pass between consumer tidy-ups;
// tidyIdle is how long a consumer without pending entries must have been idle.
const (
	tidyEvery = 1024
	tidyIdle  = time.Hour
)

// Store is the Redis outbox.Store.
type Store struct {
	c         redis.UniversalClient
	prefix    string
	now       func() time.Time
	retention time.Duration
	shards    []shard
	start     atomic.Uint32 // rotates Claim's first shard
	claims    atomic.Uint32
	tidyIdle  time.Duration
	ha        *redisha.Writer // nil: Append does not wait for replicas
}

type shard struct {
	base string   // key prefix of the shard's dossier keys
	keys []string // turns, waiting, leases, dead, stats
	// migrating is until when (ms, the store's clock) Claim leaves the
	// shard alone: its slot was being migrated (TRYAGAIN) when last asked.
	migrating atomic.Int64
}

// migratingPause is how long Claim leaves alone a shard whose slot is being
// migrated before it asks again: the migration of a slot takes seconds, and
// each ask costs the client's retries and an error for the logs.
const migratingPause = time.Second

var _ outbox.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithShards sets the shard count (default DefaultShards). Never change it
// on a store that holds events.
func WithShards(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.shards = make([]shard, n)
		}
	}
}

// WithRetention sets how long an idle dossier's event ids are remembered
// (default outbox.DefaultRetention).
func WithRetention(d time.Duration) Option { return func(s *Store) { s.retention = d } }

// WithReplicaWait makes Append wait for replicas through w
// (store.redis.minReplicas): an appended event is what the callback's 202
// acknowledges, and lost with the primary it is a status the portal never
// gets. A shortfall is an error wrapping redisha.ErrShortfall (the caller
// answers 503 and the treasury retries): the event is on the primary, and
// the retry finds it there (Append replies false, a duplicate) after a
// fresh wait that covers it.
func WithReplicaWait(w *redisha.Writer) Option { return func(s *Store) { s.ha = w } }

// New returns a store on client with every key under prefix (for example
// "dvc:"; without braces) on clock now (nil means time.Now).
func New(client redis.UniversalClient, prefix string, now func() time.Time, opts ...Option) *Store {
	if now == nil {
		now = time.Now
	}
	s := &Store{c: client, prefix: prefix, now: now, retention: outbox.DefaultRetention,
		shards: make([]shard, DefaultShards), tidyIdle: tidyIdle}
	for _, o := range opts {
		o(s)
	}
	for i := range s.shards {
		p := prefix + "outbox:{s" + strconv.Itoa(i) + "}:"
		s.shards[i] = shard{base: p, keys: []string{p + "turns", p + "waiting", p + "leases", p + "dead", p + "stats"}}
	}
	return s
}

func (s *Store) shardOf(dossier string) *shard {
	h := fnv.New32a()
	_, _ = h.Write([]byte(dossier))
	return &s.shards[h.Sum32()%uint32(len(s.shards))]
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// run runs sc on sh with the common arguments before args.
func (s *Store) run(ctx context.Context, sc *redis.Script, sh *shard, now time.Time, args ...any) *redis.Cmd {
	all := make([]any, 0, 4+len(args))
	all = append(all, sh.base, ms(now), ms(now.Add(s.retention)), (s.retention + TTLSlack).Milliseconds())
	return sc.Run(ctx, s.c, sh.keys, append(all, args...)...)
}

// Append implements outbox.Store.
func (s *Store) Append(ctx context.Context, dossier, eventID string, payload []byte) (bool, error) {
	if err := outbox.Check(dossier, eventID); err != nil {
		return false, err
	}
	if s.ha.Waits() {
		sh, now := s.shardOf(dossier), s.now()
		cmd, err := s.ha.Run(ctx, "outbox_append", appendScript, sh.keys,
			sh.base, ms(now), ms(now.Add(s.retention)), (s.retention + TTLSlack).Milliseconds(), dossier, eventID, payload)
		if err != nil {
			return false, fmt.Errorf("redisoutbox: append: %w", err)
		}
		n, err := cmd.Int64()
		if err != nil {
			return false, fmt.Errorf("redisoutbox: append: %w", err)
		}
		return n == 1, nil
	}
	n, err := s.run(ctx, appendScript, s.shardOf(dossier), s.now(), dossier, eventID, payload).Int64()
	if err != nil {
		return false, fmt.Errorf("redisoutbox: append: %w", err)
	}
	return n == 1, nil
}

// Claim implements outbox.Store.
func (s *Store) Claim(ctx context.Context, worker string, lease time.Duration, n int) ([]outbox.Delivery, error) {
	n = min(max(n, 1), 1000)
	now := s.now()
	tok := newToken()
	tidy := int64(-1)
	if s.claims.Add(1)%tidyEvery == 0 {
		tidy = s.tidyIdle.Milliseconds()
	}
	first := int(s.start.Add(1))
	var out []outbox.Delivery
	var migrating error
	for i := 0; i < len(s.shards) && len(out) < n; i++ {
		sh := &s.shards[(first+i)%len(s.shards)]
		if ms(now) < sh.migrating.Load() {
			continue
		}
		r, err := s.run(ctx, claimScript, sh, now, worker, ms(now.Add(lease)), tok+"."+strconv.Itoa(i), n-len(out), tidy).Slice()
		if err != nil && redis.HasErrorPrefix(err, "TRYAGAIN") {
			// The shard's slot is being migrated (the client has retried):
			// nothing of it was claimed; the other shards go on, and this
			// one is left alone for a moment.
			sh.migrating.Store(ms(now.Add(migratingPause)))
			migrating = fmt.Errorf("redisoutbox: claim: %w", err)
			continue
		}
		if err != nil {
			return out, fmt.Errorf("redisoutbox: claim: %w", err)
		}
		for _, v := range r {
			d, err := parseDelivery(v, worker, now.Add(lease))
			if err != nil {
				return out, fmt.Errorf("redisoutbox: claim: %w", err)
			}
			out = append(out, d)
		}
	}
	return out, migrating
}

// Ack implements outbox.Store.
func (s *Store) Ack(ctx context.Context, d outbox.Delivery) error {
	return s.fenced(ctx, "ack", ackScript, d, s.now())
}

// Retry implements outbox.Store.
func (s *Store) Retry(ctx context.Context, d outbox.Delivery, at time.Time, reason string) error {
	now := s.now()
	return s.fenced(ctx, "retry", retryScript, d, now, ms(at), record(now, 'r', d.Worker, reason))
}

// DeadLetter implements outbox.Store.
func (s *Store) DeadLetter(ctx context.Context, d outbox.Delivery, reason string) error {
	now := s.now()
	return s.fenced(ctx, "dead letter", deadScript, d, now, record(now, 'd', d.Worker, reason), reason,
		outbox.DeadKey(now, d.Dossier, d.ID))
}

// fenced runs a script that replies 1, or 0 when d's lease is lost.
func (s *Store) fenced(ctx context.Context, op string, sc *redis.Script, d outbox.Delivery, now time.Time, args ...any) error {
	if d.Dossier == "" {
		return outbox.ErrLeaseLost
	}
	all := append([]any{d.Dossier, d.ID, d.Token}, args...)
	n, err := s.run(ctx, sc, s.shardOf(d.Dossier), now, all...).Int64()
	switch {
	case err != nil:
		return fmt.Errorf("redisoutbox: %s: %w", op, err)
	case n == 0:
		return outbox.ErrLeaseLost
	}
	return nil
}

// Ping implements outbox.Store: Redis answers and agrees on the shard count.
func (s *Store) Ping(ctx context.Context) error {
	key := s.prefix + "outbox:shards"
	want := strconv.Itoa(len(s.shards))
	if err := s.c.SetNX(ctx, key, want, 0).Err(); err != nil {
		return fmt.Errorf("redisoutbox: ping: %w", err)
	}
	got, err := s.c.Get(ctx, key).Result()
	if err != nil {
		return fmt.Errorf("redisoutbox: ping: %w", err)
	}
	if got != want {
		return fmt.Errorf("redisoutbox: %s shards configured, but the data in Redis is laid out in %s", want, got)
	}
	return nil
}

var errReply = errors.New("unexpected script reply")

package redisoutbox

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/outbox"
)

// DeadLetters implements outbox.Store: each shard's next n+1 keys after
// the cursor, merged, the first n returned.
func (s *Store) DeadLetters(ctx context.Context, cursor string, n int) ([]outbox.DeadLetter, string, error) {
	after, err := outbox.DecodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	n = min(max(n, 1), 1000)
	type keyed struct {
		key string
		l   outbox.DeadLetter
	}
	var all []keyed
	now := s.now()
	for i := range s.shards {
		r, err := s.run(ctx, listScript, &s.shards[i], now, after, n+1).Slice()
		if err != nil {
			return nil, "", fmt.Errorf("redisoutbox: dead letters: %w", err)
		}
		for _, v := range r {
			f, ok := v.([]any)
			if !ok || len(f) == 0 {
				return nil, "", fmt.Errorf("redisoutbox: dead letters: %w", errReply)
			}
			key, ok := f[0].(string)
			l, err := parseLetter(f[1:])
			if !ok || err != nil {
				return nil, "", fmt.Errorf("redisoutbox: dead letters: %w", errors.Join(errReply, err))
			}
			all = append(all, keyed{key, l})
		}
	}
	slices.SortFunc(all, func(a, b keyed) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	next := ""
	if len(all) > n {
		all = all[:n]
		next = outbox.EncodeCursor(all[n-1].key)
	}
	out := make([]outbox.DeadLetter, len(all))
	for i, k := range all {
		out[i] = k.l
	}
	return out, next, nil
}

// Inspect implements outbox.Store.
func (s *Store) Inspect(ctx context.Context, dossier, eventID string) (outbox.DeadLetter, error) {
	r, err := s.run(ctx, inspectScript, s.shardOf(dossier), s.now(), dossier, eventID).Slice()
	if errors.Is(err, redis.Nil) {
		return outbox.DeadLetter{}, outbox.ErrNotFound
	}
	if err != nil {
		return outbox.DeadLetter{}, fmt.Errorf("redisoutbox: inspect: %w", err)
	}
	l, err := parseLetter(r)
	if err != nil {
		return outbox.DeadLetter{}, fmt.Errorf("redisoutbox: inspect: %w", err)
	}
	return l, nil
}

// Replay implements outbox.Store.
func (s *Store) Replay(ctx context.Context, dossier, eventID string) error {
	return s.operator(ctx, "replay", replayScript, dossier, eventID)
}

// Discard implements outbox.Store.
func (s *Store) Discard(ctx context.Context, dossier, eventID string) error {
	return s.operator(ctx, "discard", discardScript, dossier, eventID)
}

// operator runs a script on one dead letter that replies 1, or 0 when
// there is no such dead letter.
func (s *Store) operator(ctx context.Context, op string, sc *redis.Script, dossier, eventID string) error {
	n, err := s.run(ctx, sc, s.shardOf(dossier), s.now(), dossier, eventID).Int64()
	switch {
	case err != nil:
		return fmt.Errorf("redisoutbox: %s: %w", op, err)
	case n == 0:
		return outbox.ErrNotFound
	}
	return nil
}

// replayBatch bounds the work of one replay-all script.
const replayBatch = 100

// ReplayAll implements outbox.Store, shard by shard in batches. A failure
// part way leaves the rest dead; calling it again finishes the job.
func (s *Store) ReplayAll(ctx context.Context) (int, error) {
	total := 0
	for i := range s.shards {
		for {
			r, err := s.run(ctx, replayAllScript, &s.shards[i], s.now(), replayBatch).Int64Slice()
			if err != nil {
				return total, fmt.Errorf("redisoutbox: replay all: %w", err)
			}
			if len(r) != 2 {
				return total, fmt.Errorf("redisoutbox: replay all: %w", errReply)
			}
			total += int(r[0])
			if r[1] < replayBatch {
				break
			}
		}
	}
	return total, nil
}

// Stats implements outbox.Store.
func (s *Store) Stats(ctx context.Context) (outbox.Stats, error) {
	var st outbox.Stats
	now := s.now()
	for i := range s.shards {
		r, err := s.run(ctx, statsScript, &s.shards[i], now).Int64Slice()
		if err != nil {
			return outbox.Stats{}, fmt.Errorf("redisoutbox: stats: %w", err)
		}
		if len(r) != 4 {
			return outbox.Stats{}, fmt.Errorf("redisoutbox: stats: %w", errReply)
		}
		st.Pending += r[0]
		st.InFlight += r[1]
		st.Waiting += r[2]
		st.Dead += r[3]
	}
	return st, nil
}

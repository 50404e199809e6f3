package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/signers"
)

// Signers is the Redis signers.Store. A unit's registrations are one hash,
//
//	<prefix>signers:{sha256hex(unit)}   field role|serial|issuer → registration JSON
//
// so they live in one slot; Put is HSETNX per field (idempotent, the first
// registration kept), Revoke one Lua script over that key. Registrations
// have no TTL: they last until revoked.
type Signers struct {
	s *Store
}

var _ signers.Store = (*Signers)(nil)

// NewSigners returns the signers store on client under prefix.
func NewSigners(client redis.UniversalClient, prefix string) *Signers {
	return &Signers{s: New(client, prefix, time.Now)}
}

func (r *Signers) key(unit string) string { return r.s.name("signers:{", unit) }

// Key is the Redis key of a unit's registrations (a caller that must
// confirm their replication waits on its primary: redisha.Writer.Confirm).
func (r *Signers) Key(unit string) string { return r.key(unit) }

// Put implements signers.Store.
func (r *Signers) Put(ctx context.Context, regs ...signers.Registration) (int, error) {
	if len(regs) == 0 {
		return 0, nil
	}
	cmds := make([]*redis.BoolCmd, len(regs))
	_, err := r.s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, reg := range regs {
			b, err := json.Marshal(reg)
			if err != nil {
				return err
			}
			cmds[i] = p.HSetNX(ctx, r.key(reg.Unit), reg.ID(), b)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("redis signers put: %w", err)
	}
	n := 0
	for _, c := range cmds {
		if c.Val() {
			n++
		}
	}
	return n, nil
}

// List implements signers.Store.
func (r *Signers) List(ctx context.Context, unit string) ([]signers.Registration, error) {
	m, err := r.s.c.HGetAll(ctx, r.key(unit)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis signers list: %w", err)
	}
	out := make([]signers.Registration, 0, len(m))
	for f, v := range m {
		var reg signers.Registration
		if err := json.Unmarshal([]byte(v), &reg); err != nil {
			return nil, fmt.Errorf("redis signers list: field %q: %w", f, err)
		}
		out = append(out, reg)
	}
	signers.Sort(out)
	return out, nil
}

// revokeScript deletes every field whose serial (the second '|' segment)
// is ARGV[1]; it returns how many.
var revokeScript = redis.NewScript(`
local n = 0
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  local s = string.match(f, '^[^|]*|([^|]*)|')
  if s == ARGV[1] then
    redis.call('HDEL', KEYS[1], f)
    n = n + 1
  end
end
return n`)

// Revoke implements signers.Store.
func (r *Signers) Revoke(ctx context.Context, unit, serial string) (int, error) {
	n, err := revokeScript.Run(ctx, r.s.c, []string{r.key(unit)}, serial).Int()
	if err != nil {
		return 0, fmt.Errorf("redis signers revoke: %w", err)
	}
	return n, nil
}

// FirstMissing implements signers.Store: one HMGET for all of want.
func (r *Signers) FirstMissing(ctx context.Context, unit string, want ...signers.Registration) (int, error) {
	if len(want) == 0 {
		return -1, nil
	}
	ids := make([]string, len(want))
	for i, w := range want {
		ids[i] = w.ID() // the unit is the hash, not part of the field
	}
	vals, err := r.s.c.HMGet(ctx, r.key(unit), ids...).Result()
	if err != nil {
		return 0, fmt.Errorf("redis signers registered: %w", err)
	}
	for i, v := range vals {
		if v == nil {
			return i, nil
		}
	}
	return -1, nil
}

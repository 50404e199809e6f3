package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/dossier"
)

// Dossiers is the Redis dossier.Store: one JSON record per dossier under
// <prefix>view:{sha256hex(procedure|maHoSo)}, updated by compare-and-set
// on that one key (optimistic, retried on a concurrent write), and the
// listing indexes of dossierlist.go, written before the record.
type Dossiers struct {
	c         redis.UniversalClient
	prefix    string
	retention time.Duration
}

var _ dossier.Store = (*Dossiers)(nil)

// NewDossiers returns the store; each record is kept retention after its
// last change.
func NewDossiers(client redis.UniversalClient, prefix string, retention time.Duration) *Dossiers {
	return &Dossiers{c: client, prefix: prefix, retention: retention}
}

func (d *Dossiers) key(procedure, maHoSo string) string {
	return (&Store{prefix: d.prefix}).name("view:{", procedure+"|"+maHoSo)
}

// Get implements dossier.Store.
func (d *Dossiers) Get(ctx context.Context, procedure, maHoSo string) (dossier.Record, bool, error) {
	raw, err := d.c.Get(ctx, d.key(procedure, maHoSo)).Bytes()
	if errors.Is(err, redis.Nil) {
		return dossier.Record{}, false, nil
	}
	if err != nil {
		return dossier.Record{}, false, fmt.Errorf("redisstore: dossier %s: %w", maHoSo, err)
	}
	var r dossier.Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return dossier.Record{}, false, fmt.Errorf("redisstore: dossier %s: %w", maHoSo, err)
	}
	return r, true, nil
}

// maxUpdateTries bounds the optimistic retries of one Update.
const maxUpdateTries = 100

// Update implements dossier.Store: read the record, let fn change it, write
// the listing indexes, then store the record with casScript only if the key
// still holds what was read (absent stays absent); a concurrent write makes
// it read again. One GET, one pipeline when the indexes change, one
// script: no connection is held between them, as WATCH would.
func (d *Dossiers) Update(ctx context.Context, procedure, maHoSo string, fn func(*dossier.Record, bool) bool) error {
	key := d.key(procedure, maHoSo)
	ttl := strconv.FormatInt(d.retention.Milliseconds(), 10)
	for range maxUpdateTries {
		var r dossier.Record
		raw, err := d.c.Get(ctx, key).Bytes()
		exists := err == nil
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return fmt.Errorf("redisstore: dossier %s: %w", maHoSo, err)
		default:
			if err := json.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("redisstore: dossier %s: %w", maHoSo, err)
			}
		}
		old := r // fn may change r; the index compares before and after
		if !fn(&r, exists) {
			return nil
		}
		if err := d.index(ctx, old, exists, r); err != nil {
			return fmt.Errorf("redisstore: dossier %s: %w", maHoSo, err)
		}
		out, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("redisstore: dossier %s: %w", maHoSo, err)
		}
		held := "0"
		if exists {
			held = "1"
		}
		set, err := casScript.Run(ctx, d.c, []string{key}, held, raw, out, ttl).Int()
		if err != nil {
			return fmt.Errorf("redisstore: dossier %s: %w", maHoSo, err)
		}
		if set == 1 {
			return nil
		}
	}
	return fmt.Errorf("redisstore: dossier %s: too many concurrent updates", maHoSo)
}

// casScript stores a dossier record only if the key still holds what the
// update read. KEYS[1] the record. ARGV: "1" when the update read a value
// ("0": it read none, and the key must still be absent), the value read,
// the new value, its TTL in ms (0: none). Replies 1 when stored, 0 when the
// key changed meanwhile.
var casScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur ~= ARGV[2] then return 0 end
elseif cur then
  return 0
end
if tonumber(ARGV[4]) > 0 then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[3])
end
return 1
`)

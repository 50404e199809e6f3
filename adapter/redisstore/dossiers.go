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
	slots     slots // whether the record's script may write its indexes too
}

var _ dossier.Store = (*Dossiers)(nil)

// NewDossiers returns the store; each record is kept retention after its
// last change.
func NewDossiers(client redis.UniversalClient, prefix string, retention time.Duration) *Dossiers {
	return &Dossiers{c: client, prefix: prefix, retention: retention}
}

// Key is the Redis key of a dossier's record (a caller that must confirm
// the record's replication waits on its primary: redisha.Writer.Confirm).
func (d *Dossiers) Key(procedure, maHoSo string) string { return d.key(procedure, maHoSo) }

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

// Update implements dossier.Store: read the record, let fn change it, then
// store it with casScript only if the key still holds what was read
// (absent stays absent), together with the listing indexes when they
// change; a concurrent write makes fn run again on the record the script
// found. One GET and one script: no connection is held between them, as
// WATCH would. In a Cluster the indexes are in other slots than the
// record: they are written by a pipeline of their own before the script
// (dossierlist.go).
func (d *Dossiers) Update(ctx context.Context, procedure, maHoSo string, fn func(*dossier.Record, bool) bool) error {
	return d.update(ctx, procedure, maHoSo, fn, false)
}

// Create implements dossier.Creator: on a single server or a Sentinel set,
// Update without the first GET, fn tried on an absent record first. A new
// dossier costs one script; one already stored, the script that finds it
// and the one that writes it. In a Cluster it is Update: the indexes are
// written before the record's script, so they must not be written from a
// guess.
func (d *Dossiers) Create(ctx context.Context, procedure, maHoSo string, fn func(*dossier.Record, bool) bool) error {
	return d.update(ctx, procedure, maHoSo, fn, true)
}

func (d *Dossiers) update(ctx context.Context, procedure, maHoSo string, fn func(*dossier.Record, bool) bool, guess bool) error {
	guess = guess && d.slots.several(d.c) // in a Cluster the indexes would be written from the guess
	return d.updateFrom(ctx, procedure, maHoSo, fn, guess, nil, false, !guess)
}

// updateFrom is update from the record as last seen (raw; exists: nil is
// an absent record), or as read first (read). guess: fn is tried on an
// absent record before it is read (never in a Cluster).
func (d *Dossiers) updateFrom(ctx context.Context, procedure, maHoSo string, fn func(*dossier.Record, bool) bool, guess bool, raw []byte, exists, read bool) error {
	key := d.key(procedure, maHoSo)
	cluster := !d.slots.several(d.c)
	for range maxUpdateTries {
		if read {
			var err error
			raw, err = d.c.Get(ctx, key).Bytes()
			switch {
			case errors.Is(err, redis.Nil):
				raw = nil
			case err != nil:
				return fmt.Errorf("redisstore: dossier %s: %w", maHoSo, err)
			}
			exists, read = raw != nil, false
		}
		call, write, err := d.casCall(key, raw, exists, fn, cluster)
		if err != nil {
			return fmt.Errorf("redisstore: dossier %s: %w", maHoSo, err)
		}
		if !write {
			if guess {
				// Nothing to write to an absent record: whether the stored
				// one wants a change is fn's to say once it has seen it.
				guess, read = false, true
				continue
			}
			return nil
		}
		guess = false
		if cluster && len(call.index.keys) > 0 {
			if err := d.index(ctx, call.index); err != nil {
				return fmt.Errorf("redisstore: dossier %s: %w", maHoSo, err)
			}
		}
		stored, cur, err := d.stored(call.sc.Run(ctx, d.c, call.keys, call.args...))
		if !cluster && d.slots.refusedBy(err) {
			return d.update(ctx, procedure, maHoSo, fn, false)
		}
		if err != nil {
			return fmt.Errorf("redisstore: dossier %s: %w", maHoSo, err)
		}
		if stored {
			return nil
		}
		raw, exists = cur, cur != nil
	}
	return fmt.Errorf("redisstore: dossier %s: too many concurrent updates", maHoSo)
}

// recordCall is casScript's call that stores fn's change to the record
// raw (exists: it was read; else absent), with the listing indexes it
// changes (in a Cluster not in the script: index is for the caller to
// write first).
type recordCall struct {
	scriptCall
	index indexEntries
}

// casCall runs fn on the record raw and returns the call that stores its
// change; write is false when fn changes nothing.
func (d *Dossiers) casCall(key string, raw []byte, exists bool, fn func(*dossier.Record, bool) bool, cluster bool) (_ recordCall, write bool, _ error) {
	var r dossier.Record
	if exists {
		if err := json.Unmarshal(raw, &r); err != nil {
			return recordCall{}, false, err
		}
	}
	old := r // fn may change r; the index compares before and after
	if !fn(&r, exists) {
		return recordCall{}, false, nil
	}
	out, err := json.Marshal(r)
	if err != nil {
		return recordCall{}, false, err
	}
	c := recordCall{scriptCall: scriptCall{sc: casScript, keys: []string{key},
		args: []any{"0", raw, out, strconv.FormatInt(d.retention.Milliseconds(), 10), "", "", ""}}}
	if exists {
		c.args[0] = "1"
	}
	if ix, ok := d.indexWrite(old, exists, r); ok {
		if cluster {
			c.index = ix
		} else {
			c.keys = append(c.keys, ix.keys...)
			c.args[4], c.args[5], c.args[6] = ix.at, ix.member, ix.horizon
		}
	}
	return c, true, nil
}

// stored reads casScript's reply: whether it stored the record; if not,
// the record it found (nil: absent).
func (d *Dossiers) stored(cmd *redis.Cmd) (ok bool, cur []byte, _ error) {
	reply, err := cmd.Slice()
	if err != nil {
		return false, nil, err
	}
	if len(reply) > 0 && reply[0] == int64(1) {
		return true, nil, nil
	}
	if len(reply) == 2 {
		s, ok := reply[1].(string)
		if !ok {
			return false, nil, errReply
		}
		return false, []byte(s), nil
	}
	return false, nil, nil
}

// casScript stores a dossier record only if the key still holds what the
// update read, and with it the record's listing indexes when they change.
// KEYS[1] the record, KEYS[2..] the indexes (none when they do not change,
// or in a Cluster, where the caller wrote them before). ARGV: "1" when the
// update read a value ("0": it read none, and the key must still be
// absent), the value read, the new value, its TTL in ms (0: none), then
// for the indexes the score, the member and the score below which entries
// are trimmed ("": none). Replies {1} when stored; when the key changed
// meanwhile {0, value} or {0} (absent), and nothing is written.
var casScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur ~= ARGV[2] then
    if cur then return {0, cur} end
    return {0}
  end
elseif cur then
  return {0, cur}
end
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[5], ARGV[6])
  if ARGV[7] ~= '' then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[7])
  end
end
if tonumber(ARGV[4]) > 0 then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[3])
end
return {1}
`)

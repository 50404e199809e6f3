package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/dossier"
)

// The listing indexes are sorted sets, score = receipt time in Unix
// milliseconds, member = "<procedure>|<maHoSo>":
//
//	<prefix>list:{all}                   every registered dossier
//	<prefix>list:{unit:<maDVQHNS>}       one budget unit's
//	<prefix>list:{procedure:<id>}        one procedure's
//
// On a single server or a Sentinel set, the script that writes a record
// (casScript) writes its index entries first, in the same atomic step and
// only when the record is written. Each index is one key with its own hash
// tag, so in a Cluster the indexes and the records live in different
// slots, and an index is never written in the record's script (nor on a
// Cluster reached through one address, which refuses such a script): Update
// writes the indexes of a record first, with separate idempotent commands
// (ZADD of the same member and score), then the record. Either way a
// crash, or a failed index write, never leaves a record missing from its
// indexes: at worst an index names a dossier whose record was not written,
// which List skips (the entry costs one read of the scan budget), and the
// retry of the submission writes the same entry again with its record.
// The indexes are written again only when a record's receipt time, unit,
// procedure or code changes: a status change leaves them alone, since List
// reads the status from the record.
//
// Each index write also trims the indexes it touched of the entries
// received more than the store's retention before the dossier it writes,
// so that an index does not grow without end. Those entries' records were
// written at receipt and expire retention after their last change: most
// are gone; one changed since is still answered by GET while its record
// lives, it is no longer listed.
func (d *Dossiers) indexKey(ix dossier.Index) string {
	if ix.Kind == dossier.IndexAll {
		return d.prefix + "list:{all}"
	}
	return d.prefix + "list:{" + ix.Kind + ":" + ix.Value + "}"
}

// indexFields are what places a record in the indexes.
func indexFields(r dossier.Record) [4]string {
	at := ""
	if !r.ReceivedAt.IsZero() {
		at = strconv.FormatInt(r.ReceivedAt.UnixMilli(), 10)
	}
	return [4]string{r.Procedure, r.MaHoSo, r.Unit, at}
}

// indexEntries is one record's entry in each of its indexes.
type indexEntries struct {
	keys            []string
	at              int64  // the score: receipt time in ms
	member, horizon string // horizon "": no trim
}

// indexWrite returns r's index entries when r is registered and they
// changed (or r is new); see the comment above.
func (d *Dossiers) indexWrite(old dossier.Record, exists bool, r dossier.Record) (indexEntries, bool) {
	if r.ReceivedAt.IsZero() || (exists && indexFields(old) == indexFields(r)) {
		return indexEntries{}, false
	}
	at := r.ReceivedAt.UnixMilli()
	e := indexEntries{at: at, member: dossier.Member(r.Procedure, r.MaHoSo)}
	if d.retention > 0 {
		e.horizon = "(" + strconv.FormatInt(at-d.retention.Milliseconds(), 10)
	}
	for _, ix := range dossier.IndexesOf(r) {
		e.keys = append(e.keys, d.indexKey(ix))
	}
	return e, true
}

// index writes the entries with commands of their own, in one pipeline:
// in a Cluster, where an index is in another slot than its record.
func (d *Dossiers) index(ctx context.Context, e indexEntries) error {
	_, err := d.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range e.keys {
			p.ZAdd(ctx, k, redis.Z{Score: float64(e.at), Member: e.member})
			if e.horizon != "" {
				p.ZRemRangeByScore(ctx, k, "-inf", e.horizon)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	return nil
}

// List implements dossier.Store. Whatever the size of the index, a page
// costs at most ScanBudget/100 (10) runs of the scan script, each on one
// index key and O(log N + n), and as many pipelines of at most n GETs.
func (d *Dossiers) List(ctx context.Context, q dossier.Query) ([]dossier.Item, string, error) {
	items, next, err := dossier.Paginate(ctx, q, redisSource{d})
	if err != nil && !errors.Is(err, dossier.ErrInvalidQuery) {
		return nil, "", fmt.Errorf("redisstore: list dossiers: %w", err)
	}
	return items, next, err
}

type redisSource struct{ d *Dossiers }

// scanScript reads one index after a position, newest first.
// KEYS[1] the index. ARGV: the member of the position to start after (""
// for the top), its score, the highest score ("+inf" or ms), the lowest
// ("-inf" or ms), how many entries (at least 1).
// Replies {done, {member, score, member, score, ...}}.
//
// The start is the rank just after the position's member when it is still
// in the index at the position's score; otherwise (the member left the
// index) after every entry with a higher score, so that the entries sharing
// its score come back and the caller skips those it listed already. Member
// order is never compared here: Lua compares strings with the server's
// locale, sorted sets byte by byte.
var scanScript = redis.NewScript(`
local key, n = KEYS[1], tonumber(ARGV[5])
local start = 0
if ARGV[3] ~= '+inf' then
  start = redis.call('ZCOUNT', key, '(' .. ARGV[3], '+inf')
end
if ARGV[1] ~= '' then
  local from
  local s = redis.call('ZSCORE', key, ARGV[1])
  if s and tonumber(s) == tonumber(ARGV[2]) then
    from = redis.call('ZREVRANK', key, ARGV[1]) + 1
  else
    from = redis.call('ZCOUNT', key, '(' .. ARGV[2], '+inf')
  end
  if from > start then start = from end
end
local page = redis.call('ZREVRANGE', key, start, start + n - 1, 'WITHSCORES')
local out, done = {}, 0
if #page < 2 * n then done = 1 end
for i = 1, #page, 2 do
  if ARGV[4] ~= '-inf' and tonumber(page[i + 1]) < tonumber(ARGV[4]) then
    done = 1
    break
  end
  out[#out + 1] = page[i]
  out[#out + 1] = page[i + 1]
end
return {done, out}
`)

func bound(ms int64, inf string) string {
	if ms == math.MinInt64 || ms == math.MaxInt64 {
		return inf
	}
	return strconv.FormatInt(ms, 10)
}

// Scan implements dossier.Source.
func (s redisSource) Scan(ctx context.Context, ix dossier.Index, after *dossier.Position, lo, hi int64, n int) ([]dossier.Position, bool, error) {
	member, score := "", "0"
	if after != nil {
		member, score = after.Member, strconv.FormatInt(after.At, 10)
	}
	reply, err := scanScript.Run(ctx, s.d.c, []string{s.d.indexKey(ix)},
		member, score, bound(hi, "+inf"), bound(lo, "-inf"), n).Slice()
	if err != nil {
		return nil, false, err
	}
	if len(reply) != 2 {
		return nil, false, errReply
	}
	done, ok1 := reply[0].(int64)
	flat, ok2 := reply[1].([]any)
	if !ok1 || !ok2 || len(flat)%2 != 0 {
		return nil, false, errReply
	}
	out := make([]dossier.Position, 0, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		m, ok1 := flat[i].(string)
		sc, ok2 := flat[i+1].(string)
		f, err := strconv.ParseFloat(sc, 64)
		if !ok1 || !ok2 || err != nil {
			return nil, false, fmt.Errorf("%w: index entry %v %v", errReply, flat[i], flat[i+1])
		}
		out = append(out, dossier.Position{At: int64(f), Member: m})
	}
	return out, done == 1, nil
}

// Load implements dossier.Source: one pipeline of GETs (split by node in a
// Cluster).
func (s redisSource) Load(ctx context.Context, entries []dossier.Position) ([]*dossier.Record, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.StringCmd, len(entries))
	_, err := s.d.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, e := range entries {
			procedure, code, _ := strings.Cut(e.Member, "|")
			cmds[i] = p.Get(ctx, s.d.key(procedure, code))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]*dossier.Record, len(entries))
	for i, c := range cmds {
		raw, err := c.Bytes()
		if errors.Is(err, redis.Nil) {
			continue // an entry written before a record that never was
		}
		if err != nil {
			return nil, err
		}
		var r dossier.Record
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("dossier %s: %w", entries[i].Member, err)
		}
		r.History = nil
		out[i] = &r
	}
	return out, nil
}

package redisoutbox

import (
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/outbox"
)

// The scripts mirror outbox.Memory. Each runs on one shard: KEYS are the
// shard's turns stream, waiting set, leases set, dead set and stats hash;
// the per-dossier keys it builds from ARGV[1] (the shard's key prefix)
// carry the same hash tag, so a script never leaves its slot. ARGV[2..4]
// are now, the idle expiry (now + retention) and its Redis TTL, in
// milliseconds from the store's clock (Redis TIME is never read); the
// script's own arguments start at ARGV[5].
//
// The per-dossier keys are not among KEYS (a claim finds its dossiers as it
// goes), so a Cluster's own check, which looks at KEYS before the script
// runs, cannot see that some of them have left while the shard's slot is
// being migrated: a script would fail at the first one, after it had
// written to others. So every script that reaches them first asks for two
// keys of the slot that never exist: a node answers that with an error
// exactly while the slot is migrating away from it or being imported into
// it, and the script then replies TRYAGAIN, having written nothing, which
// the client retries (TestSlotMigration).
//
// A dossier D is dossier:D (hash: seq, turn, lt/lw/lu/li = lease token,
// worker, until, event id; dead, dk = dead-lettered event id and its
// DeadKey; exp = when an idle dossier's ids are forgotten), queue:D (zset:
// undelivered event ids scored by seq), events:D (hash: per event id X,
// pX payload, tX appended at, kX attempts this round, nX attempts in all,
// fX first attempt, lX leased without outcome, uX redelivered, eX attempts
// of this round whose lease expired, hX history,
// cX history length, rX dead reason, xX dead at) and ids:D (hash: every
// event id → seq, for deduplication).
//
// A dossier with undelivered events is in exactly one place: a turn (an
// entry of the turns stream, unread or pending in the consumer group;
// leased when in leases too), waiting, or blocked (dead). A history record
// is "<len>:<ms>,<outcome r|d|e>,<len(worker)>,<worker><reason>".
const prelude = `
local B, NOW, EXP, TTL = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local TURNS, WAITING, LEASES, DEAD, STATS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
@PROBE@local G = 'outbox'
local function keys(d) return B .. 'dossier:' .. d, B .. 'queue:' .. d, B .. 'events:' .. d, B .. 'ids:' .. d end
local function ensure_group()
  if redis.call('EXISTS', TURNS) == 0 then redis.call('XGROUP', 'CREATE', TURNS, G, '0', 'MKSTREAM') end
end
local function new_turn(dk, d)
  ensure_group()
  redis.call('HSET', dk, 'turn', redis.call('XADD', TURNS, '*', 'd', d))
end
local function end_turn(d, dk)
  local turn = redis.call('HGET', dk, 'turn')
  if turn then
    redis.call('XACK', TURNS, G, turn)
    redis.call('XDEL', TURNS, turn)
  end
  redis.call('HDEL', dk, 'turn', 'lt', 'lw', 'lu', 'li')
  redis.call('ZREM', LEASES, d)
end
local function add_history(ek, id, rec)
  local h = (redis.call('HGET', ek, 'h' .. id) or '') .. #rec .. ':' .. rec
  if redis.call('HINCRBY', ek, 'c' .. id, 1) > @MAXH@ then
    local n = string.match(h, '^(%d+):')
    h = string.sub(h, #n + 2 + tonumber(n))
    redis.call('HINCRBY', ek, 'c' .. id, -1)
  end
  redis.call('HSET', ek, 'h' .. id, h)
end
local function end_attempt(ek, id, rec)
  redis.call('HINCRBY', ek, 'k' .. id, 1)
  redis.call('HINCRBY', ek, 'n' .. id, 1)
  redis.call('HDEL', ek, 'l' .. id)
  add_history(ek, id, rec)
end
local function held(dk, id, tok)
  local l = redis.call('HMGET', dk, 'lt', 'li')
  return tok ~= '' and l[1] == tok and l[2] == id
end
-- settled records that the lease tok ended with kind (a ack, r retry,
-- d dead letter); was_settled tells a rerun of that very script (its
-- reply lost, the client sending it again) from a lease lost since.
local function settled(dk, tok, kind)
  redis.call('HSET', dk, 'st', tok .. ' ' .. kind)
end
local function was_settled(dk, tok, kind)
  return tok ~= '' and redis.call('HGET', dk, 'st') == tok .. ' ' .. kind
end
local function forget(ek, id)
  redis.call('HDEL', ek, 'p' .. id, 't' .. id, 'k' .. id, 'n' .. id, 'f' .. id, 'l' .. id, 'u' .. id,
    'h' .. id, 'c' .. id, 'r' .. id, 'x' .. id, 'e' .. id)
  redis.call('HINCRBY', STATS, 'pending', -1)
end
local function next_or_idle(d, dk, qk, ik)
  if redis.call('ZCARD', qk) > 0 then
    new_turn(dk, d)
    return
  end
  redis.call('HSET', dk, 'exp', EXP)
  redis.call('PEXPIRE', dk, TTL)
  redis.call('PEXPIRE', ik, TTL)
end
local function parse(m)
  local _, n, rest = string.match(m, '^(%d+)|(%d+)|(.*)$')
  n = tonumber(n)
  return string.sub(rest, 1, n), string.sub(rest, n + 1)
end
local function dead_head(d, id)
  local dk, qk, ek, ik = keys(d)
  local st = redis.call('HMGET', dk, 'dead', 'dk')
  if st[1] ~= id then return nil end
  redis.call('ZREM', DEAD, st[2])
  redis.call('HDEL', dk, 'dead', 'dk')
  return dk, qk, ek, ik
end
local function replay(d, id)
  local dk, _, ek = dead_head(d, id)
  if not dk then return 0 end
  redis.call('HDEL', ek, 'k' .. id, 'f' .. id, 'r' .. id, 'x' .. id, 'e' .. id)
  new_turn(dk, d)
  return 1
end
local function letter(d, id)
  local dk, qk, ek = keys(d)
  if redis.call('HGET', dk, 'dead') ~= id then return false end
  local e = redis.call('HMGET', ek, 'p' .. id, 't' .. id, 'n' .. id, 'h' .. id, 'r' .. id, 'x' .. id)
  return {d, id, redis.call('ZSCORE', qk, id), e[1] or '', e[2] or '0', e[3] or '0', e[4] or '',
    e[5] or '', e[6] or '0', redis.call('ZCARD', qk) - 1}
end
`

// probe answers TRYAGAIN while the shard's slot is being migrated.
const probe = `if type(redis.pcall('EXISTS', B .. 'unused:1', B .. 'unused:2')) == 'table' then
  return redis.error_reply('TRYAGAIN the outbox shard ' .. B .. ' is being migrated')
end
`

// script builds a script from the prelude, with the probe, and body.
func script(body string) *redis.Script { return build(probe, body) }

// keysOnly builds a script that touches only the shard's KEYS, which the
// Cluster checks itself: no probe.
func keysOnly(body string) *redis.Script { return build("", body) }

func build(probe, body string) *redis.Script {
	p := strings.ReplaceAll(prelude, "@MAXH@", strconv.Itoa(outbox.MaxHistory))
	return redis.NewScript(strings.Replace(p, "@PROBE@", probe, 1) + body)
}

// appendScript: ARGV d, id, payload. Replies 1 (appended) or 0 (known id).
var appendScript = script(`
local d, id = ARGV[5], ARGV[6]
local dk, qk, ek, ik = keys(d)
local exp = redis.call('HGET', dk, 'exp')
if exp and NOW >= tonumber(exp) then redis.call('DEL', dk, ik) end
if redis.call('HEXISTS', ik, id) == 1 then return 0 end
local seq = redis.call('HINCRBY', dk, 'seq', 1)
redis.call('HDEL', dk, 'exp')
redis.call('HSET', ik, id, seq)
redis.call('PERSIST', dk)
redis.call('PERSIST', ik)
redis.call('ZADD', qk, seq, id)
redis.call('HSET', ek, 'p' .. id, ARGV[7], 't' .. id, ARGV[2])
redis.call('HINCRBY', STATS, 'pending', 1)
if redis.call('ZCARD', qk) == 1 then new_turn(dk, d) end
return 1
`)

// claimScript: ARGV worker, lease until, token prefix, max, tidy (-1, or
// the idle milliseconds from which other consumers without pending entries
// are deleted). Replies a list of {d, id, seq, payload, appended at, attempt,
// first attempt, redelivered, token, expired}.
var claimScript = script(`
local worker, lu, max = ARGV[5], ARGV[6], tonumber(ARGV[8])
local out = {}
local function lease(d, dk, qk, ek)
  local head = redis.call('ZRANGE', qk, 0, 0, 'WITHSCORES')
  if #head == 0 then
    end_turn(d, dk)
    return
  end
  local id = head[1]
  local e = redis.call('HMGET', ek, 'p' .. id, 't' .. id, 'k' .. id, 'f' .. id, 'l' .. id, 'u' .. id, 'e' .. id)
  local k, first, unsure = tonumber(e[3] or '0'), e[4], e[6]
  if k == 0 or not first then
    first = ARGV[2]
    redis.call('HSET', ek, 'f' .. id, first)
  end
  if e[5] and not unsure then
    unsure = '1'
    redis.call('HSET', ek, 'u' .. id, '1')
  end
  redis.call('HSET', ek, 'l' .. id, '1')
  local tok = ARGV[7] .. '.' .. #out
  redis.call('HSET', dk, 'lt', tok, 'lw', worker, 'lu', lu, 'li', id)
  redis.call('ZADD', LEASES, lu, d)
  out[#out + 1] = {d, id, head[2], e[1] or '', e[2] or '0', k + 1, first, unsure and 1 or 0, tok, e[7] or '0'}
end
ensure_group()
for _, d in ipairs(redis.call('ZRANGEBYSCORE', LEASES, '-inf', NOW, 'LIMIT', 0, max)) do
  local dk, qk, ek = keys(d)
  local l = redis.call('HMGET', dk, 'lw', 'lu', 'li', 'turn')
  redis.call('ZREM', LEASES, d)
  redis.call('HDEL', dk, 'lt', 'lw', 'lu', 'li')
  if l[3] then
    redis.call('HINCRBY', ek, 'k' .. l[3], 1)
    redis.call('HINCRBY', ek, 'n' .. l[3], 1)
    redis.call('HINCRBY', ek, 'e' .. l[3], 1)
    add_history(ek, l[3], l[2] .. ',e,' .. #l[1] .. ',' .. l[1] .. 'lease expired')
  end
  if l[4] and #redis.call('XCLAIM', TURNS, G, worker, 0, l[4]) > 0 then
    lease(d, dk, qk, ek)
  else
    new_turn(dk, d)
  end
end
for _, d in ipairs(redis.call('ZRANGEBYSCORE', WAITING, '-inf', NOW, 'LIMIT', 0, 100)) do
  redis.call('ZREM', WAITING, d)
  new_turn((keys(d)), d)
end
if #out < max then
  local r = redis.call('XREADGROUP', 'GROUP', G, worker, 'COUNT', max - #out, 'STREAMS', TURNS, '>')
  for _, entry in ipairs(r and r[1][2] or {}) do
    local tid, d = entry[1], entry[2][2]
    local dk, qk, ek = keys(d)
    if redis.call('HGET', dk, 'turn') == tid then
      lease(d, dk, qk, ek)
    else
      redis.call('XACK', TURNS, G, tid)
      redis.call('XDEL', TURNS, tid)
    end
  end
end
local tidy = tonumber(ARGV[9])
if tidy >= 0 then
  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', TURNS, G)) do
    local f = {}
    for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
    if f.name ~= worker and f.pending == 0 and f.idle >= tidy then
      redis.call('XGROUP', 'DELCONSUMER', TURNS, G, f.name)
    end
  end
end
return out
`)

// ackScript: ARGV d, id, token. Replies 1, or 0 when the lease is lost
// (1 again to a rerun of the same ack: see was_settled).
var ackScript = script(`
local d, id = ARGV[5], ARGV[6]
local dk, qk, ek, ik = keys(d)
if not held(dk, id, ARGV[7]) then return was_settled(dk, ARGV[7], 'a') and 1 or 0 end
end_turn(d, dk)
redis.call('ZREM', qk, id)
forget(ek, id)
settled(dk, ARGV[7], 'a')
next_or_idle(d, dk, qk, ik)
return 1
`)

// retryScript: ARGV d, id, token, at, history record. Replies 1 or 0.
var retryScript = script(`
local d, id = ARGV[5], ARGV[6]
local dk, _, ek = keys(d)
if not held(dk, id, ARGV[7]) then return was_settled(dk, ARGV[7], 'r') and 1 or 0 end
end_attempt(ek, id, ARGV[9])
end_turn(d, dk)
settled(dk, ARGV[7], 'r')
redis.call('ZADD', WAITING, ARGV[8], d)
return 1
`)

// deadScript: ARGV d, id, token, history record, reason, DeadKey.
// Replies 1 or 0.
var deadScript = script(`
local d, id = ARGV[5], ARGV[6]
local dk, _, ek = keys(d)
if not held(dk, id, ARGV[7]) then return was_settled(dk, ARGV[7], 'd') and 1 or 0 end
end_attempt(ek, id, ARGV[8])
redis.call('HSET', ek, 'r' .. id, ARGV[9], 'x' .. id, ARGV[2])
end_turn(d, dk)
settled(dk, ARGV[7], 'd')
redis.call('HSET', dk, 'dead', id, 'dk', ARGV[10])
redis.call('ZADD', DEAD, 0, ARGV[10])
return 1
`)

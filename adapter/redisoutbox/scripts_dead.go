package redisoutbox

// replayScript: ARGV d, id. Replies 1, or 0 when it is not a dead letter.
var replayScript = script(`
return replay(ARGV[5], ARGV[6])
`)

// replayAllScript: ARGV limit. Replays up to limit of the shard's oldest
// dead letters; replies {replayed, looked at}.
var replayAllScript = script(`
local ms = redis.call('ZRANGE', DEAD, 0, tonumber(ARGV[5]) - 1)
local n = 0
for _, m in ipairs(ms) do
  local d, id = parse(m)
  if replay(d, id) == 1 then
    n = n + 1
  else
    redis.call('ZREM', DEAD, m)
  end
end
return {n, #ms}
`)

// discardScript: ARGV d, id. Replies 1, or 0 when it is not a dead letter.
var discardScript = script(`
local d, id = ARGV[5], ARGV[6]
local dk, qk, ek, ik = dead_head(d, id)
if not dk then return 0 end
redis.call('ZREM', qk, id)
forget(ek, id)
next_or_idle(d, dk, qk, ik)
return 1
`)

// inspectScript: ARGV d, id. Replies a letter (see letter) or nil.
var inspectScript = script(`
return letter(ARGV[5], ARGV[6])
`)

// listScript: ARGV after (a DeadKey, or "" for the start), n. Replies up to
// n {DeadKey, letter...} in DeadKey order.
var listScript = script(`
local from = '-'
if ARGV[5] ~= '' then from = '(' .. ARGV[5] end
local out = {}
for _, m in ipairs(redis.call('ZRANGE', DEAD, from, '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[6]))) do
  local l = letter(parse(m))
  if l then
    table.insert(l, 1, m)
    out[#out + 1] = l
  end
end
return out
`)

// statsScript replies {pending, leased, waiting, dead}. It reads only the
// shard's KEYS, so it answers while the slot migrates.
var statsScript = keysOnly(`
return {tonumber(redis.call('HGET', STATS, 'pending') or '0'), redis.call('ZCARD', LEASES),
  redis.call('ZCARD', WAITING), redis.call('ZCARD', DEAD)}
`)

package redisstore

import "github.com/redis/go-redis/v9"

// The scripts mirror idempotency.Memory line for line (the begin and lock
// scripts also answer their own token again as the first run did: a call
// the client retried after its reply was lost, which memory never sees).
// Each touches only
// KEYS[1]. Times are integers in milliseconds computed in Go from the
// store's clock (Redis TIME is never read); Lua compares them as doubles,
// exact below 2^53. Every write also sets a Redis TTL (ARGV ttl) a little
// beyond the record's logical expiry ("exp"), which the scripts check
// themselves.
//
// A key record is a hash: fp, tok, lu (lease until), exp, rv (1 when the
// reservation recovered an expired one), and once completed done=1, st
// (status), rep (1 if replaceable), body, and one field "h:<name>" per
// header.
// A dossier claim is a hash: owner, snd (its sender: the owner whose
// content the treasury may hold; empty when not known), lu, exp, and once
// sent sent=1, ref.
// A dossier lock is a hash: tok, lu.

// beginScript: ARGV now, fingerprint, token, lease until, exp, ttl.
// Replies {"C", st, rep, body, name, value, ...} | {"M"} | {"P", lu} | {"R", recovered}.
var beginScript = redis.NewScript(beginSource)

const beginSource = `
local now = tonumber(ARGV[1])
local all = redis.call('HGETALL', KEYS[1])
local r = {}
for i = 1, #all, 2 do r[all[i]] = all[i + 1] end
local recovered = 0
if r.exp and now < tonumber(r.exp) then
  if r.done == '1' then
    if r.fp == ARGV[2] then
      local out = {'C', r.st, r.rep or '0', r.body or ''}
      for i = 1, #all, 2 do
        if string.sub(all[i], 1, 2) == 'h:' then
          out[#out + 1] = string.sub(all[i], 3)
          out[#out + 1] = all[i + 1]
        end
      end
      return out
    end
    if r.rep ~= '1' then return {'M'} end
  elseif r.fp ~= ARGV[2] then
    return {'M'}
  elseif r.tok == ARGV[3] then
    return {'R', tonumber(r.rv or '0')}
  elseif now < tonumber(r.lu) then
    return {'P', r.lu}
  else
    recovered = 1
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'fp', ARGV[2], 'tok', ARGV[3], 'lu', ARGV[4], 'exp', ARGV[5], 'rv', recovered)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {'R', recovered}
`

// completeScript: ARGV token, exp, ttl, status, replaceable, body, then
// header name/value pairs. Replies 1, or 0 when the lease is lost.
var completeScript = redis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'tok', 'done')
if r[1] ~= ARGV[1] or r[2] then return 0 end
redis.call('HSET', KEYS[1], 'done', '1', 'exp', ARGV[2], 'st', ARGV[4], 'rep', ARGV[5], 'body', ARGV[6])
for i = 7, #ARGV, 2 do
  redis.call('HSET', KEYS[1], 'h:' .. ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// releaseScript: ARGV token. Replies 1, or 0 when the lease is lost.
var releaseScript = redis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'tok', 'done')
if r[1] ~= ARGV[1] or r[2] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`)

// claimScript: ARGV now, owner, lease until, exp, ttl.
// Replies {1, recovered, sender} when owned (recovered 0: a new claim, 1:
// from an earlier attempt whose sender is the caller, 2: one whose sender
// is another owner or not known, the empty string), {1, 'sent', ref} when
// the caller's own claim is already sent, else {0, owner, sent, ref, lu}.
// A claim written without snd (by an earlier release) has no sender known
// once it is recovered: it may have been taken over before.
var claimScript = redis.NewScript(claimSource)

const claimSource = `
local now = tonumber(ARGV[1])
local c = redis.call('HMGET', KEYS[1], 'owner', 'sent', 'ref', 'lu', 'exp', 'snd')
local recovered = 0
local snd = ARGV[2]
if c[5] and now < tonumber(c[5]) then
  if c[1] ~= ARGV[2] then
    if c[2] == '1' then return {0, c[1], 1, c[3] or '', c[4]} end
    if now < tonumber(c[4]) then return {0, c[1], 0, '', c[4]} end
  elseif c[2] == '1' then
    return {1, 'sent', c[3] or ''}
  end
  snd = c[6] or ''
  recovered = 1
  if snd ~= ARGV[2] then recovered = 2 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'snd', snd, 'lu', ARGV[3], 'exp', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, recovered, snd}
`

// settleScript: ARGV owner, sent, reference, exp, ttl. Replies 1, or 0 when
// owner does not hold the claim. A claim settled as sent is never released,
// and is its sender's: no owner at all (an empty one) when the sender is
// not known, so that every key is told the dossier was sent.
var settleScript = redis.NewScript(`
local c = redis.call('HMGET', KEYS[1], 'owner', 'snd', 'sent')
if c[1] ~= ARGV[1] then return 0 end
if ARGV[2] ~= '1' then
  if c[3] ~= '1' then redis.call('DEL', KEYS[1]) end
  return 1
end
redis.call('HSET', KEYS[1], 'owner', c[2] or c[1], 'sent', '1', 'ref', ARGV[3], 'exp', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`)

// releaseClaimScript: ARGV owner, lease (the 'lu' the claim was taken
// with). Deletes the claim and replies 1 only when owner holds it, it is
// not settled as sent, and it is still that taking; else 0.
var releaseClaimScript = redis.NewScript(`
local c = redis.call('HMGET', KEYS[1], 'owner', 'sent', 'lu')
if c[1] ~= ARGV[1] or c[2] == '1' or c[3] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`)

// senderScript: ARGV owner, now. Replies 1, or 0 when owner does not hold
// the claim, its lease has ended or it is settled as sent.
var senderScript = redis.NewScript(`
local c = redis.call('HMGET', KEYS[1], 'owner', 'sent', 'lu')
if c[1] ~= ARGV[1] or c[2] == '1' or not c[3] or tonumber(ARGV[2]) >= tonumber(c[3]) then return 0 end
redis.call('HSET', KEYS[1], 'snd', ARGV[1])
return 1
`)

// lockScript: ARGV now, token, lease until, ttl. Replies {1} when the
// caller holds the lock now, else {0, lu} (the holder's lease). The same
// token again (a client's retry of a call whose reply was lost) holds it.
var lockScript = redis.NewScript(lockSource)

const lockSource = `
local cur = redis.call('HMGET', KEYS[1], 'tok', 'lu')
if cur[2] and tonumber(ARGV[1]) < tonumber(cur[2]) and cur[1] ~= ARGV[2] then return {0, cur[2]} end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'tok', ARGV[2], 'lu', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1}
`

// unlockScript: ARGV token. Replies 1, or 0 when token does not hold the lock.
var unlockScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'tok') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`)

// startScript is beginScript on KEYS[1] and, only when it reserves the key,
// claimScript on KEYS[2] and, only when that owns the claim, lockScript on
// KEYS[3], each as a function of its own key and arguments, so each runs
// as on its own. ARGV: beginScript's six, claimScript's five, lockScript's
// four. Replies {begin} | {begin, claim} | {begin, claim, lock}, each
// script's own reply. Its keys are in several slots: a Cluster refuses it
// (CROSSSLOT).
var startScript = redis.NewScript(startSource)

const startSource = `
local function begin(KEYS, ARGV)
` + beginSource + `
end
local function claim(KEYS, ARGV)
` + claimSource + `
end
local function lock(KEYS, ARGV)
` + lockSource + `
end
local b = begin({KEYS[1]}, {ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]})
if b[1] ~= 'R' then return {b} end
local c = claim({KEYS[2]}, {ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]})
if c[1] ~= 1 then return {b, c} end
return {b, c, lock({KEYS[3]}, {ARGV[12], ARGV[13], ARGV[14], ARGV[15]})}
`

// startFoldedScript is startScript with what a submission's start can
// fold into its round trip: first, when ARGV[16] (n) is not 0, the check
// that the hash KEYS[4] (a unit's signers) holds every field
// ARGV[17..16+n] names, which replies {'U', i}, i its place among them
// from 1, and writes nothing when one is missing; then, once the start
// holds the lock, and only then, the reads of uploaded files. KEYS[1..3]
// are startScript's, then the signers' hash when n > 0, then one key per
// file; ARGV[1..15] startScript's, ARGV[16] n, the fields, then per file
// the last offset to read (GETRANGE 0..it). Replies {'U', i}, or
// startScript's reply, with a fourth element when it lists files, the lock
// is held and the claim is not one already sent (whose document the
// treasury holds: nothing to upload): each file's bytes in order (nil when
// absent; the empty file is told from absent by EXISTS), unless one could
// not be read (a key of another type), then without it. Its keys are in
// several slots, as startScript's.
var startFoldedScript = redis.NewScript(`
local n = tonumber(ARGV[16])
local first = 4
if n > 0 then
  local held = redis.call('HMGET', KEYS[4], unpack(ARGV, 17, 16 + n))
  for i = 1, #held do
    if not held[i] then return {'U', i} end
  end
  first = 5
end
local function start()
` + startSource + `
end
local out = start()
if first > #KEYS or #out ~= 3 or out[3][1] ~= 1 or out[2][2] == 'sent' then return out end
local files = {}
for i = first, #KEYS do
  local v = redis.pcall('GETRANGE', KEYS[i], 0, ARGV[16 + n + i - first + 1])
  if type(v) == 'table' and v.err then return out end
  if v == '' and redis.call('EXISTS', KEYS[i]) == 0 then v = false end
  files[#files + 1] = v
end
out[4] = files
return out
`)

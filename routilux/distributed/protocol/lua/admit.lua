-- Admission under one concurrency or rate limit, run by a worker just before the claim of a limited
-- activation (a limit spans jobs, so its keys share the tag {limits} and cannot join a job's script;
-- activations of routines with no limit never run it).
-- KEYS: the limit's held ZSET (concurrency) or bucket HASH (rate), its waiting ZSET, the limits index.
-- Concurrency: a slot is a lease (holder scored by expiry), taken here and renewed with the activation's
-- lease; with no free slot the activation is parked in the waiting ZSET (by arrival) until free.lua
-- hands it a slot. Rate: a token bucket; with no token the activation reserves the next one and is
-- parked with the time it may start (its score); the sweeper or the parking worker's timer sends it
-- then, marking it released (score negated), and it is admitted without paying again.
-- A job's concurrency key (submit(concurrency_key=...)) is a concurrency limit whose holder is the job
-- and whose size was set by the operator (amount -1: read it from the index; none set: no limit).
-- Returns {'ok', fresh ('1' if this call took the slot or token)} | {'wait', holders, start_ms}
-- ARGV (args.AdmitArgs):
local name = ARGV[1]
local holder = ARGV[2]
local waiter = ARGV[3]                 -- what waits for the slot: the holder, or for a job, job|activation
local limit_type = ARGV[4]
local amount = tonumber(ARGV[5])
local burst = tonumber(ARGV[6])
local lease_ms = tonumber(ARGV[7])
local spec = ARGV[8]                   -- '' to leave the index as the operator set it
local L_HELD, L_WAITING, L_INDEX = 1, 2, 3
local now = now_ms()
if spec ~= '' then redis.call('HSET', KEYS[L_INDEX], name, spec) end
if amount < 0 then
  amount = tonumber(string.match(redis.call('HGET', KEYS[L_INDEX], name) or '', '^concurrency (%S+)'))
  if not amount then return {'ok', ''} end
end
if limit_type == 'concurrency' then
  if redis.call('ZSCORE', KEYS[L_HELD], holder) then  -- a slot handed over by free.lua, or a redelivery
    redis.call('ZADD', KEYS[L_HELD], now + lease_ms, holder)
    return {'ok', ''}
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[L_HELD], '-inf', now)  -- holders whose lease lapsed (dead workers)
  local held = redis.call('ZCARD', KEYS[L_HELD])
  if held < amount then
    redis.call('ZADD', KEYS[L_HELD], now + lease_ms, holder)
    redis.call('ZREM', KEYS[L_WAITING], waiter)
    return {'ok', '1'}
  end
  redis.call('ZADD', KEYS[L_WAITING], 'NX', now, waiter)
  return {'wait', tostring(held), ''}
end
local reserved = redis.call('ZSCORE', KEYS[L_WAITING], holder)
if reserved then
  if tonumber(reserved) <= now then  -- its token is paid: released (negated) or due
    redis.call('ZREM', KEYS[L_WAITING], holder)
    return {'ok', ''}
  end
  return {'wait', '', reserved}
end
local bucket = redis.call('HMGET', KEYS[L_HELD], 'tokens', 'ts')
local tokens = tonumber(bucket[1]) or burst
local since = now - (tonumber(bucket[2]) or now)
tokens = math.min(burst, tokens + since * amount / 1000) - 1
redis.call('HSET', KEYS[L_HELD], 'tokens', tostring(tokens), 'ts', now)
if tokens >= 0 then return {'ok', '1'} end
local start = now + math.ceil(-tokens * 1000 / amount)
redis.call('ZADD', KEYS[L_WAITING], start, holder)
return {'wait', '', tostring(start)}

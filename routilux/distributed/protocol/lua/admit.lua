-- Admission under one concurrency or rate limit, run by a worker just before the claim of a limited
-- activation (a limit spans jobs, so its keys share the tag {limits} and cannot join a job's script;
-- activations of routines with no limit never run it).
-- KEYS: the limit's held ZSET (concurrency) or bucket HASH (rate), its waiting ZSET, the limits index,
-- and for a job's concurrency key its job waiters HASH (job id -> its members of the waiting ZSET, \31
-- separated), which lets free.lua promote a job's waiters together without scanning the waiting ZSET.
-- Concurrency: a slot is a lease (holder scored by expiry), taken here and renewed with the activation's
-- lease; with no free slot the activation is parked in the waiting ZSET (by arrival) until free.lua
-- hands it a slot. Rate: a token bucket; with no token the activation reserves the next one and is
-- parked with the time it may start (its score); the sweeper or the parking worker's timer sends it
-- shortly before then, marking it released (score negated), and it is admitted at its time without
-- paying again (a worker holds a message that is a few ms early rather than park it again).
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
local L_HELD, L_WAITING, L_INDEX, L_JOB_WAITERS = 1, 2, 3, 4
local now = now_ms()
if spec ~= '' then redis.call('HSET', KEYS[L_INDEX], name, spec) end
if amount < 0 then
  amount = tonumber(string.match(redis.call('HGET', KEYS[L_INDEX], name) or '', '^concurrency (%S+)'))
  if not amount then return {'ok', ''} end
end
-- Take ``waiter`` off the list of ``job``'s waiters (it was admitted without waiting for free.lua).
local function drop_job_waiter(key, job, waiter)
  local listed = redis.call('HGET', key, job)
  if not listed then return end
  local kept = {}
  for member in string.gmatch(listed, '[^\31]+') do
    if member ~= waiter then kept[#kept + 1] = member end
  end
  if #kept == 0 then redis.call('HDEL', key, job) else redis.call('HSET', key, job, table.concat(kept, '\31')) end
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
    if redis.call('ZREM', KEYS[L_WAITING], waiter) == 1 and waiter ~= holder then
      drop_job_waiter(KEYS[L_JOB_WAITERS], holder, waiter)
    end
    return {'ok', '1'}
  end
  if redis.call('ZADD', KEYS[L_WAITING], 'NX', now, waiter) == 1 and waiter ~= holder then
    local listed = redis.call('HGET', KEYS[L_JOB_WAITERS], holder)
    redis.call('HSET', KEYS[L_JOB_WAITERS], holder, listed and (listed .. '\31' .. waiter) or waiter)
  end
  return {'wait', tostring(held), ''}
end
-- Rate. Two clocks: the bucket's tokens order the waiters (each reserves the next token's time), and
-- 'tat' (the theoretical arrival time of GCRA) spaces the starts actually admitted, so waiters that
-- arrive late never bunch up. With a tolerance of half a period (a start up to that late costs the next
-- one nothing), at most floor(W/period + 1/2) + burst start in any window of W ms: rate x W + burst in
-- any window of whole periods (one second, at any rate of n/s).
-- A waiter due within RATE_HOLD_MS is held by the worker that has its message (marked released, score
-- negated, so no one sends it again); one due later is parked (positive score) for a timer or the sweeper.
local function rate_wait(start)
  local score = start
  if start - now <= RATE_HOLD_MS then score = -start end
  redis.call('ZADD', KEYS[L_WAITING], score, holder)
  return {'wait', '', tostring(start)}
end
local period = 1000 / amount
local tat = tonumber(redis.call('HGET', KEYS[L_HELD], 'tat') or '0')
local allowed = tat - (burst - 1) * period - period / 2
local reserved = redis.call('ZSCORE', KEYS[L_WAITING], holder)
if not reserved then
  local bucket = redis.call('HMGET', KEYS[L_HELD], 'tokens', 'ts')
  local tokens = tonumber(bucket[1]) or burst
  local since = now - (tonumber(bucket[2]) or now)
  tokens = math.min(burst, tokens + since * amount / 1000) - 1
  redis.call('HSET', KEYS[L_HELD], 'tokens', tostring(tokens), 'ts', now)
  local start = now
  if tokens < 0 then start = now + math.ceil(-tokens * period) end
  start = math.max(start, math.ceil(allowed))
  if start > now then return rate_wait(start) end
else
  local start = math.max(math.abs(tonumber(reserved)), math.ceil(allowed))
  if start > now then return rate_wait(start) end  -- sent ahead of its time, or behind a late start
  redis.call('ZREM', KEYS[L_WAITING], holder)
end
redis.call('HSET', KEYS[L_HELD], 'tat', tostring(math.max(tat, now) + period))
return {'ok', reserved and '' or '1'}

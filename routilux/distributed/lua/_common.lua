-- Shared by every job script (prepended by store.py).
-- KEYS[1..18]: one job's keys in keys.JOB_PARTS order; KEYS[19] due ZSET,
-- KEYS[20] leases ZSET, KEYS[21] dead-letter stream, KEYS[22] jobs ZSET,
-- KEYS[23] (some scripts) the slot-wait list.
-- Time comes from the Redis server, so worker clocks never disagree.
local K_META, K_ACTS, K_LEASE, K_TRIES, K_APPLIED, K_PARKED = 1, 2, 3, 4, 5, 6
local K_RS, K_SD, K_SL, K_OUT, K_DE, K_SB, K_LOG = 7, 8, 9, 10, 11, 12, 13
local K_SLOTLOCK, K_FAILEDRS, K_SETTLED, K_LASTERR, K_PP = 14, 15, 16, 17, 18
local K_DUE, K_LEASES, K_DEAD, K_JOBS, K_WAIT = 19, 20, 21, 22, 23

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function member(job, act)
  return job .. '|' .. act
end

local function is_terminal(status)
  return status == 'completed' or status == 'failed' or status == 'cancelled'
end

local function finish_job(status, err, now)
  redis.call('HSET', KEYS[K_META], 'status', status, 'updated_at', now, 'finished_at', now)
  if err and err ~= '' then redis.call('HSETNX', KEYS[K_META], 'error', err) end
  redis.call('XADD', KEYS[K_LOG], '*', 'kind', 'status', 'status', status, 'error', err or '', 'ts', now)
  redis.call('DEL', KEYS[K_SETTLED])
  redis.call('RPUSH', KEYS[K_SETTLED], status)
end

local function maybe_complete(now)
  local status = redis.call('HGET', KEYS[K_META], 'status')
  if status ~= 'running' then return status end
  local pending = tonumber(redis.call('HGET', KEYS[K_META], 'pending') or '0')
  if pending > 0 then return status end
  if redis.call('SCARD', KEYS[K_FAILEDRS]) > 0 then
    finish_job('failed', 'a routine failed', now)
    return 'failed'
  end
  finish_job('completed', '', now)
  return 'completed'
end

-- Forget an activation's bookkeeping (it finished, or was dropped).
local function forget(job, act)
  redis.call('HDEL', KEYS[K_ACTS], act)
  redis.call('HDEL', KEYS[K_LEASE], act)
  redis.call('HDEL', KEYS[K_TRIES], act, 'bouncers:' .. act, 'bounces:' .. act)
  redis.call('HDEL', KEYS[K_LASTERR], act)
  redis.call('SREM', KEYS[K_PARKED], act)
  local m = member(job, act)
  redis.call('ZREM', KEYS[K_DUE], m)
  redis.call('ZREM', KEYS[K_LEASES], m)
end

-- An activation is done for good: remember it, so a second commit or delivery is refused.
local function finish_activation(job, act)
  forget(job, act)
  redis.call('SADD', KEYS[K_APPLIED], act)
  redis.call('HINCRBY', KEYS[K_META], 'pending', -1)
end

local function dead_letter(job, act, reason, now)
  local body = redis.call('HGET', KEYS[K_ACTS], act) or ''
  redis.call('XADD', KEYS[K_DEAD], 'MAXLEN', '~', 100000, '*',
    'job', job, 'activation', act, 'reason', reason, 'body', body, 'ts', now)
  finish_activation(job, act)
  finish_job('failed', 'activation ' .. act .. ' went to the dead-letter stream: ' .. reason, now)
end

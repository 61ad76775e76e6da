-- Shared by every job script (prepended by protocol/scripts.py, after the generated constants:
-- K_* the index of each key in KEYS, OP_* the state-change op codes, and the protocol's numbers).
-- KEYS (keys.Keys.script_keys): one job's keys in keys.JOB_PARTS order (K_META .. K_VER), then its
-- bucket's indexes in keys.INDEX_PARTS order: due ZSET, leases ZSET, dead-letter stream, jobs ZSET,
-- (some scripts) the slot-wait list, deadlines ZSET, expiries ZSET, the status-change stream.
-- All share the bucket's hash tag: one slot on Redis Cluster.
-- ARGV: each script's header reads its fixed arguments into named locals (the fields of its builder
-- in protocol/args.py, in order; a test checks them) and names the index its variable section starts at.
-- Time comes from the Redis server, so worker clocks never disagree.

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

-- The job id, read back from the meta key (keys.Keys.job: prefix:job:{bucket}:<job id>:meta).
local function job_id()
  return string.match(KEYS[K_META], '}:(.*):meta$')
end

-- The job's slot-wait lists (keys.Keys.slot_wait): one per slot that had a buffer or a lock.
local function wait_lists()
  local base = string.sub(KEYS[K_META], 1, -5) .. 'wait:'
  local names, seen = {}, {}
  for _, part in ipairs({K_SB, K_SLOTLOCK}) do
    for _, field in ipairs(redis.call('HKEYS', KEYS[part])) do
      if not seen[field] then
        seen[field] = true
        names[#names + 1] = base .. field
      end
    end
  end
  return names
end

-- Retention: once a job has ended, every key of it expires at the same moment (meta
-- 'expire_at', from the TTLs the job was submitted with). Called again by any script that
-- writes to an ended job, so a key it creates expires with the others.
local function retain()
  local at = redis.call('HGET', KEYS[K_META], 'expire_at')
  if not at then return end
  for i = 1, K_DUE - 1 do redis.call('PEXPIREAT', KEYS[i], at) end  -- every per-job key comes first
  -- An idempotent submit's key (lua/submit.lua) expires with the job it names.
  local idem = redis.call('HGET', KEYS[K_META], 'idem_record')
  if idem then redis.call('PEXPIREAT', idem, at) end
end

-- Delete the idempotency key that names this job (if it still does), so a new submit with it makes a new job.
local function forget_idempotency_key(job)
  local idem = redis.call('HGET', KEYS[K_META], 'idem_record')
  if idem and redis.call('GET', idem) == job then redis.call('DEL', idem) end
end

-- A job's status changed: say so in its own log and in its bucket's status stream.
local function status_event(status, err, now)
  redis.call('XADD', KEYS[K_LOG], '*', 'kind', 'status', 'status', status, 'error', err or '', 'ts', now)
  redis.call('XADD', KEYS[K_EVENTS], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'job', job_id(), 'status', status,
    'error', err or '', 'flow_id', redis.call('HGET', KEYS[K_META], 'flow_id') or '', 'ts', now)
end

-- A job that failed only because activations went to the dead-letter stream keeps its other
-- unfinished work parked (like a paused job), so replaying those dead letters can resume it.
local function is_on_hold(status)
  if status == 'paused' then return true end
  return status == 'failed' and tonumber(redis.call('HGET', KEYS[K_META], 'dead') or '0') > 0
    and redis.call('SCARD', KEYS[K_FAILEDRS]) == 0
end

local function finish_job(status, err, now)
  redis.call('HSET', KEYS[K_META], 'status', status, 'updated_at', now, 'finished_at', now)
  if err and err ~= '' then redis.call('HSETNX', KEYS[K_META], 'error', err) end
  status_event(status, err, now)
  redis.call('DEL', KEYS[K_SETTLED])
  redis.call('RPUSH', KEYS[K_SETTLED], status)
  local job = job_id()
  redis.call('HDEL', KEYS[K_META], 'deadline')
  redis.call('ZREM', KEYS[K_DEADLINES], job)
  -- Waiters of an ended job never run: their lists go now.
  for _, key in ipairs(wait_lists()) do redis.call('DEL', key) end
  local ttl = tonumber(redis.call('HGET', KEYS[K_META], status == 'completed' and 'ttl_ok' or 'ttl_fail') or '0')
  if ttl > 0 then
    redis.call('HSET', KEYS[K_META], 'expire_at', now + ttl)
    redis.call('ZADD', KEYS[K_EXPIRIES], now + ttl, job)
    retain()
  end
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
  redis.call('HDEL', KEYS[K_TRIES], act, 'bouncers:' .. act, 'bounces:' .. act, 'hard:' .. act)
  redis.call('HDEL', KEYS[K_LASTERR], act, 'trace:' .. act)
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

-- Drop every unfinished activation of the job (cancel, timeout); a handler still running
-- finds its lease gone, so its commit is refused as stale.
local function drop_activations(job)
  for _, act in ipairs(redis.call('HKEYS', KEYS[K_ACTS])) do
    local m = member(job, act)
    redis.call('ZREM', KEYS[K_DUE], m)
    redis.call('ZREM', KEYS[K_LEASES], m)
  end
  redis.call('DEL', KEYS[K_ACTS], KEYS[K_LEASE], KEYS[K_PARKED], KEYS[K_TRIES])
  redis.call('HSET', KEYS[K_META], 'pending', 0)
end

-- Job deadline (Settings/flow execution_timeout, or submit(timeout=)): true once a running job is past it.
local function past_deadline(now)
  local meta = redis.call('HMGET', KEYS[K_META], 'status', 'deadline')
  return meta[1] == 'running' and meta[2] and now >= tonumber(meta[2])
end

-- Fail the job for overrunning its deadline, with a 'timeout' history record, as the local engine does.
local function time_out(job, now)
  local meta = redis.call('HMGET', KEYS[K_META], 'timeout_s', 'current_routine_id')
  local reason = 'execution exceeded its timeout of ' .. (meta[1] or '?') .. ' s'
  drop_activations(job)
  redis.call('XADD', KEYS[K_LOG], '*', 'kind', 'timeout', 'routine', meta[2] or '', 'timeout_s', meta[1] or '',
    'reason', reason, 'ts', now)
  finish_job('failed', reason, now)
end

local function dead_letter(job, act, reason, now)
  local body = redis.call('HGET', KEYS[K_ACTS], act) or ''
  -- The record's fields are routilux/distributed/dead_letter_record.py's FIELDS; the stack trace is the
  -- last error's, when a worker sent one with it (see bounce.lua).
  local trace = redis.call('HGET', KEYS[K_LASTERR], 'trace:' .. act) or ''
  redis.call('XADD', KEYS[K_DEAD], 'MAXLEN', '~', DEAD_LETTERS_MAXLEN, '*',
    'job', job, 'activation', act, 'reason', reason, 'body', body, 'content_type', '', 'ts', now, 'trace', trace)
  finish_activation(job, act)
  redis.call('HINCRBY', KEYS[K_META], 'dead', 1)
  if redis.call('HGET', KEYS[K_META], 'status') ~= 'failed' then
    finish_job('failed', 'activation ' .. act .. ' went to the dead-letter stream: ' .. reason, now)
  end
end

-- Running again after a hold (resume, a replayed dead letter): the deadline clock restarts with the
-- job's whole budget, and every parked activation still unfinished is due at `score`; returns their ids.
local function release_parked(job, now, score)
  local budget = tonumber(redis.call('HGET', KEYS[K_META], 'timeout_ms') or '0')
  if budget > 0 then
    redis.call('HSET', KEYS[K_META], 'deadline', now + budget)
    redis.call('ZADD', KEYS[K_DEADLINES], now + budget, job)
  end
  local dispatch = {}
  for _, act in ipairs(redis.call('SMEMBERS', KEYS[K_PARKED])) do
    redis.call('SREM', KEYS[K_PARKED], act)
    if redis.call('HEXISTS', KEYS[K_ACTS], act) == 1 then
      redis.call('ZADD', KEYS[K_DUE], score, member(job, act))
      dispatch[#dispatch + 1] = act
    end
  end
  return dispatch
end

-- Hold an activation while its job is held (paused, or failed by a dead letter): resume or a replay
-- sends it again. Its keys keep expiring with the job's.
local function park(job, act)
  redis.call('SADD', KEYS[K_PARKED], act)
  redis.call('ZREM', KEYS[K_DUE], member(job, act))
  retain()
end

-- Record a new activation of the job (unless it is known or already applied); true if it was new.
local function add_activation(act, body)
  if redis.call('HEXISTS', KEYS[K_ACTS], act) == 1 or redis.call('SISMEMBER', KEYS[K_APPLIED], act) == 1 then
    return false
  end
  redis.call('HSET', KEYS[K_ACTS], act, body)
  redis.call('HINCRBY', KEYS[K_META], 'pending', 1)
  return true
end

-- A held job runs again (resume, the last dead letter replayed): say so, and wake no waiter yet.
local function back_to_running(now)
  redis.call('HSET', KEYS[K_META], 'status', 'running', 'updated_at', now)
  redis.call('DEL', KEYS[K_SETTLED])
  status_event('running', '', now)
end

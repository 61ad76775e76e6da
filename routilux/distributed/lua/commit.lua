-- Apply one step's delta atomically, exactly once.
-- ARGV: [1] job, [2] activation, [3] fencing token, [4] outcome ('ok'|'retry'|'fail'),
--       [5] slot key whose lock this activation holds ('' if none), [6] outbox grace ms,
--       [7] retry delay ms, [8] retry body, [9] failure reason, [10] history blob ('' if none),
--       [11] number of ops, [12] child to run inline on this worker ('' for none), [13] lease ms,
--       then 4 fields per op (kind, a, b, c), then 2 fields per child (id, body).
-- Op kinds: rs (a routine, b state, c status), sd (a key, b value), sl/o/de (b entry), sb (a slot key, b buffer).
-- The inline child is claimed here (leased to the committing worker, which runs it next without
-- a round trip through the queue); if that worker dies, its lease expires and the sweeper sends it.
-- Returns {'ok', job status, next slot waiter, outbox score, {child ids to dispatch}, inline token or ''}
--      or {'duplicate'} | {'stale'} | {'dropped', status, next slot waiter}
local job, act, token, outcome, slot_key = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local grace_ms, retry_ms, retry_body, reason, history =
  tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8], ARGV[9], ARGV[10]
local n_ops = tonumber(ARGV[11])
local inline, lease_ms = ARGV[12], tonumber(ARGV[13])
local now = now_ms()
local m = member(job, act)
if redis.call('SISMEMBER', KEYS[K_APPLIED], act) == 1 then return {'duplicate'} end
if redis.call('HGET', KEYS[K_LEASE], act) ~= token then return {'stale'} end
if past_deadline(now) then
  -- Too late: the job times out now and this step's effect is dropped, as on the local engine.
  time_out(job, now)
  return {'dropped', 'failed', ''}
end

local waiter = ''
if slot_key ~= '' and redis.call('HGET', KEYS[K_SLOTLOCK], slot_key) == act then
  redis.call('HDEL', KEYS[K_SLOTLOCK], slot_key)
  -- Hand the slot to the next waiter that still has work to do (skip duplicates).
  while true do
    local w = redis.call('LPOP', KEYS[K_WAIT])
    if not w then break end
    if w ~= act and redis.call('HEXISTS', KEYS[K_ACTS], w) == 1 and redis.call('SISMEMBER', KEYS[K_APPLIED], w) == 0 then
      waiter = w
      break
    end
  end
end

local status = redis.call('HGET', KEYS[K_META], 'status')
if status ~= 'running' and status ~= 'paused' then
  if not status then return {'dropped', 'unknown', waiter} end  -- deleted or expired: write nothing
  finish_activation(job, act)
  retain()
  return {'dropped', status, waiter}
end

local i = 14
for _ = 1, n_ops do
  local kind, a, b, c = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if kind == 'rs' then
    redis.call('HSET', KEYS[K_RS], a, b)
    if c == 'failed' or c == 'error' then
      redis.call('SADD', KEYS[K_FAILEDRS], a)
    else
      redis.call('SREM', KEYS[K_FAILEDRS], a)
    end
  elseif kind == 'sd' then
    redis.call('HSET', KEYS[K_SD], a, b)
  elseif kind == 'sl' then
    redis.call('RPUSH', KEYS[K_SL], b)
  elseif kind == 'o' then
    redis.call('RPUSH', KEYS[K_OUT], b)
  elseif kind == 'de' then
    redis.call('RPUSH', KEYS[K_DE], b)
  elseif kind == 'sb' then
    redis.call('HSET', KEYS[K_SB], a, b)
  end
  i = i + 4
end
-- The stream keeps the step's ops and children too, so any earlier JobState can be rebuilt from it
-- (time travel) and continued as a new job (fork).
if history ~= '' or n_ops > 0 or i < #ARGV then
  local ops, kids = {}, {}
  for j = 14, i - 1 do ops[#ops + 1] = ARGV[j] end
  for j = i, #ARGV do kids[#kids + 1] = ARGV[j] end
  redis.call('XADD', KEYS[K_LOG], '*', 'kind', 'delta', 'act', act, 'h', history, 'outcome', outcome,
    'ops', cmsgpack.pack(ops), 'kids', cmsgpack.pack(kids))
end

local dispatch = {}
local inline_token = ''
local outbox_score = now + grace_ms
while i < #ARGV do
  local cid, cbody = ARGV[i], ARGV[i + 1]
  if redis.call('HEXISTS', KEYS[K_ACTS], cid) == 0 and redis.call('SISMEMBER', KEYS[K_APPLIED], cid) == 0 then
    redis.call('HSET', KEYS[K_ACTS], cid, cbody)
    redis.call('HINCRBY', KEYS[K_META], 'pending', 1)
    if status == 'paused' then
      redis.call('SADD', KEYS[K_PARKED], cid)
    elseif cid == inline and outcome == 'ok' then
      redis.call('HSET', KEYS[K_TRIES], cid, 1)
      inline_token = redis.call('HINCRBY', KEYS[K_META], 'fence', 1)
      redis.call('HSET', KEYS[K_LEASE], cid, inline_token)
      redis.call('ZADD', KEYS[K_LEASES], now + lease_ms, member(job, cid))
    else
      redis.call('ZADD', KEYS[K_DUE], outbox_score, member(job, cid))
      dispatch[#dispatch + 1] = cid
    end
  end
  i = i + 2
end

if outcome == 'retry' then
  redis.call('HSET', KEYS[K_ACTS], act, retry_body)
  redis.call('HDEL', KEYS[K_LEASE], act)
  redis.call('HSET', KEYS[K_TRIES], act, 0)
  redis.call('ZREM', KEYS[K_LEASES], m)
  if status == 'paused' then
    redis.call('SADD', KEYS[K_PARKED], act)
  else
    redis.call('ZADD', KEYS[K_DUE], now + retry_ms, m)
  end
elseif outcome == 'fail' then
  finish_activation(job, act)
  finish_job('failed', reason, now)
else
  finish_activation(job, act)
end
redis.call('HSET', KEYS[K_META], 'updated_at', now)
local final = maybe_complete(now)
return {'ok', final, waiter, tostring(outbox_score), dispatch, tostring(inline_token)}

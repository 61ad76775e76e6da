-- Take the lease of an activation before its handler runs.
-- The hard limit is noted so that, if the lease expires past it, the reason says so (a handler frozen
-- in C code holding the GIL cannot say it itself).
-- Returns {'ok', token, body, slot buffer, flow_id, current_routine_id, tries}
--      or {'applied'} | {'unknown'} | {'parked'} | {'dropped', status} | {'busy'}
--      | {'wait'} | {'dead', reason}
-- A job past its deadline is timed out here, so none of its activations starts late.
-- ARGV (args.ClaimArgs):
local job = ARGV[1]
local act = ARGV[2]
local lease_ms = tonumber(ARGV[3])
local max_attempts = tonumber(ARGV[4])
local slot_key = ARGV[5]               -- '' unless merges into its slot must run one at a time
local backstop_ms = tonumber(ARGV[6])  -- queue backstop of a waiter
local hard_ms = tonumber(ARGV[7])      -- hard time limit (0: none)
local hard_s = ARGV[8]                 -- the same in seconds, as text
local now = now_ms()
local m = member(job, act)
if redis.call('SISMEMBER', KEYS[K_APPLIED], act) == 1 then return {'applied'} end
local body = redis.call('HGET', KEYS[K_ACTS], act)
if not body then return {'unknown'} end
local status = redis.call('HGET', KEYS[K_META], 'status')
if past_deadline(now) then
  time_out(job, now)
  return {'dropped', 'failed'}
end
local expiry = redis.call('ZSCORE', KEYS[K_LEASES], m)
local live = expiry and tonumber(expiry) > now
if is_on_hold(status) then
  if not live then park(job, act) end
  return {'parked'}
end
if status ~= 'running' then
  forget(job, act)
  return {'dropped', status or 'unknown'}
end
if live then return {'busy'} end
if slot_key ~= '' then
  local holder = redis.call('HGET', KEYS[K_SLOTLOCK], slot_key)
  if holder and holder ~= act then
    local hexp = redis.call('ZSCORE', KEYS[K_LEASES], member(job, holder))
    if hexp and tonumber(hexp) > now then
      redis.call('RPUSH', KEYS[K_WAIT], act)
      redis.call('ZADD', KEYS[K_DUE], now + backstop_ms, m)
      return {'wait'}
    end
  end
end
local tries = redis.call('HINCRBY', KEYS[K_TRIES], act, 1)
if tries > max_attempts then
  local last = redis.call('HGET', KEYS[K_LASTERR], act) or 'worker lost'
  dead_letter(job, act, 'gave up after ' .. (tries - 1) .. ' attempts; last error: ' .. last, now)
  return {'dead', last}
end
if slot_key ~= '' then redis.call('HSET', KEYS[K_SLOTLOCK], slot_key, act) end
local token = redis.call('HINCRBY', KEYS[K_META], 'fence', 1)
if token == 1 then redis.call('HSET', KEYS[K_META], 'started_at', now) end  -- the job's first claim
redis.call('HSET', KEYS[K_LEASE], act, token)
redis.call('ZREM', KEYS[K_DUE], m)
redis.call('ZADD', KEYS[K_LEASES], now + lease_ms, m)
if hard_ms > 0 then
  redis.call('HSET', KEYS[K_TRIES], 'hard:' .. act, (now + hard_ms) .. ' ' .. hard_s)
else
  redis.call('HDEL', KEYS[K_TRIES], 'hard:' .. act)
end
local buffer = ''
if slot_key ~= '' then buffer = redis.call('HGET', KEYS[K_SB], slot_key) or '' end
local meta = redis.call('HMGET', KEYS[K_META], 'flow_id', 'current_routine_id')
return {'ok', tostring(token), body, buffer, meta[1] or '', meta[2] or '', tostring(tries)}

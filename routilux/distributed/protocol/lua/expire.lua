-- The sweeper found this activation's lease expired: note why, and queue it again.
-- Returns {'dispatch', body} | {'live'} | {'gone'} | {'parked'}
-- ARGV (args.SweepArgs):
local job = ARGV[1]
local act = ARGV[2]
local backstop_ms = tonumber(ARGV[3])
local now = now_ms()
local m = member(job, act)
local expiry = redis.call('ZSCORE', KEYS[K_LEASES], m)
if not expiry or tonumber(expiry) > now then return {'live'} end
redis.call('ZREM', KEYS[K_LEASES], m)
redis.call('HDEL', KEYS[K_LEASE], act)
if redis.call('HEXISTS', KEYS[K_ACTS], act) == 0 then return {'gone'} end
local status = redis.call('HGET', KEYS[K_META], 'status')
if is_terminal(status) and not is_on_hold(status) then forget(job, act); return {'gone'} end
local why = 'lease expired: the worker running it stopped heartbeating'
local hard = redis.call('HGET', KEYS[K_TRIES], 'hard:' .. act)
if hard then
  local at, secs = string.match(hard, '^(%d+) (.*)$')
  if at and now >= tonumber(at) then
    why = 'ran past its hard time limit of ' .. secs .. ' s; its worker stopped heartbeating (frozen or killed)'
  end
end
redis.call('HSET', KEYS[K_LASTERR], act, why)
if is_on_hold(status) then
  park(job, act)
  return {'parked'}
end
redis.call('ZADD', KEYS[K_DUE], now + backstop_ms, m)
return {'dispatch', redis.call('HGET', KEYS[K_ACTS], act)}

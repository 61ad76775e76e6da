-- The sweeper found this activation due (outbox, retry timer, or queue backstop).
-- Returns {'dispatch', body} | {'not-due'} | {'gone'} | {'parked'}
-- ARGV (args.RedueArgs):
local job = ARGV[1]
local act = ARGV[2]
local backstop_ms = tonumber(ARGV[3])
local now = now_ms()
local m = member(job, act)
local score = redis.call('ZSCORE', KEYS[K_DUE], m)
if not score or tonumber(score) > now then return {'not-due'} end
local body = redis.call('HGET', KEYS[K_ACTS], act)
local status = redis.call('HGET', KEYS[K_META], 'status')
if not body or redis.call('SISMEMBER', KEYS[K_APPLIED], act) == 1 or (is_terminal(status) and not is_on_hold(status)) then
  redis.call('ZREM', KEYS[K_DUE], m)
  return {'gone'}
end
if is_on_hold(status) then
  park(job, act)
  return {'parked'}
end
redis.call('ZADD', KEYS[K_DUE], now + backstop_ms, m)
return {'dispatch', body}

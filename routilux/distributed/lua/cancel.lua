-- Cancel a job for good: drop every unfinished activation. ARGV: job, reason, cancellation state blob
local job, reason, state = ARGV[1], ARGV[2], ARGV[3]
local status = redis.call('HGET', KEYS[K_META], 'status')
if not status then return {'unknown'} end
if is_terminal(status) then return {'final', status} end
local now = now_ms()
for _, act in ipairs(redis.call('HKEYS', KEYS[K_ACTS])) do
  local m = member(job, act)
  redis.call('ZREM', KEYS[K_DUE], m)
  redis.call('ZREM', KEYS[K_LEASES], m)
end
redis.call('DEL', KEYS[K_ACTS], KEYS[K_LEASE], KEYS[K_PARKED], KEYS[K_TRIES])
redis.call('HSET', KEYS[K_META], 'pending', 0)
if state ~= '' then redis.call('HSET', KEYS[K_RS], '_cancellation', state) end
finish_job('cancelled', reason, now)
return {'ok'}

-- Cancel a job for good: drop every unfinished activation. ARGV: job, reason, cancellation state blob
local job, reason, state = ARGV[1], ARGV[2], ARGV[3]
local status = redis.call('HGET', KEYS[K_META], 'status')
if not status then return {'unknown'} end
if is_terminal(status) then return {'final', status} end
local now = now_ms()
drop_activations(job)
if state ~= '' then
  redis.call('HSET', KEYS[K_RS], '_cancellation', state)
  redis.call('HINCRBY', KEYS[K_VER], 'rs:_cancellation', 1)
  redis.call('HINCRBY', KEYS[K_VER], '*rs', 1)
end
finish_job('cancelled', reason, now)
return {'ok'}

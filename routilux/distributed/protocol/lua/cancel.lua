-- Cancel a job for good: drop every unfinished activation.
-- Returns {'ok'} | {'unknown'} | {'final', status}
-- ARGV (args.CancelArgs):
local job = ARGV[1]
local reason = ARGV[2]
local state = ARGV[3]    -- the cancellation's routine state (msgpack), '' for none
local status = redis.call('HGET', KEYS[K_META], 'status')
if not status then return {'unknown'} end
if is_terminal(status) then return {'final', status} end
local now = now_ms()
drop_activations(job)
if state ~= '' then
  redis.call('HSET', KEYS[K_RS], '_cancellation', state)
  redis.call('HINCRBY', KEYS[K_VER], OP_RS .. ':_cancellation', 1)
  redis.call('HINCRBY', KEYS[K_VER], '*' .. OP_RS, 1)
end
finish_job('cancelled', reason, now)
return {'ok'}

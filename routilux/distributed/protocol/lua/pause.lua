-- Pause a running job: nothing new starts; running activations commit and their
-- children are parked. Returns {'ok'} | {'not-running', status}
-- ARGV (args.PauseArgs):
local reason = ARGV[1]
local point = ARGV[2]    -- the pause point (msgpack)
local status = redis.call('HGET', KEYS[K_META], 'status')
if status ~= 'running' then return {'not-running', status or 'unknown'} end
local now = now_ms()
redis.call('HSET', KEYS[K_META], 'status', 'paused', 'pause_reason', reason, 'updated_at', now)
-- A paused job has no deadline; resume arms a whole timeout again (as the local engine does).
redis.call('HDEL', KEYS[K_META], 'deadline')
redis.call('ZREM', KEYS[K_DEADLINES], job_id())
redis.call('RPUSH', KEYS[K_PP], point)
status_event('paused', reason, now)
return {'ok'}

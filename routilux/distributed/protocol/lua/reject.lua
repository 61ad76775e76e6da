-- A stored activation cannot be run (its body is unsigned, badly signed or over a limit):
-- move it to the dead-letter stream with the reason, and fail its job.
-- Returns {'dead'} | {'applied'} | {'unknown'} | {'gone'} (its job already ended)
-- ARGV (args.RejectArgs):
local job = ARGV[1]
local act = ARGV[2]
local reason = ARGV[3]
if redis.call('SISMEMBER', KEYS[K_APPLIED], act) == 1 then return {'applied'} end
if redis.call('HEXISTS', KEYS[K_ACTS], act) == 0 then return {'unknown'} end
if is_terminal(redis.call('HGET', KEYS[K_META], 'status')) then forget(job, act); return {'gone'} end
dead_letter(job, act, reason, now_ms())
return {'dead'}

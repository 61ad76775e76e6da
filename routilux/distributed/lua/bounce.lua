-- This worker cannot run the activation (missing class, missing flow): count the
-- attempt, remember why, and let the sweeper send it again later (maybe elsewhere).
-- ARGV: job, activation, reason, delay ms, max attempts
local job, act, reason, delay_ms, max_attempts =
  ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()
if redis.call('SISMEMBER', KEYS[K_APPLIED], act) == 1 then return {'applied'} end
if redis.call('HEXISTS', KEYS[K_ACTS], act) == 0 then return {'unknown'} end
local status = redis.call('HGET', KEYS[K_META], 'status')
if is_terminal(status) then forget(job, act); return {'dropped'} end
redis.call('HSET', KEYS[K_LASTERR], act, reason)
local tries = redis.call('HINCRBY', KEYS[K_TRIES], act, 1)
if tries >= max_attempts then
  dead_letter(job, act, 'gave up after ' .. tries .. ' attempts; last error: ' .. reason, now)
  return {'dead'}
end
redis.call('ZADD', KEYS[K_DUE], now + delay_ms, member(job, act))
return {'later'}

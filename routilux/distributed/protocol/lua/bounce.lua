-- This worker cannot run the activation (missing class, missing flow): note which worker
-- and why, and let the sweeper send it again later, maybe to another worker. It goes to the
-- dead-letter stream once max attempts distinct workers could not run it, or after four times
-- that many hand-backs in all (a single worker that lacks the class gives up then).
-- Returns {'later'} | {'dead'} | {'parked'} | {'dropped'} | {'applied'} | {'unknown'}
-- ARGV (args.BounceArgs):
local job = ARGV[1]
local act = ARGV[2]
local reason = ARGV[3]
local delay_ms = tonumber(ARGV[4])
local max_attempts = tonumber(ARGV[5])
local worker = ARGV[6]   -- the worker's name
local trace = ARGV[7]    -- the handler's stack trace ('' if none), kept for a dead letter
local now = now_ms()
if redis.call('SISMEMBER', KEYS[K_APPLIED], act) == 1 then return {'applied'} end
if redis.call('HEXISTS', KEYS[K_ACTS], act) == 0 then return {'unknown'} end
local status = redis.call('HGET', KEYS[K_META], 'status')
if status ~= 'paused' and is_on_hold(status) then
  park(job, act)
  return {'parked'}
end
if is_terminal(status) then forget(job, act); return {'dropped'} end
redis.call('HSET', KEYS[K_LASTERR], act, reason)
if trace ~= '' then redis.call('HSET', KEYS[K_LASTERR], 'trace:' .. act, trace) end
local field = 'bouncers:' .. act
local bouncers = redis.call('HGET', KEYS[K_TRIES], field) or ''
if not string.find('\n' .. bouncers, '\n' .. worker .. '\n', 1, true) then
  bouncers = bouncers .. worker .. '\n'
  redis.call('HSET', KEYS[K_TRIES], field, bouncers)
end
local _, distinct = string.gsub(bouncers, '\n', '')
local total = redis.call('HINCRBY', KEYS[K_TRIES], 'bounces:' .. act, 1)
if distinct >= max_attempts or total >= BOUNCES_PER_ATTEMPT * max_attempts then
  dead_letter(job, act, 'no worker could run it (' .. distinct .. ' workers, ' .. total .. ' tries); last error: ' .. reason, now)
  return {'dead'}
end
redis.call('ZADD', KEYS[K_DUE], now + delay_ms, member(job, act))
return {'later'}

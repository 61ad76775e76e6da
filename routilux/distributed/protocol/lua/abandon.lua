-- The worker running this activation gives up on it (its hard time limit passed): end the lease now,
-- note why, and make it due at once. The next claim counts another attempt, so it runs again or,
-- after max attempts, goes to the dead-letter stream with this reason; a late commit of the
-- abandoned attempt is refused as stale. Returns 1, or 0 if the lease was not this worker's.
-- ARGV (args.AbandonArgs):
local job = ARGV[1]
local act = ARGV[2]
local token = ARGV[3]    -- the fencing token of the worker's claim
local reason = ARGV[4]
local m = member(job, act)
if redis.call('HGET', KEYS[K_LEASE], act) ~= token then return 0 end
redis.call('HDEL', KEYS[K_LEASE], act)
redis.call('ZREM', KEYS[K_LEASES], m)
local status = redis.call('HGET', KEYS[K_META], 'status')
if is_terminal(status) and not is_on_hold(status) then forget(job, act); return 0 end
redis.call('HSET', KEYS[K_LASTERR], act, reason)
if is_on_hold(status) then
  park(job, act)
else
  redis.call('ZADD', KEYS[K_DUE], now_ms(), m)
end
return 1

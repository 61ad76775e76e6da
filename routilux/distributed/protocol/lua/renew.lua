-- Heartbeat: extend a lease this worker still holds. ARGV: job, activation, token, lease ms
local job, act, token, lease_ms = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('HGET', KEYS[K_LEASE], act) ~= token then return 0 end
redis.call('ZADD', KEYS[K_LEASES], 'XX', now_ms() + lease_ms, member(job, act))
return 1

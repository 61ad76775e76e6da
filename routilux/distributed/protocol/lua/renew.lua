-- Heartbeat: extend a lease this worker still holds. Returns 1, or 0 if the lease was lost.
-- ARGV (args.RenewArgs):
local job = ARGV[1]
local act = ARGV[2]
local token = ARGV[3]
local lease_ms = tonumber(ARGV[4])
if redis.call('HGET', KEYS[K_LEASE], act) ~= token then return 0 end
redis.call('ZADD', KEYS[K_LEASES], 'XX', now_ms() + lease_ms, member(job, act))
return 1

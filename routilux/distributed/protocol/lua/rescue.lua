-- Redis restarted: a crash may have lost this activation's queued message (popped but never
-- delivered) or its claim, and then only the queue backstop would send it again. Make it due now,
-- unless a live lease holds it or it waits on a retry timer (commit resets tries to 0 for those).
-- Returns 1 if it is due now.
-- ARGV (args.RescueArgs):
local job = ARGV[1]
local act = ARGV[2]
local now = now_ms()
local m = member(job, act)
local score = redis.call('ZSCORE', KEYS[K_DUE], m)
if not score or tonumber(score) <= now then return 0 end
if redis.call('HEXISTS', KEYS[K_ACTS], act) == 0 then return 0 end
if redis.call('HGET', KEYS[K_TRIES], act) == '0' then return 0 end
local expiry = redis.call('ZSCORE', KEYS[K_LEASES], m)
if expiry and tonumber(expiry) > now then return 0 end
redis.call('ZADD', KEYS[K_DUE], now, m)
return 1

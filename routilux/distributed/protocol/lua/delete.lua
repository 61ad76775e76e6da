-- Delete every key of an ended job (its slot-wait lists too) and its index entries.
-- Returns 1, or 0 if the job is unknown or has not ended.
-- ARGV (args.DeleteArgs):
local job = ARGV[1]
if not is_terminal(redis.call('HGET', KEYS[K_META], 'status')) then return 0 end
forget_idempotency_key(job)
for _, key in ipairs(wait_lists()) do redis.call('DEL', key) end
for i = 1, K_DUE - 1 do redis.call('DEL', KEYS[i]) end
redis.call('ZREM', KEYS[K_JOBS], job)
redis.call('ZREM', KEYS[K_EXPIRIES], job)
redis.call('ZREM', KEYS[K_DEADLINES], job)
return 1

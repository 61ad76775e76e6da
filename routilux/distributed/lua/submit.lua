-- Create a job and its root activation (in the outbox until dispatched).
-- ARGV: job, flow_id, flow_hash, entry routine, root id, root body, history blob,
--       outbox grace ms, created_at (iso), completed TTL ms, failed TTL ms (0: keep forever),
--       timeout ms (0: no deadline), timeout in seconds as text (for the reason),
--       priority 0..9 ('' at the default: not stored; appended last, optional)
local job, flow_id, flow_hash, entry, root, body, history, grace_ms, created =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9]
local ttl_ok, ttl_fail, timeout_ms, timeout_s = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12]), ARGV[13]
if redis.call('EXISTS', KEYS[K_META]) == 1 then return {'exists'} end
local now = now_ms()
redis.call('HSET', KEYS[K_META], 'status', 'running', 'flow_id', flow_id, 'flow_hash', flow_hash,
  'current_routine_id', entry, 'pending', 1, 'fence', 0, 'created_at', created, 'updated_at', now,
  'ttl_ok', ttl_ok, 'ttl_fail', ttl_fail)
if ARGV[14] and ARGV[14] ~= '' then redis.call('HSET', KEYS[K_META], 'priority', ARGV[14]) end
if timeout_ms > 0 then
  redis.call('HSET', KEYS[K_META], 'timeout_ms', timeout_ms, 'timeout_s', timeout_s, 'deadline', now + timeout_ms)
  redis.call('ZADD', KEYS[K_DEADLINES], now + timeout_ms, job)
end
redis.call('HSET', KEYS[K_ACTS], root, body)
redis.call('ZADD', KEYS[K_DUE], now + grace_ms, member(job, root))
redis.call('ZADD', KEYS[K_JOBS], now, job)
redis.call('XADD', KEYS[K_LOG], '*', 'kind', 'delta', 'act', 'submit', 'h', history, 'kids', cmsgpack.pack({root, body}))
status_event('running', '', now)
return {'ok', tostring(now + grace_ms)}

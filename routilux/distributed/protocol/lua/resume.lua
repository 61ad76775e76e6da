-- Resume a paused job: parked activations and deferred events go out again.
-- ARGV: job, outbox grace ms, deferred events consumed, history blob, timeout ms ('' for the job's own,
--       0 for none), timeout as text, then (id, body) per deferred child
local job, grace_ms, n_deferred, history = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local timeout_ms, timeout_s = ARGV[5], ARGV[6]
local status = redis.call('HGET', KEYS[K_META], 'status')
if status ~= 'paused' then return {'not-paused', status or 'unknown'} end
local now = now_ms()
redis.call('HSET', KEYS[K_META], 'status', 'running', 'updated_at', now)
redis.call('DEL', KEYS[K_SETTLED])
status_event('running', '', now)
if timeout_ms ~= '' then
  redis.call('HSET', KEYS[K_META], 'timeout_ms', timeout_ms, 'timeout_s', timeout_s)
end
local score = now + grace_ms
local dispatch = release_parked(job, now, score)
local i = 7
while i < #ARGV do
  local cid, cbody = ARGV[i], ARGV[i + 1]
  if redis.call('HEXISTS', KEYS[K_ACTS], cid) == 0 and redis.call('SISMEMBER', KEYS[K_APPLIED], cid) == 0 then
    redis.call('HSET', KEYS[K_ACTS], cid, cbody)
    redis.call('HINCRBY', KEYS[K_META], 'pending', 1)
    redis.call('ZADD', KEYS[K_DUE], score, member(job, cid))
    dispatch[#dispatch + 1] = cid
  end
  i = i + 2
end
if n_deferred > 0 then redis.call('LTRIM', KEYS[K_DE], n_deferred, -1) end
if history ~= '' or n_deferred > 0 then
  local kids = {}
  for j = 5, #ARGV do kids[#kids + 1] = ARGV[j] end
  redis.call('XADD', KEYS[K_LOG], '*', 'kind', 'delta', 'act', 'resume', 'h', history, 'taken', n_deferred,
    'kids', cmsgpack.pack(kids))
end
local final = maybe_complete(now)
return {'ok', final, tostring(score), dispatch}

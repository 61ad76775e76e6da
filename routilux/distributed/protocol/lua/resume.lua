-- Resume a paused job: parked activations and deferred events go out again.
-- Returns {'ok', job status, outbox score, {ids to dispatch}} | {'not-paused', status}
-- ARGV (args.ResumeArgs):
local job = ARGV[1]
local grace_ms = tonumber(ARGV[2])     -- outbox grace
local n_deferred = tonumber(ARGV[3])   -- deferred events consumed
local history = ARGV[4]                -- their history records ('' for none)
local timeout_ms = ARGV[5]             -- new deadline from now ('' for the job's own, 0 for none)
local timeout_s = ARGV[6]              -- the same in seconds, as text
local TAIL = 7                         -- then (id, body) per deferred event's child
local status = redis.call('HGET', KEYS[K_META], 'status')
if status ~= 'paused' then return {'not-paused', status or 'unknown'} end
local now = now_ms()
back_to_running(now)
if timeout_ms ~= '' then
  redis.call('HSET', KEYS[K_META], 'timeout_ms', timeout_ms, 'timeout_s', timeout_s)
end
local score = now + grace_ms
local dispatch = release_parked(job, now, score)
local i = TAIL
while i < #ARGV do
  local cid, cbody = ARGV[i], ARGV[i + 1]
  if add_activation(cid, cbody) then
    redis.call('ZADD', KEYS[K_DUE], score, member(job, cid))
    dispatch[#dispatch + 1] = cid
  end
  i = i + 2
end
if n_deferred > 0 then redis.call('LTRIM', KEYS[K_DE], n_deferred, -1) end
if history ~= '' or n_deferred > 0 then
  local kids = {}
  for j = TAIL, #ARGV do kids[#kids + 1] = ARGV[j] end
  redis.call('XADD', KEYS[K_LOG], '*', 'kind', 'delta', 'act', 'resume', 'h', history, 'taken', n_deferred,
    'kids', cmsgpack.pack(kids))
end
local final = maybe_complete(now)
return {'ok', final, tostring(score), dispatch}

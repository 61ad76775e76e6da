-- Create a job and its root activation (in the outbox until dispatched).
-- With an idempotency key, KEYS[K_EVENTS + 1] is its record (keys.Keys.idempotency, in this job's bucket):
-- the first submit with a key makes the job; later ones get its id while it is stored.
-- Returns {'ok', the root's outbox score} | {'exists'} | {'same', job id} when the idempotency key
-- already names a stored job (nothing is written then)
-- ARGV (args.SubmitArgs):
local job = ARGV[1]
local flow_id = ARGV[2]
local flow_hash = ARGV[3]
local entry = ARGV[4]                  -- the entry routine
local root = ARGV[5]                   -- the root activation's id
local body = ARGV[6]                   -- and its body
local history = ARGV[7]                -- history blob ('' for none)
local grace_ms = tonumber(ARGV[8])     -- outbox grace
local created = ARGV[9]                -- created_at (ISO)
local ttl_ok = tonumber(ARGV[10])      -- completed-job retention ms (0: keep forever)
local ttl_fail = tonumber(ARGV[11])    -- failed-job retention ms (0: keep forever)
local timeout_ms = tonumber(ARGV[12])  -- deadline from now (0: none)
local timeout_s = ARGV[13]             -- the same in seconds, as text (for the reason)
local idem_key = ARGV[14]              -- idempotency key ('' for none)
local priority = ARGV[15]              -- 0..9 ('' at the default: not stored)
local tenant = ARGV[16]                -- the job's tenant ('' for none)
local job_key = ARGV[17]               -- the job's concurrency key ('' for none)
local trace = ARGV[18]                 -- the job's trace context (JSON, '' for none)
if redis.call('EXISTS', KEYS[K_META]) == 1 then return {'exists'} end
local idem_record = KEYS[K_EVENTS + 1]
if idem_key ~= '' then
  local other = redis.call('GET', idem_record)
  local meta_of = function(id) return string.sub(KEYS[K_META], 1, #KEYS[K_META] - #job - 5) .. id .. ':meta' end
  if other and redis.call('EXISTS', meta_of(other)) == 1 then return {'same', other} end
  redis.call('SET', idem_record, job)
end
local now = now_ms()
redis.call('HSET', KEYS[K_META], 'status', 'running', 'flow_id', flow_id, 'flow_hash', flow_hash,
  'current_routine_id', entry, 'pending', 1, 'fence', 0, 'created_at', created, 'updated_at', now,
  'ttl_ok', ttl_ok, 'ttl_fail', ttl_fail)
if idem_key ~= '' then redis.call('HSET', KEYS[K_META], 'idempotency_key', idem_key, 'idem_record', idem_record) end
if priority ~= '' then redis.call('HSET', KEYS[K_META], 'priority', priority) end
if tenant ~= '' then redis.call('HSET', KEYS[K_META], 'tenant', tenant) end
if job_key ~= '' then redis.call('HSET', KEYS[K_META], 'concurrency_key', job_key) end
if trace ~= '' then redis.call('HSET', KEYS[K_META], 'trace_context', trace) end
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

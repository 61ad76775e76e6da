-- Apply one step's delta atomically, exactly once.
-- Op kinds (routilux.ops.Op): rs (a routine, b state, c status), sd (a key, b value), sl/o/de (b entry),
--           sb (a slot key, b buffer), si (a key, b number to add), sa (a key, b item to append): blind ops,
--           applied to the value stored now.
-- Reads (optimistic concurrency, see routilux/txn.py): version fields of KEYS[K_VER] ("sd:key", "rs:id",
-- "*sd", "*rs") and the versions the step saw. If one differs, or a blind op cannot apply to the stored
-- value, nothing is applied: a running job answers {'conflict'} (the worker keeps its lease and slot
-- lock and runs the step again), a paused one parks the activation for resume.
-- The inline child is claimed here (leased to the committing worker, which runs it next without
-- a round trip through the queue); if that worker dies, its lease expires and the sweeper sends it.
-- Every commit adds one entry to the job's log (the step, its history records, ops and children, and
-- the job's activations done and known) and counts the routine's runs and errors in the meta hash.
-- Returns {'ok', job status, next slot waiter, outbox score, {child ids to dispatch}, inline token or ''}
--      or {'duplicate'} | {'stale'} | {'dropped', status, next slot waiter} | {'conflict'}
--      | {'parked', status, next slot waiter}
-- ARGV (args.CommitArgs):
local job = ARGV[1]
local act = ARGV[2]
local token = ARGV[3]                  -- the fencing token of this worker's claim
local outcome = ARGV[4]                -- 'ok' | 'retry' | 'fail'
local slot_key = ARGV[5]               -- the slot lock this activation holds ('' if none)
local grace_ms = tonumber(ARGV[6])     -- outbox grace of the children
local retry_ms = tonumber(ARGV[7])     -- retry delay
local retry_body = ARGV[8]             -- the retried activation's body
local reason = ARGV[9]                 -- failure reason
local history = ARGV[10]               -- history records blob ('' if none)
local n_ops = tonumber(ARGV[11])
local inline = ARGV[12]                -- the child to run inline on this worker ('' for none)
local lease_ms = tonumber(ARGV[13])    -- the inline child's lease
local routine = ARGV[14]
local slot = ARGV[15]
local raised = ARGV[16]                -- '1' if the handler raised ('' if not)
local step_ms = ARGV[17]              -- ms from the handler's start to this commit (kept in the log entry)
local n_reads = tonumber(ARGV[18])
local TAIL = 19  -- then 2 fields per read (version field, version seen), 4 per op (kind, a, b, c), 2 per child (id, body)
local now = now_ms()
local m = member(job, act)
if redis.call('SISMEMBER', KEYS[K_APPLIED], act) == 1 then return {'duplicate'} end
if redis.call('HGET', KEYS[K_LEASE], act) ~= token then return {'stale'} end
if past_deadline(now) then
  -- Too late: the job times out now and this step's effect is dropped, as on the local engine.
  time_out(job, now)
  return {'dropped', 'failed', ''}
end
local status = redis.call('HGET', KEYS[K_META], 'status')
local live = status == 'running' or is_on_hold(status)

local INT_LIMIT = 9007199254740991  -- integers stay exact in Lua's doubles up to here

-- A msgpack number: its value and whether it is a float; nil if the blob holds something else.
local function number_of(blob)
  local t = string.byte(blob, 1)
  if t <= 0x7f or t >= 0xe0 or (t >= 0xca and t <= 0xd3) then
    return cmsgpack.unpack(blob), (t == 0xca or t == 0xcb)
  end
  return nil
end

-- The blob a blind op leaves (cur: the stored blob or false); nil if it cannot apply.
local function blind(kind, cur, arg)
  if kind == OP_SI then
    local base, base_float = 0, false
    if cur then
      base, base_float = number_of(cur)
      if base == nil then return nil end
    end
    local by, by_float = number_of(arg)
    local r = base + by
    if base_float or by_float then return struct.pack('>Bd', 0xcb, r) end
    if math.abs(base) > INT_LIMIT or math.abs(r) > INT_LIMIT then return nil end
    return cmsgpack.pack(r)
  end
  if not cur then return string.char(0x91) .. arg end
  local t, n, at = string.byte(cur, 1), 0, 0
  if t >= 0x90 and t <= 0x9f then n, at = t - 0x90, 2
  elseif t == 0xdc then n, at = struct.unpack('>H', cur, 2), 4
  elseif t == 0xdd then n, at = struct.unpack('>I', cur, 2), 6
  else return nil end
  n = n + 1
  local head
  if n < 16 then head = string.char(0x90 + n)
  elseif n < 65536 then head = string.char(0xdc) .. struct.pack('>H', n)
  else head = string.char(0xdd) .. struct.pack('>I', n) end
  return head .. string.sub(cur, at) .. arg
end

-- Optimistic concurrency: did anything the step read change, can its blind ops apply?
local i = TAIL
local conflict = false
for _ = 1, n_reads do
  local seen = redis.call('HGET', KEYS[K_VER], ARGV[i]) or '0'
  if tonumber(seen) ~= tonumber(ARGV[i + 1]) then conflict = true end
  i = i + 2
end
local ops_at = i
local computed = {}
if live and not conflict then
  local now_sd = {}
  local j = ops_at
  for n = 1, n_ops do
    local kind, a, b = ARGV[j], ARGV[j + 1], ARGV[j + 2]
    if kind == OP_SD then
      now_sd[a] = b
    elseif kind == OP_SI or kind == OP_SA then
      local cur = now_sd[a]
      if cur == nil then cur = redis.call('HGET', KEYS[K_SD], a) end
      local new = blind(kind, cur, b)
      if not new then conflict = true break end
      now_sd[a], computed[n] = new, new
    end
    j = j + 4
  end
end
if live and conflict and status == 'running' then return {'conflict'} end

local waiter = ''
if slot_key ~= '' and redis.call('HGET', KEYS[K_SLOTLOCK], slot_key) == act then
  redis.call('HDEL', KEYS[K_SLOTLOCK], slot_key)
  -- Hand the slot to the next waiter that still has work to do (skip duplicates).
  while true do
    local w = redis.call('LPOP', KEYS[K_WAIT])
    if not w then break end
    if w ~= act and redis.call('HEXISTS', KEYS[K_ACTS], w) == 1 and redis.call('SISMEMBER', KEYS[K_APPLIED], w) == 0 then
      waiter = w
      break
    end
  end
end

if not live then
  if not status then return {'dropped', 'unknown', waiter} end  -- deleted or expired: write nothing
  finish_activation(job, act)
  retain()
  return {'dropped', status, waiter}
end
if conflict then  -- paused (or held): hold it like the job's other work; resume sends it again
  redis.call('HDEL', KEYS[K_LEASE], act)
  redis.call('HSET', KEYS[K_TRIES], act, 0)
  redis.call('ZREM', KEYS[K_LEASES], m)
  park(job, act)
  return {'parked', status, waiter}
end

i = ops_at
local rs_changed, sd_changed = false, false
local held = {}  -- child id -> ms it waits before it is due (a timer, a wait's timeout)
for n = 1, n_ops do
  local kind, a, b, c = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if kind == OP_RS then
    redis.call('HSET', KEYS[K_RS], a, b)
    redis.call('HINCRBY', KEYS[K_VER], OP_RS .. ':' .. a, 1)
    rs_changed = true
    if c == 'failed' or c == 'error' then
      redis.call('SADD', KEYS[K_FAILEDRS], a)
    else
      redis.call('SREM', KEYS[K_FAILEDRS], a)
    end
  elseif kind == OP_SD or kind == OP_SI or kind == OP_SA then
    redis.call('HSET', KEYS[K_SD], a, computed[n] or b)
    redis.call('HINCRBY', KEYS[K_VER], OP_SD .. ':' .. a, 1)
    sd_changed = true
  elseif kind == OP_SL then
    redis.call('RPUSH', KEYS[K_SL], b)
  elseif kind == OP_OUT then
    redis.call('RPUSH', KEYS[K_OUT], b)
  elseif kind == OP_DE then
    redis.call('RPUSH', KEYS[K_DE], b)
  elseif kind == OP_SB then
    redis.call('HSET', KEYS[K_SB], a, b)
  elseif kind == OP_TM then
    held[a] = tonumber(c)
  elseif kind == OP_WO then  -- a is the slot's field, c the wait id (its timeout's TM op came first)
    redis.call('HSET', KEYS[K_META], 'wait:' .. a, c .. '|' .. (now + (held[c] or 0)))
    redis.call('HDEL', KEYS[K_META], 'waited:' .. a)
  elseif kind == OP_WC then  -- the wait's timeout: it closes the wait, unless a post closed it first
    local w = redis.call('HGET', KEYS[K_META], 'wait:' .. a)
    if w and string.sub(w, 1, #c + 1) == c .. '|' then
      redis.call('HDEL', KEYS[K_META], 'wait:' .. a)
      redis.call('HSET', KEYS[K_META], 'waited:' .. a, 'timed_out')
    end
  end
  i = i + 4
end
if rs_changed then redis.call('HINCRBY', KEYS[K_VER], '*' .. OP_RS, 1) end
if sd_changed then redis.call('HINCRBY', KEYS[K_VER], '*' .. OP_SD, 1) end
local ops_end = i
local dispatch = {}
local inline_token = ''
local outbox_score = now + grace_ms
while i < #ARGV do
  local cid, cbody = ARGV[i], ARGV[i + 1]
  if add_activation(cid, cbody) then
    if held[cid] then  -- due when its delay has passed; a pause parks it only once it is due
      redis.call('HSET', KEYS[K_TRIES], cid, 0)
      redis.call('ZADD', KEYS[K_DUE], now + held[cid], member(job, cid))
    elseif status ~= 'running' then
      redis.call('SADD', KEYS[K_PARKED], cid)
    elseif cid == inline and outcome == 'ok' then
      redis.call('HSET', KEYS[K_TRIES], cid, 1)
      inline_token = redis.call('HINCRBY', KEYS[K_META], 'fence', 1)
      redis.call('HSET', KEYS[K_LEASE], cid, inline_token)
      redis.call('ZADD', KEYS[K_LEASES], now + lease_ms, member(job, cid))
    else
      redis.call('ZADD', KEYS[K_DUE], outbox_score, member(job, cid))
      dispatch[#dispatch + 1] = cid
    end
  end
  i = i + 2
end

-- The stream keeps the step's ops (a blind op as the value it set) and children too, so any earlier
-- JobState can be rebuilt from it (time travel) and continued as a new job (fork); and what an
-- operator watches: the routine, whether its handler raised, the job's activations done and known.
local ops, kids = {}, {}
local j = ops_at
for n = 1, n_ops do
  local kind, b = ARGV[j], ARGV[j + 2]
  if computed[n] then kind, b = OP_SD, computed[n] end
  local at = 4 * (n - 1)
  ops[at + 1] = kind
  ops[at + 2] = ARGV[j + 1]
  ops[at + 3] = b
  ops[at + 4] = ARGV[j + 3]
  j = j + 4
end
for k = ops_end, #ARGV do kids[#kids + 1] = ARGV[k] end
redis.call('HINCRBY', KEYS[K_META], 'runs:' .. routine, 1)
if raised == '1' then redis.call('HINCRBY', KEYS[K_META], 'errors:' .. routine, 1) end
local applied = redis.call('SCARD', KEYS[K_APPLIED])
redis.call('XADD', KEYS[K_LOG], '*', 'kind', 'delta', 'act', act, 'h', history, 'outcome', outcome,
  'ops', cmsgpack.pack(ops), 'kids', cmsgpack.pack(kids), 'routine', routine, 'slot', slot, 'raised', raised,
  'ms', step_ms,
  'done', applied + (outcome == 'retry' and 0 or 1),
  'known', applied + tonumber(redis.call('HGET', KEYS[K_META], 'pending') or '0'), 'ts', now)

if outcome == 'retry' then
  redis.call('HSET', KEYS[K_ACTS], act, retry_body)
  redis.call('HDEL', KEYS[K_LEASE], act)
  redis.call('HSET', KEYS[K_TRIES], act, 0)
  redis.call('ZREM', KEYS[K_LEASES], m)
  if status ~= 'running' then
    redis.call('SADD', KEYS[K_PARKED], act)
  else
    redis.call('ZADD', KEYS[K_DUE], now + retry_ms, m)
  end
elseif outcome == 'fail' then
  finish_activation(job, act)
  if status ~= 'failed' then finish_job('failed', reason, now) end
else
  finish_activation(job, act)
end
redis.call('HSET', KEYS[K_META], 'updated_at', now)
if status ~= 'running' then retain() end  -- a job failed by a dead letter keeps expiring with its keys
local final = maybe_complete(now)
return {'ok', final, waiter, tostring(outbox_score), dispatch, tostring(inline_token)}

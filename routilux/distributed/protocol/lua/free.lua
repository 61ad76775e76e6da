-- Free a concurrency slot (a commit ended its holder, or "" from the sweeper: only lapsed leases) and
-- hand every free slot to the longest waiter, which gets a fresh lease; returns the promoted holders,
-- for the caller to send. A promoted waiter whose message is lost frees its slot when that lease lapses.
-- A job's concurrency key: the slot goes to the waiter's job (per_job '1'), its size read from the index,
-- and the job's other waiting activations (a post, a fork's several) are promoted with it: they share it.
-- KEYS: the limit's held ZSET, its waiting ZSET, the limits index, its job waiters HASH (see admit.lua).
-- ARGV (args.FreeArgs):
local name = ARGV[1]
local holder = ARGV[2]
local amount = tonumber(ARGV[3])       -- -1: the size the operator set in the index (none: no limit)
local lease_ms = tonumber(ARGV[4])
local per_job = ARGV[5]
local L_HELD, L_WAITING, L_INDEX, L_JOB_WAITERS = 1, 2, 3, 4
local now = now_ms()
if amount < 0 then
  amount = tonumber(string.match(redis.call('HGET', KEYS[L_INDEX], name) or '', '^concurrency (%S+)')) or math.huge
end
if holder ~= '' then redis.call('ZREM', KEYS[L_HELD], holder) end
redis.call('ZREMRANGEBYSCORE', KEYS[L_HELD], '-inf', now)
local promoted = {}
-- Move the other waiters of ``job`` (listed in the job waiters HASH, see admit.lua) to ``promoted``.
local function promote_job_waiters(job)
  local listed = redis.call('HGET', KEYS[L_JOB_WAITERS], job)
  redis.call('HDEL', KEYS[L_JOB_WAITERS], job)
  if not listed then return end
  for member in string.gmatch(listed, '[^\31]+') do
    if redis.call('ZREM', KEYS[L_WAITING], member) == 1 then promoted[#promoted + 1] = member end
  end
end
while redis.call('ZCARD', KEYS[L_HELD]) < amount do
  local head = redis.call('ZPOPMIN', KEYS[L_WAITING])
  if #head == 0 then break end
  local slot_holder = head[1]
  if per_job == '1' then slot_holder = string.match(head[1], '^(.-)|') end
  redis.call('ZADD', KEYS[L_HELD], now + lease_ms, slot_holder)
  promoted[#promoted + 1] = head[1]
  if per_job == '1' then promote_job_waiters(slot_holder) end
end
return promoted

-- Free a concurrency slot (a commit ended its holder, or "" from the sweeper: only lapsed leases) and
-- hand every free slot to the longest waiter, which gets a fresh lease; returns the promoted holders,
-- for the caller to send. A promoted waiter whose message is lost frees its slot when that lease lapses.
-- KEYS: the limit's held ZSET, its waiting ZSET.
-- ARGV (args.FreeArgs):
local holder = ARGV[1]
local amount = tonumber(ARGV[2])
local lease_ms = tonumber(ARGV[3])
local L_HELD, L_WAITING = 1, 2
local now = now_ms()
if holder ~= '' then redis.call('ZREM', KEYS[L_HELD], holder) end
redis.call('ZREMRANGEBYSCORE', KEYS[L_HELD], '-inf', now)
local promoted = {}
while redis.call('ZCARD', KEYS[L_HELD]) < amount do
  local head = redis.call('ZPOPMIN', KEYS[L_WAITING])
  if #head == 0 then break end
  redis.call('ZADD', KEYS[L_HELD], now + lease_ms, head[1])
  promoted[#promoted + 1] = head[1]
end
return promoted

-- After dispatching, move outbox entries to the queue backstop, unless something
-- (a claim, a retry) already changed them. Returns how many moved.
-- ARGV (args.MarkArgs):
local job = ARGV[1]
local outbox_score = ARGV[2]           -- the score the commit gave them
local backstop_ms = tonumber(ARGV[3])
local TAIL = 4                         -- then the dispatched activation ids
local later = now_ms() + backstop_ms
local moved = 0
for i = TAIL, #ARGV do
  local m = member(job, ARGV[i])
  local score = redis.call('ZSCORE', KEYS[K_DUE], m)
  if score and score == outbox_score then
    redis.call('ZADD', KEYS[K_DUE], later, m)
    moved = moved + 1
  end
end
return moved

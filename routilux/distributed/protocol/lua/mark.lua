-- After dispatching, move outbox entries to the queue backstop, unless something
-- (a claim, a retry) already changed them. ARGV: job, outbox score, backstop ms, ids...
local job, outbox_score, backstop_ms = ARGV[1], ARGV[2], tonumber(ARGV[3])
local later = now_ms() + backstop_ms
local moved = 0
for i = 4, #ARGV do
  local m = member(job, ARGV[i])
  local score = redis.call('ZSCORE', KEYS[K_DUE], m)
  if score and score == outbox_score then
    redis.call('ZADD', KEYS[K_DUE], later, m)
    moved = moved + 1
  end
end
return moved

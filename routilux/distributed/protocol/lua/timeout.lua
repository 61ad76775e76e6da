-- The sweeper found a job at its deadline: fail it (a 'timeout' record, its activations dropped)
-- unless it already ended or was paused (pause disarms the deadline; resume arms it again).
-- Returns 'timed-out' | 'later' | 'gone'
-- ARGV (args.TimeoutArgs):
local job = ARGV[1]
local now = now_ms()
if past_deadline(now) then
  time_out(job, now)
  return 'timed-out'
end
local deadline = redis.call('HGET', KEYS[K_META], 'deadline')
if deadline and redis.call('HGET', KEYS[K_META], 'status') == 'running' then
  redis.call('ZADD', KEYS[K_DEADLINES], deadline, job)
  return 'later'
end
redis.call('ZREM', KEYS[K_DEADLINES], job)
return 'gone'

-- A schedule's tick was handled (its job exists, or it was skipped): move the schedule to its next tick.
-- Only the handler of the tick the schedule is at gets through, so a tick is recorded once.
-- KEYS: [1] the schedule HASH, [2] the due ZSET, [3] the schedule's capped ticks LIST (all {schedules}).
-- Returns 1, or 0 if the schedule is gone or already past that tick.
-- ARGV (args.AdvanceScheduleArgs):
local id = ARGV[1]                   -- the schedule id
local tick = ARGV[2]                 -- the tick handled (ms, as text: compared with the stored next_ms)
local next_tick = tonumber(ARGV[3])  -- its next tick (ms; 0: the schedule is over)
local record = ARGV[4]               -- the tick record (msgpack)
local counter = ARGV[5]              -- count to add to (fired, missed, skipped, failed)
local job = ARGV[6]                  -- the tick's job id ('' if none)
local count = tonumber(ARGV[7])      -- how many ticks the record stands for
local sched, due, ticks = KEYS[1], KEYS[2], KEYS[3]
if redis.call('HGET', sched, 'next_ms') ~= tick then return 0 end
if next_tick > 0 then
  redis.call('HSET', sched, 'next_ms', next_tick)
  if redis.call('HGET', sched, 'paused') ~= '1' then redis.call('ZADD', due, next_tick, id) end
else
  redis.call('HSET', sched, 'next_ms', '')
  redis.call('ZREM', due, id)
end
redis.call('HSET', sched, 'last_tick_ms', tick)
if job ~= '' then redis.call('HSET', sched, 'last_job', job) end
redis.call('HINCRBY', sched, counter, count)
redis.call('LPUSH', ticks, record)
redis.call('LTRIM', ticks, 0, TICK_RECORDS_KEPT - 1)
return 1

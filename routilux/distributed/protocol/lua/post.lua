-- Post data into a job: one new activation of a slot, once per activation id.
-- A post to a slot with an open wait closes that wait and drops its timeout activation (marked
-- applied, so a worker running the timeout right now has its commit refused as a duplicate); a wait
-- whose timeout committed first leaves the slot marked, and a post to it is refused as late.
-- A paused (or held) job keeps the post parked until resume.
-- Returns {'ok', status, outbox score} | {'duplicate', status} | {'late', status}
--      | {'ended', status} | {'unknown'}
-- ARGV (args.PostArgs):
local job = ARGV[1]
local act = ARGV[2]
local body = ARGV[3]                   -- the post's activation (signed, if keys are set)
local field = ARGV[4]                  -- the slot's field (keys.slot_field)
local history = ARGV[5]                -- the post's history record (msgpack)
local grace_ms = tonumber(ARGV[6])     -- outbox grace
local status = redis.call('HGET', KEYS[K_META], 'status')
if not status then return {'unknown'} end
if redis.call('HEXISTS', KEYS[K_ACTS], act) == 1 or redis.call('SISMEMBER', KEYS[K_APPLIED], act) == 1 then
  return {'duplicate', status}
end
if is_terminal(status) and not is_on_hold(status) then return {'ended', status} end
if redis.call('HGET', KEYS[K_META], 'waited:' .. field) == 'timed_out' then return {'late', status} end
local now = now_ms()
local closed = ''
local wait = redis.call('HGET', KEYS[K_META], 'wait:' .. field)
if wait then
  closed = string.match(wait, '^([^|]*)')
  redis.call('HDEL', KEYS[K_META], 'wait:' .. field)
  if redis.call('HEXISTS', KEYS[K_ACTS], closed) == 1 then finish_activation(job, closed) end
end
add_activation(act, body)
local score = now + grace_ms
if status == 'running' then
  redis.call('ZADD', KEYS[K_DUE], score, member(job, act))
else
  park(job, act)
end
redis.call('XADD', KEYS[K_LOG], '*', 'kind', 'delta', 'act', 'post', 'h', history, 'kids', cmsgpack.pack({act, body}),
  'closed', closed, 'ts', now)
redis.call('HSET', KEYS[K_META], 'updated_at', now)
return {'ok', status, tostring(score)}

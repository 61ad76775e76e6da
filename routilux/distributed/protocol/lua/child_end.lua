-- A child job ended: release it in its parent and add the parent's "child ended" activation, in one
-- step, so the parent stays open throughout. Once per child: a second delivery is a duplicate.
-- A parent that has ended (cancelled, failed) changes nothing.
-- Returns {'ok', outbox score} | {'parked'} | {'duplicate'} | {'unknown'} | {'final', status}
-- ARGV (args.ChildEndArgs):
local job = ARGV[1]                   -- the parent's job id
local child = ARGV[2]                 -- the child's job id
local act = ARGV[3]                   -- the "child ended" activation's id
local body = ARGV[4]                  -- and its body
local grace_ms = tonumber(ARGV[5])    -- outbox grace
local status = redis.call('HGET', KEYS[K_META], 'status')
if not status then return {'unknown'} end
if is_terminal(status) then return {'final', status} end
local kid = redis.call('HGET', KEYS[K_META], 'kid:' .. child)
if not kid or string.sub(kid, 1, 5) ~= 'open:' then return {'duplicate'} end
redis.call('HSET', KEYS[K_META], 'kid:' .. child, 'done:' .. string.sub(kid, 6))
redis.call('HINCRBY', KEYS[K_META], 'kids_open', -1)
if not add_activation(act, body) then return {'duplicate'} end
local now = now_ms()
redis.call('HSET', KEYS[K_META], 'updated_at', now)
if status ~= 'running' then
  park(job, act)
  return {'parked'}
end
redis.call('ZADD', KEYS[K_DUE], now + grace_ms, member(job, act))
return {'ok', tostring(now + grace_ms)}

-- Replay a dead letter: its activation goes back to its job, and the entry leaves the stream.
-- A job that failed only because of dead letters resumes once none of them is left: its parked
-- work (see is_on_hold() in _common.lua) and the replayed activations go out again.
-- Returns {'ok', job status, outbox score, {ids to dispatch}} or {'gone'} (no such entry)
--      | {'unknown'} (no such job) | {'refused', why}
-- ARGV (args.ReplayArgs):
local job = ARGV[1]
local act = ARGV[2]
local dead_id = ARGV[3]                -- the entry's id in its bucket's dead-letter stream
local grace_ms = tonumber(ARGV[4])     -- outbox grace
local entry = redis.call('XRANGE', KEYS[K_DEAD], dead_id, dead_id)[1]
if not entry then return {'gone'} end
local body = ''
for i = 1, #entry[2], 2 do
  if entry[2][i] == 'body' then body = entry[2][i + 1] end
end
local status = redis.call('HGET', KEYS[K_META], 'status')
if not status then return {'unknown'} end
if status ~= 'failed' or tonumber(redis.call('HGET', KEYS[K_META], 'dead') or '0') < 1 then
  return {'refused', 'job ' .. job .. ' is ' .. status .. ', not failed by dead letters'}
end
if redis.call('SCARD', KEYS[K_FAILEDRS]) > 0 then
  return {'refused', 'job ' .. job .. ' also failed because a routine failed; replaying would not finish it'}
end
if body == '' then return {'refused', 'the dead letter has no activation body to run'} end
local now = now_ms()
redis.call('XDEL', KEYS[K_DEAD], dead_id)
redis.call('SREM', KEYS[K_APPLIED], act)
redis.call('HDEL', KEYS[K_TRIES], act, 'bouncers:' .. act, 'bounces:' .. act)
redis.call('HDEL', KEYS[K_LASTERR], act, 'trace:' .. act)
add_activation(act, body)  -- no longer applied (above): unless still known, it counts again
redis.call('SADD', KEYS[K_PARKED], act)
if redis.call('HINCRBY', KEYS[K_META], 'dead', -1) > 0 then
  retain()
  return {'ok', status, '', {}}
end
redis.call('HDEL', KEYS[K_META], 'error', 'finished_at', 'expire_at')
-- Running again: its keys no longer expire, and its deadline is armed again (as resume does).
redis.call('ZREM', KEYS[K_EXPIRIES], job)
for i = 1, K_VER do redis.call('PERSIST', KEYS[i]) end
back_to_running(now)
local score = now + grace_ms
local dispatch = release_parked(job, now, score)
return {'ok', 'running', tostring(score), dispatch}

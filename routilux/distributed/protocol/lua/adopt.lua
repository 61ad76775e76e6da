-- A parent job takes on a child job (sub-flows): the child is open until release_child.lua releases it,
-- and the parent does not complete while any child is open (maybe_complete reads 'kids_open').
-- Meta fields: 'kid:<child job id>' = 'open:<activation>' | 'done:<activation>'; 'kids_open' counts the open.
-- Returns {'ok'} (adopted, or already known) | {'unknown'} | {'final', status}
-- ARGV (args.AdoptArgs):
local child = ARGV[1]                 -- the child's job id
local act = ARGV[2]                   -- the parent's activation that starts it
local status = redis.call('HGET', KEYS[K_META], 'status')
if not status then return {'unknown'} end
if is_terminal(status) then return {'final', status} end
if redis.call('HSETNX', KEYS[K_META], 'kid:' .. child, 'open:' .. act) == 1 then
  redis.call('HINCRBY', KEYS[K_META], 'kids_open', 1)
end
return {'ok'}

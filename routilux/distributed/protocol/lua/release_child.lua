-- A child job ended and its "child ended" post is in the parent (lua/post.lua, post id
-- "child:<child job id>"): release the child, so the parent may complete once that post has run.
-- Posting first and releasing second keeps the parent open throughout; both are idempotent,
-- so the sweeper finishes a release a dead worker left undone.
-- Returns {'ok', the parent's status now} | {'duplicate'} (released already, or never adopted) | {'unknown'}
-- ARGV (args.ReleaseChildArgs):
local child = ARGV[1]                 -- the child's job id
local status = redis.call('HGET', KEYS[K_META], 'status')
if not status then return {'unknown'} end
local kid = redis.call('HGET', KEYS[K_META], 'kid:' .. child)
if not kid or string.sub(kid, 1, 5) ~= 'open:' then return {'duplicate'} end
redis.call('HSET', KEYS[K_META], 'kid:' .. child, 'done:' .. string.sub(kid, 6))
redis.call('HINCRBY', KEYS[K_META], 'kids_open', -1)
if status == 'running' then status = maybe_complete(now_ms()) end  -- its post may have run already
retain()
return {'ok', status}

-- ARGV: prefix, user, arn
-- Undoes a join: removes the viewer without recording a watch time.
local user, arn = ARGV[2], ARGV[3]
local vk = viewer_key(user)
if redis.call('HGET', vk, 'stage') == arn then
  redis.call('DEL', vk)
  redis.call('ZREM', hb_key(arn), user)
  refresh_load(arn)
end
return 1

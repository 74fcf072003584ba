-- ARGV: user, arn
-- Undoes a join: removes the viewer without recording a watch time.
local user, arn = ARGV[1], ARGV[2]
if viewer_get(user) == arn then
  redis.call('HDEL', VIEWERS, user)
  hb_remove(arn, user)
  refresh_load(arn)
end
return 1

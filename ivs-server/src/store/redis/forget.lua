-- ARGV: user, arn
-- Undoes a join: removes the viewer without recording a watch time. Its
-- viewer.joined is already in the log, so the undoing is a viewer.left with
-- nothing watched: the pair stays consistent.
local user, arn = ARGV[1], ARGV[2]
if viewer_get(user) == arn then
  redis.call('HDEL', VIEWERS, user)
  hb_remove(arn, user)
  refresh_load(arn)
  emit('viewer.left', { userId = user, stageArn = arn, watchDuration = 0 })
end
return 1

-- ARGV: user, arn, announced (0/1)
-- Undoes a join: removes the viewer without recording a watch time. When its
-- viewer.joined is already in the log, the undoing is a viewer.left with
-- nothing watched, so the pair stays consistent; otherwise nothing is said.
local user, arn = ARGV[1], ARGV[2]
if viewer_get(user) == arn then
  redis.call('HDEL', VIEWERS, user)
  hb_remove(arn, user)
  refresh_load(arn)
  if ARGV[3] == '1' then
    emit('viewer.left', { userId = user, stageArn = arn, watchDuration = 0 })
  end
end
return 1

-- ARGV: user, arn, now (ms)
-- Returns {1, secs} when it left now, {2, secs} when it had already left or
-- expired (the recorded watch time), {0} when unknown.
local user, arn, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local at, pid, joined = viewer_get(user)
if at == arn then
  redis.call('HDEL', VIEWERS, user)
  depart(arn, pid)
  hb_remove(arn, user)
  refresh_load(arn)
  local secs = seconds_between(joined, now)
  record_duration(user, arn, secs, now)
  emit('viewer.left', { userId = user, stageArn = arn, watchDuration = secs }, now)
  return { 1, secs }
end
local recorded = redis.call('HGET', WATCH, pair(user, arn))
if recorded then return { 2, tonumber(recorded) } end
return { 0 }

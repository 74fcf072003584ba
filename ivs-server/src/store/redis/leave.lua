-- ARGV: prefix, user, arn, now (ms)
-- Returns {1, secs} when it left now, {2, secs} when it had already left or
-- expired (the recorded watch time), {0} when unknown.
local user, arn, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local vk = viewer_key(user)
local v = redis.call('HMGET', vk, 'stage', 'joined', 'pid')
if v[1] == arn then
  redis.call('DEL', vk)
  depart(arn, v[3])
  redis.call('ZREM', hb_key(arn), user)
  refresh_load(arn)
  local secs = seconds_between(tonumber(v[2]), now)
  record_duration(user, arn, secs, now)
  return { 1, secs }
end
local recorded = redis.call('HGET', WATCH, watch_field(user, arn))
if recorded then return { 2, tonumber(recorded) } end
return { 0 }

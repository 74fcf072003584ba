-- ARGV: prefix, user, arn, now (ms)
-- Returns {1, secs} (so far, or as recorded) or {0}.
local user, arn, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local v = redis.call('HMGET', viewer_key(user), 'stage', 'joined')
if v[1] == arn then return { 1, seconds_between(tonumber(v[2]), now) } end
local recorded = redis.call('HGET', WATCH, watch_field(user, arn))
if recorded then return { 1, tonumber(recorded) } end
return { 0 }

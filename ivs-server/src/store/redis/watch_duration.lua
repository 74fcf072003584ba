-- ARGV: user, arn, now (ms)
-- Returns {1, secs} (so far, or as recorded) or {0}.
local user, arn, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local at, _, joined = viewer_get(user)
if at == arn then return { 1, seconds_between(joined, now) } end
local recorded = redis.call('HGET', WATCH, pair(user, arn))
if recorded then return { 1, tonumber(recorded) } end
return { 0 }

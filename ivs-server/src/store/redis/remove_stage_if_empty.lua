-- ARGV: prefix, arn
-- Returns -1 when unknown, 0 when removed, else the viewer count left.
local arn = ARGV[2]
local key = stage_key(arn)
if redis.call('EXISTS', key) == 0 then return -1 end
local n = redis.call('ZCARD', hb_key(arn))
if n > 0 then return n end
unregister(arn)
return 0

-- ARGV: prefix, arn, field ('name' or 'draining'), value
-- Returns 1 when the stage is registered (and now updated), 0 otherwise.
local key = stage_key(ARGV[2])
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, ARGV[3], ARGV[4])
return 1

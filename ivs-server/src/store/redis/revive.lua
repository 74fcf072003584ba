-- ARGV: prefix, arn, now (ms)
-- Puts a draining stage back in service. Returns 1 when it was draining.
local arn = ARGV[2]
local key = stage_key(arn)
if redis.call('HGET', key, 'draining') ~= '1' then return 0 end
redis.call('HSET', key, 'draining', '0', 'revived', ARGV[3])
local m = load_member_of(arn)
if m and redis.call('HGET', key, 'assignable') == '1' then
  redis.call('ZADD', LOAD, redis.call('ZCARD', hb_key(arn)), m)
end
return 1

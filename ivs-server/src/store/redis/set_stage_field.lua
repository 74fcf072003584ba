-- ARGV: prefix, arn, field ('name' or 'draining'), value
-- Returns 1 when the stage is registered (and now updated), 0 otherwise.
local arn = ARGV[2]
local key = stage_key(arn)
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, ARGV[3], ARGV[4])
if ARGV[3] == 'draining' then
  local m = load_member_of(arn)
  if m and ARGV[4] ~= '1' and redis.call('HGET', key, 'assignable') == '1' then
    redis.call('ZADD', LOAD, redis.call('ZCARD', hb_key(arn)), m)
  elseif m then
    redis.call('ZREM', LOAD, m)
  end
end
return 1

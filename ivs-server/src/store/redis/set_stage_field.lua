-- ARGV: arn, field ('name' or 'draining'), value
-- Returns 1 when the stage is registered (and now updated), 0 otherwise.
local arn, field, value = ARGV[1], ARGV[2], ARGV[3]
if not registered(arn) then return 0 end
stage_set(arn, field, value)
if field == 'draining' then
  local m = load_member_of(arn)
  if m and value ~= '1' and stage_get(arn, 'assignable')[1] == '1' then
    redis.call('ZADD', LOAD, count_of(arn), m)
  elseif m then
    redis.call('ZREM', LOAD, m)
  end
end
return 1

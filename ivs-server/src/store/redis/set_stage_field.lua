-- ARGV: arn, field ('name' or 'draining'), value
-- Returns 1 when the stage is registered (and now updated), 0 otherwise.
-- A drain mark that changes is stage.draining / stage.revived.
local arn, field, value = ARGV[1], ARGV[2], ARGV[3]
if not registered(arn) then return 0 end
if field == 'draining' then
  local was = stage_get(arn, 'draining')[1] == '1'
  if value == '1' and not was then emit('stage.draining', { stageArn = arn }) end
  if value ~= '1' and was then emit('stage.revived', { stageArn = arn }) end
end
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

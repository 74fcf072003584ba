-- ARGV: arn, now (ms)
-- Puts a draining stage back in service. Returns 1 when it was draining.
local arn = ARGV[1]
local f = stage_get(arn, 'draining', 'assignable')
if f[1] ~= '1' then return 0 end
stage_set(arn, 'draining', '0')
stage_set(arn, 'revived', ARGV[2])
local m = load_member_of(arn)
if m and f[2] == '1' then
  redis.call('ZADD', LOAD, count_of(arn), m)
end
emit('stage.revived', { stageArn = arn }, tonumber(ARGV[2]))
return 1

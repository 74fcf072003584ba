-- ARGV: prefix, arn, record JSON, name, assignable (0/1), draining (0/1), created_at (ms)
-- Adds or replaces a registry entry. The hash's own `name` and `draining`
-- fields are the live values; `record` keeps the rest as registered.
local arn = ARGV[2]
local key = stage_key(arn)
redis.call('DEL', key)
redis.call('HSET', key, 'record', ARGV[3], 'name', ARGV[4], 'assignable', ARGV[5],
  'draining', ARGV[6])
-- A replaced entry may carry another creation time, hence another member.
local old = load_member_of(arn)
if old then redis.call('ZREM', LOAD, old) end
redis.call('ZADD', STAGES, ARGV[7], arn)
if ARGV[5] == '1' and ARGV[6] ~= '1' then
  redis.call('ZADD', LOAD, redis.call('ZCARD', hb_key(arn)), load_member(arn, tonumber(ARGV[7])))
end
return 1

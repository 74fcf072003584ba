-- ARGV: prefix, arn, now (ms)
-- Removes the stage and every viewer on it, recording each watch time
-- (join to now): the stage is gone from IVS, so they are gone too.
local arn, now = ARGV[2], tonumber(ARGV[3])
local hb = hb_key(arn)
local m = load_member_of(arn)
if m then redis.call('ZREM', LOAD, m) end
redis.call('DEL', stage_key(arn))
redis.call('ZREM', STAGES, arn)
unregister_master(arn)
for _, user in ipairs(redis.call('ZRANGE', hb, 0, -1)) do
  local vk = viewer_key(user)
  local v = redis.call('HMGET', vk, 'stage', 'joined')
  if v[1] == arn then
    redis.call('DEL', vk)
    record_duration(user, arn, seconds_between(tonumber(v[2]), now), now)
  end
end
redis.call('DEL', hb)
return 1

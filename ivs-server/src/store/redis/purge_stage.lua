-- ARGV: arn, now (ms), reason (of stage.removed)
-- Removes the stage and every viewer on it, recording each watch time
-- (join to now) and its viewer.left: the stage is gone from IVS, so they
-- are gone too, and every viewer.joined keeps its end. Then stage.removed
-- when it was registered. Reads the whole heartbeat set (bounded by the
-- deployment's size; rare).
local arn, now = ARGV[1], tonumber(ARGV[2])
local was_registered = registered(arn)
local m = load_member_of(arn)
if m then redis.call('ZREM', LOAD, m) end
stage_forget(arn)
redis.call('ZREM', STAGES, arn)
unregister_master(arn)
local members = redis.call('ZRANGE', HB, 0, -1)
local gone = {}
for _, member in ipairs(members) do
  local at, user = unpair(member)
  if at == arn then
    gone[#gone + 1] = member
    local on, _, joined = viewer_get(user)
    if on == arn then
      redis.call('HDEL', VIEWERS, user)
      local secs = seconds_between(joined, now)
      record_duration(user, arn, secs, now)
      emit('viewer.left', { userId = user, stageArn = arn, watchDuration = secs }, now)
    end
  end
end
-- In slices: unpack() of a very long list would overflow Lua's stack.
for i = 1, #gone, 1000 do
  redis.call('ZREM', HB, unpack(gone, i, math.min(i + 999, #gone)))
end
redis.call('HDEL', COUNT, arn)
if was_registered then
  emit('stage.removed', { stageArn = arn, reason = ARGV[3] }, now)
end
return 1

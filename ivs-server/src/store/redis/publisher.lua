-- ARGV: arn, live (0/1), observed at (ms)
-- Records the publisher's state unless an observation at least as new is
-- recorded already (events arrive late and out of order; polls race them).
-- Returns 1 when the state changed (and publisher.live / publisher.offline
-- is recorded), 0 otherwise. Nothing recorded yet reads as offline.
local arn, live, at = ARGV[1], ARGV[2], tonumber(ARGV[3])
local was = '0'
local cur = redis.call('HGET', PUBLISHER, arn)
if cur then
  local state, seen = string.match(cur, '^(%d) (%-?%d+)$')
  if seen and tonumber(seen) >= at then return 0 end
  was = state or '0'
end
redis.call('HSET', PUBLISHER, arn, live .. ' ' .. int(at))
if was == live then return 0 end
if live == '1' then
  emit('publisher.live', { stageArn = arn }, at)
else
  emit('publisher.offline', { stageArn = arn }, at)
end
return 1

-- ARGV: now (ms), heartbeat timeout (ms), retention (ms)
-- Removes viewers whose last heartbeat is older than now - timeout (watch
-- time: join to last heartbeat) and forgets watch times recorded before
-- now - retention. Only the expired entries are read: one range query on
-- the heartbeat set, one on the recorded-time set.
local now = tonumber(ARGV[1])
local cutoff = '(' .. int(now - tonumber(ARGV[2]))
local forget_before = '(' .. int(now - tonumber(ARGV[3]))
local removed = 0
local expired = redis.call('ZRANGEBYSCORE', HB, '-inf', cutoff, 'WITHSCORES')
if #expired > 0 then
  local gone = {}
  for i = 1, #expired, 2 do
    local arn, user = unpair(expired[i])
    if arn then
      local last = tonumber(expired[i + 1])
      local at, pid, joined = viewer_get(user)
      if at == arn then
        redis.call('HDEL', VIEWERS, user)
        depart(arn, pid)
        local secs = seconds_between(joined, last)
        record_duration(user, arn, secs, now)
        emit('viewer.expired', { userId = user, stageArn = arn, watchDuration = secs }, now)
      end
      gone[arn] = (gone[arn] or 0) + 1
    end
    removed = removed + 1
  end
  redis.call('ZREMRANGEBYSCORE', HB, '-inf', cutoff)
  for arn, k in pairs(gone) do
    count_add(arn, -k)
    refresh_load(arn)
  end
end
local old = redis.call('ZRANGEBYSCORE', WATCH_AT, '-inf', forget_before)
if #old > 0 then
  for _, f in ipairs(old) do redis.call('HDEL', WATCH, f) end
  redis.call('ZREMRANGEBYSCORE', WATCH_AT, '-inf', forget_before)
end
return removed

-- ARGV: prefix, now (ms), heartbeat timeout (ms), retention (ms)
-- Removes viewers whose last heartbeat is older than now - timeout (watch
-- time: join to last heartbeat) and forgets watch times recorded before
-- now - retention. Only the expired entries are read: per stage, one range
-- query on the heartbeat set; the retention uses the recorded-time set.
local now = tonumber(ARGV[2])
local cutoff = '(' .. int(now - tonumber(ARGV[3]))
local forget_before = '(' .. int(now - tonumber(ARGV[4]))
local removed = 0
local registry = redis.call('ZRANGE', STAGES, 0, -1, 'WITHSCORES')
for r = 1, #registry, 2 do
  local arn, created = registry[r], registry[r + 1]
  local hb = hb_key(arn)
  local expired = redis.call('ZRANGEBYSCORE', hb, '-inf', cutoff, 'WITHSCORES')
  if #expired > 0 then
    for i = 1, #expired, 2 do
      local user, last = expired[i], tonumber(expired[i + 1])
      local vk = viewer_key(user)
      local v = redis.call('HMGET', vk, 'stage', 'joined', 'pid')
      if v[1] == arn then
        redis.call('DEL', vk)
        depart(arn, v[3])
        record_duration(user, arn, seconds_between(tonumber(v[2]), last), now)
      end
      removed = removed + 1
    end
    redis.call('ZREMRANGEBYSCORE', hb, '-inf', cutoff)
    refresh_load(arn, created)
  end
end
local old = redis.call('ZRANGEBYSCORE', WATCH_AT, '-inf', forget_before)
if #old > 0 then
  for _, f in ipairs(old) do redis.call('HDEL', WATCH, f) end
  redis.call('ZREMRANGEBYSCORE', WATCH_AT, '-inf', forget_before)
end
return removed

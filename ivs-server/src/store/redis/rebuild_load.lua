-- Rebuilds COUNT from the heartbeat set and LOAD from the registry, the
-- stage flags and COUNT. Run by every instance when it connects: after an
-- upgrade, a restored backup, a failover or a hand edit the indexes agree
-- with the data again. Atomic, so instances already serving see either the
-- old or the rebuilt indexes. Returns the number of open stages.
redis.call('DEL', LOAD, COUNT)
local counts = {}
for _, member in ipairs(redis.call('ZRANGE', HB, 0, -1)) do
  local arn = unpair(member)
  if arn then counts[arn] = (counts[arn] or 0) + 1 end
end
for arn, n in pairs(counts) do redis.call('HSET', COUNT, arn, n) end
local master = redis.call('GET', MASTER)
if master and not registered(master) then
  redis.call('DEL', MASTER)
  master = nil
end
local open = 0
local registry = redis.call('ZRANGE', STAGES, 0, -1, 'WITHSCORES')
for i = 1, #registry, 2 do
  local arn, created = registry[i], tonumber(registry[i + 1])
  local f = stage_get(arn, 'assignable', 'draining', 'record')
  if not master and f[3] and cjson.decode(f[3]).master then
    master = arn
    redis.call('SET', MASTER, arn)
  end
  if f[1] == '1' and f[2] ~= '1' then
    redis.call('ZADD', LOAD, count_of(arn), load_member(arn, created))
    open = open + 1
  end
end
return open

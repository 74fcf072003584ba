-- ARGV: prefix
-- Rebuilds LOAD from the registry, the stage flags and the heartbeat sets,
-- and drops `{p}open`, the index of earlier versions. Run by every instance
-- when it connects: after an upgrade, a restored backup or a hand edit the
-- index agrees with the data again. Atomic, so instances already serving
-- see either the old or the rebuilt index. Returns the number of open stages.
redis.call('DEL', LOAD, P .. 'open')
-- The master pointer of earlier versions' registries: the oldest master.
local master = redis.call('GET', MASTER)
if master and redis.call('EXISTS', stage_key(master)) == 0 then
  redis.call('DEL', MASTER)
  master = nil
end
local open = 0
local registry = redis.call('ZRANGE', STAGES, 0, -1, 'WITHSCORES')
for i = 1, #registry, 2 do
  local arn, created = registry[i], tonumber(registry[i + 1])
  local f = redis.call('HMGET', stage_key(arn), 'assignable', 'draining', 'record')
  if not master and f[3] and cjson.decode(f[3]).master then
    master = arn
    redis.call('SET', MASTER, arn)
  end
  if f[1] == '1' and f[2] ~= '1' then
    redis.call('ZADD', LOAD, redis.call('ZCARD', hb_key(arn)), load_member(arn, created))
    open = open + 1
  end
end
return open

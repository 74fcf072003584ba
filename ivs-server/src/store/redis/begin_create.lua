-- KEYS[LEASE]: the lease. ARGV: intent id, intent JSON, master (0/1), max
-- stages, holder, token
-- Returns 1 recorded, 0 at the limit, 2 a master exists or is being
-- created, 3 fenced. Registered stages and pending intents (creations and
-- deletions alike) count toward the limit: each may be a stage in IVS. A
-- refusal at the limit is fleet.stage_limit_reached, once a minute at most
-- for the whole deployment (LIMIT_NOTED is the minute's mark).
if not fence_holds(ARGV[5], ARGV[6]) then return 3 end
if ARGV[3] == '1' then
  if redis.call('EXISTS', MASTER) == 1 then return 2 end
  for _, json in ipairs(redis.call('HVALS', INTENTS)) do
    local i = cjson.decode(json)
    if i.master and i.action == 'create' then return 2 end
  end
end
local active = redis.call('ZCARD', STAGES) + redis.call('HLEN', INTENTS)
if active >= tonumber(ARGV[4]) then
  if redis.call('SET', LIMIT_NOTED, '1', 'NX', 'PX', 60000) then
    emit('fleet.stage_limit_reached', { activeStages = active, maxStages = tonumber(ARGV[4]) })
  end
  return 0
end
redis.call('HSET', INTENTS, ARGV[1], ARGV[2])
return 1

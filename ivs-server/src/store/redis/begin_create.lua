-- KEYS[LEASE]: the lease. ARGV: intent id, intent JSON, master (0/1), max
-- stages, holder, token
-- Returns 1 recorded, 0 at the limit, 2 a master exists or is being
-- created, 3 fenced. Registered stages and pending intents (creations and
-- deletions alike) count toward the limit: each may be a stage in IVS.
if not fence_holds(ARGV[5], ARGV[6]) then return 3 end
if ARGV[3] == '1' then
  if redis.call('EXISTS', MASTER) == 1 then return 2 end
  for _, json in ipairs(redis.call('HVALS', INTENTS)) do
    local i = cjson.decode(json)
    if i.master and i.action == 'create' then return 2 end
  end
end
if redis.call('ZCARD', STAGES) + redis.call('HLEN', INTENTS) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('HSET', INTENTS, ARGV[1], ARGV[2])
return 1

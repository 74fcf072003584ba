-- KEYS[LEASE]: the lease. ARGV: arn, intent id, intent JSON, holder, token
-- Takes a draining, empty stage out of the registry and records a deletion
-- intent for it in the same step. Returns -1 unknown, -2 not draining,
-- -3 fenced, 0 removed, else the viewer count left.
if not fence_holds(ARGV[4], ARGV[5]) then return -3 end
local arn = ARGV[1]
if not registered(arn) then return -1 end
if stage_get(arn, 'draining')[1] ~= '1' then return -2 end
local n = count_of(arn)
if n > 0 then return n end
unregister(arn)
redis.call('HSET', INTENTS, ARGV[2], ARGV[3])
return 0

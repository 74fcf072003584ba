-- ARGV: prefix, arn, intent id, intent JSON, lease, holder, token
-- Takes a draining, empty stage out of the registry and records a deletion
-- intent for it in the same step. Returns -1 unknown, -2 not draining,
-- -3 fenced, 0 removed, else the viewer count left.
if not fence_holds(ARGV[5], ARGV[6], ARGV[7]) then return -3 end
local arn = ARGV[2]
local key = stage_key(arn)
if redis.call('EXISTS', key) == 0 then return -1 end
if redis.call('HGET', key, 'draining') ~= '1' then return -2 end
local n = redis.call('ZCARD', hb_key(arn))
if n > 0 then return n end
unregister(arn)
redis.call('HSET', INTENTS, ARGV[3], ARGV[4])
return 0

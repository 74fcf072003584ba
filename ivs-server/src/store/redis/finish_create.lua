-- ARGV: prefix, arn, record JSON, name, assignable (0/1), draining (0/1),
-- created_at (ms), master (0/1), lease, holder, token, intent id
-- Registers the stage a creation intent made and drops the intent, in one
-- step. Returns 0 (nothing changed) when the fence is stale.
if not fence_holds(ARGV[9], ARGV[10], ARGV[11]) then return 0 end
register(ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
redis.call('HDEL', INTENTS, ARGV[12])
return 1

-- KEYS[LEASE]: the lease. ARGV: arn, record JSON, name, assignable (0/1),
-- draining (0/1), created_at (ms), master (0/1), holder, token, intent id
-- Registers the stage a creation intent made and drops the intent, in one
-- step. Returns 0 (nothing changed) when the fence is stale.
if not fence_holds(ARGV[8], ARGV[9]) then return 0 end
register(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
redis.call('HDEL', INTENTS, ARGV[10])
return 1

-- ARGV: intent id. Returns 1 when it existed.
return redis.call('HDEL', INTENTS, ARGV[1])

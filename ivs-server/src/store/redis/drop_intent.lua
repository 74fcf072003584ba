-- ARGV: prefix, intent id. Returns 1 when it existed.
return redis.call('HDEL', INTENTS, ARGV[2])

-- KEYS: stages, sessions. ARGV: arn. Returns 1 when the stage existed.
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])

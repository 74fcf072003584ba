-- KEYS: disconnected. ARGV: since (ms, exclusive). Returns "<arn> <participant>" members.
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')

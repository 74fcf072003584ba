-- KEYS: stages. ARGV: arn, stage JSON.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1

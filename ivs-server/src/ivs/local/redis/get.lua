-- KEYS: stages, sessions. ARGV: arn. Returns {stage JSON, session} ('' when absent).
return { redis.call('HGET', KEYS[1], ARGV[1]) or '', redis.call('HGET', KEYS[2], ARGV[1]) or '' }

-- KEYS: stages, sessions. Returns {HGETALL stages, HGETALL sessions}: one
-- consistent snapshot of both.
return { redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]) }

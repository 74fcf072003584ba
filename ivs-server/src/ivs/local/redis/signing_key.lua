-- KEYS: key. ARGV: a fresh key (base64 PKCS#8). The first instance's key
-- wins, so every instance of the fleet signs with the same one.
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]

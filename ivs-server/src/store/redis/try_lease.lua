-- KEYS[1]: the lease, KEYS[2]: its fencing counter. ARGV: holder, ttl
-- (ms, >= 1). A script of its own (no prelude).
-- Takes the lease if free, renews it if the holder already has it. Returns
-- the fencing token (it grows each time the lease is taken), or 0 when
-- another holder has it.
local holder, ttl = ARGV[1], ARGV[2]
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, ':', 1, true)
  if sep and string.sub(cur, sep + 1) == holder then
    redis.call('PEXPIRE', KEYS[1], ttl)
    return tonumber(string.sub(cur, 1, sep - 1))
  end
  return 0
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. ':' .. holder, 'PX', ttl)
return token

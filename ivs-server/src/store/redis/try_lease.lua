-- ARGV: prefix, name, holder, ttl (ms, >= 1)
-- Takes the lease if free, renews it if the holder already has it. Returns
-- the fencing token (it grows each time the lease is taken), or 0 when
-- another holder has it.
local key = lease_key(ARGV[2])
local holder, ttl = ARGV[3], ARGV[4]
local cur = redis.call('GET', key)
if cur then
  local sep = string.find(cur, ':', 1, true)
  if sep and string.sub(cur, sep + 1) == holder then
    redis.call('PEXPIRE', key, ttl)
    return tonumber(string.sub(cur, 1, sep - 1))
  end
  return 0
end
local token = redis.call('INCR', P .. 'fence:' .. ARGV[2])
redis.call('SET', key, token .. ':' .. holder, 'PX', ttl)
return token

-- ARGV: prefix, name, holder, ttl (ms, >= 1)
-- Takes the lease if free, renews it if the holder already has it.
local key = P .. 'lease:' .. ARGV[2]
local holder, ttl = ARGV[3], ARGV[4]
if redis.call('GET', key) == holder then
  redis.call('PEXPIRE', key, ttl)
  return 1
end
if redis.call('SET', key, holder, 'NX', 'PX', ttl) then return 1 end
return 0

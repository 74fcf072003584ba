-- KEYS[12]: the lease. ARGV: holder
local cur = redis.call('GET', KEYS[12])
if cur then
  local sep = string.find(cur, ':', 1, true)
  if sep and string.sub(cur, sep + 1) == ARGV[1] then redis.call('DEL', KEYS[12]) end
end
return 1

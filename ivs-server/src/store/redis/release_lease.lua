-- ARGV: prefix, name, holder
local key = lease_key(ARGV[2])
local cur = redis.call('GET', key)
if cur then
  local sep = string.find(cur, ':', 1, true)
  if sep and string.sub(cur, sep + 1) == ARGV[3] then redis.call('DEL', key) end
end
return 1

-- KEYS[1]: the event log. ARGV: group, min idle (ms), start ('-' or
-- '(<position>'), count. No prelude.
-- The group's pending entries idle for at least `min idle`, in log order:
-- {position, consumer, idle ms, deliveries}, ...; none for a missing group.
local r = redis.pcall('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[2], ARGV[3], '+', ARGV[4])
if type(r) == 'table' and r.err then
  if string.find(r.err, 'NOGROUP', 1, true) then return {} end
  return redis.error_reply(r.err)
end
return r

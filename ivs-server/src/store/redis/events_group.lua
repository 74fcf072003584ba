-- KEYS[1]: the event log. ARGV: group. A script of its own (no prelude).
-- Creates the consumer group at the log's end unless it exists (the stream
-- too, so a group can start before the first event).
local r = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '$', 'MKSTREAM')
if type(r) == 'table' and r.err and not string.find(r.err, 'BUSYGROUP', 1, true) then
  return redis.error_reply(r.err)
end
return 1

-- KEYS[1]: the event log. ARGV: group, consumer, count. No prelude.
-- XREADGROUP of entries never handed out (no BLOCK: the connection is
-- shared). A group that is missing (Redis lost its data) is created at the
-- end, so delivery goes on with what comes next. Returns the entries.
local r = redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3],
  'STREAMS', KEYS[1], '>')
if type(r) == 'table' and r.err then
  if not string.find(r.err, 'NOGROUP', 1, true) then return redis.error_reply(r.err) end
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '$', 'MKSTREAM')
  return {}
end
if not r or not r[1] then return {} end
return r[1][2]

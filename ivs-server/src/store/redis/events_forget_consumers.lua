-- KEYS[1]: the event log. ARGV: group, min idle (ms). No prelude.
-- Deletes the group's consumers that hold no pending entry and have been
-- idle for at least `min idle` (instances that stopped for good: a live one
-- reads every poll); returns how many. 0 for a missing group or log.
local r = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if type(r) == 'table' and r.err then
  if string.find(r.err, 'NOGROUP', 1, true) or string.find(r.err, 'no such key', 1, true) then
    return 0
  end
  return redis.error_reply(r.err)
end
local min_idle = tonumber(ARGV[2])
local n = 0
for _, c in ipairs(r) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if tonumber(f['pending']) == 0 and tonumber(f['idle']) >= min_idle then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    n = n + 1
  end
end
return n

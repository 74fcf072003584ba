-- KEYS[1]: the event log. No ARGV, no prelude.
-- Every consumer group of the log: {name, pending}, ...; none without a log.
local r = redis.pcall('XINFO', 'GROUPS', KEYS[1])
if type(r) == 'table' and r.err then
  if string.find(r.err, 'no such key', 1, true) then return {} end
  return redis.error_reply(r.err)
end
local out = {}
for _, g in ipairs(r) do
  local f = {}
  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
  out[#out + 1] = { f['name'], f['pending'] }
end
return out

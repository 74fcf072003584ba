-- KEYS[1]: the event log. ARGV: group, consumer, min idle (ms), positions...
-- No prelude. Takes pending entries over for the consumer, each only if
-- still idle for at least `min idle` (XCLAIM's own check, so two callers
-- never both take one). A pending entry the log no longer holds (trimmed)
-- is acknowledged here, in the same step, and returned apart: exactly one
-- caller learns it was dropped. Returns {claimed entries, trimmed positions}.
local key, group, consumer, idle = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local take, trimmed = {}, {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local p = redis.pcall('XPENDING', key, group, 'IDLE', idle, id, id, 1)
  if type(p) == 'table' and p.err then
    if string.find(p.err, 'NOGROUP', 1, true) then return { {}, {} } end
    return redis.error_reply(p.err)
  end
  if #p == 1 then
    if #redis.call('XRANGE', key, id, id) == 0 then
      redis.call('XACK', key, group, id)
      trimmed[#trimmed + 1] = id
    else
      take[#take + 1] = id
    end
  end
end
local claimed = {}
-- In slices: unpack() of a very long list would overflow Lua's stack.
for i = 1, #take, 1000 do
  local got = redis.call('XCLAIM', key, group, consumer, idle,
    unpack(take, i, math.min(i + 999, #take)))
  for _, e in ipairs(got) do claimed[#claimed + 1] = e end
end
return { claimed, trimmed }

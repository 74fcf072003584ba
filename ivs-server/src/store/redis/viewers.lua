-- ARGV: arn
-- Returns a flat list: user, participant, joined, last heartbeat, ...
-- Reads the whole heartbeat set: one deployment holds at most its stage
-- limit times the stage capacity (1,000 by default), and this is an
-- operator's call, not a viewer's.
local arn = ARGV[1]
local members = redis.call('ZRANGE', HB, 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #members, 2 do
  local at, user = unpair(members[i])
  if at == arn then
    local on, pid, joined = viewer_get(user)
    if on == arn then
      out[#out + 1] = user
      out[#out + 1] = pid
      out[#out + 1] = joined
      out[#out + 1] = members[i + 1]
    end
  end
end
return out

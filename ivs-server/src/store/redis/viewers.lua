-- ARGV: prefix, arn
-- Returns a flat list: user, participant, joined, last heartbeat, ...
local arn = ARGV[2]
local members = redis.call('ZRANGE', hb_key(arn), 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #members, 2 do
  local user = members[i]
  local v = redis.call('HMGET', viewer_key(user), 'stage', 'pid', 'joined')
  if v[1] == arn then
    out[#out + 1] = user
    out[#out + 1] = v[2] or ''
    out[#out + 1] = v[3]
    out[#out + 1] = members[i + 1]
  end
end
return out

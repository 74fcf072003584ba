-- KEYS: stages, sessions. ARGV: arn, until (ms), now (ms), new session id.
-- A session is "<until> <id>". Extends the running session, or starts a new
-- one when the last has ended. Returns 0 when the stage does not exist.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local now = tonumber(ARGV[3])
local until_ms, id = 0, ARGV[4]
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur then
  local sp = string.find(cur, ' ', 1, true)
  if sp then
    until_ms = tonumber(string.sub(cur, 1, sp - 1)) or 0
    if until_ms > now then id = string.sub(cur, sp + 1) end
  end
end
until_ms = math.max(until_ms, tonumber(ARGV[2]))
redis.call('HSET', KEYS[2], ARGV[1], string.format('%.0f', until_ms) .. ' ' .. id)
return 1

-- KEYS: stages, disconnected. ARGV: arn, participant id, now (ms), memory (ms).
-- Returns 0 when the stage does not exist.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local now = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[4]))
redis.call('ZADD', KEYS[2], now, ARGV[1] .. ' ' .. ARGV[2])
return 1

-- ARGV: prefix, user, participant, now (ms), capacity, scale_up_at
-- Returns {0} when no stage has room, else
-- {1, stage, viewers on it now, rejoined (0/1), needs_stage (0/1)}.
local user, pid = ARGV[2], ARGV[3]
local now, capacity, scale_up_at = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local vk = viewer_key(user)

local current = redis.call('HGET', vk, 'stage')
if current then
  local hb = hb_key(current)
  if redis.call('EXISTS', stage_key(current)) == 1 then
    -- Counted once: same stage, new participant, and the token request
    -- counts as a sign of life (a heartbeat never moves backwards).
    local last = tonumber(redis.call('ZSCORE', hb, user) or now)
    if now > last then last = now end
    redis.call('ZADD', hb, int(last), user)
    redis.call('HSET', vk, 'pid', pid)
    refresh_load(current)
    return { 1, current, redis.call('ZCARD', hb), 1, needs_stage(scale_up_at) }
  end
  -- Its stage left the registry (so it has no LOAD entry): start over on a
  -- live one.
  redis.call('ZREM', hb, user)
  redis.call('DEL', vk)
end

-- The least-loaded open stage is the only candidate: if it is full, so is
-- every other one.
local member, n = least_loaded()
if not member or n >= capacity then return { 0 } end
local target = member_arn(member)
local hb = hb_key(target)
redis.call('HSET', vk, 'stage', target, 'pid', pid, 'joined', int(now))
redis.call('ZADD', hb, int(now), user)
n = redis.call('ZCARD', hb)
redis.call('ZADD', LOAD, 'XX', n, member)
return { 1, target, n, 0, needs_stage(scale_up_at) }

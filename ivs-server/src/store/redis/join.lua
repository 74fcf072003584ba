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
    return { 1, current, redis.call('ZCARD', hb), 1, needs_stage(scale_up_at) }
  end
  -- Its stage left the registry: start over on a live one.
  redis.call('ZREM', hb, user)
  redis.call('DEL', vk)
end

local target, min_n, at_min = pick_stage(capacity)
if not target then return { 0 } end
local hb = hb_key(target)
redis.call('HSET', vk, 'stage', target, 'pid', pid, 'joined', int(now))
redis.call('ZADD', hb, int(now), user)
-- needs_stage without a second walk of the registry: the target had the
-- smallest count (it is the least loaded and has room), so after this add the
-- smallest count grows by one only if the target was the only stage at it.
if at_min == 1 then min_n = min_n + 1 end
local needs = 0
if min_n >= scale_up_at then needs = 1 end
return { 1, target, redis.call('ZCARD', hb), 0, needs }

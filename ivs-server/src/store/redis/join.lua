-- ARGV: user, participant, now (ms), capacity, scale_up_at, announce (0/1:
-- record viewer.joined here, or leave it to set_participant.lua)
-- Returns {0} when no stage has room, else
-- {1, stage, viewers on it now, rejoined (0/1), needs_stage (0/1)}.
local user, pid = ARGV[1], ARGV[2]
local now, capacity, scale_up_at = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])

local current, _, joined = viewer_get(user)
if current then
  if registered(current) then
    -- Counted once: same stage, new participant, and the token request
    -- counts as a sign of life (a heartbeat never moves backwards).
    local last = tonumber(redis.call('ZSCORE', HB, pair(user, current)) or now)
    if now > last then last = now end
    local n = hb_add(current, user, last)
    viewer_set(user, current, pid, joined)
    refresh_load(current)
    return { 1, current, n, 1, needs_stage(scale_up_at) }
  end
  -- Its stage left the registry (so it has no LOAD entry): start over on a
  -- live one.
  hb_remove(current, user)
  redis.call('HDEL', VIEWERS, user)
end

-- The least-loaded open stage is the only candidate: if it is full, so is
-- every other one.
local member, n = least_loaded()
if not member or n >= capacity then return { 0 } end
local target = member_arn(member)
viewer_set(user, target, pid, now)
n = hb_add(target, user, now)
redis.call('ZADD', LOAD, 'XX', n, member)
if ARGV[6] == '1' then
  emit('viewer.joined', { userId = user, stageArn = target, participantId = pid }, now)
end
return { 1, target, n, 0, needs_stage(scale_up_at) }

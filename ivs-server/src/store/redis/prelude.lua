-- Shared by every script of the Redis viewer store (prepended to each one).
-- ARGV[1] is always the key prefix; the remaining ARGV are the operation's.
-- Keys are derived here rather than passed in KEYS because most of them are
-- only known inside the script (the viewer's stage, the registered stages):
-- the store targets one Redis server (or a primary), not Redis Cluster.
local P = ARGV[1]
local STAGES = P .. 'stages'
-- The assignable, non-draining stages, scored like STAGES (by creation): the
-- only ones a join looks at, so it reads no per-stage flags.
local OPEN = P .. 'open'
local WATCH = P .. 'watch'
local WATCH_AT = P .. 'watch:at'

local function stage_key(arn) return P .. 'stage:' .. arn end
local function hb_key(arn) return P .. 'hb:' .. arn end
local function viewer_key(user) return P .. 'viewer:' .. user end

-- Length-prefixed so that no (user, stage) pair can collide with another.
local function watch_field(user, arn) return #arn .. ':' .. arn .. user end

-- Integers go to Redis as plain digits: the default number-to-string
-- conversion may pick an exponent form, which PEXPIRE rejects.
local function int(x) return string.format('%.0f', x) end

local function seconds_between(from, to)
  local d = to - from
  if d < 0 then d = 0 end
  return math.floor(d / 1000)
end

-- Watch time, replaced if the pair already had one; forgotten by the sweep
-- once older than the retention (ordered by the time it was recorded).
local function record_duration(user, arn, secs, now)
  local f = watch_field(user, arn)
  redis.call('HSET', WATCH, f, int(secs))
  redis.call('ZADD', WATCH_AT, int(now), f)
end

-- The least-loaded assignable, non-draining stage with fewer than `capacity`
-- viewers (ties: oldest, then ARN — the registry's own order), the smallest
-- count over all assignable, non-draining stages (nil when none), and how
-- many of those stages have that smallest count.
local function pick_stage(capacity)
  local best, best_n, min_n, at_min = nil, nil, nil, 0
  for _, arn in ipairs(redis.call('ZRANGE', OPEN, 0, -1)) do
    local n = redis.call('ZCARD', hb_key(arn))
    if min_n == nil or n < min_n then
      min_n, at_min = n, 1
    elseif n == min_n then
      at_min = at_min + 1
    end
    if n < capacity and (best_n == nil or n < best_n) then
      best, best_n = arn, n
    end
  end
  return best, min_n, at_min
end

local function needs_stage(scale_up_at)
  local _, min_n = pick_stage(0)
  if min_n == nil or min_n >= scale_up_at then return 1 end
  return 0
end

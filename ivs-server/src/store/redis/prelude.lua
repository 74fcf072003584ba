-- Shared by every script of the Redis viewer store (prepended to each one).
-- ARGV[1] is always the key prefix; the remaining ARGV are the operation's.
-- Keys are derived here rather than passed in KEYS because most of them are
-- only known inside the script (the viewer's stage, the registered stages):
-- the store targets one Redis server (or a primary), not Redis Cluster.
local P = ARGV[1]
local STAGES = P .. 'stages'
-- The assignable, non-draining stages scored by viewer count, so that a
-- join reads the least-loaded one with a single ZRANGE. Members are
-- load_member(): the creation time zero-padded, then the ARN, so that equal
-- counts fall back to "oldest, then ARN" by Redis' own member order. Every
-- script that changes a stage's heartbeat set refreshes its score.
local LOAD = P .. 'load'
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

-- 16 digits hold any creation time in ms for the next 300,000 years.
local function load_member(arn, created) return string.format('%016.0f', created) .. arn end
local function member_arn(member) return string.sub(member, 17) end

-- The stage's member of LOAD (nil when it is not registered).
local function load_member_of(arn)
  local created = redis.call('ZSCORE', STAGES, arn)
  if not created then return nil end
  return load_member(arn, tonumber(created))
end

-- Re-scores an open stage after its viewer set changed; XX leaves closed
-- (draining, non-assignable) and unregistered stages out. `created` saves
-- the registry lookup when the caller already read it (the sweep).
local function refresh_load(arn, created)
  created = created or redis.call('ZSCORE', STAGES, arn)
  if created then
    redis.call('ZADD', LOAD, 'XX', redis.call('ZCARD', hb_key(arn)),
      load_member(arn, tonumber(created)))
  end
end

-- The least-loaded open stage and its viewer count (nil when none is open).
local function least_loaded()
  local first = redis.call('ZRANGE', LOAD, 0, 0, 'WITHSCORES')
  if #first == 0 then return nil, nil end
  return first[1], tonumber(first[2])
end

-- A new stage is needed when no stage is open or the least loaded one has
-- reached the threshold.
local function needs_stage(scale_up_at)
  local _, n = least_loaded()
  if n == nil or n >= scale_up_at then return 1 end
  return 0
end

-- Lease values are "<fencing token>:<holder>"; a write made under a lease
-- carries both and is refused once the lease expired or changed hands.
local INTENTS = P .. 'intents'
local MASTER = P .. 'master'
local function lease_key(name) return P .. 'lease:' .. name end
local function fence_holds(lease, holder, token)
  return redis.call('GET', lease_key(lease)) == token .. ':' .. holder
end

-- Adds or replaces a registry entry. The hash's own `name`, `draining` and
-- `revived` fields are the live values; `record` keeps the rest as registered.
local function register(arn, json, name, assignable, draining, created, master)
  local key = stage_key(arn)
  redis.call('DEL', key)
  redis.call('HSET', key, 'record', json, 'name', name, 'assignable', assignable,
    'draining', draining)
  -- A replaced entry may carry another creation time, hence another member.
  local old = load_member_of(arn)
  if old then redis.call('ZREM', LOAD, old) end
  redis.call('ZADD', STAGES, created, arn)
  if assignable == '1' and draining ~= '1' then
    redis.call('ZADD', LOAD, redis.call('ZCARD', hb_key(arn)), load_member(arn, tonumber(created)))
  end
  if master == '1' then redis.call('SET', MASTER, arn) end
end

-- Forgets the master pointer when `arn` was the master.
local function unregister_master(arn)
  if redis.call('GET', MASTER) == arn then redis.call('DEL', MASTER) end
end

-- Left or expired viewers whose participant must still be disconnected in
-- IVS: "<arn> <participant id>", oldest first, capped (the oldest go).
local DEPARTED = P .. 'departed'
local MAX_DEPARTED = 100000
local function depart(arn, pid)
  if not pid or pid == '' then return end
  redis.call('RPUSH', DEPARTED, arn .. ' ' .. pid)
  redis.call('LTRIM', DEPARTED, -MAX_DEPARTED, -1)
end

-- Takes an empty stage out of the registry (the caller checked it is empty).
local function unregister(arn)
  local m = load_member_of(arn)
  if m then redis.call('ZREM', LOAD, m) end
  redis.call('DEL', stage_key(arn), hb_key(arn))
  redis.call('ZREM', STAGES, arn)
  unregister_master(arn)
end

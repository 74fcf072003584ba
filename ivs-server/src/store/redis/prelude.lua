-- Shared by every script of the Redis viewer store (prepended to each one).
-- Every key a script touches is declared in KEYS, so that on Redis Cluster
-- each call stays in one slot: all keys of a deployment share one hash tag
-- (`{ivs}:…`). KEYS[1..14] are the deployment's fixed keys, in the order of
-- `RedisStore`'s key list (`keys.rs`); a call that needs a lease passes it
-- after them (KEYS[LEASE]). Per-stage and per-viewer data therefore lives in
-- fields of those keys, never in keys named at run time. ARGV are the
-- operation's, followed by one more: the event log's bound (EVENT_LOG_MAX),
-- passed with every call so that it costs no round trip of its own.
local STAGES, STAGE, LOAD, HB = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local VIEWERS, COUNT, WATCH, WATCH_AT = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local INTENTS, MASTER, DEPARTED = KEYS[9], KEYS[10], KEYS[11]
local EVENTS, LIMIT_NOTED, PUBLISHER = KEYS[12], KEYS[13], KEYS[14]
local LEASE = 15
local EVENT_LOG_MAX = ARGV[#ARGV]
-- STAGES: registered ARN → creation time (ms), the registry in its order.
-- STAGE: "<field>:<arn>" → record JSON, name, assignable, draining, revived.
-- LOAD: the assignable, non-draining stages scored by viewer count, so that
--   a join reads the least-loaded one with a single ZRANGE. Members are
--   load_member(): the creation time zero-padded, then the ARN, so that equal
--   counts fall back to "oldest, then ARN" by Redis' own member order.
-- HB: pair(user, arn) → last heartbeat (ms): every counted viewer.
-- VIEWERS: user → "<joined> <#pid> <pid><arn>": where each viewer is.
-- COUNT: ARN → viewers counted there (the HB members of that stage).
-- EVENTS: the fleet event log, a stream (see emit()).
-- LIMIT_NOTED: exists (PX 60 s) while fleet.stage_limit_reached is quiet.
-- PUBLISHER: ARN → "<live 0/1> <observed at, ms>".

-- Length-prefixed so that no (user, stage) pair can collide with another.
-- The HTTP heartbeat builds the same member in Rust (`RedisStore::pair`).
local function pair(user, arn) return #arn .. ':' .. arn .. user end
local function unpair(member)
  local n, rest = string.match(member, '^(%d+):(.*)$')
  if not n then return nil, nil end
  n = tonumber(n)
  return string.sub(rest, 1, n), string.sub(rest, n + 1)
end

-- Integers go to Redis as plain digits: the default number-to-string
-- conversion may pick an exponent form, which PEXPIRE rejects.
local function int(x) return string.format('%.0f', x) end

local function seconds_between(from, to)
  local d = to - from
  if d < 0 then d = 0 end
  return math.floor(d / 1000)
end

local function sfield(arn, f) return f .. ':' .. arn end
local function stage_get(arn, ...)
  local fields = {}
  for i, f in ipairs({ ... }) do fields[i] = sfield(arn, f) end
  return redis.call('HMGET', STAGE, unpack(fields))
end
local function stage_set(arn, f, value) redis.call('HSET', STAGE, sfield(arn, f), value) end
local function stage_forget(arn)
  redis.call('HDEL', STAGE, sfield(arn, 'record'), sfield(arn, 'name'),
    sfield(arn, 'assignable'), sfield(arn, 'draining'), sfield(arn, 'revived'))
end
local function registered(arn) return redis.call('ZSCORE', STAGES, arn) end

-- The viewer's stage, participant id and join time (nil when unknown).
local function viewer_get(user)
  local v = redis.call('HGET', VIEWERS, user)
  if not v then return nil, nil, nil end
  local joined, n, rest = string.match(v, '^(%d+) (%d+) (.*)$')
  if not joined then return nil, nil, nil end
  n = tonumber(n)
  return string.sub(rest, n + 1), string.sub(rest, 1, n), tonumber(joined)
end
local function viewer_set(user, arn, pid, joined)
  pid = pid or ''
  redis.call('HSET', VIEWERS, user, int(joined) .. ' ' .. #pid .. ' ' .. pid .. arn)
end

local function count_of(arn) return tonumber(redis.call('HGET', COUNT, arn) or '0') end
-- Returns the new count.
local function count_add(arn, d)
  local n = redis.call('HINCRBY', COUNT, arn, d)
  if n <= 0 then
    redis.call('HDEL', COUNT, arn)
    return 0
  end
  return n
end
-- Counts the viewer on `arn` (COUNT follows HB's membership); returns the
-- stage's count.
local function hb_add(arn, user, ms)
  if redis.call('ZADD', HB, int(ms), pair(user, arn)) == 1 then return count_add(arn, 1) end
  return count_of(arn)
end
local function hb_remove(arn, user)
  if redis.call('ZREM', HB, pair(user, arn)) == 1 then count_add(arn, -1) end
end

-- Watch time, replaced if the pair already had one; forgotten by the sweep
-- once older than the retention (ordered by the time it was recorded).
local function record_duration(user, arn, secs, now)
  local f = pair(user, arn)
  redis.call('HSET', WATCH, f, int(secs))
  redis.call('ZADD', WATCH_AT, int(now), f)
end

-- 16 digits hold any creation time in ms for the next 300,000 years.
local function load_member(arn, created) return string.format('%016.0f', created) .. arn end
local function member_arn(member) return string.sub(member, 17) end

-- The stage's member of LOAD (nil when it is not registered).
local function load_member_of(arn)
  local created = registered(arn)
  if not created then return nil end
  return load_member(arn, tonumber(created))
end

-- Re-scores an open stage after its viewer count changed; XX leaves closed
-- (draining, non-assignable) and unregistered stages out. `created` saves
-- the registry lookup when the caller already read it (the sweep).
local function refresh_load(arn, created)
  created = created or registered(arn)
  if created then
    redis.call('ZADD', LOAD, 'XX', count_of(arn), load_member(arn, tonumber(created)))
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

-- Lease values are "<fencing token>:<holder>" under KEYS[LEASE]; a write
-- made under a lease carries both and is refused once the lease expired or
-- changed hands.
local function fence_holds(holder, token)
  return redis.call('GET', KEYS[LEASE]) == token .. ':' .. holder
end

-- The server's clock (ms): the time of events whose step has no `now`.
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Records a fleet event in the same step as its change: one stream entry
-- with the same three fields every time (Redis then stores the field names
-- once per node): type, data (JSON, the API's field names) and at (when it
-- happened, ms). The log keeps about EVENT_LOG_MAX entries: `~` trims whole
-- nodes only, which keeps XADD O(1).
local function emit(kind, data, at)
  redis.call('XADD', EVENTS, 'MAXLEN', '~', EVENT_LOG_MAX, '*',
    'type', kind, 'data', cjson.encode(data), 'at', int(at or clock()))
end

-- Adds or replaces a registry entry. STAGE's `name`, `draining` and
-- `revived` fields are the live values; `record` keeps the rest as registered.
local function register(arn, json, name, assignable, draining, created, master)
  stage_forget(arn)
  redis.call('HSET', STAGE, sfield(arn, 'record'), json, sfield(arn, 'name'), name,
    sfield(arn, 'assignable'), assignable, sfield(arn, 'draining'), draining)
  -- A replaced entry may carry another creation time, hence another member.
  local old = load_member_of(arn)
  if old then redis.call('ZREM', LOAD, old) end
  redis.call('ZADD', STAGES, created, arn)
  if assignable == '1' and draining ~= '1' then
    redis.call('ZADD', LOAD, count_of(arn), load_member(arn, tonumber(created)))
  end
  if master == '1' then redis.call('SET', MASTER, arn) end
end

-- Forgets the master pointer when `arn` was the master.
local function unregister_master(arn)
  if redis.call('GET', MASTER) == arn then redis.call('DEL', MASTER) end
end

-- Left or expired viewers whose participant must still be disconnected in
-- IVS: "<arn> <participant id>", oldest first, capped (the oldest go).
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
  stage_forget(arn)
  redis.call('HDEL', COUNT, arn)
  redis.call('ZREM', STAGES, arn)
  unregister_master(arn)
end

-- ARGV: the configured key prefix.
-- Moves data written by versions before the hash-tagged layout (0.x: keys
-- "<prefix>stage:<arn>", "<prefix>hb:<arn>", "<prefix>viewer:<user>", ...)
-- into this layout, atomically, once: every stage, its viewers with their
-- join and last heartbeat times, watch times, intents, the master pointer
-- and the departure queue. Leases, fencing counters and rate-limit states
-- are short-lived and start afresh. Returns the number of stages moved.
--
-- The one script that names keys at run time: the old layout had them.
-- `RedisStore` runs it only where that is allowed (a standalone Redis, or
-- a cluster when the prefix carries its own hash tag, so that the old keys
-- share the new keys' slot).
local P = ARGV[1]
local same_format = {
  { 'stages', STAGES }, { 'load', LOAD }, { 'watch', WATCH }, { 'watch:at', WATCH_AT },
  { 'intents', INTENTS }, { 'master', MASTER }, { 'departed', DEPARTED },
}
for _, k in ipairs(same_format) do
  local old, new = P .. k[1], k[2]
  if old ~= new and redis.call('EXISTS', old) == 1 and redis.call('EXISTS', new) == 0 then
    redis.call('RENAME', old, new)
  end
end
local moved = 0
local registry = redis.call('ZRANGE', STAGES, 0, -1)
for _, arn in ipairs(registry) do
  local sk = P .. 'stage:' .. arn
  if redis.call('EXISTS', sk) == 1 then
    local f = redis.call('HMGET', sk, 'record', 'name', 'assignable', 'draining', 'revived')
    local names = { 'record', 'name', 'assignable', 'draining', 'revived' }
    for i, name in ipairs(names) do
      if f[i] then stage_set(arn, name, f[i]) end
    end
    redis.call('DEL', sk)
    moved = moved + 1
  end
  local hb = P .. 'hb:' .. arn
  local members = redis.call('ZRANGE', hb, 0, -1, 'WITHSCORES')
  for i = 1, #members, 2 do
    local user, last = members[i], tonumber(members[i + 1])
    local vk = P .. 'viewer:' .. user
    local v = redis.call('HMGET', vk, 'stage', 'pid', 'joined')
    if v[1] == arn then
      viewer_set(user, arn, v[2] or '', tonumber(v[3]) or last)
      hb_add(arn, user, last)
      redis.call('DEL', vk)
    end
  end
  redis.call('DEL', hb)
end
redis.call('DEL', P .. 'open')
return moved

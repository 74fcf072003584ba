-- KEYS[LEASE]: the lease. ARGV: arn, below, min age (ms), now (ms), holder, token
-- Marks an auto-scaled, assignable, open stage draining when it has fewer
-- than `below` viewers and was created or last revived at least `min age`
-- ago, all in this one step (so a revival in between is never undone).
-- Returns 1 when it is now draining.
if not fence_holds(ARGV[5], ARGV[6]) then return 0 end
local arn = ARGV[1]
local f = stage_get(arn, 'record', 'assignable', 'draining', 'revived')
if not f[1] or f[2] ~= '1' or f[3] == '1' then return 0 end
local record = cjson.decode(f[1])
if not record.auto_scaled then return 0 end
if count_of(arn) >= tonumber(ARGV[2]) then return 0 end
local since = tonumber(record.created_at) or 0
local revived = tonumber(f[4] or '0') or 0
if revived > since then since = revived end
if tonumber(ARGV[4]) - since < tonumber(ARGV[3]) then return 0 end
stage_set(arn, 'draining', '1')
local m = load_member_of(arn)
if m then redis.call('ZREM', LOAD, m) end
return 1

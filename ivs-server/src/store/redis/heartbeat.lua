-- ARGV: prefix, user, arn, now (ms)
-- Returns {1, last heartbeat} for a viewer counted on that stage, {0}
-- otherwise. Membership of the stage's heartbeat set is what "counted on
-- that stage" means, so a removed viewer is never recreated.
local user, arn, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local hb = hb_key(arn)
local last = redis.call('ZSCORE', hb, user)
if not last then return { 0 } end
last = tonumber(last)
if now > last then
  last = now
  redis.call('ZADD', hb, 'XX', int(last), user)
end
return { 1, last }

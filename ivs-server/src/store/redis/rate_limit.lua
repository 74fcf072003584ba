-- ARGV: prefix, key id, limit (>= 1), period (us, >= 1), now (us), want (>= 1)
-- GCRA for up to `want` requests, the same arithmetic as `store::gcra` (tat
-- in microseconds; Lua numbers are doubles, exact for integers below 2^53 us,
-- i.e. until 2255). Returns {granted (0 = refused), remaining, reset_after
-- (us), retry_after (us)}.
local key = P .. 'rate:' .. ARGV[2]
local limit, period, now, want = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local interval = math.floor(period / limit)
if interval < 1 then interval = 1 end
local tat = tonumber(redis.call('GET', key) or now)
if tat < now then tat = now end
local available = math.floor((now + period - tat) / interval)
if available < 1 then
  return { 0, 0, tat - now, tat + interval - period - now }
end
local granted = want
if granted > available then granted = available end
local new_tat = tat + granted * interval
local remaining = available - granted
if remaining > limit then remaining = limit end
-- The state matters only until new_tat (at most one period ahead); a
-- second of slack keeps it for callers whose clocks differ slightly.
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', key, int(new_tat), 'PX', int(ttl_ms))
return { granted, remaining, new_tat - now, 0 }

-- KEYS[1]: the state. ARGV: limit (>= 1), period (us, >= 1), now (us), want (>= 1),
-- then a refund: unspent requests (0 = none) and the receipt of their grant
-- (since, tat, refunded; us).
-- GCRA for up to `want` requests after applying the refund: the same
-- arithmetic as `store::gcra` (in microseconds; Lua numbers are doubles,
-- exact for integers below 2^53 us, i.e. until 2255). The state is a hash:
-- tat, refunded (the sum of the refunds applied, only grows) and since (when
-- it was created, which tells a receipt from an expired state's).
-- Returns {granted (0 = refused), remaining, reset_after (us), retry_after
-- (us), receipt since, receipt tat, receipt refunded}.
local key = KEYS[1]
-- A script of its own (no prelude): it runs for a fraction of all requests
-- and touches one key. Integers go to Redis as plain digits (PEXPIRE
-- rejects an exponent form).
local function int(x) return string.format('%.0f', x) end
local limit, period, now, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local unspent = tonumber(ARGV[5])
local interval = math.floor(period / limit)
if interval < 1 then interval = 1 end
local stored = redis.call('HMGET', key, 'tat', 'refunded', 'since')
local tat, refunded, since = tonumber(stored[1]), tonumber(stored[2]), tonumber(stored[3])
if not (tat and refunded and since) then
  tat, refunded, since = nil, 0, now
end

-- The state matters only until its tat (at most one period ahead); a
-- second of slack keeps it for callers whose clocks differ slightly.
local function save(t)
  redis.call('HSET', key, 'tat', int(t), 'refunded', int(refunded), 'since', int(since))
  redis.call('PEXPIRE', key, int(math.ceil((t - now) / 1000) + 1000))
end

local changed = false
if tat and unspent > 0 then
  local r_since, r_tat, r_refunded = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
  local returned_since = refunded - r_refunded
  if since == r_since and returned_since >= 0 then
    -- Only what is still counted: never below now, and never more than the
    -- grant still lay ahead once the refunds made after it are taken off.
    local back = math.min(unspent * interval, r_tat - returned_since - now, tat - now)
    if back > 0 then
      tat = tat - back
      refunded = refunded + back
      changed = true
    end
  end
end

if not tat or tat < now then tat = now end
local available = math.floor((now + period - tat) / interval)
if available < 1 then
  if changed then save(tat) end
  return { 0, 0, tat - now, tat + interval - period - now, 0, 0, 0 }
end
local granted = want
if granted > available then granted = available end
local new_tat = tat + granted * interval
local remaining = available - granted
if remaining > limit then remaining = limit end
save(new_tat)
return { granted, remaining, new_tat - now, 0, since, new_tat, refunded }

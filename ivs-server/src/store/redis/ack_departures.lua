-- ARGV: n. Drops the oldest `n` departures (handled by the one
-- maintenance holder, the queue's only consumer).
redis.call('LTRIM', DEPARTED, tonumber(ARGV[1]), -1)
return 1

-- ARGV: prefix, max. The oldest `max` departures ("<arn> <participant>").
return redis.call('LRANGE', DEPARTED, 0, tonumber(ARGV[2]) - 1)

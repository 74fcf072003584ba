-- ARGV: max. The oldest `max` departures ("<arn> <participant>").
return redis.call('LRANGE', DEPARTED, 0, tonumber(ARGV[1]) - 1)

-- The registered master's ARN, or false.
return redis.call('GET', MASTER)

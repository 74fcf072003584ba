-- Returns every pending intent's JSON.
return redis.call('HVALS', INTENTS)

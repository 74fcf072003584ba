-- KEYS: stages, sessions. ARGV: arn, new name.
-- Returns {stage JSON, session}, or {} when the stage does not exist.
local json = redis.call('HGET', KEYS[1], ARGV[1])
if not json then return {} end
local stage = cjson.decode(json)
stage.name = ARGV[2]
json = cjson.encode(stage)
redis.call('HSET', KEYS[1], ARGV[1], json)
return { json, redis.call('HGET', KEYS[2], ARGV[1]) or '' }

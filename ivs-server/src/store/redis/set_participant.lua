-- ARGV: prefix, user, arn, participant
local vk = viewer_key(ARGV[2])
if redis.call('HGET', vk, 'stage') == ARGV[3] then
  redis.call('HSET', vk, 'pid', ARGV[4])
end
return 1

-- ARGV: user, arn, participant
local user, arn = ARGV[1], ARGV[2]
local at, _, joined = viewer_get(user)
if at == arn then viewer_set(user, arn, ARGV[3], joined) end
return 1

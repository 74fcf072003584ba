-- ARGV: arn, reason (of stage.removed)
-- Returns -1 when unknown, 0 when removed, else the viewer count left.
local arn = ARGV[1]
if not registered(arn) then return -1 end
local n = count_of(arn)
if n > 0 then return n end
unregister(arn)
emit('stage.removed', { stageArn = arn, reason = ARGV[2] })
return 0

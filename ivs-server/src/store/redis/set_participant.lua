-- ARGV: user, arn, participant, announce (0/1)
-- With announce, the join's viewer.joined was left to this step (IVS chose
-- the participant id): it is recorded now, dated at the join.
local user, arn = ARGV[1], ARGV[2]
local at, _, joined = viewer_get(user)
if at == arn then
  viewer_set(user, arn, ARGV[3], joined)
  if ARGV[4] == '1' then
    emit('viewer.joined', { userId = user, stageArn = arn, participantId = ARGV[3] }, joined)
  end
end
return 1

-- ARGV: arn ('' for every registered stage)
-- Returns a flat list: arn, record, name, draining, viewer count, revived, ... in
-- registry order (created_at, then arn).
local arns
if ARGV[1] == '' then
  arns = redis.call('ZRANGE', STAGES, 0, -1)
else
  arns = { ARGV[1] }
end
local out = {}
for _, arn in ipairs(arns) do
  local f = stage_get(arn, 'record', 'name', 'draining', 'revived')
  if f[1] then
    out[#out + 1] = arn
    out[#out + 1] = f[1]
    out[#out + 1] = f[2] or ''
    out[#out + 1] = f[3] or '0'
    out[#out + 1] = count_of(arn)
    out[#out + 1] = f[4] or ''
  end
end
return out

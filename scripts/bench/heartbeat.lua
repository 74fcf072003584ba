-- POST /api/viewer/heartbeat for a random (userId, stageArn) pair of the
-- viewers pre-loaded by scripts/bench.sh. Env: BENCH_PAIRS (file of
-- "userId<TAB>stageArn" lines), BENCH_KEY (API key).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local pairs_file = os.getenv("BENCH_PAIRS") or "pairs.tsv"
local key = os.getenv("BENCH_KEY") or "bench-key-000"
local bodies = {}
local headers = { ["x-api-key"] = key, ["content-type"] = "application/json" }

function init(args)
  for line in io.lines(pairs_file) do
    local user, arn = line:match("^([^\t]+)\t(.+)$")
    if user then
      bodies[#bodies + 1] = '{"userId":"' .. user .. '","stageArn":"' .. arn .. '"}'
    end
  end
  assert(#bodies > 0, "no pairs in " .. pairs_file)
  math.randomseed(os.time() + tonumber(tostring(bodies):match("0x(%x+)") or "0", 16))
end

function request()
  return wrk.format("POST", "/api/viewer/heartbeat", headers, bodies[math.random(#bodies)])
end

-- GET /api/stats. Env: BENCH_KEY.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local key = os.getenv("BENCH_KEY") or "bench-key-000"
wrk.headers["x-api-key"] = key

function request()
  return wrk.format("GET", "/api/stats")
end

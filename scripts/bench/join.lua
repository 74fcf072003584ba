-- POST /api/token/viewer with a unique userId per request:
-- "<BENCH_USER_PREFIX>-<thread>-<n>". Env: BENCH_KEY, BENCH_USER_PREFIX.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local key = os.getenv("BENCH_KEY") or "bench-key-000"
local prefix = os.getenv("BENCH_USER_PREFIX") or "join"
local headers = { ["x-api-key"] = key, ["content-type"] = "application/json" }
local counter = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function request()
  counter = counter + 1
  local body = '{"userId":"' .. prefix .. "-" .. tid .. "-" .. counter .. '"}'
  return wrk.format("POST", "/api/token/viewer", headers, body)
end

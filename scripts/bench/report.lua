-- Shared by the wrk scripts of scripts/bench.sh: a machine-readable summary
-- line after wrk's own report. Latencies in milliseconds.
function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d rps=%.1f non2xx=%d socket_errors=%d p50=%.3f p90=%.3f p99=%.3f max=%.3f\n",
    summary.requests, summary.requests / secs, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end

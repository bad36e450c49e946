-- Shared wrk done(): one machine-readable line the bench script parses (latencies in µs).
-- Loaded by the other scripts via dofile(); used alone for the plain nginx run.
-- result_line() is the same line without its newline, for scripts that append fields.
function result_line(summary, latency)
  local e = summary.errors
  return string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f mean_us=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout)
end

function done(summary, latency, requests)
  io.write(result_line(summary, latency), "\n")
end

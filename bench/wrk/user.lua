-- wrk script of the switchyard bench.
-- Every request carries another x-user-id (a counter), so sticky hashing and the 90/10 split are
-- exercised; the requests are built once in init() so that wrk itself stays cheap.
-- done() prints one line "BENCH_JSON {...}" that bench/wrk.ts parses.

local USERS = 10000
local threads = 0
local requests = {}
local n = 0

function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

function init(args)
  local base = (thread_index or 0) * USERS
  -- An argument after `--`: every request is a POST with a body of that many bytes (fewer
  -- distinct users then: each request is built whole, body included).
  local size = tonumber(args[1] or "")
  local body = nil
  if size then
    body = string.rep("x", size)
    USERS = 50
  end
  for i = 1, USERS do
    local headers = { ["x-user-id"] = "user-" .. (base + i) }
    if body then headers["Content-Type"] = "application/octet-stream" end
    requests[i] = wrk.format(body and "POST" or nil, nil, headers, body)
  end
end

function request()
  n = n + 1
  if n > USERS then n = 1 end
  return requests[n]
end

function done(summary, latency, requests_)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"durationUs":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"min":%d,"mean":%.1f,"max":%d,"stdev":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency.stdev,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
